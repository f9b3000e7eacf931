package embed

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostage"
	"twostage/retry"
)

// fakeVector is what the fake servers return for a text: deterministic,
// different for different texts.
func fakeVector(text string, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		h := uint32(2166136261)
		for _, c := range []byte(fmt.Sprint(i, text)) {
			h = (h ^ uint32(c)) * 16777619
		}
		v[i] = float32(h%1000)/1000 - 0.5
	}
	return v
}

// fakeServer answers as an OpenAI-compatible or TEI server, per the
// documented shapes. behave, when set, may answer a request itself (it gets
// the 1-based request number) and return true.
type fakeServer struct {
	t        *testing.T
	kind     string // "openai" or "tei"
	dim      atomic.Int64
	maxBatch int // TEI max_client_batch_size; OpenAI: 2048
	behave   func(n int64, w http.ResponseWriter, r *http.Request) bool
	reqs     atomic.Int64
	base64   bool

	mu      sync.Mutex
	batches []int // sizes of the batches answered
	auth    []string
	srv     *httptest.Server
}

func newFakeServer(t *testing.T, kind string, dim int) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, kind: kind, maxBatch: 2048}
	f.dim.Store(int64(dim))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/embeddings", f.openai)
	mux.HandleFunc("POST /embed", f.tei)
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		if f.kind != "tei" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"model_id": "BAAI/bge-small-en-v1.5", "model_dtype": "float16",
			"model_type":              map[string]any{"embedding": map[string]any{"pooling": "cls"}},
			"max_concurrent_requests": 512, "max_input_length": 512, "max_batch_tokens": 16384,
			"max_client_batch_size": f.maxBatch, "tokenization_workers": 4, "version": "1.5.0",
		})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) record(n int, auth string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, n)
	f.auth = append(f.auth, auth)
}

func (f *fakeServer) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...)
}

func (f *fakeServer) openai(w http.ResponseWriter, r *http.Request) {
	n := f.reqs.Add(1)
	if f.behave != nil && f.behave(n, w, r) {
		return
	}
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Model == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"bad request","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if json.Unmarshal(req.Input, &one) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		inputs = []string{one}
	}
	if len(inputs) > f.maxBatch {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":"'$.input' is too long: %d > %d","type":"invalid_request_error"}}`, len(inputs), f.maxBatch)
		return
	}
	if req.Model == "missing" {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"message":"The model 'missing' does not exist","type":"invalid_request_error","code":"model_not_found"}}`)
		return
	}
	f.record(len(inputs), r.Header.Get("Authorization"))
	dim := int(f.dim.Load())
	if req.Dimensions > 0 {
		dim = req.Dimensions
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, len(inputs))
	for i, s := range inputs {
		v := fakeVector(s, dim)
		var emb any = v
		if f.base64 {
			b := make([]byte, 4*len(v))
			for k, x := range v {
				binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(x))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		// Answer in reverse order: clients must go by index.
		data[len(inputs)-1-i] = item{"embedding", i, emb}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)},
	})
}

func (f *fakeServer) tei(w http.ResponseWriter, r *http.Request) {
	n := f.reqs.Add(1)
	if f.behave != nil && f.behave(n, w, r) {
		return
	}
	var req struct {
		Inputs    json.RawMessage `json:"inputs"`
		Truncate  *bool           `json:"truncate"`
		Normalize *bool           `json:"normalize"`
	}
	var inputs []string
	if json.NewDecoder(r.Body).Decode(&req) != nil || json.Unmarshal(req.Inputs, &inputs) != nil {
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"error":"Failed to deserialize the JSON body","error_type":"validation"}`)
		return
	}
	if req.Truncate == nil || !*req.Truncate || req.Normalize == nil || !*req.Normalize {
		f.t.Errorf("tei request without truncate and normalize: %+v", req)
	}
	if len(inputs) > f.maxBatch {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		fmt.Fprintf(w, `{"error":"batch size %d > maximum allowed batch size %d","error_type":"validation"}`, len(inputs), f.maxBatch)
		return
	}
	f.record(len(inputs), r.Header.Get("Authorization"))
	out := make([][]float32, len(inputs))
	for i, s := range inputs {
		out[i] = fakeVector(s, int(f.dim.Load()))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// fast are options that keep retries quick in tests.
func fast(o HTTPOptions) *HTTPOptions {
	if o.Retry.Initial == 0 {
		o.Retry.Initial = time.Millisecond
	}
	if o.Retry.Max == 0 {
		o.Retry.Max = 5 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	o.Logger = slog.New(slog.DiscardHandler)
	return &o
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("document number %d", i)
	}
	return out
}

func checkVectors(t *testing.T, got [][]float32, in []string, prefix string, dim int) {
	t.Helper()
	if len(got) != len(in) {
		t.Fatalf("%d vectors for %d texts", len(got), len(in))
	}
	for i, s := range in {
		if d := maxDiff(got[i], fakeVector(prefix+s, dim)); d != 0 {
			t.Fatalf("vector %d (%q) differs from the server's by %g", i, s, d)
		}
	}
}

func TestOpenAI(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		base   func(f *fakeServer) string
		b64    bool
		batch  int
		sizes  []int
		prefix string
	}{
		{"api root", func(f *fakeServer) string { return f.srv.URL + "/v1" }, false, 4, []int{1, 4, 4, 2}, ""},
		{"host only", func(f *fakeServer) string { return f.srv.URL }, false, 0, []int{1, 10}, ""},
		{"full url, base64", func(f *fakeServer) string { return f.srv.URL + "/v1/embeddings/" }, true, 5, []int{1, 5, 5}, "passage: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t, "openai", 6)
			f.base64 = tc.b64
			e, err := NewOpenAI(ctx, tc.base(f), "text-embedding-3-small", fast(HTTPOptions{APIKey: "sk-test", BatchSize: tc.batch, Concurrency: 1, PassagePrefix: tc.prefix, QueryPrefix: "query: "}))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if e.Dim() != 6 {
				t.Fatalf("probed dim %d, want 6", e.Dim())
			}
			in := texts(10)
			got, err := e.EmbedDocuments(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, got, in, tc.prefix, 6)
			q, err := e.EmbedQuery(ctx, "what")
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, [][]float32{q}, []string{"what"}, "query: ", 6)
			if s := f.batchSizes(); fmt.Sprint(s[:len(s)-1]) != fmt.Sprint(tc.sizes) {
				t.Errorf("batch sizes %v, want %v (then 1 for the query)", s, tc.sizes)
			}
			for _, a := range f.auth {
				if a != "Bearer sk-test" {
					t.Fatalf("Authorization %q", a)
				}
			}
		})
	}
}

