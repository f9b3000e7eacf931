package weaviateserver_test

import (
	"fmt"
	"log"

	"twostage/integration_tests/weaviateserver"
	"twostage/internal/testassets"
)

// Start a throwaway Weaviate on free loopback ports, crash it and bring it
// back on the same data directory.
func Example() {
	bin, ok := weaviateserver.Binary(testassets.Deps())
	if !ok {
		log.Fatal("run scripts/deps.sh weaviate")
	}
	srv, err := weaviateserver.Start(bin, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop() // kills it and removes the temporary data directory
	fmt.Println("REST on", srv.Addr(), "gRPC on", srv.GRPCAddr())
	srv.Kill()
	if err := srv.Start(0); err != nil {
		log.Fatal(err)
	}
}
