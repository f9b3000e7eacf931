package remote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"twostage/rerank/remote"
)

// A reranker for a self-hosted Text Embeddings Inference server. The key, if
// the server wants one, comes from TEI_API_KEY.
func ExampleNew() {
	// A stand-in for TEI: it answers POST /rerank with [{index, score}].
	tei := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode([]map[string]any{{"index": 1, "score": 2.0}, {"index": 0, "score": -2.0}})
	}))
	defer tei.Close()

	r, err := remote.New(remote.TEI, tei.URL, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	scores, err := r.Rerank(context.Background(), "red planet", []string{"Venus", "Mars"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, s := range scores {
		fmt.Printf("document %d: %.3f (raw %.1f)\n", i, s.Score, s.Raw)
	}
	// Output:
	// document 0: 0.119 (raw -2.0)
	// document 1: 0.881 (raw 2.0)
}