func TestOpenAIDimensionsAndKnownDim(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer(t, "openai", 8)
	e, err := NewOpenAIDimensions(ctx, f.srv.URL+"/v1", "text-embedding-3-small", 3, fast(HTTPOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := e.EmbedQuery(ctx, "x"); err != nil || len(v) != 3 || e.Dim() != 3 {
		t.Fatalf("dimensions 3: %v %v dim %d", v, err, e.Dim())
	}
	if f.reqs.Load() != 1 {
		t.Errorf("%d requests, want 1 (no probe when the dimension is known)", f.reqs.Load())
	}
	// A wrong Dim is caught on the first call.
	w, err := NewOpenAI(ctx, f.srv.URL, "m", fast(HTTPOptions{Dim: 5}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.EmbedQuery(ctx, "x"); !errors.Is(err, twostage.ErrDimension) {
		t.Errorf("declared dim 5, server 8: %v, want ErrDimension", err)
	}
}

// TestHTTPFailures covers both APIs: 429 then success (honouring
// Retry-After), 5xx then success, persistent 5xx, a timeout then success, a
// request that always times out, malformed bodies, a dimension change,
// client errors, and a server that is down.
func TestHTTPFailures(t *testing.T) {
	ctx := context.Background()
	type behave = func(n int64, w http.ResponseWriter, r *http.Request) bool
	failFirst := func(k int64, status int, hdr map[string]string, body string) behave {
		return func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n > k {
				return false
			}
			for h, v := range hdr {
				w.Header().Set(h, v)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
			return true
		}
	}
	hang := func(k int64) behave { // the first k requests hang until the client gives up
		return func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n > k {
				return false
			}
			io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		}
	}
	malformed := func(body string) behave {
		return func(n int64, w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, body)
			return true
		}
	}
	overloaded := `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`
	for _, kind := range []string{"openai", "tei"} {
		for _, tc := range []struct {
			name     string
			behave   behave
			opts     HTTPOptions
			want     error // nil: success
			wantReqs int64 // requests the embed call makes (after the probe), 0: not checked
			wantMsg  string
			minWait  time.Duration
		}{
			{name: "429 then success, Retry-After", behave: failFirst(2, 429, map[string]string{"Retry-After": "1"}, overloaded),
				opts: HTTPOptions{Retry: retry.Policy{MaxRetryAfter: 60 * time.Millisecond}}, minWait: 2 * 60 * time.Millisecond},
			{name: "503 then success", behave: failFirst(2, 503, nil, `{"error":"model is loading","error_type":"unhealthy"}`)},
			{name: "persistent 500", behave: failFirst(1<<40, 500, nil, `{"error":"boom","error_type":"backend"}`),
				opts: HTTPOptions{Retry: retry.Policy{Attempts: 3}}, want: twostage.ErrUnavailable, wantMsg: "boom"},
			// The successful third request has the same Timeout as the two
			// that hang: a second, not 100ms, lets it finish on a loaded machine.
			{name: "timeout then success", behave: hang(2), opts: HTTPOptions{Timeout: time.Second, Dim: 4}, wantReqs: 3},
			{name: "always times out", behave: hang(1 << 40), opts: HTTPOptions{Timeout: 50 * time.Millisecond, Retry: retry.Policy{Attempts: 2}, Dim: 4},
				want: twostage.ErrUnavailable, wantMsg: "timed out", wantReqs: 2},
			{name: "malformed json", behave: malformed(`{"data": [{"index": 0, "embedding": [0.1,`), want: twostage.ErrUnavailable, wantReqs: 1},
			{name: "html from a proxy", behave: malformed(`<html>bad gateway</html>`), want: twostage.ErrUnavailable, wantReqs: 1},
			{name: "wrong count", behave: malformed(map[string]string{
				"openai": `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1,2,3,4]}]}`,
				"tei":    `[[1,2,3,4]]`}[kind]), want: twostage.ErrUnavailable, wantMsg: "1 embeddings for 3 inputs"},
			{name: "null embedding", behave: malformed(map[string]string{
				"openai": `{"object":"list","data":[{"index":0,"embedding":null},{"index":1,"embedding":[1,2,3,4]},{"index":2,"embedding":[1,2,3,4]}]}`,
				"tei":    `[null,[1,2,3,4],[1,2,3,4]]`}[kind]), want: twostage.ErrUnavailable},
			{name: "bad request", behave: failFirst(1<<40, 400, nil, `{"error":{"message":"input must not be empty"}}`),
				opts: HTTPOptions{Dim: 4}, want: twostage.ErrInvalidInput, wantMsg: "input must not be empty", wantReqs: 1},
			{name: "unauthorized", behave: failFirst(1<<40, 401, nil, `{"error":{"message":"Incorrect API key provided"}}`),
				opts: HTTPOptions{Dim: 4}, want: twostage.ErrUnavailable, wantMsg: "API key", wantReqs: 1},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				f := newFakeServer(t, kind, 4)
				e := openFake(t, f, fast(tc.opts))
				f.reqs.Store(0)
				f.behave = tc.behave
				in := texts(3)
				start := time.Now()
				got, err := e.EmbedDocuments(ctx, in)
				if tc.want == nil {
					if err != nil {
						t.Fatal(err)
					}
					checkVectors(t, got, in, "", 4)
				} else if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if err != nil && !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("error %q does not contain %q", err, tc.wantMsg)
				}
				if tc.wantReqs > 0 && f.reqs.Load() != tc.wantReqs {
					t.Errorf("%d requests, want %d", f.reqs.Load(), tc.wantReqs)
				}
				if el := time.Since(start); el < tc.minWait {
					t.Errorf("finished after %v: Retry-After (capped to %v) not honoured", el, tc.opts.Retry.MaxRetryAfter)
				}
			})
		}
		t.Run(kind+"/dimension change", func(t *testing.T) {
			f := newFakeServer(t, kind, 4)
			e := openFake(t, f, fast(HTTPOptions{}))
			if _, err := e.EmbedQuery(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			f.dim.Store(5) // the model behind the endpoint changed
			_, err := e.EmbedDocuments(ctx, texts(3))
			if !errors.Is(err, twostage.ErrDimension) || !strings.Contains(err.Error(), "5 dimensions, expected 4") {
				t.Fatalf("err = %v, want ErrDimension naming 5 and 4", err)
			}
		})
		t.Run(kind+"/server down", func(t *testing.T) {
			f := newFakeServer(t, kind, 4)
			url := f.srv.URL
			f.srv.Close()
			var err error
			if kind == "openai" {
				_, err = NewOpenAI(ctx, url, "m", fast(HTTPOptions{Retry: retry.Policy{Attempts: 3}}))
			} else {
				_, err = NewTEI(ctx, url, fast(HTTPOptions{Retry: retry.Policy{Attempts: 3}}))
			}
			if !errors.Is(err, twostage.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		})
		t.Run(kind+"/cancel while backing off", func(t *testing.T) {
			f := newFakeServer(t, kind, 4)
			e := openFake(t, f, fast(HTTPOptions{Retry: retry.Policy{Initial: time.Hour, Max: time.Hour}}))
			f.behave = failFirst(1<<40, 503, nil, "")
			cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := e.EmbedDocuments(cctx, texts(2)); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
		})
		t.Run(kind+"/close", func(t *testing.T) {
			f := newFakeServer(t, kind, 4)
			checkClose(t, openFake(t, f, fast(HTTPOptions{})))
		})
	}
}

type closingEmbedder interface {
	twostage.Embedder
	Close() error
}

// checkClose closes e, then checks that a second Close and a query after
// it both fail with ErrClosed.
func checkClose(t *testing.T, e closingEmbedder) {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	if _, err := e.EmbedQuery(context.Background(), "x"); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("EmbedQuery after Close: %v, want ErrClosed", err)
	}
}

