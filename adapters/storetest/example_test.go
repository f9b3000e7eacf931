package storetest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/adapters/storetest"
	"twostage/driver"
)

// A backend runs the whole suite from one test in its own _test.go file:
//
//	func TestConformance(t *testing.T) {
//		storetest.RunConformanceTests(t, storetest.Harness{...})
//	}
//
// and `go test -race` runs it, each suite test as a subtest
// (TestConformance/SearchOrder, TestConformance/Filter, ...). An Example
// cannot receive a *testing.T, so this one only builds that test function,
// here for memstore, the backend that anchors the suite.
func ExampleRunConformanceTests() {
	testConformance := func(t *testing.T) {
		storetest.RunConformanceTests(t, storetest.Harness{
			// New is called for every subtest and returns a fresh, empty
			// driver. A backend with server-side state makes a new
			// collection here and removes it with t.Cleanup; one with files
			// uses t.TempDir().
			New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
				return memstore.NewDriver(dim, m)
			},
		})
	}
	_ = testConformance
}

// An approximate backend (an HNSW or IVF index) states the recall it
// promises instead of the exact order, and the metrics it supports; the
// suite then checks recall@k against exact search and skips the metrics
// left out.
func ExampleHarness_approximate() {
	harness := storetest.Harness{
		New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
			return memstore.NewDriver(dim, m) // the backend's own NewDriver
		},
		Metrics:        []twostage.Metric{twostage.Cosine, twostage.L2},
		MinRecall:      0.9,
		ScoreTolerance: 1e-3,
	}
	testConformance := func(t *testing.T) { storetest.RunConformanceTests(t, harness) }
	_ = testConformance
}

// A backend's own tests (persistence, its server's quirks) draw their
// vectors with RandomVector, so a seeded run writes the same data every
// time. Here every stored vector, searched for, comes back first.
func ExampleRandomVector() {
	ctx := context.Background()
	const dim, n = 16, 50
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]twostage.Document, n)
	for i := range docs {
		docs[i] = twostage.Document{ID: fmt.Sprint("doc", i), Text: "text", Vector: storetest.RandomVector(r, dim)}
	}
	store, err := memstore.New(dim, twostage.Cosine)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	if err := store.Upsert(ctx, docs); err != nil {
		fmt.Println(err)
		return
	}
	found := 0
	for _, d := range docs {
		hits, err := store.Search(ctx, twostage.Query{Vector: d.Vector, K: 1})
		if err == nil && len(hits) == 1 && hits[0].ID == d.ID {
			found++
		}
	}
	fmt.Printf("%d of %d found themselves first\n", found, n)
	// Output:
	// 50 of 50 found themselves first
}
