package record_test

import (
	"context"
	"fmt"
	"log"

	"twostage/embed"
	"twostage/inference"
	"twostage/internal/record"
)

// Count the padded tokens of the batches an embedder runs, through a
// runtime whose "record" provider is ONNX Runtime on the CPU.
func Example() {
	padded := 0
	rt, err := inference.New(&inference.Options{Backends: map[string]inference.Backend{
		"record": record.Backend(inference.ProviderCPU, func(b *inference.Batch) { padded += b.Rows * b.Seq }),
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	e, err := embed.NewONNX("models/all-MiniLM-L6-v2", &embed.ONNXOptions{Runtime: rt, ModelOptions: inference.ModelOptions{Provider: "record"}})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	if _, err := e.EmbedDocuments(context.Background(), []string{"a", "b c d"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(padded)
}
