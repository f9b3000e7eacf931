//go:build !faiss

// Command faissbench benchmarks faisslocal against FAISS called from C++;
// it needs the faiss build tag (see scripts/faissbench.sh).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "faissbench: built without FAISS support: build with -tags faiss (scripts/faissbench.sh)")
	os.Exit(2)
}
