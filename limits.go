package twostage

import (
	"fmt"
	"math"
)

// MaxTopN and MaxCandidateK bound the per-search limits.
const (
	MaxTopN       = 10000
	MaxCandidateK = 10000
)

// DefaultTopN is the number of hits a search returns when TopN is 0.
const DefaultTopN = 10

// CheckLimits checks a search's limits as the caller gave them, before
// defaults are applied. It is the one set of rules that Pipeline.Search,
// the CLI and the server's /v1/search decoder share:
//
//   - topN: 0 means the default (DefaultTopN, at most candidateK; or a
//     server collection's top_n); otherwise 1 to MaxTopN.
//   - candidateK: 0 means the default, max(topN, 50); otherwise 1 to
//     MaxCandidateK, and at least topN when the search reranks (a search
//     without the rerank stage retrieves max(topN, candidateK)).
//   - minScore: in [0,1] (it applies to calibrated rerank scores), and 0
//     when the search does not rerank: a minimum on scores that will not
//     exist is the caller's mistake, refused rather than ignored.
//
// rerank says whether the search will have a rerank stage, as known before
// it starts (a reranker, and neither NoRerank nor a search by vector
// alone); a degraded search is only known after its reranker failed, and
// keeps its hits (Result.Degraded says so).
//
// The error wraps ErrInvalidInput and carries no package prefix, so each
// caller names the limits in its own words around it.
func CheckLimits(topN, candidateK int, minScore float64, rerank bool) error {
	switch {
	case topN < 0 || topN > MaxTopN:
		return fmt.Errorf("top n %d: want 1 to %d (0: the default): %w", topN, MaxTopN, ErrInvalidInput)
	case candidateK < 0 || candidateK > MaxCandidateK:
		return fmt.Errorf("candidate k %d: want 1 to %d (0: the default): %w", candidateK, MaxCandidateK, ErrInvalidInput)
	case rerank && candidateK > 0 && topN > candidateK:
		return fmt.Errorf("top n %d exceeds candidate k %d (the reranker sees only the candidates): %w", topN, candidateK, ErrInvalidInput)
	case math.IsNaN(minScore) || minScore < 0 || minScore > 1:
		return fmt.Errorf("min score %v: want 0 to 1: %w", minScore, ErrInvalidInput)
	case !rerank && minScore != 0:
		return fmt.Errorf("min score %v applies to rerank scores, and this search does not rerank: %w", minScore, ErrInvalidInput)
	}
	return nil
}

// resolveLimits applies the defaults to checked limits: TopN 0 becomes
// DefaultTopN, CandidateK 0 becomes max(TopN, 50), and a search without the
// rerank stage retrieves at least TopN candidates.
func resolveLimits(opts *SearchOptions, rerank bool) {
	if opts.TopN == 0 {
		opts.TopN = DefaultTopN
		if opts.CandidateK > 0 && rerank {
			opts.TopN = min(DefaultTopN, opts.CandidateK)
		}
	}
	if opts.CandidateK == 0 {
		opts.CandidateK = max(opts.TopN, 50)
	}
	if !rerank {
		opts.CandidateK = max(opts.CandidateK, opts.TopN)
	}
}
