package fallback_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
	"twostage/rerank/fallback"
	"twostage/rerank/remote"
	"twostage/retry"
)

// fake is a reranker that fails with err, or scores each document by its
// position from the end (so its order is recognisable), counting calls.
type fake struct {
	err    error
	hang   bool
	calls  atomic.Int64
	closed atomic.Int64
}

func (f *fake) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	f.calls.Add(1)
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.err != nil {
		return nil, f.err
	}
	out := make([]twostage.Score, len(docs))
	for i := range docs {
		out[i] = twostage.Score{Score: float64(len(docs)-i) / float64(len(docs)+1), Raw: float64(i)}
	}
	return out, nil
}

func (f *fake) Close() error { f.closed.Add(1); return nil }

var errEngine = errors.New("engine: onnx session failed")

func TestChain(t *testing.T) {
	docs := []string{"a", "b", "c"}
	tests := []struct {
		name       string
		stages     []*fake
		wantServed string
		wantCalls  []int64
		wantErr    []error
	}{
		{"first wins", []*fake{{}, {}}, "s0", []int64{1, 0}, nil},
		{"falls back", []*fake{{err: errEngine}, {}}, "s1", []int64{1, 1}, nil},
		{"falls back twice", []*fake{{err: twostage.ErrOverloaded}, {err: twostage.ErrUnavailable}, {}}, "s2", []int64{1, 1, 1}, nil},
		{"all fail", []*fake{{err: errEngine}, {err: twostage.ErrOverloaded}}, "", []int64{1, 1},
			[]error{twostage.ErrUnavailable, errEngine, twostage.ErrOverloaded}},
		{"all reject input", []*fake{{err: twostage.ErrInvalidInput}, {err: twostage.ErrInvalidInput}}, "", []int64{1, 1},
			[]error{twostage.ErrInvalidInput}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stages []fallback.Stage
			for i, f := range tt.stages {
				stages = append(stages, fallback.Stage{Name: "s" + string(rune('0'+i)), Reranker: f})
			}
			c, err := fallback.New(stages...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, rep := fallback.Track(context.Background())
			got, err := c.Rerank(ctx, "q", docs)
			for i, f := range tt.stages {
				if f.calls.Load() != tt.wantCalls[i] {
					t.Errorf("stage %d: %d calls, want %d", i, f.calls.Load(), tt.wantCalls[i])
				}
			}
			if rep.Served() != tt.wantServed {
				t.Errorf("served by %q, want %q", rep.Served(), tt.wantServed)
			}
			if tt.wantErr == nil {
				if err != nil || len(got) != len(docs) || got[0].Score <= got[2].Score {
					t.Fatalf("got %v, %v", got, err)
				}
				if rep.FellBack() != (tt.wantServed != "s0") {
					t.Errorf("FellBack() = %v", rep.FellBack())
				}
				return
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want it to wrap %v", err, want)
				}
			}
			if len(tt.wantErr) == 1 && errors.Is(err, twostage.ErrUnavailable) {
				t.Errorf("err = %v: rejected input should not read as unavailable", err)
			}
			if len(rep.Skipped()) != len(tt.stages) {
				t.Errorf("%d skipped, want %d", len(rep.Skipped()), len(tt.stages))
			}
		})
	}
}

func TestStageTimeoutAndCancellation(t *testing.T) {
	slow, quick := &fake{hang: true}, &fake{}
	c, _ := fallback.New(fallback.Stage{Name: "slow", Reranker: slow, Timeout: 20 * time.Millisecond}, fallback.Stage{Name: "quick", Reranker: quick})
	ctx, rep := fallback.Track(context.Background())
	if _, err := c.Rerank(ctx, "q", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if rep.Served() != "quick" || !errors.Is(rep.Skipped()[0], context.DeadlineExceeded) {
		t.Errorf("served %q, skipped %v", rep.Served(), rep.Skipped())
	}

	// The caller's own cancellation stops the chain: no later stage runs.
	slow2, next := &fake{hang: true}, &fake{}
	c, _ = fallback.New(fallback.Stage{Name: "slow", Reranker: slow2}, fallback.Stage{Name: "next", Reranker: next})
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Rerank(cctx, "q", []string{"a"})
	if !errors.Is(err, context.DeadlineExceeded) || next.calls.Load() != 0 {
		t.Errorf("err = %v, next calls %d: want the caller's deadline and no fallback", err, next.calls.Load())
	}
}

func TestNewAndClose(t *testing.T) {
	if _, err := fallback.New(); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("no stages: %v", err)
	}
	if _, err := fallback.New(fallback.Stage{Name: "x"}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("nil reranker: %v", err)
	}
	if _, err := fallback.New(fallback.Stage{Reranker: &fake{}, Timeout: -1}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("negative timeout: %v", err)
	}
	a, b := &fake{}, &fake{}
	c, _ := fallback.New(fallback.Stage{Reranker: a}, fallback.Stage{Reranker: b})
	if len(c.Rerankers()) != 2 || c.Stages()[1].Name != "stage1" {
		t.Errorf("stages %+v", c.Stages())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if a.closed.Load() != 1 || b.closed.Load() != 1 {
		t.Errorf("stages closed %d, %d times, want 1", a.closed.Load(), b.closed.Load())
	}
	if _, err := c.Rerank(context.Background(), "q", nil); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("Rerank after Close: %v", err)
	}
}

