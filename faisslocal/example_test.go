//go:build faiss

package faisslocal_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"twostage"
	"twostage/faisslocal"
)

func Example() {
	dir, err := os.MkdirTemp("", "faisslocal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := faisslocal.Open(dir, &faisslocal.Options{Dim: 3, Metric: twostage.Cosine})
	if err != nil {
		log.Fatal(err)
	}
	err = store.Upsert(ctx, []twostage.Document{
		{ID: "cats", Text: "Cats purr.", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"lang": "en"}},
		{ID: "dogs", Text: "Dogs bark.", Vector: []float32{0.8, 0.6, 0}, Metadata: map[string]any{"lang": "en"}},
		{ID: "katzen", Text: "Katzen schnurren.", Vector: []float32{0.9, 0, 0.1}, Metadata: map[string]any{"lang": "de"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Close(); err != nil { // Close saves the index
		log.Fatal(err)
	}

	// Reopening needs no options: they are in the store's MANIFEST.
	store, err = faisslocal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	hits, err := store.Search(ctx, twostage.Query{Vector: []float32{1, 0.1, 0}, K: 2, Filter: twostage.Eq("lang", "en")})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		fmt.Printf("%s %.3f %s\n", h.ID, h.Score, h.Text)
	}
	// Output:
	// cats 0.995 Cats purr.
	// dogs 0.856 Dogs bark.
}

func ExampleDriver_Stats() {
	dir, err := os.MkdirTemp("", "faisslocal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	d, err := faisslocal.OpenDriver(dir, &faisslocal.Options{Dim: 2, Index: faisslocal.IVFFlat{NList: 4}})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	store := twostage.NewStore(d)
	_ = store.Upsert(context.Background(), []twostage.Document{{ID: "a", Vector: []float32{1, 2}}})
	// Too few vectors to train: they wait in an exact flat index.
	fmt.Println(d.Stats().Trained, d.Train(context.Background()) != nil)
	// Output: false true
}
