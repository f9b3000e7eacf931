package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"twostage"
	"twostage/rerank/remote"
	"twostage/retry"
)

// fakeAPI is a local stand-in for one reranking service that follows the
// service's documented request and response shapes:
//
//   - Cohere v2:   POST /v2/rerank {model, query, documents: [string], top_n?}
//     -> {id, results: [{index, relevance_score}], meta}
//   - Jina:        POST /v1/rerank {model, query, documents, top_n?, return_documents?}
//     -> {model, usage: {total_tokens}, results: [{index, document?: {text}, relevance_score}]}
//   - ZeroEntropy: POST /v1/models/rerank {model, query, documents: [string], top_n?}
//     -> {results: [{index, relevance_score}]}
//   - vLLM:        POST /v1/rerank {model?, query, documents, top_n?}
//     -> {id, model, usage, results: [{index, document: {text}, relevance_score}]}
//   - TEI:         POST /rerank {query, texts, raw_scores?, return_text?, truncate?}
//     -> [{index, score, text?}] (413 above --max-client-batch-size)
//   - twostage:    POST /v1/rerank, the Cohere shape plus raw_score.
//
// Results come back sorted by score, highest first, as the services do.
type fakeAPI struct {
	t       *testing.T
	kind    remote.Kind
	key     string // expected bearer token; "" accepts none
	maxDocs int    // 413 above this (0: no limit)
	logits  bool   // vLLM: answer raw logits instead of probabilities

	mu       sync.Mutex
	requests []fakeRequest
	// script answers the first len(script) requests instead of the
	// normal handler; an entry returning false falls through.
	script []func(w http.ResponseWriter, r *http.Request) bool
}

type fakeRequest struct {
	Path, Auth, Model, Query string
	Docs                     []string
	RawScores                bool
}

