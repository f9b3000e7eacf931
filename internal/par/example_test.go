package par_test

import (
	"context"
	"fmt"
	"strings"

	"twostage/internal/par"
)

func ExampleFor() {
	words := []string{"two", "stage", "retrieval"}
	upper := make([]string, len(words))
	err := par.For(len(words), 2, func(i int) error {
		upper[i] = strings.ToUpper(words[i])
		return nil
	})
	fmt.Println(upper, err)
	// Output: [TWO STAGE RETRIEVAL] <nil>
}

func ExamplePieces() {
	texts := []string{"a", "b", "c", "d", "e"}
	sizes := make([]int, len(texts))
	err := par.Pieces(context.Background(), len(texts), 2, func(lo int) int {
		return min(lo+2, len(texts)) // batches of two
	}, func(_ context.Context, lo, hi int) error {
		for i := lo; i < hi; i++ {
			sizes[i] = hi - lo
		}
		return nil
	})
	fmt.Println(sizes, err)
	// Output: [2 2 2 2 1] <nil>
}
