package twostage_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
)

var corpus = []twostage.Document{
	{ID: "ml", Text: "Machine learning is a field of AI that learns patterns from data.", Metadata: map[string]any{"topic": "ai"}},
	{ID: "dl", Text: "Deep learning trains neural networks with many layers.", Metadata: map[string]any{"topic": "ai"}},
	{ID: "py", Text: "Python is a programming language popular for machine learning.", Metadata: map[string]any{"topic": "code"}},
	{ID: "pasta", Text: "Boil salted water and cook the pasta until al dente.", Metadata: map[string]any{"topic": "food"}},
	{ID: "bread", Text: "Sourdough bread rises with a wild yeast starter.", Metadata: map[string]any{"topic": "food"}},
}

func newPipeline(t testing.TB, rr twostage.Reranker, opts *twostage.PipelineOptions) *twostage.Pipeline {
	t.Helper()
	emb, err := embed.NewHashing(64)
	if err != nil {
		t.Fatal(err)
	}
	store, err := memstore.New(emb.Dim(), twostage.Cosine)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p, err := twostage.NewPipeline(store, emb, rr, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Index(context.Background(), corpus, nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// fixedReranker scores documents by a table keyed on a word they contain.
type fixedReranker struct {
	scores map[string]float64
	err    error
	hang   bool // block until ctx ends (a minute at most), like a reranker that never answers
	calls  atomic.Int32
	short  bool
	nan    bool // the last document scores NaN
}

func (f *fixedReranker) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	f.calls.Add(1)
	if f.hang {
		// The minute only bounds a test whose deadline never comes (a
		// RerankTimeout not applied): it fails instead of hanging.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fixed: %w", ctx.Err())
		case <-time.After(time.Minute):
			return nil, errors.New("fixed: no deadline ended the call within a minute")
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	out := make([]twostage.Score, len(docs))
	for i, d := range docs {
		for word, s := range f.scores {
			if strings.Contains(d, word) {
				out[i] = twostage.Score{Score: s, Raw: 10 * s}
			}
		}
	}
	if f.short {
		out = out[:len(out)-1]
	}
	if f.nan && len(out) > 0 {
		out[len(out)-1].Score = math.NaN()
	}
	return out, nil
}

func TestSearchReranksAndCuts(t *testing.T) {
	rr := &fixedReranker{scores: map[string]float64{"Sourdough": 0.9, "pasta": 0.8, "Deep": 0.5, "Python": 0.1}}
	p := newPipeline(t, rr, nil)
	res, err := p.Search(context.Background(), "machine learning", twostage.SearchOptions{TopN: 3, CandidateK: 5, MinScore: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(res.Hits), []string{"bread", "pasta", "dl"}; !slices.Equal(got, want) {
		t.Fatalf("hits %v, want %v", got, want)
	}
	if res.Candidates != 5 || !res.Reranked || res.Degraded {
		t.Errorf("candidates %d reranked %v degraded %v, want 5 true false", res.Candidates, res.Reranked, res.Degraded)
	}
	for _, h := range res.Hits {
		if !h.Reranked || h.Score != h.RerankScore || math.Abs(h.RerankRaw-10*h.RerankScore) > 1e-12 {
			t.Errorf("hit %+v: score fields inconsistent", h)
		}
	}
	if res.Timings.Total <= 0 || res.Timings.Total < res.Timings.Rerank {
		t.Errorf("timings %+v", res.Timings)
	}
}

func TestMinScoreAfterRerank(t *testing.T) {
	// Python has the best first-stage score for this query but the lowest
	// rerank score: MinScore must judge the rerank score.
	rr := &fixedReranker{scores: map[string]float64{"Python": 0.05, "Machine": 0.7, "Deep": 0.6}}
	p := newPipeline(t, rr, nil)
	res, err := p.Search(context.Background(), "Python programming language", twostage.SearchOptions{TopN: 5, CandidateK: 5, MinScore: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(res.Hits), []string{"ml", "dl"}; !slices.Equal(got, want) {
		t.Errorf("hits %v, want %v", got, want)
	}
}

func TestRerankFailurePolicy(t *testing.T) {
	boom := errors.New("gpu on fire")
	firstStage := func(t *testing.T) []string {
		res, err := newPipeline(t, nil, nil).Search(context.Background(), "machine learning", twostage.SearchOptions{TopN: 4, CandidateK: 4})
		if err != nil {
			t.Fatal(err)
		}
		return ids(res.Hits)
	}
	degrade := twostage.DegradeOnRerankError
	tests := []struct {
		name      string
		rr        *fixedReranker
		opts      *twostage.PipelineOptions
		policy    *twostage.Policy
		wantErr   error
		wantCause []error
	}{
		{"fail", &fixedReranker{err: boom}, nil, nil, boom, nil},
		{"degrade", &fixedReranker{err: boom}, &twostage.PipelineOptions{OnRerankError: degrade}, nil, nil, []error{boom}},
		{"per-call degrade", &fixedReranker{err: boom}, nil, &degrade, nil, []error{boom}},
		{"timeout degrades", &fixedReranker{hang: true}, &twostage.PipelineOptions{OnRerankError: degrade, RerankTimeout: 20 * time.Millisecond}, nil, nil,
			[]error{twostage.ErrUnavailable, context.DeadlineExceeded}},
		{"timeout fails", &fixedReranker{hang: true}, &twostage.PipelineOptions{RerankTimeout: 20 * time.Millisecond}, nil, twostage.ErrUnavailable, nil},
		{"wrong count", &fixedReranker{short: true}, &twostage.PipelineOptions{OnRerankError: degrade}, nil, nil, []error{twostage.ErrUnavailable}},
		// A NaN score is a broken reranker, not a hit below MinScore to drop
		// without a word.
		{"nan score degrades", &fixedReranker{nan: true}, &twostage.PipelineOptions{OnRerankError: degrade}, nil, nil, []error{twostage.ErrUnavailable}},
		{"nan score fails", &fixedReranker{nan: true}, nil, nil, twostage.ErrUnavailable, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipeline(t, tc.rr, tc.opts)
			res, err := p.Search(context.Background(), "machine learning", twostage.SearchOptions{TopN: 4, CandidateK: 4, MinScore: 0.99, Policy: tc.policy})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want an error wrapping %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.Degraded || res.Reranked {
				t.Fatalf("degraded %v reranked %v, want true false", res.Degraded, res.Reranked)
			}
			for _, c := range tc.wantCause {
				if !errors.Is(res.Cause, c) {
					t.Errorf("cause %v does not wrap %v", res.Cause, c)
				}
			}
			// First-stage order, MinScore not applied to retrieval scores.
			if got, want := ids(res.Hits), firstStage(t); !slices.Equal(got, want) {
				t.Errorf("degraded hits %v, want first-stage order %v", got, want)
			}
		})
	}
}

func TestCallerCancelIsNotDegraded(t *testing.T) {
	rr := &fixedReranker{hang: true}
	p := newPipeline(t, rr, &twostage.PipelineOptions{OnRerankError: twostage.DegradeOnRerankError})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := p.Search(ctx, "machine learning", twostage.SearchOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the caller's deadline", err)
	}
}

func TestSearchBadInput(t *testing.T) {
	p := newPipeline(t, rerank.NewLexical(), nil)
	tests := []struct {
		name  string
		query string
		opts  twostage.SearchOptions
		want  error
	}{
		{"empty query", "", twostage.SearchOptions{}, twostage.ErrInvalidInput},
		{"blank query", " \t\n", twostage.SearchOptions{}, twostage.ErrInvalidInput},
		{"invalid utf8", "bad \xff", twostage.SearchOptions{}, twostage.ErrInvalidInput},
		{"top n above candidate k", "q", twostage.SearchOptions{TopN: 20, CandidateK: 10}, twostage.ErrInvalidInput},
		{"negative candidate k", "q", twostage.SearchOptions{CandidateK: -1}, twostage.ErrInvalidInput},
		{"negative top n", "q", twostage.SearchOptions{TopN: -1}, twostage.ErrInvalidInput},
		{"wrong vector", "q", twostage.SearchOptions{Vector: []float32{1, 2}}, twostage.ErrDimension},
		{"bad filter", "q", twostage.SearchOptions{Filter: twostage.In("x")}, twostage.ErrInvalidInput},
		{"no hybrid", "q", twostage.SearchOptions{Hybrid: new(float64)}, twostage.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := p.Search(context.Background(), tc.query, tc.opts); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVectorQueryWithoutEmbedder(t *testing.T) {
	store, _ := memstore.New(2, twostage.L2)
	defer store.Close()
	ctx := context.Background()
	if err := store.Upsert(ctx, []twostage.Document{{ID: "a", Text: "a", Vector: []float32{0, 0}}, {ID: "b", Text: "b", Vector: []float32{3, 4}}}); err != nil {
		t.Fatal(err)
	}
	p, err := twostage.NewPipeline(store, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Search(ctx, "text only", twostage.SearchOptions{}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("text query without embedder: got %v, want ErrInvalidInput", err)
	}
	res, err := p.Search(ctx, "", twostage.SearchOptions{Vector: []float32{3, 3}, TopN: 2, CandidateK: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Hits); !slices.Equal(got, []string{"b", "a"}) || res.Hits[0].RetrievalScore != -1 || res.Hits[1].RetrievalScore != -18 {
		t.Errorf("hits %v scores %v, %v; want b (-1), a (-18)", got, res.Hits[0].RetrievalScore, res.Hits[1].RetrievalScore)
	}
	if err := p.Index(ctx, []twostage.Document{{ID: "c", Text: "needs a vector"}}, nil); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("Index without embedder: got %v, want ErrInvalidInput", err)
	}
}

func TestNewPipelineDimension(t *testing.T) {
	store, _ := memstore.New(8, twostage.Cosine)
	emb, _ := embed.NewHashing(16)
	if _, err := twostage.NewPipeline(store, emb, nil, nil); !errors.Is(err, twostage.ErrDimension) {
		t.Errorf("got %v, want ErrDimension", err)
	}
	if _, err := twostage.NewPipeline(nil, emb, nil, nil); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("nil store: got %v, want ErrInvalidInput", err)
	}
}

func TestIndexBatchesAndKeepsInput(t *testing.T) {
	emb, _ := embed.NewHashing(32)
	store, _ := memstore.New(32, twostage.Cosine)
	defer store.Close()
	p, _ := twostage.NewPipeline(store, emb, nil, &twostage.PipelineOptions{IndexBatch: 2})
	docs := slices.Clone(corpus)
	var progress []int
	if err := p.Index(context.Background(), docs, func(n int) { progress = append(progress, n) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(progress, []int{2, 4, 5}) {
		t.Errorf("progress %v, want [2 4 5]", progress)
	}
	for _, d := range docs {
		if d.Vector != nil {
			t.Fatalf("Index modified the caller's document %q", d.ID)
		}
	}
	if n, _ := store.Count(context.Background()); n != len(corpus) {
		t.Errorf("count %d, want %d", n, len(corpus))
	}
	bad := []twostage.Document{{ID: "x", Text: "ok"}, {ID: "y", Text: "bad \xff"}}
	if err := p.Index(context.Background(), bad, nil); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("invalid UTF-8 document: got %v, want ErrInvalidInput", err)
	}
}

func ids(hits []twostage.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// TestZeroPipeline: a Pipeline not made by NewPipeline (its zero value or a
// nil *Pipeline) fails Search and Index with ErrInvalidInput instead of
// panicking.
func TestZeroPipeline(t *testing.T) {
	ctx := context.Background()
	for name, p := range map[string]*twostage.Pipeline{"zero": {}, "nil": nil} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s pipeline panicked: %v", name, r)
				}
			}()
			if _, err := p.Search(ctx, "q", twostage.SearchOptions{Vector: []float32{1}}); !errors.Is(err, twostage.ErrInvalidInput) {
				t.Errorf("%s pipeline: Search = %v, want ErrInvalidInput", name, err)
			}
			if err := p.Index(ctx, []twostage.Document{{ID: "a", Vector: []float32{1}}}, nil); !errors.Is(err, twostage.ErrInvalidInput) {
				t.Errorf("%s pipeline: Index = %v, want ErrInvalidInput", name, err)
			}
			if s := p.Store(); s != nil {
				t.Errorf("%s pipeline: Store() = %v, want nil", name, s)
			}
		}()
	}
}

// TestPipelineOptionsRefused: options that mean nothing (an unknown error
// policy, a negative timeout or batch) are refused, not read as defaults.
func TestPipelineOptionsRefused(t *testing.T) {
	store, err := memstore.New(8, twostage.Cosine)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, opts := range []twostage.PipelineOptions{
		{OnRerankError: 7},
		{OnRerankError: -1},
		{RerankTimeout: -time.Second},
		{IndexBatch: -5},
	} {
		if _, err := twostage.NewPipeline(store, nil, nil, &opts); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("NewPipeline(%+v) = %v, want ErrInvalidInput", opts, err)
		}
	}
	p, err := twostage.NewPipeline(store, nil, rerank.NewLexical(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bad := twostage.Policy(3)
	v := []float32{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := p.Search(context.Background(), "q", twostage.SearchOptions{Vector: v}); err != nil {
		t.Fatalf("Search: %v", err)
	}
	if _, err := p.Search(context.Background(), "q", twostage.SearchOptions{Vector: v, Policy: &bad}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("Search with policy 3 = %v, want ErrInvalidInput", err)
	}
}
