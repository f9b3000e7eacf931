package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/server"
)

// TestCrossSiteTextPlainUpsert is the attack of issue 23 item 2: a web
// page posts a text/plain body (no CORS preflight) to the upsert endpoint.
// It must be refused with 415 and write nothing.
func TestCrossSiteTextPlainUpsert(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	body := mustJSON(map[string]any{"documents": corpus})
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		req, _ := http.NewRequest("POST", e.url+"/v1/collections/docs/documents", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Origin", "http://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: status %d, want 415", ct, resp.StatusCode)
		}
	}
	st, _ := e.srv.Store("docs")
	if n, err := st.Count(context.Background()); err != nil || n != 0 {
		t.Errorf("after refused upserts the store holds %d documents (%v), want 0", n, err)
	}
	if r := e.do("POST", "/v1/collections/docs/documents", body, ""); r.status != 200 {
		t.Errorf("application/json upsert: %d %s", r.status, r.body)
	}
}

// TestHostCheck is the DNS-rebinding defence: without tokens only IP
// literals, localhost and allowed_hosts may be named in Host.
func TestHostCheck(t *testing.T) {
	open := start(t, baseConfig, nil, nil)
	listed := start(t, baseConfig+"allowed_hosts: [search.example.com]\n", nil, nil)
	env := map[string]string{"TWOSTAGE_AUTH_TOKENS": "tok"}
	tokened := start(t, baseConfig, env, nil)
	tests := []struct {
		e      *testEnv
		name   string
		host   string
		token  string
		status int
	}{
		{open, "IPv4 literal", "127.0.0.1:8080", "", 200},
		{open, "IPv6 literal", "[::1]:8080", "", 200},
		{open, "localhost", "localhost:8080", "", 200},
		{open, "localhost without port", "LOCALHOST", "", 200},
		{open, "rebound name", "evil.example:8080", "", 421},
		{open, "name without port", "search.example.com", "", 421},
		{listed, "listed name", "search.example.com:443", "", 200},
		{listed, "unlisted name", "evil.example", "", 421},
		{tokened, "any name with a token", "evil.example", "tok", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", tt.e.url+"/v1/search", strings.NewReader(`{"query":"red"}`))
			req.Host = tt.host
			req.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("Host %q: status %d, want %d", tt.host, resp.StatusCode, tt.status)
			}
		})
	}
}

// logBuffer collects log lines for assertions.
type logBuffer struct{ bytes.Buffer }

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(&b.Buffer, nil)) }

func TestServeRefusesExposure(t *testing.T) {
	serve := func(t *testing.T, yamlText string, env map[string]string, addr string) (error, string) {
		t.Helper()
		cfg, err := server.ParseConfig([]byte(yamlText), func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		cfg.ShutdownDrain = 0 // what is checked here is refused or served, not the drain
		var logs logBuffer
		e := &testEnv{t: t, opened: map[string]int{}}
		srv, err := server.Open(context.Background(), cfg, e.openers(nil), &server.Options{Logger: logs.logger()})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		defer ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ctx, ln) }()
		select {
		case err := <-errc:
			cancel()
			return err, logs.String()
		case <-time.After(300 * time.Millisecond): // serving
		}
		cancel()
		return <-errc, logs.String()
	}
	if err, logs := serve(t, baseConfig, nil, "127.0.0.1:0"); err != nil || !strings.Contains(logs, "no tokens") {
		t.Errorf("loopback without tokens: %v, log %q: want serving, saying it is open", err, logs)
	}
	if err, _ := serve(t, baseConfig, nil, "0.0.0.0:0"); !errors.Is(err, server.ErrExposed) {
		t.Errorf("all interfaces without tokens: %v, want ErrExposed", err)
	}
	err, logs := serve(t, baseConfig+"auth:\n  disabled: true\n", nil, "0.0.0.0:0")
	if err != nil || !strings.Contains(logs, "authentication is disabled") {
		t.Errorf("auth.disabled: %v, log %q: want serving with a warning", err, logs)
	}
	if err, _ := serve(t, baseConfig, map[string]string{"TWOSTAGE_AUTH_TOKENS": "tok"}, "0.0.0.0:0"); err != nil {
		t.Errorf("all interfaces with tokens: %v", err)
	}
	cfg, err := server.ParseConfig([]byte(baseConfig), func(string) string { return "" })
	if err != nil || cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("default listen %q (%v), want 127.0.0.1:8080", cfg.Listen, err)
	}
}

