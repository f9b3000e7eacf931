package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/inference"
	"twostage/internal/servetest"
	"twostage/rerank"
	"twostage/server"
)

// quiet keeps expected request failures out of the test log.
var quiet = &server.Options{Logger: slog.New(slog.DiscardHandler)}

// testEnv is a server over the model-free stages (memstore, hashing
// embedder, BM25 reranker) and the fakes a test adds.
type testEnv struct {
	t      testing.TB
	srv    *server.Server
	http   *httptest.Server
	url    string
	opened map[string]int // reranker specs opened, with counts
	mu     sync.Mutex
}

const baseConfig = `
embedders:
  default: "hash:64"
rerankers:
  default: lexical
collections:
  docs:
    store: mem
`

// start opens a server from YAML; extra maps reranker specs to fakes.
func start(t testing.TB, yamlText string, env map[string]string, extra map[string]twostage.Reranker) *testEnv {
	t.Helper()
	cfg, err := server.ParseConfig([]byte(yamlText), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, opened: map[string]int{}}
	e.srv, err = server.Open(context.Background(), cfg, e.openers(extra), quiet)
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv)
	e.url = e.http.URL
	t.Cleanup(func() {
		e.http.Close()
		e.srv.Close()
	})
	return e
}

// serveLoopback opens a server for cfg with the test openers (and extra
// rerankers) and serves it on a fresh loopback listener. Calling stop begins
// shutdown; Serve's result arrives on served. Cleanup stops and closes the
// server.
func serveLoopback(t *testing.T, cfg *server.Config, extra map[string]twostage.Reranker) (srv *server.Server, ln net.Listener, stop context.CancelFunc, served <-chan error) {
	t.Helper()
	e := &testEnv{t: t, opened: map[string]int{}}
	srv, err := server.Open(context.Background(), cfg, e.openers(extra), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		srv.Close()
	})
	return srv, ln, stop, errc
}

func (e *testEnv) openers(extra map[string]twostage.Reranker) server.Openers {
	return server.Openers{
		Store: func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
			d, err := memstore.NewDriver(info.Dim, info.Metric)
			if err != nil {
				return nil, err
			}
			switch spec {
			case "mem":
				return twostage.NewStore(d), nil
			case "flaky":
				return twostage.NewStore(&flakyDriver{Driver: d}), nil
			}
			return nil, fmt.Errorf("test: unknown store %q: %w", spec, twostage.ErrInvalidInput)
		},
		Embedder: func(ctx context.Context, spec string) (twostage.Embedder, error) {
			var dim int
			if _, err := fmt.Sscanf(spec, "hash:%d", &dim); err != nil {
				return nil, fmt.Errorf("test: unknown embedder %q: %w", spec, twostage.ErrInvalidInput)
			}
			return embed.NewHashing(dim)
		},
		Reranker: func(ctx context.Context, spec string) (twostage.Reranker, error) {
			e.mu.Lock()
			e.opened[spec]++
			e.mu.Unlock()
			if r, ok := extra[spec]; ok {
				return r, nil
			}
			if spec == "lexical" {
				return rerank.NewLexical(), nil
			}
			return nil, fmt.Errorf("test: unknown reranker %q: %w", spec, twostage.ErrInvalidInput)
		},
	}
}

// flakyDriver fails Count when down is set (an unreachable backend).
type flakyDriver struct {
	*memstore.Driver
	down atomic.Bool
}

func (f *flakyDriver) Count(ctx context.Context) (int, error) {
	if f.down.Load() {
		return 0, fmt.Errorf("flaky: connection refused: %w", twostage.ErrUnavailable)
	}
	return f.Driver.Count(ctx)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// invalidInput checks that the response is a 400 invalid_input whose
// message holds every one of want, and returns its message.
func (r response) invalidInput(t testing.TB, want ...string) string {
	t.Helper()
	if r.status != 400 {
		t.Errorf("status %d %s, want 400", r.status, r.body)
		return ""
	}
	got := r.errorBody(t)
	if got.Code != "invalid_input" {
		t.Errorf("code %q (%q), want invalid_input", got.Code, got.Message)
	}
	for _, w := range want {
		if !strings.Contains(got.Message, w) {
			t.Errorf("message %q lacks %q", got.Message, w)
		}
	}
	return got.Message
}

// errorBody checks that the response is a JSON error and returns it.
func (r response) errorBody(t testing.TB) server.ErrorDetail {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q, want application/json", ct)
	}
	var eb server.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
		t.Fatalf("error body %q (%v): want {\"error\":{\"code\",\"message\"}}", r.body, err)
	}
	if eb.Message != eb.Error.Message {
		t.Errorf("top-level message %q, want the error's %q", eb.Message, eb.Error.Message)
	}
	if id := r.header.Get("X-Request-Id"); eb.ID == "" || eb.ID != id {
		t.Errorf("error id %q, want the X-Request-Id header %q (not empty)", eb.ID, id)
	}
	return eb.Error
}

