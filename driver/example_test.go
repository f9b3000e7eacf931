package driver_test

import (
	"context"
	"fmt"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/driver"
)

// A backend implements Driver, checks what it must with the shared helpers,
// and hands itself to twostage.NewStore; optional capabilities such as
// BatchSearcher are found by type assertion.
func Example() {
	md, err := memstore.NewDriver(2, twostage.Dot)
	if err != nil {
		panic(err)
	}
	var d driver.Driver = md
	_, batch := d.(driver.BatchSearcher)
	fmt.Println("batch capability:", batch)
	fmt.Println(driver.CheckVector([]float32{1}, 2))

	s := twostage.NewStore(d)
	defer s.Close()
	ctx := context.Background()
	_ = s.Upsert(ctx, []twostage.Document{{ID: "a", Vector: []float32{1, 0}}, {ID: "b", Vector: []float32{0, 1}}})
	hits, _ := s.SearchBatch(ctx, []twostage.Query{{Vector: []float32{1, 0}, K: 1}, {Vector: []float32{0, 1}, K: 1}})
	fmt.Println(hits[0][0].ID, hits[1][0].ID)
	// Output:
	// batch capability: false
	// twostage: vector has 1 dimensions, want 2: dimension mismatch
	// a b
}