// TestErrorsDoNotLeak: a 5xx carries a generic message with the request id
// (the cause goes to the log), the 404 does not echo the path, and every
// answer says nosniff.
func TestErrorsDoNotLeak(t *testing.T) {
	secret := fmt.Errorf("dial tcp 10.9.8.7:6334: password=hunter2: %w", twostage.ErrUnavailable)
	var logs logBuffer
	cfg, err := server.ParseConfig([]byte("rerankers: {default: broken}\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, opened: map[string]int{}}
	srv, err := server.Open(context.Background(), cfg, e.openers(map[string]twostage.Reranker{"broken": failingReranker{secret}}), &server.Options{Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := newHTTPTest(t, srv)
	r := doWith(t, http.DefaultClient, "POST", hs+"/v1/rerank", `{"query":"q","documents":["a"]}`, "")
	id := r.header.Get("X-Request-Id")
	msg := r.errorBody(t).Message
	switch {
	case r.status != 503:
		t.Errorf("status %d, want 503", r.status)
	case strings.Contains(string(r.body), "10.9.8.7") || strings.Contains(string(r.body), "hunter2"):
		t.Errorf("the 5xx body leaks the cause: %s", r.body)
	case id == "" || !strings.Contains(msg, id):
		t.Errorf("message %q does not name the request id %q", msg, id)
	case !strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), id):
		t.Errorf("the log lacks the cause or the id: %s", logs.String())
	}
	r = doWith(t, http.DefaultClient, "GET", hs+"/no/<script>alert(1)</script>", "", "")
	if r.status != 404 || strings.Contains(string(r.body), "script") {
		t.Errorf("404: %d %s: must not echo the path", r.status, r.body)
	}
	if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", got)
	}
}

// TestRequestLimits: the query and text caps answer 400 with their codes,
// and a rejected upsert writes nothing.
func TestRequestLimits(t *testing.T) {
	e := start(t, baseConfig+"max_query_bytes: 100\nmax_query_words: 5\nmax_text_bytes: 100\nmax_response_bytes: 1000\n", nil, nil)
	e.index("docs")
	tests := []struct {
		name, path, body, code string
	}{
		{"query bytes", "/v1/search", mustJSON(map[string]any{"query": strings.Repeat("x", 101)}), "query_too_long"},
		{"query words", "/v1/search", `{"query":"a b c d e f"}`, "query_too_long"},
		{"rerank query words", "/v1/rerank", `{"query":"a,b,c,d,e,f","documents":["a"]}`, "query_too_long"},
		{"rerank text", "/v1/rerank", mustJSON(map[string]any{"query": "a", "documents": []string{"a", strings.Repeat("y", 101)}}), "text_too_long"},
		{"upsert text", "/v1/collections/docs/documents", mustJSON(map[string]any{"documents": []map[string]any{{"id": "ok", "text": "fine"}, {"id": "big", "text": strings.Repeat("z", 101)}}}), "text_too_long"},
		{"response size", "/v1/search", `{"query":"red planet","top_n":4,"candidate_k":5}`, "response_too_large"},
	}
	for _, tt := range tests {
		r := e.do("POST", tt.path, tt.body, "")
		if r.status != 400 || r.errorBody(t).Code != tt.code {
			t.Errorf("%s: %d %s, want 400 %s", tt.name, r.status, r.body, tt.code)
		}
	}
	if r := e.do("POST", "/v1/search", `{"query":"a b c d e","top_n":1}`, ""); r.status != 200 {
		t.Errorf("five words: %d %s", r.status, r.body)
	}
	st, _ := e.srv.Store("docs")
	if got, err := st.Get(context.Background(), []string{"ok"}); err == nil || len(got) > 0 {
		t.Errorf("the rejected upsert wrote %v (%v)", got, err)
	}
	var res server.SearchResponse
	r := e.do("POST", "/v1/search", `{"query":"red planet","top_n":4,"candidate_k":5,"omit_text":true}`, "")
	if r.status != 200 {
		t.Fatalf("omit_text: %d %s", r.status, r.body)
	}
	r.decode(t, &res)
	if len(res.Hits) != 4 {
		t.Errorf("omit_text: %d hits, want 4", len(res.Hits))
	}
	for _, h := range res.Hits {
		if h.Text != "" {
			t.Errorf("omit_text: hit %s has text %q", h.ID, h.Text)
		}
	}
}

// TestBodyTimeout: a body slower than body_timeout gets 408.
func TestBodyTimeout(t *testing.T) {
	e := start(t, baseConfig+"body_timeout: 300ms\n", nil, nil)
	host := strings.TrimPrefix(e.url, "http://")
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/search HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", host)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
}

// newHTTPTest serves h on loopback until the test ends and returns its URL.
func newHTTPTest(t *testing.T, h http.Handler) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestRejectedUpsertWritesNothing is issue 23 item 5 over HTTP: 300
// documents, the 281st with a vector of the wrong dimension (beyond the
// first internal batch of 256), and a duplicate id across batches.
func TestRejectedUpsertWritesNothing(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	for _, spoil := range []func([]map[string]any){
		func(d []map[string]any) { d[280]["vector"] = []float32{1, 2, 3} },
		func(d []map[string]any) { d[290]["id"] = "d10" },
	} {
		docs := make([]map[string]any, 300)
		for i := range docs {
			docs[i] = map[string]any{"id": fmt.Sprintf("d%d", i), "text": fmt.Sprintf("document %d", i)}
		}
		spoil(docs)
		r := e.do("POST", "/v1/collections/docs/documents", mustJSON(map[string]any{"documents": docs}), "")
		if r.status != 400 {
			t.Errorf("status %d %s, want 400", r.status, r.body)
		}
		st, _ := e.srv.Store("docs")
		if n, err := st.Count(context.Background()); err != nil || n != 0 {
			t.Errorf("the rejected upsert wrote %d documents (%v), want 0", n, err)
		}
	}
}

// TestEnvCannotInjectConfig is issue 23 item 7: a variable holding a
// newline and a key must stay inside its value.
func TestEnvCannotInjectConfig(t *testing.T) {
	yamlText := baseConfig + "    on_rerank_error: ${POLICY}\n    top_n: ${TOPN}\n"
	env := map[string]string{"POLICY": "degrade\n    metric: l2", "TOPN": "3"}
	cfg, err := server.ParseConfig([]byte(yamlText), func(k string) string { return env[k] })
	if err == nil {
		t.Fatalf("config parsed with metric %q, on_rerank_error %q: the variable set a key", cfg.Collections["docs"].Metric, cfg.Collections["docs"].OnRerankError)
	}
	if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), "on_rerank_error") {
		t.Errorf("error %v, want on_rerank_error rejected as invalid input", err)
	}
	env["POLICY"] = "fail"
	cfg, err = server.ParseConfig([]byte(yamlText), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Collections["docs"]; c.OnRerankError != "fail" || c.TopN != 3 || c.Metric != "cosine" {
		t.Errorf("collection %+v, want on_rerank_error fail, top_n 3, metric cosine", c)
	}
}

