package main

import (
	"strings"
	"testing"
)

// TestMinScoreWithoutRerankIsUsage: --min-score judges rerank scores; with
// --no-rerank or --reranker none it is a usage error naming both.
func TestMinScoreWithoutRerankIsUsage(t *testing.T) {
	store := indexed(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-rerank", "--min-score", "0.5"}, "--min-score 0.5 with --no-rerank"},
		{[]string{"--reranker", "none", "--min-score", "0.5"}, "--min-score 0.5 with --reranker none"},
	} {
		args := append([]string{"search", "--store", store}, append(tc.args, "learning")...)
		code, _, stderr := cli(t, "", args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d stderr %q; want exit 2 and one line with %q", args, code, stderr, tc.want)
		}
	}
	if res := searchJSON(t, "--store", store, "--json", "--no-rerank", "--min-score", "0", "learning"); len(res.Hits) != 3 {
		t.Errorf("--no-rerank --min-score 0: %d hits, want 3", len(res.Hits))
	}
}

// TestRerankFlagsWithoutRerankAreUsage: --instruction, --max-tokens-per-doc
// and the other rerank flags with --no-rerank or --reranker none are a
// usage error naming them.
func TestRerankFlagsWithoutRerankAreUsage(t *testing.T) {
	store := indexed(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--no-rerank", "--max-tokens-per-doc", "8"}, "--max-tokens-per-doc with --no-rerank"},
		{[]string{"--reranker", "none", "--instruction", "x", "--long-documents", "chunk"}, "--instruction, --long-documents with --reranker none"},
	} {
		args := append([]string{"search", "--store", store}, append(tc.args, "learning")...)
		code, _, stderr := cli(t, "", args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d stderr %q; want exit 2 and one line with %q", args, code, stderr, tc.want)
		}
	}
}

// TestRerankFlagsOnARerankerWithoutThemAreUsage: per-call rerank options on
// a reranker that cannot take them (lexical, remote APIs) are a mistake in
// the command line, found before the search: exit 2, one line naming the
// flags and the reranker.
func TestRerankFlagsOnARerankerWithoutThemAreUsage(t *testing.T) {
	store := indexed(t)
	args := []string{"search", "--store", store, "--reranker", "lexical", "--max-tokens-per-doc", "8", "--instruction", "x", "learning"}
	code, _, stderr := cli(t, "", args...)
	want := "--instruction, --max-tokens-per-doc: the reranker lexical takes no per-call options"
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := lines[len(lines)-1]; code != 2 || !strings.HasPrefix(last, "twostage search: ") || !strings.Contains(last, want) {
		t.Errorf("%q: exit %d stderr %q; want exit 2 and a last line with %q", args, code, stderr, want)
	}
}
