package embed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"twostage"
	"twostage/embed"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

func ExampleHashing() {
	h, _ := embed.NewHashing(256)
	ctx := context.Background()
	q, _ := h.EmbedQuery(ctx, "machine learning")
	docs, _ := h.EmbedDocuments(ctx, []string{"Machine learning from data.", "Cooking pasta."})
	fmt.Printf("%.2f %.2f\n", twostage.Cosine.Similarity(q, docs[0]), twostage.Cosine.Similarity(q, docs[1]))
	// Output: 0.69 0.00
}

// NewONNX loads a bi-encoder converted with `twostage convert --family
// bert-embedding` (or a published ONNX export); e5 models want prefixes.
// (A tiny random bert-embedding model built by internal/tinymodel stands in
// for models/e5-small-v2, so the similarity says nothing about meaning.)
func ExampleNewONNX() {
	dir, err := tinymodel.Dir(modeldir.FamilyBertEmbedding)
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := embed.NewONNX(dir, &embed.ONNXOptions{QueryPrefix: "query: ", PassagePrefix: "passage: "})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	ctx := context.Background()
	q, _ := e.EmbedQuery(ctx, "how do vector stores work?")
	docs, _ := e.EmbedDocuments(ctx, []string{"A vector store indexes embeddings for nearest-neighbour search."})
	fmt.Printf("%d dimensions, similarity %.2f\n", e.Dim(), twostage.Cosine.Similarity(q, docs[0]))
	// Output: 32 dimensions, similarity 0.95
}

// NewOpenAI talks to any OpenAI-compatible /v1/embeddings endpoint; here a
// local stand-in server answers in the API's documented shape.
func ExampleNewOpenAI() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Input []string `json:"input"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		data := []map[string]any{}
		for i, s := range req.Input {
			data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": []float32{float32(len(s)), 1, 0}})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": "text-embedding-3-small"})
	}))
	defer srv.Close()

	ctx := context.Background()
	// The API key comes from the environment in real use: os.Getenv("OPENAI_API_KEY").
	e, err := embed.NewOpenAI(ctx, srv.URL+"/v1", "text-embedding-3-small", &embed.HTTPOptions{APIKey: "sk-example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	vs, _ := e.EmbedDocuments(ctx, []string{"short", "a longer text"})
	fmt.Println(e.Dim(), vs[0], vs[1])
	// Output: 3 [5 1 0] [13 1 0]
}
