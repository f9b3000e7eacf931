package rerankbench_test

import (
	"context"
	"log"
	"os"

	"twostage/internal/rerankbench"
)

// Measure a converted cross-encoder against the raw session with 1 and 16
// concurrent clients, and print the table `twostage bench rerank` prints.
func Example() {
	rep, err := rerankbench.Run(context.Background(), "models/zerank-2", &rerankbench.Options{Clients: []int{1, 16}})
	if err != nil {
		log.Fatal(err)
	}
	rep.WriteTable(os.Stdout)
}
