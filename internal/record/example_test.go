package record_test

import (
	"context"
	"fmt"
	"log"

	"twostage/embed"
	"twostage/inference"
	"twostage/internal/record"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// Count the padded tokens of the batches an embedder runs, through a
// runtime whose "record" provider is ONNX Runtime on the CPU. (A tiny
// bert-embedding model built by internal/tinymodel stands in for
// models/all-MiniLM-L6-v2; it has the same tokenizer.)
func Example() {
	dir, err := tinymodel.Dir(modeldir.FamilyBertEmbedding)
	if err != nil {
		log.Fatal(err)
	}
	padded := 0
	rt, err := inference.New(&inference.Options{Backends: map[string]inference.Backend{
		"record": record.Backend(inference.ProviderCPU, func(b *inference.Batch) { padded += b.Rows * b.Seq }),
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	e, err := embed.NewONNX(dir, &embed.ONNXOptions{Runtime: rt, ModelOptions: inference.ModelOptions{Provider: "record"}})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	if _, err := e.EmbedDocuments(context.Background(), []string{"a", "b c d"}); err != nil {
		log.Fatal(err)
	}
	// [CLS] a [SEP] and [CLS] b c d [SEP] run in batches of their own
	// length (grouping cuts padding): 3 + 5 tokens, none padded.
	fmt.Println(padded)
	// Output: 8
}
