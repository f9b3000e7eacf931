package inference_test

import (
	"context"
	"fmt"
	"log"

	"twostage/inference"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

// A program creates one runtime, opens its models through the front ends,
// and closes the runtime at the end. Engines on the same model directory
// in the runtime share one loaded model, so their calls fill the same
// batches. (A tiny random zerank model built by internal/tinymodel stands
// in for models/zerank-2.)
func Example() {
	dir, err := tinymodel.Dir(modeldir.FamilyZerank)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := inference.New(&inference.Options{
		Defaults: inference.ModelOptions{IntraOpThreads: 4},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	e, err := rerank.Open(dir, &rerank.EngineOptions{Runtime: rt})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	scores, err := e.Rerank(context.Background(), "what is a cross-encoder?", []string{"It reads query and document together."})
	if err != nil {
		log.Fatal(err)
	}
	st := e.Stats()
	fmt.Printf("score %.3f; %d pairs in %d batches, fill %.2f\n", scores[0].Score, st.Items, st.Batches, st.Fill())
	// Output: score 0.569; 1 pairs in 1 batches, fill 1.00
}
