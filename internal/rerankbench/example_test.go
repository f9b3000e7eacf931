package rerankbench_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"twostage/internal/rerankbench"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// Measure a converted cross-encoder against the raw session with 1 and 2
// concurrent clients. rep.WriteTable(os.Stdout) prints the table `twostage
// bench rerank` prints; its speeds vary from run to run, so this example
// prints only what ran. (A tiny zerank model built by internal/tinymodel
// stands in for models/zerank-2.)
func Example() {
	dir, err := tinymodel.Dir(modeldir.FamilyZerank)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := rerankbench.Run(context.Background(), dir, &rerankbench.Options{
		Clients: []int{1, 2}, DocsPerCall: 4, MinTokens: 5, MedianTokens: 10, MaxTokens: 20, NoUngrouped: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	rep.WriteTable(io.Discard)
	fmt.Println(rep.Family, rep.Device)
	for _, r := range rep.Rows {
		fmt.Printf("%s: %d clients, %d pairs\n", r.Name, r.Clients, r.Pairs)
	}
	// Output:
	// zerank cpu
	// raw ORT session, fixed shapes: 0 clients, 24 pairs
	// engine, 1 client: 1 clients, 4 pairs
	// engine, 2 clients: 2 clients, 8 pairs
}
