package rerank_test

import (
	"context"
	"fmt"

	"twostage/rerank"
)

func ExampleLexical() {
	scores, _ := rerank.NewLexical().Rerank(context.Background(), "What is machine learning?", []string{
		"Python is a programming language.",
		"Machine learning is a field of AI that learns from data.",
	})
	for _, s := range scores {
		fmt.Printf("%.3f\n", s.Score)
	}
	// Output:
	// 0.164
	// 0.746
}
