package embed_test

import (
	"context"
	"fmt"

	"twostage"
	"twostage/embed"
)

func ExampleHashing() {
	h, _ := embed.NewHashing(256)
	ctx := context.Background()
	q, _ := h.EmbedQuery(ctx, "machine learning")
	docs, _ := h.EmbedDocuments(ctx, []string{"Machine learning from data.", "Cooking pasta."})
	fmt.Printf("%.2f %.2f\n", twostage.Cosine.Similarity(q, docs[0]), twostage.Cosine.Similarity(q, docs[1]))
	// Output: 0.69 0.00
}