func newFake(t *testing.T, kind remote.Kind) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f := &fakeAPI{t: t, kind: kind}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// scripted starts a fake kind service that answers its first requests with
// script (see fakeAPI.script) and returns it with a Reranker calling it
// under opts.
func scripted(t *testing.T, kind remote.Kind, opts *remote.Options, script ...func(http.ResponseWriter, *http.Request) bool) (*fakeAPI, *remote.Reranker) {
	t.Helper()
	f, srv := newFake(t, kind)
	f.script = script
	r, err := remote.New(kind, srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f, r
}

// allowedFields are the request fields each API documents; the fakes answer
// 422 to any other, as strict validators do.
var allowedFields = map[remote.Kind]map[string]bool{
	remote.Cohere:      {"model": true, "query": true, "documents": true, "top_n": true, "max_tokens_per_doc": true},
	remote.ZeroEntropy: {"model": true, "query": true, "documents": true, "top_n": true, "latency": true},
	remote.Jina:        {"model": true, "query": true, "documents": true, "top_n": true, "return_documents": true},
	remote.VLLM:        {"model": true, "query": true, "documents": true, "top_n": true, "truncate_prompt_tokens": true},
	remote.TEI:         {"query": true, "texts": true, "raw_scores": true, "return_text": true, "truncate": true, "truncation_direction": true},
	remote.Twostage:    {"model": true, "query": true, "documents": true, "top_n": true, "return_documents": true},
}

var paths = map[remote.Kind]string{
	remote.Cohere: "/v2/rerank", remote.Jina: "/v1/rerank", remote.ZeroEntropy: "/v1/models/rerank",
	remote.VLLM: "/v1/rerank", remote.TEI: "/rerank", remote.Twostage: "/v1/rerank",
}

// wantScore is the fake's relevance: the share of query words in the
// document, kept inside (0,1).
func wantScore(q, d string) float64 {
	qw := strings.Fields(strings.ToLower(q))
	dw := strings.Fields(strings.ToLower(d))
	n := 0
	for _, w := range qw {
		if slices.Contains(dw, w) {
			n++
		}
	}
	return (float64(n) + 0.5) / (float64(len(qw)) + 1)
}

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeAPI) reqs() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"message": msg})
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := fakeRequest{Path: r.URL.Path, Auth: r.Header.Get("Authorization")}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		apiError(w, 400, "invalid json")
		return
	}
	for k := range raw {
		if !allowedFields[f.kind][k] {
			apiError(w, 422, "unknown field "+k)
			return
		}
	}
	json.Unmarshal(raw["model"], &rec.Model)
	json.Unmarshal(raw["query"], &rec.Query)
	docsField := "documents"
	if f.kind == remote.TEI {
		docsField = "texts"
		json.Unmarshal(raw["raw_scores"], &rec.RawScores)
		if _, ok := raw["documents"]; ok {
			apiError(w, 422, "unknown field `documents`")
			return
		}
	}
	if err := json.Unmarshal(raw[docsField], &rec.Docs); err != nil || rec.Docs == nil {
		apiError(w, 422, docsField+" must be a list of strings")
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	n := len(f.requests)
	var step func(http.ResponseWriter, *http.Request) bool
	if n <= len(f.script) {
		step = f.script[n-1]
	}
	f.mu.Unlock()
	if step != nil && step(w, r) {
		return
	}

	switch {
	case r.Method != http.MethodPost:
		apiError(w, 405, "method not allowed")
		return
	case r.URL.Path != paths[f.kind]:
		apiError(w, 404, "no route "+r.URL.Path)
		return
	case r.Header.Get("Content-Type") != "application/json":
		apiError(w, 415, "want application/json")
		return
	case f.key != "" && rec.Auth != "Bearer "+f.key:
		apiError(w, 401, "invalid api token")
		return
	case rec.Query == "":
		apiError(w, 400, "query is required")
		return
	case (f.kind == remote.Cohere || f.kind == remote.Jina || f.kind == remote.ZeroEntropy) && rec.Model == "":
		apiError(w, 400, "model is required")
		return
	case f.maxDocs > 0 && len(rec.Docs) > f.maxDocs:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(413)
		fmt.Fprintf(w, `{"error":"batch size %d > maximum allowed batch size %d","error_type":"Validation"}`, len(rec.Docs), f.maxDocs)
		return
	}
	type res struct {
		i int
		s float64
	}
	rs := make([]res, len(rec.Docs))
	for i, d := range rec.Docs {
		rs[i] = res{i, wantScore(rec.Query, d)}
	}
	slices.SortStableFunc(rs, func(a, b res) int {
		if a.s > b.s {
			return -1
		}
		if a.s < b.s {
			return 1
		}
		return 0
	})
	w.Header().Set("Content-Type", "application/json")
	var out any
	switch f.kind {
	case remote.TEI:
		arr := make([]map[string]any, len(rs))
		for k, x := range rs {
			score := x.s
			if rec.RawScores {
				score = logit(x.s)
			}
			arr[k] = map[string]any{"index": x.i, "score": score}
		}
		out = arr
	default:
		results := make([]map[string]any, len(rs))
		for k, x := range rs {
			m := map[string]any{"index": x.i, "relevance_score": x.s}
			switch f.kind {
			case remote.VLLM:
				m["document"] = map[string]string{"text": rec.Docs[x.i]}
				if f.logits {
					m["relevance_score"] = logit(x.s)
				}
			case remote.Twostage:
				m["raw_score"] = logit(x.s)
			}
			results[k] = m
		}
		resp := map[string]any{"results": results}
		switch f.kind {
		case remote.Cohere:
			resp["id"] = "07734bd2-2473-4f07-94e1-0d9f0e6843cf"
			resp["meta"] = map[string]any{"api_version": map[string]string{"version": "2"}, "billed_units": map[string]int{"search_units": 1}}
		case remote.Jina, remote.VLLM:
			resp["model"] = rec.Model
			resp["usage"] = map[string]int{"total_tokens": 42}
		}
		out = resp
	}
	json.NewEncoder(w).Encode(out)
}

// quick returns options that keep retries fast.
func quick() *remote.Options {
	return &remote.Options{Retry: retry.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond}, Timeout: 5 * time.Second}
}

var (
	query = "red planet mars"
	docs  = []string{
		"Venus is Earth's twin",
		"Mars is the red planet",
		"Jupiter has a red spot",
		"Saturn has rings",
		"mars bars are chocolate",
	}
)

func checkScores(t *testing.T, got []twostage.Score, q string, docs []string, rawIsLogit bool) {
	t.Helper()
	if len(got) != len(docs) {
		t.Fatalf("got %d scores for %d docs", len(got), len(docs))
	}
	for i, d := range docs {
		want := wantScore(q, d)
		if math.Abs(got[i].Score-want) > 1e-12 {
			t.Errorf("doc %d (%q): score %v, want %v", i, d, got[i].Score, want)
		}
		wantRaw := want
		if rawIsLogit {
			wantRaw = logit(want)
		}
		if math.Abs(got[i].Raw-wantRaw) > 1e-9 {
			t.Errorf("doc %d: raw %v, want %v", i, got[i].Raw, wantRaw)
		}
	}
}