func openFake(t *testing.T, f *fakeServer, o *HTTPOptions) closingEmbedder {
	t.Helper()
	var (
		e   closingEmbedder
		err error
	)
	if f.kind == "openai" {
		e, err = NewOpenAI(context.Background(), f.srv.URL+"/v1", "bge-small", o)
	} else {
		e, err = NewTEI(context.Background(), f.srv.URL, o)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkBatches embeds in with e and checks the 4-dimensional vectors and
// the batch sizes f saw (printed as fmt.Sprint prints a []int).
func checkBatches(t *testing.T, e twostage.Embedder, f *fakeServer, in []string, want string) {
	t.Helper()
	got, err := e.EmbedDocuments(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, got, in, "", 4)
	if s := f.batchSizes(); fmt.Sprint(s) != want {
		t.Errorf("batch sizes %v, want %s", s, want)
	}
}

// TestTEIBatchLimit: the batch size comes from GET /info; a server that
// still refuses a batch as too large (413) gets it halved.
func TestTEIBatchLimit(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer(t, "tei", 4)
	f.maxBatch = 3
	e, err := NewTEI(ctx, f.srv.URL, fast(HTTPOptions{Concurrency: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if e.Info().MaxClientBatchSize != 3 || e.Info().ModelID != "BAAI/bge-small-en-v1.5" {
		t.Fatalf("info %+v", e.Info())
	}
	in := texts(8)
	checkBatches(t, e, f, in, "[1 3 3 2]")

	g := newFakeServer(t, "tei", 4)
	g.maxBatch = 3
	e2, err := NewTEI(ctx, g.srv.URL+"/embed", fast(HTTPOptions{BatchSize: 8, Concurrency: 1}))
	if err != nil {
		t.Fatal(err)
	}
	// 8 -> 413, halves of 4 -> 413, quarters of 2 succeed; later calls use 2.
	checkBatches(t, e2, g, in, "[1 2 2 2 2]")
	g.mu.Lock()
	g.batches = nil
	g.mu.Unlock()
	if _, err := e2.EmbedDocuments(ctx, texts(5)); err != nil {
		t.Fatal(err)
	}
	if s := g.batchSizes(); fmt.Sprint(s) != "[2 2 1]" {
		t.Errorf("after shrinking: batch sizes %v, want [2 2 1]", s)
	}
}

// TestHTTPConcurrent runs concurrent calls with several requests in flight
// each (run with -race).
func TestHTTPConcurrent(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer(t, "openai", 4)
	e, err := NewOpenAI(ctx, f.srv.URL, "m", fast(HTTPOptions{BatchSize: 3, Concurrency: 3}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := texts(20 + g)
			got, err := e.EmbedDocuments(ctx, in)
			if err != nil {
				t.Error(err)
				return
			}
			checkVectors(t, got, in, "", 4)
		}()
	}
	wg.Wait()
}

func TestHTTPOptionErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		open func() error
	}{
		{"empty model", func() error { _, err := NewOpenAI(ctx, "http://localhost:1", "", nil); return err }},
		{"not a url", func() error { _, err := NewOpenAI(ctx, "localhost:8080", "m", nil); return err }},
		{"ftp url", func() error { _, err := NewTEI(ctx, "ftp://x", nil); return err }},
		{"negative dim", func() error { _, err := NewTEI(ctx, "http://x", &HTTPOptions{Dim: -1}); return err }},
		{"zero dimensions", func() error { _, err := NewOpenAIDimensions(ctx, "http://x", "m", 0, nil); return err }},
	} {
		if err := tc.open(); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", tc.name, err)
		}
	}
	f := newFakeServer(t, "openai", 4)
	if _, err := NewOpenAI(ctx, f.srv.URL, "missing", fast(HTTPOptions{})); !errors.Is(err, twostage.ErrNotFound) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown model: %v, want ErrNotFound with the server's message", err)
	}
	e, _ := NewOpenAI(ctx, f.srv.URL, "m", fast(HTTPOptions{}))
	if _, err := e.EmbedDocuments(ctx, []string{"\xff"}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

// TestMaxBatchChars: batches also stop at the character budget; a text
// longer than the budget goes alone.
func TestMaxBatchChars(t *testing.T) {
	ctx := context.Background()
	f := newFakeServer(t, "openai", 4)
	e, err := NewOpenAI(ctx, f.srv.URL, "m", fast(HTTPOptions{Dim: 4, MaxBatchChars: 40, Concurrency: 1}))
	if err != nil {
		t.Fatal(err)
	}
	in := append(texts(5), strings.Repeat("x", 100), "tail") // 17 or 18 bytes each, then 100, then 4
	checkBatches(t, e, f, in, "[2 2 1 1 1]")
}
