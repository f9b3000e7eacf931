package weaviatestore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/weaviate/weaviate-go-client/v4/weaviate"

	"twostage"
	"twostage/adapters/weaviatestore"
	"twostage/integration_tests/weaviateserver"
	"twostage/internal/testassets"
)

// Open a class on a Weaviate server, write documents, then search by vector
// and with Weaviate's native hybrid search. A throwaway weaviate-server
// (scripts/deps.sh weaviate) stands in for one on localhost:8080.
func Example() {
	bin, ok := weaviateserver.Binary(testassets.Deps())
	if !ok {
		log.Fatal("run scripts/deps.sh weaviate")
	}
	srv, err := weaviateserver.Start(bin, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	host := srv.Addr() // "localhost:8080" for a server of your own

	ctx := context.Background()
	client, err := weaviate.NewClient(weaviate.Config{Host: host, Scheme: "http"})
	if err != nil {
		log.Fatal(err)
	}
	store, err := weaviatestore.Open(ctx, client, "Articles", &weaviatestore.Options{Dim: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	err = store.Upsert(ctx, []twostage.Document{
		{ID: "a", Text: "weaviate hybrid search", Vector: []float32{1, 0, 0}, Metadata: map[string]any{"lang": "en"}},
		{ID: "b", Text: "qdrant payload filters", Vector: []float32{0, 1, 0}, Metadata: map[string]any{"lang": "en"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	hits, err := store.Search(ctx, twostage.Query{Vector: []float32{1, 0.1, 0}, K: 2, Filter: twostage.Eq("lang", "en")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(hits[0].ID)
	// Alpha 0.5 weighs BM25 on the text and vector similarity equally.
	hybrid, err := store.HybridSearch(ctx, twostage.HybridQuery{Text: "payload filters", Vector: []float32{1, 0, 0}, K: 2, Alpha: 0.5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(hybrid))
	// Output:
	// a
	// 2
}
