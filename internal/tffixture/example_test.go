package tffixture_test

import (
	"fmt"

	"twostage/internal/tffixture"
)

// A test that checks a forward pass against transformers builds each case's
// checkpoint from its Spec (internal/tinymodel), scores the case's IDs and
// compares the results with the fixture's scores for that case, one per
// sequence.
func Example() {
	fx, err := tffixture.Load()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range tffixture.Cases() {
		fmt.Printf("%s: %s, %d sequences, %d scores\n", c.Name, c.Spec.Family, len(c.IDs), len(fx.Scores[c.Name]))
	}
	// Output:
	// zerank-2layers: zerank, 3 sequences, 3 scores
	// qwen3-reranker-rope1e4: qwen3-reranker, 3 sequences, 3 scores
	// zerank-untied-f32: zerank, 3 sequences, 3 scores
	// bert-cross-encoder: bert-cross-encoder, 2 sequences, 2 scores
}