// TestPipelineEndToEnd runs the chain the product ships (local engine, then a
// remote API) inside a Pipeline: the remote answers when the local engine
// fails; when both fail the search degrades to first-stage order with the
// cause.
func TestPipelineEndToEnd(t *testing.T) {
	var remoteUp atomic.Bool
	remoteUp.Store(true)
	var remoteCalls atomic.Int64
	// A Cohere v2 stand-in scoring with BM25, so the reranked order is known.
	lex := rerank.NewLexical()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remoteCalls.Add(1)
		if !remoteUp.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Query     string   `json:"query"`
			Documents []string `json:"documents"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		scores, _ := lex.Rerank(r.Context(), req.Query, req.Documents)
		res := make([]map[string]any, len(scores))
		for i, s := range scores {
			res[i] = map[string]any{"index": i, "relevance_score": s.Score}
		}
		json.NewEncoder(w).Encode(map[string]any{"results": res})
	}))
	defer api.Close()

	local := &fake{err: errEngine}
	cohere, err := remote.New(remote.Cohere, api.URL, &remote.Options{Retry: retry.Policy{Attempts: 2, Initial: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	chain, _ := fallback.New(fallback.Stage{Name: "zerank", Reranker: local}, fallback.Stage{Name: "cohere", Reranker: cohere})
	defer chain.Close()

	emb, _ := embed.NewHashing(64)
	store, _ := memstore.New(emb.Dim(), twostage.Cosine)
	defer store.Close()
	p, _ := twostage.NewPipeline(store, emb, chain, &twostage.PipelineOptions{OnRerankError: twostage.DegradeOnRerankError})
	ctx := context.Background()
	err = p.Index(ctx, []twostage.Document{
		{ID: "mars", Text: "Mars is called the red planet because of iron oxide"},
		{ID: "venus", Text: "Venus is the hottest planet"},
		{ID: "red", Text: "red red red"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := p.Search(ctx, "why is mars the red planet", twostage.SearchOptions{TopN: 3, NoRerank: true})

	tctx, rep := fallback.Track(ctx)
	res, err := p.Search(tctx, "why is mars the red planet", twostage.SearchOptions{TopN: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Reranked || res.Degraded || res.Hits[0].ID != "mars" || rep.Served() != "cohere" {
		t.Fatalf("reranked %v degraded %v top %s served %q: want the remote's ranking with mars first", res.Reranked, res.Degraded, res.Hits[0].ID, rep.Served())
	}

	remoteUp.Store(false)
	res, err = p.Search(ctx, "why is mars the red planet", twostage.SearchOptions{TopN: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Degraded || res.Reranked || !errors.Is(res.Cause, twostage.ErrUnavailable) || !errors.Is(res.Cause, errEngine) {
		t.Fatalf("degraded %v reranked %v cause %v: want degraded with both causes", res.Degraded, res.Reranked, res.Cause)
	}
	for _, name := range []string{"zerank", "cohere", "status 503"} {
		if !strings.Contains(res.Cause.Error(), name) {
			t.Errorf("cause %q does not name %q", res.Cause, name)
		}
	}
	for i := range res.Hits {
		if res.Hits[i].ID != first.Hits[i].ID || res.Hits[i].Score != first.Hits[i].RetrievalScore {
			t.Errorf("degraded hit %d = %s (%v), want first-stage %s", i, res.Hits[i].ID, res.Hits[i].Score, first.Hits[i].ID)
		}
	}
	if remoteCalls.Load() != 3 { // one success, then one try and one retry
		t.Errorf("remote called %d times, want 3", remoteCalls.Load())
	}
}

// withOpts is a fake that takes per-call options and records them.
type withOpts struct {
	fake
	got twostage.RerankOptions
}

func (w *withOpts) RerankWith(ctx context.Context, q string, docs []string, opts twostage.RerankOptions) ([]twostage.Score, error) {
	w.got = opts
	return w.Rerank(ctx, q, docs)
}

// TestChainPassesOptions checks that per-call options reach the first
// stage that takes them, that a stage without them is skipped, and that a
// chain where no stage takes them reports ErrUnsupported.
func TestChainPassesOptions(t *testing.T) {
	opts := twostage.RerankOptions{Instruction: "be strict", LongDocuments: twostage.Chunk}
	plain, taker := &fake{}, &withOpts{}
	c, err := fallback.New(fallback.Stage{Name: "plain", Reranker: plain}, fallback.Stage{Name: "taker", Reranker: taker})
	if err != nil {
		t.Fatal(err)
	}
	ctx, rep := fallback.Track(context.Background())
	got, err := twostage.RerankWith(ctx, c, "q", []string{"a", "b"}, opts)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v, %v", got, err)
	}
	if rep.Served() != "taker" || taker.got != opts || plain.calls.Load() != 0 {
		t.Errorf("served by %q with %+v (plain stage called %d times); want taker with %+v, plain never called", rep.Served(), taker.got, plain.calls.Load(), opts)
	}
	only, err := fallback.New(fallback.Stage{Name: "plain", Reranker: &fake{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := only.RerankWith(context.Background(), "q", []string{"a"}, opts); !errors.Is(err, twostage.ErrUnsupported) {
		t.Errorf("no stage takes options: err %v, want ErrUnsupported", err)
	}
	if got, err := only.RerankWith(context.Background(), "q", []string{"a"}, twostage.RerankOptions{}); err != nil || len(got) != 1 {
		t.Errorf("zero options: %v, %v; want the plain Rerank", got, err)
	}
}