func TestEveryAPI(t *testing.T) {
	tests := []struct {
		kind      remote.Kind
		model     string // expected model field
		keyEnv    string
		rawLogit  bool
		wantTexts bool
	}{
		{remote.ZeroEntropy, "zerank-2", "ZEROENTROPY_API_KEY", false, false},
		{remote.Cohere, "rerank-v3.5", "COHERE_API_KEY", false, false},
		{remote.Jina, "jina-reranker-v2-base-multilingual", "JINA_API_KEY", false, false},
		{remote.VLLM, "", "VLLM_API_KEY", false, false},
		{remote.TEI, "", "TEI_API_KEY", true, true},
		{remote.Twostage, "", "TWOSTAGE_API_KEY", true, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			f, srv := newFake(t, tt.kind)
			f.key = "sekret-" + string(tt.kind)
			t.Setenv(tt.keyEnv, f.key)
			r, err := remote.New(tt.kind, srv.URL, quick())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			got, err := r.Rerank(context.Background(), query, docs)
			if err != nil {
				t.Fatal(err)
			}
			checkScores(t, got, query, docs, tt.rawLogit)
			reqs := f.reqs()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			rq := reqs[0]
			if rq.Path != paths[tt.kind] || rq.Model != tt.model || rq.Query != query || !slices.Equal(rq.Docs, docs) {
				t.Errorf("request %+v: want path %s, model %q, the query and documents", rq, paths[tt.kind], tt.model)
			}
			if rq.Auth != "Bearer "+f.key {
				t.Errorf("authorization %q", rq.Auth)
			}
			if tt.kind == remote.TEI && !rq.RawScores {
				t.Error("TEI request did not ask for raw scores")
			}
			if !strings.Contains(r.String(), srv.URL) || strings.Contains(r.String(), f.key) {
				t.Errorf("String() = %q: want the URL and never the key", r.String())
			}
		})
	}
}

func TestSplitsAboveTheDocumentLimit(t *testing.T) {
	many := make([]string, 70)
	for i := range many {
		many[i] = fmt.Sprintf("doc %d about %s", i, []string{"mars", "venus", "red planet mars", "rings"}[i%4])
	}
	tests := []struct {
		name    string
		kind    remote.Kind
		opts    remote.Options
		limit   int // the fake's limit
		wantReq int
	}{
		{"tei default 32", remote.TEI, remote.Options{}, 32, 3},
		{"cohere 10", remote.Cohere, remote.Options{MaxDocuments: 10, APIKey: "k"}, 10, 7},
		{"jina 70 in one", remote.Jina, remote.Options{MaxDocuments: 70, APIKey: "k"}, 70, 1},
		{"vllm 1 each, concurrency 1", remote.VLLM, remote.Options{MaxDocuments: 1, Concurrency: 1}, 1, 70},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t, tt.kind)
			f.maxDocs = tt.limit
			r, err := remote.New(tt.kind, srv.URL, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Rerank(context.Background(), query, many)
			if err != nil {
				t.Fatal(err)
			}
			checkScores(t, got, query, many, tt.kind == remote.TEI)
			reqs := f.reqs()
			if len(reqs) != tt.wantReq {
				t.Errorf("%d requests, want %d", len(reqs), tt.wantReq)
			}
			seen := 0
			for _, rq := range reqs {
				if len(rq.Docs) > tt.limit {
					t.Errorf("a request carried %d documents, limit %d", len(rq.Docs), tt.limit)
				}
				seen += len(rq.Docs)
			}
			if seen != len(many) {
				t.Errorf("requests carried %d documents in all, want %d", seen, len(many))
			}
		})
	}
}

func TestTEIOverLimitIsInvalidInput(t *testing.T) {
	f, srv := newFake(t, remote.TEI)
	f.maxDocs = 2
	r, _ := remote.New(remote.TEI, srv.URL, &remote.Options{MaxDocuments: 3})
	_, err := r.Rerank(context.Background(), query, docs[:3])
	var se *remote.StatusError
	if !errors.Is(err, twostage.ErrInvalidInput) || !errors.As(err, &se) || se.Code != 413 || !strings.Contains(se.Message, "maximum allowed batch size") {
		t.Fatalf("err = %v: want ErrInvalidInput with the 413 and TEI's message", err)
	}
	if f.count() != 1 {
		t.Errorf("%d requests: a 413 must not be retried", f.count())
	}
}

