package twostage_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"twostage"
	"twostage/rerank"
	"twostage/rerank/fallback"
)

// brokenReranker answers what a working reranker never does: a NaN score
// for the last document, or one score too few.
type brokenReranker struct{ short bool }

func (b brokenReranker) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	out := make([]twostage.Score, len(docs))
	if b.short {
		return out[:len(out)-1], nil
	}
	out[len(out)-1].Score = math.NaN()
	return out, nil
}

// TestRerankWithRefusesBrokenScores: RerankWith, which the pipeline, the
// server's rerank endpoints and fallback chains all call, fails a NaN score
// or a wrong score count with ErrUnavailable, so a chain moves on to its
// next stage rather than serve the NaN.
func TestRerankWithRefusesBrokenScores(t *testing.T) {
	ctx := context.Background()
	docs := []string{"a b", "b c"}
	for _, b := range []brokenReranker{{}, {short: true}} {
		if got, err := twostage.RerankWith(ctx, b, "b", docs, twostage.RerankOptions{}); !errors.Is(err, twostage.ErrUnavailable) {
			t.Errorf("RerankWith(%+v) = %v, %v; want ErrUnavailable", b, got, err)
		}
	}
	for _, b := range []brokenReranker{{}, {short: true}} {
		c, err := fallback.New(fallback.Stage{Name: "broken", Reranker: b}, fallback.Stage{Name: "lexical", Reranker: rerank.NewLexical()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, rep := fallback.Track(ctx)
		got, err := c.Rerank(ctx, "b", docs)
		if err != nil || rep.Served() != "lexical" || len(got) != 2 || math.IsNaN(got[1].Score) {
			t.Errorf("chain after a broken stage %+v: %v, %v, served by %q; want lexical's scores", b, got, err, rep.Served())
		}
	}
}
