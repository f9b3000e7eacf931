package weaviateserver_test

import (
	"fmt"
	"log"
	"net/http"

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
	// srv.Addr() is REST, srv.GRPCAddr() gRPC, on free ports that differ per run.
	fmt.Println("ready:", ready(srv.Addr()))
	srv.Kill()
	fmt.Println("after kill:", ready(srv.Addr()))
	if err := srv.Start(0); err != nil {
		log.Fatal(err)
	}
	fmt.Println("restarted:", ready(srv.Addr()))
	// Output:
	// ready: true
	// after kill: false
	// restarted: true
}

// ready asks Weaviate's readiness endpoint.
func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/v1/.well-known/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
