package twostage_test

import (
	"context"
	"errors"
	"testing"

	"twostage"
	"twostage/rerank"
)

// optsReranker scores with BM25, records the options it got and reports a
// chunk for every document.
type optsReranker struct {
	lex     *rerank.Lexical
	got     []twostage.RerankOptions
	spanEnd int
}

func (o *optsReranker) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	return o.lex.Rerank(ctx, q, docs)
}

func (o *optsReranker) RerankWith(ctx context.Context, q string, docs []string, opts twostage.RerankOptions) ([]twostage.Score, error) {
	o.got = append(o.got, opts)
	s, err := o.lex.Rerank(ctx, q, docs)
	for i := range s {
		s[i].Chunk = &twostage.Span{Start: 1, End: o.spanEnd}
	}
	return s, err
}

// TestSearchRerankOptions checks that SearchOptions' RerankOptions reach
// the reranker, that chunk offsets reach the hits, and that options a
// reranker cannot take, or invalid ones, are refused before the search,
// whatever the error policy.
func TestSearchRerankOptions(t *testing.T) {
	ctx := context.Background()
	or := &optsReranker{lex: rerank.NewLexical(), spanEnd: 7}
	p := newPipeline(t, or, nil)
	ro := twostage.RerankOptions{Instruction: "x", LongDocuments: twostage.Chunk, ChunkTokens: 64, MaxTokensPerDoc: 100, MaxTokensPerQuery: 10}
	res, err := p.Search(ctx, "machine learning", twostage.SearchOptions{TopN: 2, Rerank: ro})
	if err != nil {
		t.Fatal(err)
	}
	if len(or.got) != 1 || or.got[0] != ro {
		t.Fatalf("reranker got options %+v, want [%+v]", or.got, ro)
	}
	for _, h := range res.Hits {
		if h.RerankChunk == nil || *h.RerankChunk != (twostage.Span{Start: 1, End: 7}) {
			t.Errorf("hit %s: chunk %v, want {1 7}", h.ID, h.RerankChunk)
		}
	}
	if res, err := p.Search(ctx, "machine learning", twostage.SearchOptions{}); err != nil || len(or.got) != 1 || res.Hits[0].RerankChunk != nil {
		t.Errorf("zero options: %v, options seen %+v; want the plain Rerank, no chunk", err, or.got)
	}

	degrade := twostage.DegradeOnRerankError
	plain := newPipeline(t, rerank.NewLexical(), &twostage.PipelineOptions{OnRerankError: degrade})
	for _, tc := range []struct {
		name string
		p    *twostage.Pipeline
		opts twostage.RerankOptions
		want error
	}{
		{"no per-call options", plain, twostage.RerankOptions{Instruction: "x"}, twostage.ErrUnsupported},
		{"bad strategy", p, twostage.RerankOptions{LongDocuments: "split"}, twostage.ErrInvalidInput},
		{"overlap above size", p, twostage.RerankOptions{ChunkTokens: 4, ChunkOverlap: 5}, twostage.ErrInvalidInput},
		{"negative cap", p, twostage.RerankOptions{MaxTokensPerQuery: -1}, twostage.ErrInvalidInput},
	} {
		res, err := tc.p.Search(ctx, "machine learning", twostage.SearchOptions{Rerank: tc.opts, Policy: &degrade})
		if !errors.Is(err, tc.want) || res != nil {
			t.Errorf("%s: %v, %v; want %v", tc.name, res, err, tc.want)
		}
	}
	// Without the rerank stage the options would be ignored: refused instead.
	if _, err := plain.Search(ctx, "machine learning", twostage.SearchOptions{NoRerank: true, Rerank: twostage.RerankOptions{Instruction: "x"}}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("no rerank stage: %v, want ErrInvalidInput", err)
	}
}
