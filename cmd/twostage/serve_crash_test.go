//go:build faiss

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"twostage"
	"twostage/faisslocal"
)

// serveCrashEnv holds the config path in the child process of
// TestServeKilledUnderUpserts.
const serveCrashEnv = "TWOSTAGE_SERVE_CRASH_CONFIG"

// TestServeCrashChild is `twostage serve` as a child process of
// TestServeKilledUnderUpserts.
func TestServeCrashChild(t *testing.T) {
	cfg := os.Getenv(serveCrashEnv)
	if cfg == "" {
		t.Skip("runs only as a child of TestServeKilledUnderUpserts")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM) // as main does
	code := run(ctx, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0"}, nil, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// startServe starts the child server and returns it with its URL.
func startServe(t *testing.T, cfg string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serveCrashEnv+"="+cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	go func() { // exits when the child's stderr closes
		re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case u := <-urls:
		return cmd, u
	case <-time.After(60 * time.Second):
		t.Fatal("twostage serve did not start within 60s")
	}
	return nil, ""
}

// TestServeKilledUnderUpserts kills `twostage serve` (a real process, over
// a faisslocal store) with SIGKILL while four clients upsert over HTTP,
// twice, restarting it each time: every upsert answered 200 must be in
// the store afterwards.
func TestServeKilledUnderUpserts(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	cfg := filepath.Join(dir, "serve.yaml")
	conf := fmt.Sprintf("rerankers:\n  default: lexical\nembedders:\n  default: \"hash:32\"\ncollections:\n  docs:\n    store: \"faiss:%s\"\n", storeDir)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked []string
		seq   int
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for round := range 2 {
		cmd, url := startServe(t, cfg)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					var ids []string
					var body strings.Builder
					body.WriteString(`{"documents":[`)
					for j := range 5 {
						id := fmt.Sprintf("r%d-w%d-%d-%d", round, w, i, j)
						ids = append(ids, id)
						if j > 0 {
							body.WriteString(",")
						}
						fmt.Fprintf(&body, `{"id":%q,"text":"document %s about topic %d"}`, id, id, i%7)
					}
					body.WriteString("]}")
					resp, err := client.Post(url+"/v1/collections/docs/documents", "application/json", strings.NewReader(body.String()))
					if err != nil {
						continue // the server is gone; wait for stop
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						mu.Lock()
						acked = append(acked, ids...)
						seq++
						mu.Unlock()
					}
				}
			}()
		}
		// Kill once the clients have had 30 more upserts answered.
		mu.Lock()
		target := seq + 30
		mu.Unlock()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			mu.Lock()
			n := seq
			mu.Unlock()
			if n >= target {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: only %d upserts answered 200 in 60s", round, n)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		close(stop)
		wg.Wait()
	}
	// Restart once more and shut down gracefully, then read the store.
	cmd, _ := startServe(t, cfg)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after the kills, stopped with SIGTERM: %v", err)
	}
	s, err := faisslocal.Open(storeDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(context.Background(), acked)
	if err != nil || len(got) != len(acked) {
		t.Errorf("after two SIGKILLs: %d of the %d documents answered 200 are stored (%v)", len(got), len(acked), err)
	}
	if errors.Is(err, twostage.ErrNotFound) {
		t.Logf("missing: %v", err)
	}
	if rep, err := s.Check(context.Background(), twostage.CheckOptions{}); err != nil || !rep.OK() {
		t.Errorf("check after the kills = %v, %v; want nothing wrong", rep, err)
	}
	t.Logf("%d documents answered 200 across two SIGKILLs, all stored", len(acked))
}
