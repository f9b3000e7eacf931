package twostage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"twostage"
	"twostage/rerank"
)

// TestMinScoreNeedsTheRerankStage: MinScore judges rerank scores, so a
// search known before it starts to have no rerank stage (NoRerank, a
// pipeline without a reranker, a search by vector alone) refuses it with
// ErrInvalidInput rather than ignore it. A degraded search still ignores
// it: that is only known after the reranker failed (Result.Degraded).
func TestMinScoreNeedsTheRerankStage(t *testing.T) {
	ctx := context.Background()
	withRR := newPipeline(t, rerank.NewLexical(), nil)
	without := newPipeline(t, nil, nil)
	vec := make([]float32, 64)
	vec[0] = 1
	for _, tc := range []struct {
		name  string
		p     *twostage.Pipeline
		query string
		opts  twostage.SearchOptions
		ok    bool
	}{
		{"reranked", withRR, "machine learning", twostage.SearchOptions{MinScore: 0.1}, true},
		{"no rerank", withRR, "machine learning", twostage.SearchOptions{MinScore: 0.1, NoRerank: true}, false},
		{"no reranker", without, "machine learning", twostage.SearchOptions{MinScore: 0.1}, false},
		{"vector alone", withRR, "", twostage.SearchOptions{MinScore: 0.1, Vector: vec}, false},
		{"no rerank, no min score", withRR, "machine learning", twostage.SearchOptions{NoRerank: true}, true},
		// Without the rerank stage top_n is not bounded by candidate_k.
		{"vector alone, top n over candidate k", withRR, "", twostage.SearchOptions{TopN: 5, CandidateK: 2, Vector: vec}, true},
	} {
		_, err := tc.p.Search(ctx, tc.query, tc.opts)
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want no error", tc.name, err)
		}
		if !tc.ok && (!errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), "min score 0.1")) {
			t.Errorf("%s: %v, want ErrInvalidInput naming min score 0.1", tc.name, err)
		}
	}
	if err := twostage.CheckLimits(0, 0, 0.5, false); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("CheckLimits(min score 0.5, no rerank) = %v, want ErrInvalidInput", err)
	}
	if err := twostage.CheckLimits(0, 0, 0, false); err != nil {
		t.Errorf("CheckLimits(min score 0, no rerank) = %v, want nil", err)
	}
}

// TestRerankOptionsNeedTheRerankStage: per-call rerank options on a search
// that will not rerank are refused with ErrInvalidInput, as MinScore is,
// rather than ignored.
func TestRerankOptionsNeedTheRerankStage(t *testing.T) {
	ctx := context.Background()
	withRR := newPipeline(t, rerank.NewLexical(), nil)
	without := newPipeline(t, nil, nil)
	ro := twostage.RerankOptions{MaxTokensPerDoc: 8}
	for _, tc := range []struct {
		name string
		p    *twostage.Pipeline
		opts twostage.SearchOptions
	}{
		{"no rerank", withRR, twostage.SearchOptions{Rerank: ro, NoRerank: true}},
		{"no reranker", without, twostage.SearchOptions{Rerank: ro}},
	} {
		_, err := tc.p.Search(ctx, "machine learning", tc.opts)
		if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), "rerank options") {
			t.Errorf("%s: %v, want ErrInvalidInput naming the rerank options", tc.name, err)
		}
	}
}
