package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"twostage"
	"twostage/inference"
	"twostage/rerank"
	"twostage/server"
	"twostage/spec"
)

func TestRerankEndpoints(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	q := "red planet mars"
	docs := []string{"Venus is hot", "Mars is the red planet", "a red tomato", "planet Jupiter"}
	want, err := rerank.NewLexical().Rerank(context.Background(), q, docs)
	if err != nil {
		t.Fatal(err)
	}
	order := []int{0, 1, 2, 3}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case want[a].Score > want[b].Score:
			return -1
		case want[a].Score < want[b].Score:
			return 1
		}
		return 0
	})
	objs := make([]map[string]string, len(docs))
	for i, d := range docs {
		objs[i] = map[string]string{"text": d}
	}
	tests := []struct {
		name     string
		path     string
		body     any
		wantN    int
		withDocs bool
	}{
		{"v2 cohere strings", "/v2/rerank", map[string]any{"model": "rerank-v3.5", "query": q, "documents": docs}, 4, false},
		{"v1 jina objects top_n", "/v1/rerank", map[string]any{"model": "jina-reranker-v2-base-multilingual", "query": q, "documents": objs, "top_n": 2, "return_documents": true}, 2, true},
		{"top_n above count, v1 returns documents", "/v1/rerank", map[string]any{"query": q, "documents": docs, "top_n": 10}, 4, true},
		{"no top_n means all, max_tokens_per_doc above every length", "/v2/rerank", map[string]any{"query": q, "documents": docs, "max_tokens_per_doc": 512}, 4, false},
		{"model names a reranker", "/v2/rerank", map[string]any{"model": "default", "query": q, "documents": docs}, 4, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", tt.path, mustJSON(tt.body), "")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got server.RerankResponse
			r.decode(t, &got)
			if len(got.Results) != tt.wantN || got.ID == "" || got.Meta.BilledUnits.SearchUnits != 1 {
				t.Fatalf("response %s", r.body)
			}
			for k, res := range got.Results {
				i := order[k]
				if res.Index != i || math.Abs(res.RelevanceScore-want[i].Score) > 1e-12 || math.Abs(res.RawScore-want[i].Raw) > 1e-12 {
					t.Errorf("result %d = %+v, want index %d score %v raw %v", k, res, i, want[i].Score, want[i].Raw)
				}
				if tt.withDocs != (res.Document != nil) || (res.Document != nil && res.Document.Text != docs[i]) {
					t.Errorf("result %d document %+v, want present=%v", k, res.Document, tt.withDocs)
				}
			}
		})
	}
}

