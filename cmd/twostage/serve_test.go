package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"twostage/rerank/fallback"
	"twostage/rerank/remote"
)

// lockedBuffer is a bytes.Buffer safe for the server's log goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCmdServe runs `twostage serve --config FILE` as the binary would:
// index, search and rerank over HTTP, then SIGTERM (ctx canceled) shuts it
// down cleanly and the stages are closed (the mem store writes its file).
func TestCmdServe(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "docs.snap")
	cfg := fmt.Sprintf(`
allow_mem_file: true
rerankers:
  default: lexical
embedders:
  default: "hash:${DIM}"
collections:
  docs:
    store: "mem:%s"
`, snap)
	path := filepath.Join(dir, "serve.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DIM", "32")
	t.Setenv("TWOSTAGE_AUTH_TOKENS", "tok")

	ctx, stop := context.WithCancel(context.Background())
	var stderr lockedBuffer
	code := make(chan int)
	go func() {
		code <- run(ctx, []string{"serve", "--config", path, "--listen", "127.0.0.1:0"}, nil, io.Discard, &stderr)
	}()
	re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	post := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if c, b := post("/v1/collections/docs/documents", `{"documents":[{"id":"m","text":"Mars is the red planet"},{"id":"v","text":"Venus is hot"}]}`); c != 200 {
		t.Fatalf("upsert: %d %s", c, b)
	}
	c, b := post("/v1/search", `{"query":"red planet","top_n":1}`)
	var res struct {
		Hits []struct {
			ID string `json:"id"`
		} `json:"hits"`
		Reranked bool `json:"reranked"`
	}
	json.Unmarshal([]byte(b), &res)
	if c != 200 || len(res.Hits) != 1 || res.Hits[0].ID != "m" || !res.Reranked {
		t.Fatalf("search: %d %s", c, b)
	}
	if c, b := post("/v1/rerank", `{"query":"red planet","documents":["Venus","Mars"]}`); c != 200 || !strings.Contains(b, `"relevance_score"`) {
		t.Fatalf("rerank: %d %s", c, b)
	}
	req, _ := http.NewRequest("POST", url+"/v1/rerank", strings.NewReader(`{"query":"q","documents":[]}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp, err)
	}

	stop()
	if got := <-code; got != 0 {
		t.Fatalf("exit code %d: %s", got, stderr.String())
	}
	if fi, err := os.Stat(snap); err != nil || fi.Size() == 0 {
		t.Errorf("mem store not saved on shutdown: %v", err)
	}
}

func TestCmdServeUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen_port: 1\n"), 0o644)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("rerankers: {default: nosuch}\n"), 0o644)
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve"}, 2, "give a config file"},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, 2, "no such file"},
		{[]string{"serve", "--config", bad}, 2, "listen_port"},
		{[]string{"serve", "--config", unknown}, 2, `unknown reranker "nosuch"`},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if got := run(context.Background(), tt.args, nil, io.Discard, &stderr); got != tt.code || !strings.Contains(stderr.String(), tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, got, stderr.String(), tt.code, tt.msg)
		}
	}
}

// TestCmdServeExposedIsRefusedBeforeListening: an address beyond loopback
// without tokens is a usage error (exit 2), and serve does not first print
// "listening on" as if it served.
func TestCmdServeExposedIsRefusedBeforeListening(t *testing.T) {
	t.Setenv("TWOSTAGE_AUTH_TOKENS", "")
	cfg := filepath.Join(t.TempDir(), "exposed.yaml")
	os.WriteFile(cfg, []byte("listen: \"0.0.0.0:0\"\ncollections:\n  d: {store: \"mem:\", embedder: hash, reranker: lexical}\n"), 0o644)
	var stderr lockedBuffer
	got := run(context.Background(), []string{"serve", "--config", cfg}, nil, io.Discard, &stderr)
	if got != 2 || !strings.Contains(stderr.String(), "beyond loopback without tokens") || strings.Contains(stderr.String(), "listening on") {
		t.Errorf("exit %d, stderr %q; want 2, the refusal and no \"listening on\"", got, stderr.String())
	}
}

func TestRemoteRerankerSpecs(t *testing.T) {
	t.Setenv("COHERE_API_KEY", "")
	t.Setenv("CO_API_KEY", "")
	ctx := context.Background()
	tests := []struct {
		spec, url, model string
		kind             remote.Kind
	}{
		{"tei:127.0.0.1:8080", "https://127.0.0.1:8080/rerank", "", remote.TEI}, // no scheme: https, never a key in clear
		{"tei:http://127.0.0.1:8080", "http://127.0.0.1:8080/rerank", "", remote.TEI},
		{"vllm:http://gpu-box:8000", "http://gpu-box:8000/v1/rerank", "", remote.VLLM},
		{"twostage:https://rerank.internal/", "https://rerank.internal/v1/rerank", "", remote.Twostage},
		{"cohere:http://localhost:9000#model=rerank-english-v3.0", "http://localhost:9000/v2/rerank", "rerank-english-v3.0", remote.Cohere},
		{"jina:http://localhost:9001/v1/rerank", "http://localhost:9001/v1/rerank", "", remote.Jina},
	}
	for _, tt := range tests {
		r, err := openReranker(ctx, tt.spec)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		rr, ok := r.(*remote.Reranker)
		if !ok || rr.Kind() != tt.kind || rr.URL() != tt.url {
			t.Errorf("%s: got %v, want %s at %s", tt.spec, r, tt.kind, tt.url)
		}
		rr.Close()
	}
	for _, tt := range []struct{ spec, msg string }{
		{"cohere", "COHERE_API_KEY"},
		{"zeroentropy", "ZEROENTROPY_API_KEY"},
		{"tei", "needs a URL"},
		{"cohere:http://x#bogus", "#model=NAME"},
		{"chain:lexical||tei:http://h", "want a reranker spec"},
		{"chain:lexical|chain:lexical", "want a reranker spec"},
		{"chain:lexical|nosuch", "unknown reranker"},
	} {
		t.Setenv("ZEROENTROPY_API_KEY", "")
		_, err := openReranker(ctx, tt.spec)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want a usage error mentioning %q", tt.spec, err, tt.msg)
		}
	}
	t.Setenv("ZEROENTROPY_API_KEY", "k")
	r, err := openReranker(ctx, "chain:lexical|zeroentropy|tei:http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := r.(*fallback.Chain)
	if !ok || len(c.Stages()) != 3 || c.Stages()[1].Name != "zeroentropy" {
		t.Fatalf("chain: %#v", r)
	}
	if err := closeAll(c); err != nil {
		t.Fatal(err)
	}
}
