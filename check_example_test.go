package twostage_test

import (
	"context"
	"fmt"

	"twostage"
	"twostage/adapters/memstore"
)

// Check verifies that every document is found by its own vector; with
// Repair it re-indexes what is not. (A memstore's documents are its index,
// so it always finds everything.)
func ExampleStore_Check() {
	ctx := context.Background()
	store, _ := memstore.New(2, twostage.Cosine)
	defer store.Close()
	_ = store.Upsert(ctx, []twostage.Document{{ID: "a", Vector: []float32{1, 0}}, {ID: "b", Vector: []float32{0, 1}}})
	rep, err := store.Check(ctx, twostage.CheckOptions{Repair: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep, rep.OK())
	// Output: checked 2: missing 0, extra 0, mismatched 0 true
}