// do sends a request with an optional bearer token ("" for none).
func (e *testEnv) do(method, path, body, token string) response {
	e.t.Helper()
	return doWith(e.t, http.DefaultClient, method, e.url+path, body, token)
}

func doWith(t testing.TB, c *http.Client, method, url, body, token string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, data}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// corpus is indexed by the search tests.
var corpus = []twostage.Document{
	{ID: "mars", Text: "Mars is called the red planet because of iron oxide dust", Metadata: map[string]any{"kind": "planet", "moons": 2}},
	{ID: "venus", Text: "Venus is the hottest planet with a thick atmosphere", Metadata: map[string]any{"kind": "planet", "moons": 0}},
	{ID: "jupiter", Text: "Jupiter has a great red spot, a giant storm", Metadata: map[string]any{"kind": "planet", "moons": 95}},
	{ID: "phobos", Text: "Phobos is a small moon of Mars", Metadata: map[string]any{"kind": "moon"}},
	{ID: "tomato", Text: "A tomato is a red fruit", Metadata: map[string]any{"kind": "food"}},
}

func (e *testEnv) index(coll string) {
	e.t.Helper()
	r := e.do("POST", "/v1/collections/"+coll+"/documents", mustJSON(map[string]any{"documents": corpus}), "")
	if r.status != 200 {
		e.t.Fatalf("upsert: %d %s", r.status, r.body)
	}
}

// countingReranker scores with BM25 and counts calls and documents.
type countingReranker struct {
	lex   *rerank.Lexical
	calls atomic.Int64
	docs  atomic.Int64
}

func newCounting() *countingReranker { return &countingReranker{lex: rerank.NewLexical()} }

func (c *countingReranker) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	c.calls.Add(1)
	c.docs.Add(int64(len(docs)))
	return c.lex.Rerank(ctx, q, docs)
}

// failingReranker always fails, like an engine whose device is gone.
type failingReranker struct{ err error }

func (f failingReranker) Rerank(context.Context, string, []string) ([]twostage.Score, error) {
	return nil, f.err
}

// gateReranker blocks each call until released (or ctx is done) and says
// when a call has entered.
type gateReranker struct {
	entered chan struct{}
	release chan struct{}
	lex     *rerank.Lexical
}

func newGate() *gateReranker {
	return &gateReranker{entered: make(chan struct{}, 16), release: make(chan struct{}), lex: rerank.NewLexical()}
}

func (g *gateReranker) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.lex.Rerank(ctx, q, docs)
}

// batchingEngine stands in for the ONNX engine: concurrent calls are queued
// and a scheduler goroutine runs them in batches of up to maxPairs pairs,
// waiting at most window for a batch to fill (longer while holdFor's rule
// is on). Its Stats method implements server.StatsReporter.
type batchingEngine struct {
	in       chan *job
	maxPairs int
	window   time.Duration
	lex      *rerank.Lexical
	done     chan struct{}
	wg       sync.WaitGroup

	batches, pairs, real, padded, queued, waitNS, runNS atomic.Int64
	// mixed counts the batches holding calls with different queries.
	mixed atomic.Int64

	// mu guards the hold rule: waitFor holds the queries a batch waits
	// for (see holdFor), holdMax how long it may wait.
	mu      sync.Mutex
	waitFor map[string]bool
	holdMax time.Duration
	changed chan struct{} // wakes a filling batch when waitFor changes
	// stalls counts the batches that gave up waiting after holdMax.
	stalls atomic.Int64
}

// holdFor turns on the hold rule: once its window has passed, a batch still
// waits until it holds a call with each of queries that is still expected
// (see finished), so that callers known to run at the same time meet in one
// batch whatever the machine's load. A batch that waits max gives up: it
// runs, counts in stalls and ends the rule. Call it before the calls start.
func (b *batchingEngine) holdFor(max time.Duration, queries ...string) {
	b.mu.Lock()
	b.holdMax, b.waitFor = max, map[string]bool{}
	for _, q := range queries {
		b.waitFor[q] = true
	}
	b.mu.Unlock()
}

// finished says that no more calls with query q will come.
func (b *batchingEngine) finished(q string) {
	b.mu.Lock()
	delete(b.waitFor, q)
	b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// holding reports how long a batch may wait under the hold rule (0: the
// rule is off).
func (b *batchingEngine) holding() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waitFor) == 0 {
		return 0
	}
	return b.holdMax
}

