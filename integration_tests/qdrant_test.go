package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/adapters/qdrantstore"
	"twostage/adapters/qdrantstore/qdranttest"
	"twostage/adapters/storetest"
	"twostage/driver"
	"twostage/embed"
	"twostage/rerank"
)

// No Qdrant server binary can be had on the project's build machines, so CI
// tests the Qdrant adapter against qdranttest, an in-process STAND-IN that
// implements Qdrant's gRPC services (see that package for exactly what it
// models). With QDRANT_ADDR=host:grpcport (for example after
// `docker compose up -d qdrant`, QDRANT_ADDR=127.0.0.1:6334) the same suite
// runs against a real Qdrant. Skipping without QDRANT_ADDR is deliberate:
// the stand-in tests below, and those in adapters/qdrantstore, cover CI.

func qdrantClient(t *testing.T, addr string) *qdrant.Client {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("qdrant address %q: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("qdrant address %q: %v", addr, err)
	}
	c, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func qdrantHarness(c *qdrant.Client, exact bool) storetest.Harness {
	return storetest.Harness{
		New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
			name := freshClass("conf_")
			t.Cleanup(func() { c.DeleteCollection(context.Background(), name) })
			return qdrantstore.NewDriver(ctx, c, name, &qdrantstore.Options{Dim: dim, Metric: m, Exact: exact})
		},
		IDAlias: func(id string) string { return qdrantstore.PointID(id).GetUuid() },
	}
}

func TestQdrantRealConformance(t *testing.T) {
	addr := os.Getenv("QDRANT_ADDR")
	if addr == "" {
		t.Skip("QDRANT_ADDR not set: no real Qdrant to test against (the stand-in tests cover CI); " +
			"run `docker compose up -d qdrant` and QDRANT_ADDR=127.0.0.1:6334")
	}
	storetest.RunConformanceTests(t, qdrantHarness(qdrantClient(t, addr), true))
}

func startStandIn(t *testing.T) *qdranttest.Server {
	t.Helper()
	srv := qdranttest.New()
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func TestQdrantStandInConformance(t *testing.T) {
	srv := startStandIn(t)
	storetest.RunConformanceTests(t, qdrantHarness(qdrantClient(t, srv.Addr()), false))
}

// TestQdrantPipeline runs a whole Pipeline over the Qdrant adapter (a real
// Qdrant when QDRANT_ADDR is set, else the stand-in), through the CLI's
// Dial path, and compares it with the exact in-memory store.
func TestQdrantPipeline(t *testing.T) {
	addr := os.Getenv("QDRANT_ADDR")
	if addr == "" {
		addr = startStandIn(t).Addr()
	}
	emb, err := embed.NewHashing(32)
	if err != nil {
		t.Fatal(err)
	}
	name := freshClass("pipe_")
	qs, err := qdrantstore.Dial(ctx, addr, name, &qdrantstore.Options{Dim: 32, Metric: twostage.L2, Exact: true,
		Retry: qdrantstore.Retry{Attempts: 3, Initial: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var c *qdrant.Client
		if qs.As(&c) {
			c.DeleteCollection(context.Background(), name)
		}
		qs.Close()
	})
	ms, _ := memstore.New(32, twostage.L2)
	var docs []twostage.Document
	for i := range 40 {
		docs = append(docs, twostage.Document{ID: fmt.Sprint("q", i),
			Text:     fmt.Sprintf("document %d on %s", i, []string{"vector search", "reranking models", "payload filters", "grpc clients"}[i%4]),
			Metadata: map[string]any{"shard": int64(i % 3), "tags": []string{fmt.Sprint("t", i%5)}}})
	}
	var results [2][]twostage.Hit
	for i, st := range []*twostage.Store{qs, ms} {
		p, err := twostage.NewPipeline(st, emb, rerank.NewLexical(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Index(ctx, docs, nil); err != nil {
			t.Fatal(err)
		}
		res, err := p.Search(ctx, "reranking models", twostage.SearchOptions{TopN: 4, CandidateK: 40,
			Filter: twostage.And(twostage.In("shard", 0, 1), twostage.Not(twostage.Eq("tags", "t4")))})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Reranked || len(res.Hits) != 4 {
			t.Fatalf("store %d: reranked %v with %d hits", i, res.Reranked, len(res.Hits))
		}
		if res.Candidates != 21 {
			t.Errorf("store %d: %d candidates pass the filter, want 21", i, res.Candidates)
		}
		results[i] = res.Hits
	}
	sameRanking(t, results[0], results[1])
}
