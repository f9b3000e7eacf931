//go:build !faiss

// Command vsseed is twostage's side of scripts/vs-seed.sh; it needs the
// faiss build tag.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "vsseed: built without FAISS support: build with -tags faiss (scripts/vs-seed.sh)")
	os.Exit(2)
}
