package twostage_test

import (
	"context"
	"fmt"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
)

// Retrieve with a vector store, rerank with a cross-encoder: here the
// model-free stages stand in for a neural embedder and zerank-2.
func Example() {
	ctx := context.Background()
	emb, _ := embed.NewHashing(256)
	store, _ := memstore.New(emb.Dim(), twostage.Cosine)
	defer store.Close()
	p, _ := twostage.NewPipeline(store, emb, rerank.NewLexical(), nil)

	_ = p.Index(ctx, []twostage.Document{
		{ID: "ml", Text: "Machine learning is a field of AI that learns from data."},
		{ID: "dl", Text: "Deep learning is a subset of machine learning built on neural networks."},
		{ID: "py", Text: "Python is a programming language."},
	}, nil)

	res, err := p.Search(ctx, "What is machine learning?", twostage.SearchOptions{TopN: 2, CandidateK: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range res.Hits {
		fmt.Printf("%s %.2f\n", h.ID, h.Score)
	}
	// Output:
	// ml 0.71
	// dl 0.57
}

// Filters restrict the first stage by metadata.
func ExampleFilter() {
	ctx := context.Background()
	store, _ := memstore.New(2, twostage.Dot)
	defer store.Close()
	_ = store.Upsert(ctx, []twostage.Document{
		{ID: "a", Vector: []float32{1, 0}, Metadata: map[string]any{"lang": "en", "year": 2019}},
		{ID: "b", Vector: []float32{0.9, 0}, Metadata: map[string]any{"lang": "de", "year": 2021}},
		{ID: "c", Vector: []float32{0.8, 0}, Metadata: map[string]any{"lang": "en", "year": 2023}},
	})
	f := twostage.And(twostage.Eq("lang", "en"), twostage.Gte("year", 2020))
	hits, _ := store.Search(ctx, twostage.Query{Vector: []float32{1, 0}, K: 10, Filter: f})
	for _, h := range hits {
		fmt.Println(h.ID)
	}
	// Output:
	// c
}
