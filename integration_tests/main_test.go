// Package integration tests twostage against real servers and as a whole:
// the conformance suite, faults and crashes against a real Weaviate
// (weaviateserver) and a real Qdrant or its stand-in, whole pipelines
// through the CLI and the server, the Cohere SDK against the server's
// rerank API, the compose file and Dockerfile, and the benchmarks of the
// Weaviate adapter's overhead and of check. It holds only tests;
// README.md is the user's guide to the Qdrant and Weaviate stores.
package integration

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weaviate/weaviate-go-client/v4/weaviate"

	"twostage/integration_tests/weaviateserver"
	"twostage/internal/testassets"
)

// shared is the one Weaviate server of this test package, started by the
// first test that needs it and stopped by TestMain.
var (
	sharedOnce sync.Once
	shared     *weaviateserver.Server
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

func startShared() {
	bin, ok := weaviateserver.Binary(testassets.Deps())
	if !ok {
		sharedErr = fmt.Errorf("%s missing (run scripts/deps.sh weaviate)", bin)
		return
	}
	start := time.Now()
	shared, sharedErr = weaviateserver.Start(bin, nil)
	if sharedErr == nil {
		slog.Info("integration: weaviate-server ready", "addr", shared.Addr(), "startup", time.Since(start).Round(time.Millisecond))
	}
}

// ownWeaviate starts a weaviate-server of t's own (for a test that kills
// it), stopped when t ends, or skips t (fails it under
// TWOSTAGE_REQUIRE_DEPS=1) without the binary.
func ownWeaviate(t testing.TB) *weaviateserver.Server {
	t.Helper()
	bin, ok := weaviateserver.Binary(testassets.Deps())
	if !ok {
		testassets.Missing(t, bin+" (run scripts/deps.sh weaviate)")
	}
	srv, err := weaviateserver.Start(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// needWeaviate returns the shared server and a client for it, or skips t
// (fails it under TWOSTAGE_REQUIRE_DEPS=1) when there is none.
func needWeaviate(t testing.TB) (*weaviateserver.Server, *weaviate.Client) {
	t.Helper()
	sharedOnce.Do(startShared)
	if shared == nil {
		testassets.Missing(t, "weaviate-server: "+sharedErr.Error())
	}
	return shared, client(t, shared.Addr())
}

func client(t testing.TB, addr string) *weaviate.Client {
	t.Helper()
	c, err := weaviate.NewClient(weaviate.Config{Host: addr, Scheme: "http", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("weaviate client: %v", err)
	}
	return c
}

var classSeq atomic.Int64

// freshClass returns a class name not used before in this run.
func freshClass(prefix string) string {
	return fmt.Sprintf("%s%d_%d", prefix, time.Now().UnixNano()%1e6, classSeq.Add(1))
}

var ctx = context.Background()
