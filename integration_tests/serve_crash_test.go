package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"twostage/adapters/weaviatestore"
)

// startServeBin starts `bin serve --config cfg` and returns it with its URL.
func startServeBin(t *testing.T, bin, cfg string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	go func() { // exits when the process's stderr closes
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
	var (
		mu    sync.Mutex
		acked []string
		seq   int
	)
	client := &http.Client{Timeout: 30 * time.Second}
	cmd, url := startServeBin(t, bin, cfg)
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
				var ids, docs []string
				for j := range 5 {
					id := fmt.Sprintf("w%d-%d-%d", w, i, j)
					ids = append(ids, id)
					docs = append(docs, fmt.Sprintf(`{"id":%q,"text":"document %s about topic %d"}`, id, id, i%7))
				}
				resp, err := client.Post(url+"/v1/collections/docs/documents", "application/json",
					strings.NewReader(`{"documents":[`+strings.Join(docs, ",")+`]}`))
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
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := seq
		mu.Unlock()
		if n >= 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d upserts answered 200 in 60s", n)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	wg.Wait()
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