func TestSearchAndDocuments(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	e.index("docs")

	type searchResp struct {
		server.SearchResponse
	}
	search := func(t *testing.T, body string) server.SearchResponse {
		t.Helper()
		r := e.do("POST", "/v1/search", body, "")
		if r.status != 200 {
			t.Fatalf("search %s: %d %s", body, r.status, r.body)
		}
		var s server.SearchResponse
		r.decode(t, &s)
		return s
	}
	ids := func(hits []twostage.Hit) []string {
		var out []string
		for _, h := range hits {
			out = append(out, h.ID)
		}
		return out
	}

	t.Run("reranked", func(t *testing.T) {
		s := search(t, `{"query":"why is mars the red planet","collection":"docs","top_n":3,"candidate_k":5}`)
		if !s.Reranked || s.Degraded || s.Candidates != 5 || len(s.Hits) != 3 || s.Hits[0].ID != "mars" {
			t.Fatalf("got %+v", s)
		}
		for i, h := range s.Hits {
			if !h.Reranked || h.Score != h.RerankScore || (i > 0 && h.Score > s.Hits[i-1].Score) {
				t.Errorf("hit %d %+v: want reranked, sorted by rerank score", i, h)
			}
			if h.Text == "" || h.Metadata["kind"] == nil {
				t.Errorf("hit %d lacks text or metadata", i)
			}
		}
		if s.Timings.TotalMS <= 0 || s.Timings.TotalMS < s.Timings.RerankMS {
			t.Errorf("timings %+v", s.Timings)
		}
	})
	t.Run("default collection, filter on an integer", func(t *testing.T) {
		s := search(t, `{"query":"planet","filter":{"op":"range","field":"moons","gte":1}}`)
		if got := ids(s.Hits); !slices.Equal(sorted(got), []string{"jupiter", "mars"}) {
			t.Fatalf("hits %v, want jupiter and mars", got)
		}
	})
	t.Run("no_rerank and min_score", func(t *testing.T) {
		s := search(t, `{"query":"red planet","no_rerank":true,"top_n":5}`)
		if s.Reranked || len(s.Hits) != 5 || s.Hits[0].Reranked {
			t.Fatalf("no_rerank: %+v", s)
		}
		all := search(t, `{"query":"red planet","top_n":5}`)
		cut := search(t, `{"query":"red planet","top_n":5,"min_score":0.5}`)
		var want []string
		for _, h := range all.Hits {
			if h.RerankScore >= 0.5 {
				want = append(want, h.ID)
			}
		}
		if len(want) == 0 || len(want) == 5 || !slices.Equal(ids(cut.Hits), want) {
			t.Fatalf("min_score 0.5 kept %v, want %v (of %v)", ids(cut.Hits), want, ids(all.Hits))
		}
	})
	t.Run("delete by body and by query", func(t *testing.T) {
		r := e.do("DELETE", "/v1/collections/docs/documents", `{"ids":["tomato","nosuch"]}`, "")
		if r.status != 200 || !strings.Contains(string(r.body), `"deleted":["tomato"],"not_found":["nosuch"]`) {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		r = e.do("DELETE", "/v1/collections/docs/documents?id=phobos", "", "")
		if r.status != 200 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		s := search(t, `{"query":"red","top_n":10}`)
		if got := sorted(ids(s.Hits)); !slices.Equal(got, []string{"jupiter", "mars", "venus"}) {
			t.Fatalf("after delete: %v", got)
		}
	})
	t.Run("upsert overwrites", func(t *testing.T) {
		r := e.do("POST", "/v1/collections/docs/documents", `{"documents":[{"id":"venus","text":"Venus, the morning star","metadata":{"kind":"star"}}]}`, "")
		if r.status != 200 || !strings.Contains(string(r.body), `"upserted":1`) {
			t.Fatalf("upsert: %d %s", r.status, r.body)
		}
		s := search(t, `{"query":"morning star","filter":{"op":"eq","field":"kind","value":"star"}}`)
		if len(s.Hits) != 1 || s.Hits[0].Text != "Venus, the morning star" {
			t.Fatalf("got %+v", s.Hits)
		}
	})
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestSearchDegradesWithCause(t *testing.T) {
	cfg := baseConfig + `
  broken:
    store: mem
    reranker: gpu
  strict:
    store: mem
    reranker: gpu
    on_rerank_error: fail
`
	gpu := failingReranker{fmt.Errorf("engine: cuda device lost: %w", twostage.ErrUnavailable)}
	e := start(t, cfg, nil, map[string]twostage.Reranker{"gpu": gpu})
	e.index("broken")
	e.index("strict")
	first := e.do("POST", "/v1/search", `{"query":"red planet","collection":"broken","no_rerank":true,"top_n":4}`, "")
	r := e.do("POST", "/v1/search", `{"query":"red planet","collection":"broken","top_n":4}`, "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var deg, fs server.SearchResponse
	r.decode(t, &deg)
	first.decode(t, &fs)
	if !deg.Degraded || deg.Reranked || !strings.Contains(deg.Cause, "cuda device lost") {
		t.Fatalf("got degraded=%v reranked=%v cause=%q", deg.Degraded, deg.Reranked, deg.Cause)
	}
	for i := range deg.Hits {
		if deg.Hits[i].ID != fs.Hits[i].ID {
			t.Errorf("hit %d = %s, want first-stage %s", i, deg.Hits[i].ID, fs.Hits[i].ID)
		}
	}
	// The request can ask to fail instead, and a fail collection fails.
	for _, body := range []string{
		`{"query":"red planet","collection":"broken","on_rerank_error":"fail"}`,
		`{"query":"red planet","collection":"strict"}`,
	} {
		r = e.do("POST", "/v1/search", body, "")
		if r.status != 503 || r.errorBody(t).Code != "unavailable" {
			t.Errorf("%s: %d %s, want 503 unavailable", body, r.status, r.body)
		}
	}
	m := e.do("GET", "/metrics", "", "")
	checkMetrics(t, string(m.body), map[string]float64{`twostage_search_degraded_total{collection="broken"}`: 1})
}

func TestBadRequests(t *testing.T) {
	cfg := baseConfig + "max_documents: 5\nmax_body_bytes: 2000\n"
	e := start(t, cfg, nil, nil)
	six := mustJSON(map[string]any{"query": "q", "documents": []string{"a", "b", "c", "d", "e", "f"}})
	big := mustJSON(map[string]any{"query": "q", "documents": []string{strings.Repeat("x", 3000)}})
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", "POST", "/v1/rerank", `{"query": "q", "documents": [`, 400, "malformed_json"},
		{"not json", "POST", "/v2/rerank", `query=q`, 400, "malformed_json"},
		{"empty body", "POST", "/v1/rerank", ``, 400, "malformed_json"},
		{"trailing data", "POST", "/v1/rerank", `{"query":"q","documents":["a"]} {}`, 400, "malformed_json"},
		{"array body", "POST", "/v1/rerank", `[1,2]`, 400, "invalid_input"},
		{"missing query", "POST", "/v1/rerank", `{"documents":["a"]}`, 400, "invalid_input"},
		{"empty query", "POST", "/v2/rerank", `{"query":"  ","documents":["a"]}`, 400, "invalid_input"},
		{"query not a string", "POST", "/v2/rerank", `{"query":5,"documents":["a"]}`, 400, "invalid_input"},
		{"missing documents", "POST", "/v1/rerank", `{"query":"q"}`, 400, "invalid_input"},
		{"document a number", "POST", "/v1/rerank", `{"query":"q","documents":[1]}`, 400, "invalid_input"},
		{"document object without text", "POST", "/v1/rerank", `{"query":"q","documents":[{"title":"x"}]}`, 400, "invalid_input"},
		{"document null", "POST", "/v1/rerank", `{"query":"q","documents":[null]}`, 400, "invalid_input"},
		{"negative top_n", "POST", "/v1/rerank", `{"query":"q","documents":["a"],"top_n":-1}`, 400, "invalid_input"},
		{"empty documents", "POST", "/v1/rerank", `{"query":"q","documents":[]}`, 400, "invalid_input"},
		{"top_n a string", "POST", "/v1/rerank", `{"query":"q","documents":["a"],"top_n":"3"}`, 400, "invalid_input"},
		{"invalid utf-8", "POST", "/v1/rerank", "{\"query\":\"\xff\",\"documents\":[\"a\"]}", 400, "invalid_input"},
		{"too many documents", "POST", "/v1/rerank", six, 400, "too_many_documents"},
		{"oversize body", "POST", "/v2/rerank", big, 413, "body_too_large"},
		{"wrong method", "GET", "/v1/rerank", ``, 405, "method_not_allowed"},
		{"unknown path", "GET", "/v3/nothing", ``, 404, "not_found"},
		{"search missing query", "POST", "/v1/search", `{"collection":"docs"}`, 400, "invalid_input"},
		{"search malformed", "POST", "/v1/search", `{"query":`, 400, "malformed_json"},
		{"search unknown collection", "POST", "/v1/search", `{"query":"q","collection":"nope"}`, 404, "not_found"},
		{"search bad filter", "POST", "/v1/search", `{"query":"q","filter":{"op":"nope"}}`, 400, "invalid_input"},
		{"search top_n negative", "POST", "/v1/search", `{"query":"q","top_n":-1}`, 400, "invalid_input"},
		{"search top_n over candidate_k", "POST", "/v1/search", `{"query":"q","top_n":9,"candidate_k":3}`, 400, "invalid_input"},
		{"search min_score 2", "POST", "/v1/search", `{"query":"q","min_score":2}`, 400, "invalid_input"},
		{"search bad policy", "POST", "/v1/search", `{"query":"q","on_rerank_error":"maybe"}`, 400, "invalid_input"},
		{"search wrong vector size", "POST", "/v1/search", `{"query":"q","vector":[1,2]}`, 400, "dimension_mismatch"},
		{"search oversize", "POST", "/v1/search", mustJSON(map[string]string{"query": strings.Repeat("q ", 1500)}), 413, "body_too_large"},
		{"upsert no documents field", "POST", "/v1/collections/docs/documents", `{}`, 400, "invalid_input"},
		{"upsert missing id", "POST", "/v1/collections/docs/documents", `{"documents":[{"text":"x"}]}`, 400, "invalid_input"},
		{"upsert bad metadata", "POST", "/v1/collections/docs/documents", `{"documents":[{"id":"a","text":"x","metadata":{"m":{"n":1}}}]}`, 400, "invalid_input"},
		{"upsert too many", "POST", "/v1/collections/docs/documents", `{"documents":[{"id":"1"},{"id":"2"},{"id":"3"},{"id":"4"},{"id":"5"},{"id":"6"}]}`, 400, "too_many_documents"},
		{"upsert duplicate ids", "POST", "/v1/collections/docs/documents", `{"documents":[{"id":"1","text":"a"},{"id":"1","text":"b"}]}`, 400, "invalid_input"},
		{"upsert unknown collection", "POST", "/v1/collections/nope/documents", `{"documents":[]}`, 404, "not_found"},
		{"documents wrong method", "PUT", "/v1/collections/docs/documents", `{}`, 405, "method_not_allowed"},
		{"delete no ids", "DELETE", "/v1/collections/docs/documents", ``, 400, "invalid_input"},
		{"delete empty id", "DELETE", "/v1/collections/docs/documents", `{"ids":[""]}`, 400, "invalid_input"},
		{"delete malformed", "DELETE", "/v1/collections/docs/documents", `{"ids":`, 400, "malformed_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.body, "")
			if r.status != tt.status {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tt.status)
			}
			if got := r.errorBody(t); got.Code != tt.code {
				t.Errorf("code %q (%s), want %q", got.Code, got.Message, tt.code)
			}
		})
	}
	m := e.do("GET", "/metrics", "", "")
	checkMetrics(t, string(m.body), map[string]float64{`twostage_errors_total{kind="malformed_json"}`: 6})
}

