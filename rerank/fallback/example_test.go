package fallback_test

import (
	"context"
	"errors"
	"fmt"

	"twostage"
	"twostage/rerank"
	"twostage/rerank/fallback"
)

type down struct{}

func (down) Rerank(context.Context, string, []string) ([]twostage.Score, error) {
	return nil, fmt.Errorf("gpu engine: %w", twostage.ErrUnavailable)
}

// The local engine is down, so the next stage answers; Track tells which.
func ExampleChain() {
	chain, _ := fallback.New(
		fallback.Stage{Name: "zerank", Reranker: down{}},
		fallback.Stage{Name: "lexical", Reranker: rerank.NewLexical()},
	)
	ctx, report := fallback.Track(context.Background())
	scores, err := chain.Rerank(ctx, "red planet", []string{"Venus", "Mars, the red planet"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("served by", report.Served(), "after", len(report.Skipped()), "failure")
	fmt.Println("second document ranks higher:", scores[1].Score > scores[0].Score)
	fmt.Println("cause:", errors.Is(report.Skipped()[0], twostage.ErrUnavailable))
	// Output:
	// served by lexical after 1 failure
	// second document ranks higher: true
	// cause: true
}