func TestLimitDefaults(t *testing.T) {
	cfg, err := server.ParseConfig([]byte(baseConfig), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := server.Limits{MaxQueryBytes: 16 << 10, MaxQueryWords: 2048, MaxTextBytes: 1 << 20, BodyTimeout: 10 * time.Second,
		MaxBufferedBytes: 64 << 20, MaxResponseBytes: 32 << 20}
	if cfg.Limits != want {
		t.Errorf("limits %+v, want %+v", cfg.Limits, want)
	}
	if want := max(64, 8*runtime.GOMAXPROCS(0)); cfg.MaxInFlight != want {
		t.Errorf("max_in_flight %d, want %d", cfg.MaxInFlight, want)
	}
	for _, bad := range []string{"max_query_words: -1\n", "max_buffered_bytes: 1000\n", "tls: {cert_file: a.pem}\n", "allowed_hosts: [\"http://x\"]\n",
		"collections: {docs: {store: \"mem:/tmp/x.jsonl\"}}\n"} {
		if _, err := server.ParseConfig([]byte("embedders: {default: \"hash:8\"}\n"+bad), func(string) string { return "" }); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("%q: %v, want ErrInvalidInput", bad, err)
		}
	}
	if _, err := server.ParseConfig([]byte("embedders: {default: \"hash:8\"}\nallow_mem_file: true\ncollections: {docs: {store: \"mem:/tmp/x.jsonl\"}}\n"), func(string) string { return "" }); err != nil {
		t.Errorf("mem:FILE with allow_mem_file: %v", err)
	}
}
