package batcher_test

import (
	"context"
	"fmt"
	"strings"

	"twostage/internal/batcher"
)

// A runner that "scores" words by their length, in batches of up to four
// words and 64 padded characters.
func Example() {
	prepare := func(batch []string) (func() ([]int, error), error) {
		// Build the batch's inputs here (this overlaps the previous run) ...
		return func() ([]int, error) {
			// ... and run them here.
			out := make([]int, len(batch))
			for i, w := range batch {
				out[i] = len(w)
			}
			return out, nil
		}, nil
	}
	b := batcher.New(func(w string) int { return len(w) }, prepare,
		&batcher.Options{MaxBatchSize: 4, MaxBatchTokens: 64})
	defer b.Shutdown()

	words := strings.Fields("dynamic batching groups items of similar size")
	out, err := b.Add(context.Background(), words)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out)
	// Output: [7 8 6 5 2 7 4]
}
