package main

import (
	"strings"
	"testing"
)

// TestStoreOptionRefusedAtOpenIsUsage: a store option the backend refuses
// when the store opens, before any work (here a weaviate HNSW value out of
// Weaviate's range, refused before any request; an ?ef= differing from the
// class's is the same error, tested against a server in integration_tests),
// is a mistake in the command line: exit 2, one line naming the option.
func TestStoreOptionRefusedAtOpenIsUsage(t *testing.T) {
	for _, cmd := range [][]string{
		{"search", "--store", "weaviate://127.0.0.1:1/C?ef_construction=2", "--embedder", "hash:8", "q"},
		{"index", "--store", "weaviate://127.0.0.1:1/C?max_connections=4096", "--embedder", "hash:8"},
	} {
		code, _, stderr := cli(t, "", cmd...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		last := lines[len(lines)-1]
		if code != 2 || !strings.HasPrefix(last, "twostage "+cmd[0]+": ") || !strings.Contains(last, "weaviatestore: hnsw") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and a last line naming the hnsw setting", cmd, code, stderr)
		}
	}
}
