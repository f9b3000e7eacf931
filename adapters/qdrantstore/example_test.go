package qdrantstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
	"twostage/adapters/qdrantstore"
	"twostage/adapters/qdrantstore/qdranttest"
)

// Dial a Qdrant gRPC endpoint, write documents and search with a filter.
// The example runs against the in-process stand-in; point Dial at a real
// Qdrant's gRPC port (6334) the same way.
func Example() {
	srv := qdranttest.New()
	if err := srv.Start("127.0.0.1:0"); err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()

	ctx := context.Background()
	store, err := qdrantstore.Dial(ctx, srv.Addr(), "articles", &qdrantstore.Options{Dim: 3, Metric: twostage.L2})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	err = store.Upsert(ctx, []twostage.Document{
		{ID: "a", Text: "qdrant filters", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"year": 2024, "lang": "en"}},
		{ID: "b", Text: "weaviate hybrid", Vector: []float32{0, 1, 0}, Metadata: map[string]any{"year": 2023, "lang": "en"}},
		{ID: "c", Text: "faiss indexes", Vector: []float32{0, 0, 2}, Metadata: map[string]any{"year": 2024, "lang": "de"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	hits, err := store.Search(ctx, twostage.Query{Vector: []float32{1, 0, 0}, K: 3, Filter: twostage.Eq("year", 2024)})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hits {
		// For L2, RetrievalScore is the negative squared distance.
		fmt.Printf("%s %q %.0f\n", h.ID, h.Text, h.RetrievalScore)
	}
	// The native client stays reachable.
	var client *qdrant.Client
	fmt.Println(store.As(&client))
	// Output:
	// a "qdrant filters" -0
	// c "faiss indexes" -5
	// true
}
