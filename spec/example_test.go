package spec_test

import (
	"context"
	"errors"
	"fmt"

	"twostage"
	"twostage/spec"
)

// The three stages of a pipeline, each opened from a spec string: the
// exact in-memory store, the model-free hashing embedder and the BM25
// reranker. With models, the same program opens "faiss:DIR",
// "onnx:all-MiniLM-L6-v2" and "zerank-2".
func Example() {
	ctx := context.Background()
	emb, err := spec.OpenEmbedder(ctx, "hash:256")
	if err != nil {
		fmt.Println(err)
		return
	}
	rr, err := spec.OpenReranker(ctx, "lexical")
	if err != nil {
		fmt.Println(err)
		return
	}
	store, err := spec.OpenStore(ctx, "mem:", twostage.Info{Dim: emb.Dim(), Metric: twostage.Cosine})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	p, err := twostage.NewPipeline(store, emb, rr, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = p.Index(ctx, []twostage.Document{
		{ID: "ml", Text: "Machine learning is a field of AI that learns from data."},
		{ID: "dl", Text: "Deep learning is a subset of machine learning built on neural networks."},
		{ID: "py", Text: "Python is a programming language."},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
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

// A scheme nobody registered is an error wrapping ErrBadSpec (and
// twostage.ErrInvalidInput) whose message lists the known schemes.
func ExampleOpenStore_unknown() {
	_, err := spec.OpenStore(context.Background(), "redis://localhost/docs", twostage.Info{Dim: 8})
	fmt.Println(errors.Is(err, spec.ErrBadSpec), errors.Is(err, twostage.ErrInvalidInput))
	// Output:
	// true true
}
