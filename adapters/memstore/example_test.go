package memstore_test

import (
	"context"
	"fmt"

	"twostage"
	"twostage/adapters/memstore"
)

func ExampleNew() {
	ctx := context.Background()
	store, _ := memstore.New(2, twostage.L2)
	defer store.Close()
	_ = store.Upsert(ctx, []twostage.Document{
		{ID: "near", Text: "close by", Vector: []float32{1, 1}},
		{ID: "far", Text: "far away", Vector: []float32{5, 5}},
	})
	hits, _ := store.Search(ctx, twostage.Query{Vector: []float32{0, 0}, K: 2})
	for _, h := range hits {
		fmt.Println(h.ID, h.RetrievalScore) // negative squared distance
	}
	// Output:
	// near -2
	// far -50
}