func TestAuth(t *testing.T) {
	env := map[string]string{"API_TOKENS": "alpha, beta"}
	cfg := baseConfig + "auth:\n  tokens_env: API_TOKENS\n  required: true\n"
	e := start(t, cfg, env, nil)
	body := `{"query":"q","documents":["a q"]}`
	tests := []struct {
		name, header string
		status       int
	}{
		{"missing", "", 401},
		{"wrong token", "Bearer gamma", 401},
		{"prefix of a token", "Bearer alph", 401},
		{"wrong scheme", "Basic YWxwaGE=", 401},
		{"no token", "Bearer ", 401},
		{"first token", "Bearer alpha", 200},
		{"second token, lower-case scheme", "bearer beta", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.url+"/v1/rerank", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	r := e.do("POST", "/v1/search", `{"query":"q"}`, "wrong")
	if r.status != 401 || r.errorBody(t).Code != "unauthorized" {
		t.Errorf("search with a wrong token: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.do("GET", path, "", ""); r.status != 200 {
			t.Errorf("%s without a token: %d, want 200 (open)", path, r.status)
		}
	}
	// With tokens, /metrics needs one unless auth.open_metrics is set.
	if r := e.do("GET", "/metrics", "", ""); r.status != 401 {
		t.Errorf("/metrics without a token: %d, want 401", r.status)
	}
	if r := e.do("GET", "/metrics", "", "beta"); r.status != 200 {
		t.Errorf("/metrics with a token: %d, want 200", r.status)
	}
	e2 := start(t, cfg+"  open_metrics: true\n", env, nil)
	if r := e2.do("GET", "/metrics", "", ""); r.status != 200 {
		t.Errorf("open /metrics without a token: %d, want 200", r.status)
	}
	if _, err := server.ParseConfig([]byte(cfg), func(string) string { return "" }); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("auth required without tokens: %v", err)
	}
}

func TestHealthAndReady(t *testing.T) {
	cfg := `
embedders: {default: "hash:32"}
rerankers: {default: lexical, gpu: gpu}
collections:
  a: {store: mem}
  b: {store: flaky}
`
	gpu := &readyReranker{countingReranker: newCounting()}
	e := start(t, cfg, nil, map[string]twostage.Reranker{"gpu": gpu})
	if r := e.do("GET", "/healthz", "", ""); r.status != 200 || !strings.Contains(string(r.body), `"ok"`) {
		t.Fatalf("healthz %d %s", r.status, r.body)
	}
	r := e.do("GET", "/readyz", "", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"store:b":"ok"`) || !strings.Contains(string(r.body), `"reranker:gpu":"ok"`) {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	gpu.err = errors.New("model not loaded")
	r = e.do("GET", "/readyz", "", "")
	if r.status != 503 || !strings.Contains(string(r.body), "model not loaded") {
		t.Errorf("readyz with a reranker not ready: %d %s", r.status, r.body)
	}
	gpu.err = nil
	var fd *flakyDriver
	if c, ok := e.collectionStore("b"); ok && c.As(&fd) {
		fd.down.Store(true)
	} else {
		t.Fatal("cannot reach the flaky driver")
	}
	r = e.do("GET", "/readyz", "", "")
	if r.status != 503 || !strings.Contains(string(r.body), "connection refused") || !strings.Contains(string(r.body), `"store:a":"ok"`) {
		t.Errorf("readyz with a store down: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/healthz", "", ""); r.status != 405 {
		t.Errorf("POST /healthz: %d", r.status)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Close(); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if r := e.do("POST", "/v1/rerank", `{"query":"q","documents":["a"]}`, ""); r.status != 503 || r.errorBody(t).Code != "shutting_down" {
		t.Errorf("after Close: %d %s", r.status, r.body)
	}
}

type readyReranker struct {
	*countingReranker
	err error
}

func (r *readyReranker) Ready(context.Context) error { return r.err }

// collectionStore finds a collection's store through a search-free path: the
// test opener records nothing, so ask the server's exported accessor.
func (e *testEnv) collectionStore(name string) (*twostage.Store, bool) {
	return e.srv.Store(name)
}

func TestTimeoutsAndInFlightLimit(t *testing.T) {
	gate := newGate()
	cfg := baseConfig + "request_timeout: 100ms\nmax_in_flight: 1\nrerank:\n  reranker: gate\n"
	e := start(t, cfg, nil, map[string]twostage.Reranker{"gate": gate})
	// Nobody releases the gate: the request times out with 504.
	r := e.do("POST", "/v1/rerank", `{"query":"q","documents":["a"]}`, "")
	if r.status != 504 || r.errorBody(t).Code != "timeout" {
		t.Fatalf("%d %s, want 504 timeout", r.status, r.body)
	}
	<-gate.entered

	// One request in flight: the next gets 429 overloaded.
	done := make(chan response)
	go func() {
		done <- doWith(t, http.DefaultClient, "POST", e.url+"/v1/rerank", `{"query":"q","documents":["a q"]}`, "")
	}()
	<-gate.entered
	r = e.do("POST", "/v2/rerank", `{"query":"q","documents":["a"]}`, "")
	if r.status != 429 || r.errorBody(t).Code != "overloaded" {
		t.Errorf("second request: %d %s, want 429 overloaded", r.status, r.body)
	}
	if r := e.do("GET", "/healthz", "", ""); r.status != 200 {
		t.Errorf("healthz must not count against the limit: %d", r.status)
	}
	gate.release <- struct{}{}
	if r := <-done; r.status != 200 {
		t.Errorf("first request: %d %s", r.status, r.body)
	}
}

func TestGracefulShutdown(t *testing.T) {
	gate := newGate()
	cfg, err := server.ParseConfig([]byte(baseConfig+"rerank:\n  reranker: gate\nshutdown_timeout: 20s\nshutdown_drain: 0s\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, ln, stop, served := serveLoopback(t, cfg, map[string]twostage.Reranker{"gate": gate})
	url := "http://" + ln.Addr().String()

	inflight := make(chan response)
	go func() {
		inflight <- doWith(t, &http.Client{}, "POST", url+"/v1/rerank", `{"query":"red","documents":["red","blue"]}`, "")
	}()
	<-gate.entered // the request is inside the reranker
	stop()         // SIGTERM

	// The listener closes: new connections are refused while the request
	// in flight is still running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	gate.release <- struct{}{}
	r := <-inflight
	if r.status != 200 || !strings.Contains(string(r.body), `"index":0`) {
		t.Fatalf("in-flight request: %d %s", r.status, r.body)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	gate := newGate()
	cfg, _ := server.ParseConfig([]byte(baseConfig+"rerank:\n  reranker: gate\nshutdown_timeout: 50ms\nshutdown_drain: 0s\n"), func(string) string { return "" })
	_, ln, stop, served := serveLoopback(t, cfg, map[string]twostage.Reranker{"gate": gate})
	go http.Post("http://"+ln.Addr().String()+"/v1/rerank", "application/json", strings.NewReader(`{"query":"q","documents":["a"]}`))
	<-gate.entered
	stop()
	if err := <-served; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want the shutdown deadline", err)
	}
	close(gate.release)
}

// TestTwoProcessesShareOneEngine: two client processes (children of this
// test binary, each with its own connections) use one server; every call
// from either reaches the same engine instance, opened once although two
// collections and the rerank endpoint name it, and the engine merges calls
// from both processes into the same batches.
//
// That the two processes overlap does not rest on timing: the engine holds
// each batch until it holds a call of every process still running (or a
// minute has passed, which fails the test), so however late one child starts
// under load, the other's calls wait for it in the shared engine. A server
// that opened a second engine, or let one call at a time through to it,
// fails here.
func TestTwoProcessesShareOneEngine(t *testing.T) {
	eng := newBatchingEngine(64, 20*time.Millisecond)
	cfg := `
embedders: {default: "hash:64"}
rerankers: {default: engine}
request_timeout: 5m
collections:
  a: {store: mem, reranker: default}
  b: {store: mem, reranker: engine}
`
	e := start(t, cfg, nil, map[string]twostage.Reranker{"engine": eng})
	e.index("a")
	e.index("b")
	if e.opened["engine"] != 1 {
		t.Fatalf("engine opened %d times, want 1", e.opened["engine"])
	}
	const holdMax = time.Minute
	eng.holdFor(holdMax, twoProcessesQuery(0), twoProcessesQuery(1))
	// Both children start their calls when a line arrives on stdin.
	var children []*exec.Cmd
	var gos []io.WriteCloser
	for p := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesClientChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), twoProcessesEnv+"="+e.url+" "+strconv.Itoa(p))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("client process %d:\n%s", p, out.String())
			}
		})
		children, gos = append(children, cmd), append(gos, stdin)
	}
	for _, w := range gos {
		w.Write([]byte("go\n"))
		w.Close()
	}
	// Each child's end ends the engine's wait for its calls, in whatever
	// order they end.
	exits := make([]error, len(children))
	var wg sync.WaitGroup
	for p, cmd := range children {
		wg.Go(func() {
			exits[p] = cmd.Wait()
			eng.finished(twoProcessesQuery(p))
		})
	}
	wg.Wait()
	for p, err := range exits {
		if err != nil {
			t.Errorf("client process %d: %v", p, err)
		}
	}
	if n := eng.stalls.Load(); n > 0 {
		t.Errorf("a batch waited %v for a call of each process: the calls of both processes never reached the engine together", holdMax)
	}
	st := eng.Stats()
	// 40 rerank calls of 2 documents and 40 searches of 5 candidates.
	calls := 2 * twoProcessesCalls
	if want := int64(calls/2*2 + calls/2*5); st.Items != want {
		t.Errorf("engine scored %d pairs, want %d", st.Items, want)
	}
	// One call brings at most 5 pairs: more per batch on average means the
	// engine merged calls; without batching the mean is 3.5. With the hold
	// rule a batch holds at most 4 calls of one process (its 4 goroutines)
	// and, while both run, a call of the other, so there are at most 40
	// batches: 7 pairs each or more.
	if st.Batches == 0 || float64(st.Items)/float64(st.Batches) <= 5 {
		t.Errorf("engine ran %d batches of %d pairs for %d calls: calls were not batched together", st.Batches, st.Items, calls)
	}
	if mixed := eng.mixed.Load(); mixed == 0 {
		t.Errorf("no batch held calls of both processes (%d batches)", st.Batches)
	}
	m := string(e.do("GET", "/metrics", "", "").body)
	checkMetrics(t, m, map[string]float64{
		`twostage_engine_pairs_total{reranker="default"}`:   float64(st.Items),
		`twostage_engine_batches_total{reranker="default"}`: float64(st.Batches),
	})
	if strings.Contains(m, `twostage_engine_pairs_total{reranker="engine"}`) {
		t.Error("one engine reported twice under two names")
	}
	t.Logf("2 processes x %d calls: %d batches, %.2f pairs per batch, %d batches with calls of both", twoProcessesCalls, st.Batches, float64(st.Items)/float64(st.Batches), eng.mixed.Load())
}

const (
	twoProcessesEnv   = "TWOSTAGE_TWO_PROCESSES_CLIENT"
	twoProcessesCalls = 40
)

// twoProcessesQuery is the query of client process p: the engine tells the
// processes' calls apart by it.
func twoProcessesQuery(p int) string { return "red planet p" + strconv.Itoa(p) }

// TestTwoProcessesClientChild is one client process of
// TestTwoProcessesShareOneEngine: 4 goroutines make twoProcessesCalls calls
// in all, half /v1/rerank and half /v1/search, with a query naming the
// process, once a line arrives on stdin.
func TestTwoProcessesClientChild(t *testing.T) {
	arg := os.Getenv(twoProcessesEnv)
	if arg == "" {
		t.Skip("runs only as a child of TestTwoProcessesShareOneEngine")
	}
	url, ps, _ := strings.Cut(arg, " ")
	p, err := strconv.Atoi(ps)
	if err != nil {
		t.Fatalf("%s=%q: %v", twoProcessesEnv, arg, err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	bufio.NewReader(os.Stdin).ReadString('\n')
	query := twoProcessesQuery(p)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range twoProcessesCalls / 4 {
				var r response
				if i%2 == 0 {
					r = doWith(t, client, "POST", url+"/v1/rerank", `{"query":"`+query+`","documents":["mars red planet","venus"]}`, "")
				} else {
					coll := []string{"a", "b"}[g%2]
					r = doWith(t, client, "POST", url+"/v1/search", `{"query":"`+query+`","collection":"`+coll+`","top_n":2,"candidate_k":5}`, "")
				}
				if r.status != 200 {
					t.Errorf("process %d: %d %s", p, r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
}

func TestMetrics(t *testing.T) {
	direct := statsReranker{newCounting(), inference.Stats{Batches: 4, Items: 10, RealTokens: 900, PaddedTokens: 1000, Queued: 3, QueueWait: 2 * time.Second, RunTime: 3 * time.Second}}
	cfg := `
embedders: {default: "hash:64"}
rerankers: {default: direct, lexical: lexical}
collections:
  docs: {store: mem}
`
	e := start(t, cfg, nil, map[string]twostage.Reranker{"direct": direct})
	e.index("docs")
	e.do("POST", "/v1/search", `{"query":"red planet"}`, "")
	e.do("POST", "/v1/rerank", `{"query":"red planet","documents":["a","b","c"]}`, "")
	e.do("POST", "/v1/rerank", `{"query":`, "")
	m := string(e.do("GET", "/metrics", "", "").body)
	want := map[string]float64{
		`twostage_engine_batches_total{reranker="default"}`:            4,
		`twostage_engine_pairs_total{reranker="default"}`:              10,
		`twostage_engine_mean_batch_size{reranker="default"}`:          2.5,
		`twostage_engine_padding_efficiency{reranker="default"}`:       0.9,
		`twostage_engine_queue_depth{reranker="default"}`:              3,
		`twostage_engine_queue_wait_seconds_total{reranker="default"}`: 2,
		`twostage_engine_run_seconds_total{reranker="default"}`:        3,
		`twostage_http_requests_total{code="200",route="rerank_v1"}`:   1,
		`twostage_http_requests_total{code="400",route="rerank_v1"}`:   1,
		`twostage_http_requests_total{code="200",route="search"}`:      1,
		`twostage_http_requests_total{code="200",route="documents"}`:   1,
		`twostage_errors_total{kind="malformed_json"}`:                 1,
		`twostage_stage_duration_seconds_count{stage="embed"}`:         1,
		`twostage_stage_duration_seconds_count{stage="retrieve"}`:      1,
		`twostage_stage_duration_seconds_count{stage="rerank"}`:        2,
		`twostage_stage_duration_seconds_count{stage="index"}`:         1,
		`twostage_rerank_request_documents_sum`:                        3 + 5,
		`twostage_http_request_duration_seconds_count{route="search"}`: 1,
	}
	checkMetrics(t, m, want)
	if strings.Contains(m, `reranker="lexical"}`) {
		t.Error("a reranker without statistics reported engine metrics")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "twostage_http_in_flight_requests"} {
		if !strings.Contains(m, name) {
			t.Errorf("no %s in /metrics", name)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Run("failure closes what was opened", func(t *testing.T) {
		eng := newBatchingEngine(8, time.Millisecond)
		cfg, _ := server.ParseConfig([]byte(`
embedders: {default: "hash:8"}
rerankers: {a: engine, b: nosuch}
collections: {docs: {store: mem, reranker: a}}
`), func(string) string { return "" })
		env := &testEnv{t: t, opened: map[string]int{}}
		_, err := server.Open(context.Background(), cfg, env.openers(map[string]twostage.Reranker{"engine": eng}), nil)
		if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), "nosuch") {
			t.Fatalf("err = %v", err)
		}
		if err := eng.Close(); !errors.Is(err, twostage.ErrClosed) {
			t.Errorf("the engine opened before the failure was not closed")
		}
	})
	t.Run("bad store", func(t *testing.T) {
		cfg, _ := server.ParseConfig([]byte("embedders: {default: \"hash:8\"}\ncollections: {docs: {store: nope}}\n"), func(string) string { return "" })
		env := &testEnv{t: t, opened: map[string]int{}}
		if _, err := server.Open(context.Background(), cfg, env.openers(nil), nil); err == nil || !strings.Contains(err.Error(), `collection "docs"`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("nil config", func(t *testing.T) {
		if _, err := server.Open(context.Background(), nil, server.Openers{}, nil); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("zero openers open specs with package spec", func(t *testing.T) {
		cfg, err := server.ParseConfig([]byte("embedders: {default: \"hash:8\"}\nrerankers: {default: lexical}\ncollections: {docs: {store: \"mem:\"}}\n"), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.Open(context.Background(), cfg, server.Openers{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		defer srv.Close()
		r := doWith(t, ts.Client(), "POST", ts.URL+"/v1/collections/docs/documents",
			`{"documents":[{"id":"m","text":"Mars is the red planet"},{"id":"v","text":"Venus is hot"}]}`, "")
		if r.status != 200 {
			t.Fatalf("upsert: %d %s", r.status, r.body)
		}
		r = doWith(t, ts.Client(), "POST", ts.URL+"/v1/search", `{"collection":"docs","query":"red planet","top_n":1}`, "")
		var res server.SearchResponse
		if err := json.Unmarshal(r.body, &res); err != nil || r.status != 200 || len(res.Hits) != 1 || res.Hits[0].ID != "m" || !res.Reranked {
			t.Fatalf("search: %d %s, want m reranked first", r.status, r.body)
		}
	})
	t.Run("zero openers: a bad spec", func(t *testing.T) {
		for _, c := range []string{
			"embedders: {default: \"hash:8\"}\ncollections: {docs: {store: \"nosuch:x\"}}\n",
			"embedders: {default: \"nosuch\"}\ncollections: {docs: {store: \"mem:\"}}\n",
			"rerankers: {default: \"lexical|x\"}\n",
		} {
			cfg, err := server.ParseConfig([]byte(c), func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := server.Open(context.Background(), cfg, server.Openers{}, nil); !errors.Is(err, spec.ErrBadSpec) || !errors.Is(err, twostage.ErrInvalidInput) {
				t.Errorf("%q: err = %v, want spec.ErrBadSpec", c, err)
			}
		}
	})
}

func TestConfig(t *testing.T) {
	env := map[string]string{
		"STORE_DIR": "/data", "TWOSTAGE_LISTEN": "127.0.0.1:9999", "TWOSTAGE_REQUEST_TIMEOUT": "3s",
		"TWOSTAGE_RERANKER_GPU_MAIN": "zerank:/models/z2", "TWOSTAGE_MAX_DOCUMENTS": "77",
	}
	getenv := func(k string) string { return env[k] }
	c, err := server.ParseConfig([]byte(`
listen: ":8080"
rerankers:
  gpu-main: "zerank:/models/old"
embedders: {default: "hash:384"}
collections:
  docs:
    store: "faiss:${STORE_DIR}/docs"
    reranker: gpu-main
`), getenv)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Collections["docs"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen override", c.Listen, "127.0.0.1:9999"},
		{"timeout override", c.RequestTimeout, 3 * time.Second},
		{"reranker override", c.Rerankers["gpu-main"], "zerank:/models/z2"},
		{"max documents override", c.MaxDocuments, 77},
		{"expansion", cc.Store, "faiss:/data/docs"},
		{"default embedder", cc.Embedder, "default"},
		{"default metric", cc.Metric, "cosine"},
		{"default policy", cc.OnRerankError, "degrade"},
		{"default candidate_k", cc.CandidateK, 50},
		{"default body limit", c.MaxBodyBytes, int64(8 << 20)},
		{"default shutdown", c.ShutdownTimeout, 30 * time.Second},
		{"single reranker is the rerank default", c.Rerank.Reranker, "gpu-main"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	bad := []struct{ name, yaml, want string }{
		{"unknown field", "rerankers: {a: lexical}\nlisten_port: 3\n", "listen_port"},
		{"nothing to serve", "listen: \":1\"\n", "nothing to serve"},
		{"no store", "embedders: {default: \"hash:8\"}\ncollections: {c: {}}\n", "no store"},
		{"no embedder", "collections: {c: {store: mem}}\n", "no embedder"},
		{"bad metric", "embedders: {default: \"hash:8\"}\ncollections: {c: {store: mem, metric: manhattan}}\n", "unknown metric"},
		{"bad policy", "embedders: {default: \"hash:8\"}\ncollections: {c: {store: mem, on_rerank_error: retry}}\n", "on_rerank_error"},
		{"top_n over candidate_k", "embedders: {default: \"hash:8\"}\ncollections: {c: {store: mem, top_n: 9, candidate_k: 3}}\n", "top_n"},
		{"bad duration", "rerankers: {a: lexical}\nrequest_timeout: soon\n", "soon"},
		{"empty spec", "rerankers: {a: \"\"}\n", "no spec"},
		{"slash in name", "embedders: {default: \"hash:8\"}\ncollections: {\"a/b\": {store: mem}}\n", "collection name"},
		{"not yaml", "rerankers: [\n", "config"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := server.ParseConfig([]byte(b.yaml), func(string) string { return "" })
			if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), b.want) {
				t.Errorf("err = %v, want ErrInvalidInput mentioning %q", err, b.want)
			}
		})
	}
	if _, err := server.ParseConfig([]byte("rerankers: {a: lexical}\n"), func(k string) string {
		return map[string]string{"TWOSTAGE_MAX_BODY_BYTES": "lots"}[k]
	}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("bad env override: %v", err)
	}
}

// engineShaped has a Stats method returning a struct of the engine's field
// names but not inference.Stats: the server reads statistics through the
// typed StatsReporter interface only, never by field name.
type engineShaped struct{ *countingReranker }

type engineShapedStats struct {
	Batches, Pairs       int64
	Tokens, PaddedTokens int64
}

func (engineShaped) Stats() engineShapedStats {
	return engineShapedStats{Batches: 3, Pairs: 12, Tokens: 300, PaddedTokens: 400}
}

// chain wraps a reranker, as a fallback chain does.
type chain struct {
	*countingReranker
	inner []twostage.Reranker
}

func (c *chain) Rerankers() []twostage.Reranker { return c.inner }

func TestEngineStatsTyped(t *testing.T) {
	typed := statsReranker{newCounting(), inference.Stats{Calls: 7, Batches: 3, Items: 12, RealTokens: 300, PaddedTokens: 400, Queued: 9,
		QueueWait: time.Second, PrepareTime: 500 * time.Millisecond, RunTime: 4 * time.Second, Overloaded: 5, Cancelled: 6}}
	cfg := "rerankers: {default: wrapped, other: shaped}\n"
	e := start(t, cfg, nil, map[string]twostage.Reranker{"wrapped": &chain{newCounting(), []twostage.Reranker{typed}}, "shaped": engineShaped{newCounting()}})
	m := string(e.do("GET", "/metrics", "", "").body)
	want := map[string]float64{
		`twostage_engine_calls_total{reranker="default"}`:                             7,
		`twostage_engine_batches_total{reranker="default"}`:                           3,
		`twostage_engine_mean_batch_size{reranker="default"}`:                         4,
		`twostage_engine_real_tokens_total{reranker="default"}`:                       300,
		`twostage_engine_padding_efficiency{reranker="default"}`:                      0.75,
		`twostage_engine_queue_depth{reranker="default"}`:                             9,
		`twostage_engine_queue_wait_seconds_total{reranker="default"}`:                1,
		`twostage_engine_prepare_seconds_total{reranker="default"}`:                   0.5,
		`twostage_engine_run_seconds_total{reranker="default"}`:                       4,
		`twostage_engine_refused_pairs_total{reason="overloaded",reranker="default"}`: 5,
		`twostage_engine_refused_pairs_total{reason="cancelled",reranker="default"}`:  6,
	}
	checkMetrics(t, m, want)
	if strings.Contains(m, `reranker="other"`) {
		t.Error("a Stats method returning another struct type produced engine metrics")
	}
}
