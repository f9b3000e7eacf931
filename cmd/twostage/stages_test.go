package main

import (
	"strings"
	"testing"
)

// `twostage help` lists every registered scheme with its help, and "none".
func TestHelpListsSpecs(t *testing.T) {
	code, out, _ := cli(t, "", "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, want := range []string{"--store specs:", "\n  mem         exact in-memory store", "\n  hash        model-free hashing embedder",
		"\n  zerank      zerank-2", "\n  chain       fallback chain", "\n  none        no rerank stage"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not hold %q:\n%s", want, out)
		}
	}
}

// An error in a spec as written is a usage error (exit 2); a spec that is
// well written but fails to open is a runtime failure (exit 1).
func TestSpecErrorsExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"index", "--store", "mem:", "--embedder", "word2vec"}, 2, `unknown embedder "word2vec"`},
		{[]string{"index", "--store", "mem:", "--embedder", "hash:x"}, 2, `dimension "x" is not a number`},
		{[]string{"index", "--store", "mem:" + dir + "/d.snap", "--embedder", "hash:4"}, 1, "hashing dimension 4"},
		{[]string{"search", "--store", "mem:", "--reranker", "chain:lexical|", "q"}, 2, "want a reranker spec"},
	} {
		code, _, stderr := cli(t, `{"id":"a","text":"x"}`+"\n", tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%q: exit %d %q; want %d and %q", tt.args, code, stderr, tt.code, tt.msg)
		}
	}
}