func status(code int, hdr ...string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		apiError(w, code, http.StatusText(code))
		return true
	}
}

func body(s string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, s)
		return true
	}
}

func TestRetriesAndErrors(t *testing.T) {
	many := []func(http.ResponseWriter, *http.Request) bool{}
	for range 10 {
		many = append(many, status(503))
	}
	tests := []struct {
		name       string
		kind       remote.Kind
		script     []func(http.ResponseWriter, *http.Request) bool
		attempts   int
		wantErr    error // nil: success
		notErr     error
		wantCalls  int
		wantStatus int
	}{
		{"429 then success", remote.Cohere, []func(http.ResponseWriter, *http.Request) bool{status(429, "Retry-After", "0")}, 4, nil, nil, 2, 0},
		{"500 502 then success", remote.Jina, []func(http.ResponseWriter, *http.Request) bool{status(500), status(502)}, 4, nil, nil, 3, 0},
		{"5xx exhausted", remote.ZeroEntropy, many, 3, twostage.ErrUnavailable, twostage.ErrOverloaded, 3, 503},
		{"429 exhausted", remote.VLLM, []func(http.ResponseWriter, *http.Request) bool{status(429), status(429), status(429)}, 3, twostage.ErrOverloaded, nil, 3, 429},
		{"no retries", remote.TEI, many, 1, twostage.ErrUnavailable, nil, 1, 503},
		{"400 not retried", remote.Cohere, []func(http.ResponseWriter, *http.Request) bool{status(400)}, 4, twostage.ErrInvalidInput, twostage.ErrUnavailable, 1, 400},
		{"422 not retried", remote.TEI, []func(http.ResponseWriter, *http.Request) bool{status(422)}, 4, twostage.ErrInvalidInput, nil, 1, 422},
		{"401 not retried", remote.Jina, []func(http.ResponseWriter, *http.Request) bool{status(401)}, 4, twostage.ErrUnavailable, twostage.ErrInvalidInput, 1, 401},
		{"424 TEI model error", remote.TEI, []func(http.ResponseWriter, *http.Request) bool{status(424)}, 4, twostage.ErrUnavailable, nil, 1, 424},
		{"malformed json", remote.Cohere, []func(http.ResponseWriter, *http.Request) bool{body(`{"results": [`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
		{"html page", remote.VLLM, []func(http.ResponseWriter, *http.Request) bool{body(`<html>bad gateway</html>`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
		{"no results field", remote.Jina, []func(http.ResponseWriter, *http.Request) bool{body(`{"data": []}`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
		{"too few results", remote.ZeroEntropy, []func(http.ResponseWriter, *http.Request) bool{body(`{"results": [{"index": 0, "relevance_score": 0.5}]}`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
		{"index out of range", remote.Twostage, []func(http.ResponseWriter, *http.Request) bool{body(`{"results": [{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.1},{"index":2,"relevance_score":0.1},{"index":3,"relevance_score":0.1},{"index":9,"relevance_score":0.1}]}`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
		{"duplicate index", remote.Cohere, []func(http.ResponseWriter, *http.Request) bool{body(`{"results": [{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.1},{"index":2,"relevance_score":0.1},{"index":3,"relevance_score":0.1},{"index":3,"relevance_score":0.1}]}`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
		{"missing score", remote.Cohere, []func(http.ResponseWriter, *http.Request) bool{body(`{"results": [{"index":0},{"index":1},{"index":2},{"index":3},{"index":4}]}`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
		{"tei object not array", remote.TEI, []func(http.ResponseWriter, *http.Request) bool{body(`{"results": []}`)}, 4, twostage.ErrUnavailable, nil, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := quick()
			o.Retry.Attempts = tt.attempts
			o.APIKey = "k"
			f, r := scripted(t, tt.kind, o, tt.script...)
			got, err := r.Rerank(context.Background(), query, docs)
			if f.count() != tt.wantCalls {
				t.Errorf("%d requests, want %d", f.count(), tt.wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				checkScores(t, got, query, docs, tt.kind == remote.TEI || tt.kind == remote.Twostage)
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.notErr != nil && errors.Is(err, tt.notErr) {
				t.Errorf("err = %v should not match %v", err, tt.notErr)
			}
			var se *remote.StatusError
			if tt.wantStatus != 0 && (!errors.As(err, &se) || se.Code != tt.wantStatus) {
				t.Errorf("err = %v: want a StatusError %d", err, tt.wantStatus)
			}
			if !strings.HasPrefix(err.Error(), "remote: "+string(tt.kind)) {
				t.Errorf("err = %q: want the package and api prefix", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Run("honoured", func(t *testing.T) {
		f, r := scripted(t, remote.Cohere, quick(), status(429, "Retry-After", "1"))
		start := time.Now()
		if _, err := r.Rerank(context.Background(), query, docs); err != nil {
			t.Fatal(err)
		}
		// A lower bound only: the retry must not come before the server's
		// Retry-After (the backoff alone would wait at most 5ms).
		if el := time.Since(start); el < time.Second {
			t.Errorf("retried after %v, before Retry-After: 1", el)
		}
		if f.count() != 2 {
			t.Errorf("%d requests, want 2", f.count())
		}
	})
	t.Run("longer than allowed", func(t *testing.T) {
		o := quick()
		o.Retry.MaxRetryAfter = time.Second
		f, r := scripted(t, remote.Cohere, o, status(429, "Retry-After", "120"))
		_, err := r.Rerank(context.Background(), query, docs)
		if !errors.Is(err, twostage.ErrOverloaded) || !strings.Contains(err.Error(), "2m0s") {
			t.Fatalf("err = %v, want ErrOverloaded naming the wait", err)
		}
		if f.count() != 1 {
			t.Errorf("%d requests, want 1", f.count())
		}
	})
	t.Run("beyond the caller's deadline", func(t *testing.T) {
		// 25s is within MaxRetryAfter (30s) but past the deadline, which
		// leaves the first request 20s to come back however loaded the
		// machine.
		_, r := scripted(t, remote.Jina, quick(), status(503, "Retry-After", "25"))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := r.Rerank(ctx, query, docs)
		if !errors.Is(err, twostage.ErrUnavailable) || !strings.Contains(err.Error(), "no time left") {
			t.Fatalf("err = %v, want ErrUnavailable saying there is no time left", err)
		}
	})
}

func TestTimeout(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return true
	}
	o := quick()
	o.Timeout = 50 * time.Millisecond
	o.Retry.Attempts = 2
	f, r := scripted(t, remote.VLLM, o, hang, hang)
	_, err := r.Rerank(context.Background(), query, docs)
	if !errors.Is(err, twostage.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want ErrUnavailable wrapping the deadline", err)
	}
	if f.count() != 2 {
		t.Errorf("%d requests, want 2 (one retry after the timeout)", f.count())
	}
	// After a timed-out attempt, a good answer still succeeds.
	f.mu.Lock()
	f.requests, f.script = nil, []func(http.ResponseWriter, *http.Request) bool{hang}
	f.mu.Unlock()
	got, err := r.Rerank(context.Background(), query, docs)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, got, query, docs, false)
}

func TestCallerCancellation(t *testing.T) {
	started := make(chan struct{})
	f, r := scripted(t, remote.Cohere, quick(), func(w http.ResponseWriter, r *http.Request) bool {
		close(started)
		<-r.Context().Done()
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := r.Rerank(ctx, query, docs)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if f.count() != 1 {
		t.Errorf("%d requests: a canceled call must not retry", f.count())
	}
}

func TestSplitFailureFailsTheCall(t *testing.T) {
	o := quick()
	o.MaxDocuments, o.Concurrency, o.Retry.Attempts = 2, 1, 2
	_, r := scripted(t, remote.TEI, o, nil, status(500), status(500))
	_, err := r.Rerank(context.Background(), query, docs)
	if !errors.Is(err, twostage.ErrUnavailable) || !strings.Contains(err.Error(), "documents 2-3") {
		t.Fatalf("err = %v, want ErrUnavailable naming documents 2-3", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, _ := remote.New(remote.Twostage, "http://"+addr, quick())
	_, err = r.Rerank(context.Background(), query, docs)
	if !errors.Is(err, twostage.ErrUnavailable) || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("err = %v, want ErrUnavailable after 4 attempts", err)
	}
}

func TestLogitsAreCalibrated(t *testing.T) {
	f, srv := newFake(t, remote.VLLM)
	f.logits = true
	r, _ := remote.New(remote.VLLM, srv.URL, quick())
	got, err := r.Rerank(context.Background(), query, docs)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for i, d := range docs {
		p := wantScore(query, d)
		if l := logit(p); l < 0 || l > 1 { // outside [0,1]: read as a logit
			checked++
			if math.Abs(got[i].Score-p) > 1e-12 || math.Abs(got[i].Raw-l) > 1e-12 {
				t.Errorf("doc %d: got %+v, want score %v raw %v", i, got[i], p, l)
			}
		}
	}
	if checked < 3 {
		t.Fatalf("only %d documents had logits outside [0,1]", checked)
	}
}

func TestBadInputAndLifecycle(t *testing.T) {
	f, srv := newFake(t, remote.Cohere)
	r, err := remote.New(remote.Cohere, srv.URL+"/", quick())
	if err != nil {
		t.Fatal(err)
	}
	if r.URL() != srv.URL+"/v2/rerank" {
		t.Errorf("URL() = %q", r.URL())
	}
	for _, tc := range []struct {
		q    string
		docs []string
	}{{"", docs}, {"   ", docs}, {"\xff", docs}, {"q", []string{"ok", "bad \xfe"}}} {
		if _, err := r.Rerank(context.Background(), tc.q, tc.docs); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("Rerank(%q, %q) err = %v, want ErrInvalidInput", tc.q, tc.docs, err)
		}
	}
	got, err := r.Rerank(context.Background(), "q", nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("zero documents: %v, %v; want an empty result", got, err)
	}
	if f.count() != 0 {
		t.Errorf("%d requests for bad or empty input, want 0", f.count())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if _, err := r.Rerank(context.Background(), query, docs); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("Rerank after Close: %v, want ErrClosed", err)
	}
}

func TestNew(t *testing.T) {
	for _, env := range []string{"ZEROENTROPY_API_KEY", "ZERO_ENTROPY_API_KEY", "COHERE_API_KEY", "CO_API_KEY", "JINA_API_KEY"} {
		t.Setenv(env, "")
	}
	tests := []struct {
		name string
		kind remote.Kind
		url  string
		env  [2]string
		want string // "" ok; else a substring of the error
	}{
		{"vendor without key", remote.ZeroEntropy, "", [2]string{}, "set ZEROENTROPY_API_KEY"},
		{"cohere without key", remote.Cohere, "", [2]string{}, "set COHERE_API_KEY"},
		{"cohere with CO_API_KEY", remote.Cohere, "", [2]string{"CO_API_KEY", "x"}, ""},
		{"self-hosted needs no key", remote.Cohere, "http://127.0.0.1:1", [2]string{}, ""},
		{"tei needs a url", remote.TEI, "", [2]string{}, "needs a URL"},
		{"not http", remote.VLLM, "ftp://x", [2]string{}, "not an http(s) URL"},
		{"no host", remote.VLLM, "http://", [2]string{}, "not an http(s) URL"},
		{"unknown api", remote.Kind("nope"), "http://x", [2]string{}, "unknown api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env[0] != "" {
				t.Setenv(tt.env[0], tt.env[1])
			}
			r, err := remote.New(tt.kind, tt.url, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				return
			}
			if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidInput containing %q", err, tt.want)
			}
		})
	}
	t.Setenv("ZEROENTROPY_API_KEY", "k")
	r, err := remote.New(remote.ZeroEntropy, "", nil)
	if err != nil || r.URL() != "https://api.zeroentropy.dev/v1/models/rerank" {
		t.Fatalf("vendor default: %v, %v", r, err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	_, srv := newFake(t, remote.Jina)
	o := quick()
	o.APIKey, o.MaxDocuments = "k", 2
	r, _ := remote.New(remote.Jina, srv.URL, o)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := []string{"red planet", "rings saturn", "chocolate bars"}[g%3]
			got, err := r.Rerank(context.Background(), q, docs)
			if err != nil {
				t.Error(err)
				return
			}
			for i, d := range docs {
				if math.Abs(got[i].Score-wantScore(q, d)) > 1e-12 {
					t.Errorf("goroutine %d doc %d: %v", g, i, got[i].Score)
				}
			}
		}()
	}
	wg.Wait()
}
