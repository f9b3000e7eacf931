package integration

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"twostage/adapters/weaviatestore"
	"twostage/internal/servetest"
)

// startServeBin starts `bin serve --config cfg` and returns it with its URL.
func startServeBin(t *testing.T, bin, cfg string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	return cmd, servetest.Start(t, cmd)
}

// TestServeKilledWeaviate kills `twostage serve` (over a Weaviate class of
// the real server) with SIGKILL while four clients upsert over HTTP, and
// restarts it: every upsert answered 200 must be in the class.
func TestServeKilledWeaviate(t *testing.T) {
	srv, c := needWeaviate(t)
	bin := buildCLI(t)
	class := freshClass("Serve")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "serve.yaml")
	conf := fmt.Sprintf("rerankers:\n  default: lexical\nembedders:\n  default: \"hash:32\"\ncollections:\n  docs:\n    store: \"weaviate://%s/%s\"\n", srv.Addr(), class)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	cmd, url := startServeBin(t, bin, cfg)
	u := servetest.StartUpserts(client, url, "", 4)
	u.WaitAnswered(t, 30)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	acked := u.Stop()
	cmd, _ = startServeBin(t, bin, cfg)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after the kill, stopped with SIGTERM: %v", err)
	}
	s, err := weaviatestore.Open(ctx, c, class, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, acked)
	if err != nil || len(got) != len(acked) {
		t.Errorf("after a SIGKILL: %d of the %d documents answered 200 are stored (%v)", len(got), len(acked), err)
	}
	t.Logf("%d documents answered 200 before the SIGKILL, all stored", len(acked))
}