// covers reports whether batch holds a call with every query the hold rule
// still waits for.
func (b *batchingEngine) covers(batch []*job) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for q := range b.waitFor {
		if !slices.ContainsFunc(batch, func(j *job) bool { return j.q == q }) {
			return false
		}
	}
	return true
}

// giveUp ends the hold rule after a batch waited holdMax.
func (b *batchingEngine) giveUp() {
	b.stalls.Add(1)
	b.mu.Lock()
	b.waitFor = nil
	b.mu.Unlock()
}

type job struct {
	ctx   context.Context
	q     string
	docs  []string
	enq   time.Time
	out   []twostage.Score
	err   error
	ready chan struct{}
}

func newBatchingEngine(maxPairs int, window time.Duration) *batchingEngine {
	b := &batchingEngine{in: make(chan *job, 1024), maxPairs: maxPairs, window: window, lex: rerank.NewLexical(), done: make(chan struct{}), changed: make(chan struct{}, 1)}
	b.wg.Add(1)
	go b.loop() // exits on Close
	return b
}

// Stats implements server.StatsReporter, as rerank.Engine does.
func (b *batchingEngine) Stats() inference.Stats {
	return inference.Stats{
		Batches: b.batches.Load(), Items: b.pairs.Load(), RealTokens: b.real.Load(), PaddedTokens: b.padded.Load(),
		Queued: b.queued.Load(), QueueWait: time.Duration(b.waitNS.Load()), RunTime: time.Duration(b.runNS.Load()),
	}
}

func (b *batchingEngine) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	if len(docs) == 0 {
		return []twostage.Score{}, nil
	}
	j := &job{ctx: ctx, q: q, docs: docs, enq: time.Now(), ready: make(chan struct{})}
	b.queued.Add(int64(len(docs)))
	select {
	case b.in <- j:
	case <-b.done:
		b.queued.Add(-int64(len(docs)))
		return nil, twostage.ErrClosed
	default:
		b.queued.Add(-int64(len(docs)))
		return nil, fmt.Errorf("engine: queue full: %w", twostage.ErrOverloaded)
	}
	select {
	case <-j.ready:
		return j.out, j.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *batchingEngine) loop() {
	defer b.wg.Done()
	for {
		var first *job
		select {
		case first = <-b.in:
		case <-b.done:
			return
		}
		batch, n := []*job{first}, len(first.docs)
		timer := time.NewTimer(b.window)
		holdMax := b.holding()
		holdTimer := time.NewTimer(holdMax)
		var hold <-chan time.Time // nil, never ready, while the rule is off
		if holdMax > 0 {
			hold = holdTimer.C
		}
		windowOver := false
	fill:
		for n < b.maxPairs && !(windowOver && b.covers(batch)) {
			select {
			case j := <-b.in:
				batch = append(batch, j)
				n += len(j.docs)
			case <-timer.C:
				windowOver = true
			case <-b.changed:
			case <-hold:
				b.giveUp()
				break fill
			case <-b.done:
				break fill
			}
		}
		timer.Stop()
		holdTimer.Stop()
		start := time.Now()
		longest, real := 0, 0
		for _, j := range batch {
			b.waitNS.Add(int64(start.Sub(j.enq)))
			for _, d := range j.docs {
				l := len(strings.Fields(j.q)) + len(strings.Fields(d)) + 3
				real += l
				longest = max(longest, l)
			}
			j.out, j.err = b.lex.Rerank(j.ctx, j.q, j.docs)
		}
		for _, j := range batch[1:] {
			if j.q != batch[0].q {
				b.mixed.Add(1)
				break
			}
		}
		b.batches.Add(1)
		b.pairs.Add(int64(n))
		b.real.Add(int64(real))
		b.padded.Add(int64(longest * n))
		b.queued.Add(-int64(n))
		b.runNS.Add(int64(time.Since(start)))
		for _, j := range batch {
			close(j.ready)
		}
	}
}

func (b *batchingEngine) Close() error {
	select {
	case <-b.done:
		return twostage.ErrClosed
	default:
	}
	close(b.done)
	b.wg.Wait()
	return nil
}

// statsReranker implements server.StatsReporter directly.
type statsReranker struct {
	*countingReranker
	st inference.Stats
}

func (s statsReranker) Stats() inference.Stats { return s.st }

// checkMetrics fails t for each sample of want (name plus labels) that the
// /metrics body m lacks or holds with another value (beyond 1e-9).
func checkMetrics(t testing.TB, m string, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if got, err := servetest.MetricValue(m, k); err != nil || math.Abs(got-v) > 1e-9 {
			t.Errorf("%s = %v (%v), want %v", k, got, err, v)
		}
	}
}
