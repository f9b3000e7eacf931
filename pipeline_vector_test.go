package twostage_test

import (
	"context"
	"testing"

	"twostage"
)

// TestVectorOnlySearchIsNotReranked: with no query text there is nothing to
// rerank against, so the reranker is not called and the hits keep their
// first-stage scores and order.
func TestVectorOnlySearchIsNotReranked(t *testing.T) {
	rr := &fixedReranker{scores: map[string]float64{"pasta": 0.9}}
	p := newPipeline(t, rr, nil)
	ctx := context.Background()
	byText, err := p.Search(ctx, "machine learning", twostage.SearchOptions{TopN: 3, NoRerank: true})
	if err != nil {
		t.Fatal(err)
	}
	vec := make([]float32, 64)
	for _, h := range byText.Hits[:1] {
		docs, err := p.Store().Get(ctx, []string{h.ID})
		if err != nil {
			t.Fatal(err)
		}
		copy(vec, docs[0].Vector)
	}
	res, err := p.Search(ctx, "  ", twostage.SearchOptions{Vector: vec, TopN: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reranked || rr.calls.Load() != 0 || len(res.Hits) != 3 || res.Hits[0].ID != byText.Hits[0].ID {
		t.Fatalf("reranked %v after %d reranker calls, hits %v; want first-stage order led by %s", res.Reranked, rr.calls.Load(), ids(res.Hits), byText.Hits[0].ID)
	}
	for i, h := range res.Hits {
		if h.Reranked || h.Score != h.RetrievalScore || (i > 0 && h.Score > res.Hits[i-1].Score) {
			t.Errorf("hit %d %+v: want the first-stage score, not reranked", i, h)
		}
	}
}
