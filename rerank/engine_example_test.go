package rerank_test

import (
	"context"
	"fmt"
	"log"
	"sort"

	"twostage"
	"twostage/inference"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

// Open a converted zerank-2 directory (`twostage convert --from zerank-2/
// --to models/zerank-2`) in a runtime and rerank candidates. Every Open of
// the same directory in the runtime shares one model, so concurrent
// searches are batched together. (A tiny random zerank model built by
// internal/tinymodel stands in for models/zerank-2, so the scores say
// nothing about relevance.)
func ExampleOpen() {
	dir, err := tinymodel.Dir(modeldir.FamilyZerank)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := inference.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	e, err := rerank.Open(dir, &rerank.EngineOptions{
		Runtime: rt,
		ModelOptions: inference.ModelOptions{
			Provider: inference.ProviderCPU, // or inference.ProviderCUDA with a GPU build of ONNX Runtime
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	docs := []string{
		"A cross-encoder reads the query and the document together and scores their relevance.",
		"Bananas are rich in potassium.",
	}
	scores, err := e.Rerank(context.Background(), "what does a cross-encoder do?", docs)
	if err != nil {
		log.Fatal(err)
	}
	order := []int{0, 1}
	sort.Slice(order, func(a, b int) bool { return scores[order[a]].Score > scores[order[b]].Score })
	for _, i := range order {
		fmt.Printf("%.3f (raw %.2f) %s\n", scores[i].Score, scores[i].Raw, docs[i])
	}
	st := e.Stats()
	fmt.Printf("%d pairs scored\n", st.Items)
	// Output:
	// 0.736 (raw 5.14) Bananas are rich in potassium.
	// 0.495 (raw -0.09) A cross-encoder reads the query and the document together and scores their relevance.
	// 2 pairs scored
}

// Score long pages by their best window, with a task instruction and a
// query cap, per call.
func ExampleEngine_RerankWith() {
	dir, err := tinymodel.Dir(modeldir.FamilyZerank) // stands in for models/zerank-2
	if err != nil {
		log.Fatal(err)
	}
	e, err := rerank.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	pages := []string{"... a 30,000-token page ...", "... another ..."}
	scores, err := e.RerankWith(context.Background(), "which page explains prefix caching?", pages, twostage.RerankOptions{
		Instruction:       "Prefer pages written for operators",
		LongDocuments:     twostage.Chunk,
		ChunkTokens:       1024,
		ChunkOverlap:      128,
		MaxChunks:         32,
		MaxTokensPerQuery: 256,
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, s := range scores {
		text := []rune(pages[i])
		fmt.Printf("page %d: %.3f, best window %q\n", i, s.Score, string(text[s.Chunk.Start:s.Chunk.End]))
	}
	// Output:
	// page 0: 0.857, best window "... a 30,000-token page ..."
	// page 1: 0.855, best window "... another ..."
}

// With a long query, the tokens every pair of a call begins with (the
// template's head and the query) run once for all the call's documents;
// the scores are those of the pairs run whole. SharedPrefix forces it on
// or off; the default decides by the prefix's length (MinSharedPrefix).
func ExampleEngineOptions_sharedPrefix() {
	dir, err := tinymodel.Dir(modeldir.FamilyZerank)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := inference.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	query := "Which rerankers read the query and the document together, and why does that make them more accurate than comparing embeddings?"
	docs := []string{"Cross-encoders attend across both texts.", "Bananas are rich in potassium.", "Bi-encoders embed each text alone."}
	for _, mode := range []rerank.PrefixMode{rerank.PrefixOff, rerank.PrefixOn} {
		e, err := rerank.Open(dir, &rerank.EngineOptions{Runtime: rt, SharedPrefix: mode})
		if err != nil {
			log.Fatal(err)
		}
		before := e.Stats().PrefixTokens
		scores, err := e.Rerank(context.Background(), query, docs)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("shared prefix %q: raw %.2f %.2f %.2f, prefix run: %v\n", mode, scores[0].Raw, scores[1].Raw, scores[2].Raw, e.Stats().PrefixTokens > before)
		e.Close()
	}
	// Output:
	// shared prefix "off": raw 6.34 7.83 4.97, prefix run: false
	// shared prefix "on": raw 6.34 7.83 4.97, prefix run: true
}
