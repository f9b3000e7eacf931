package main

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"twostage"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

var flagLongDoc = strings.Repeat("Rerankers read the query and the document together. ", 5) +
	"Über Käse: 日本語の文書。 " + strings.Repeat("Chunked scoring keeps the best window. ", 6)

// TestRerankOptionFlags runs `rerank` and `search` with the per-call rerank
// flags on a tiny zerank model and checks scores and chunk offsets against
// the engine called with the same options.
func TestRerankOptionFlags(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyZerank)
	docs := []string{flagLongDoc, "short text"}
	const query = "how does chunked scoring work"
	ro := twostage.RerankOptions{Instruction: "prefer definitions", LongDocuments: twostage.Chunk, ChunkTokens: 14,
		ChunkOverlap: 3, MaxChunks: 4, MaxTokensPerDoc: 60, MaxTokensPerQuery: 4}
	e, err := rerank.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.RerankWith(context.Background(), query, docs, ro)
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--instruction", ro.Instruction, "--long-documents", "chunk", "--chunk-tokens", "14", "--chunk-overlap", "3",
		"--max-chunks", "4", "--max-tokens-per-doc", "60", "--max-tokens-per-query", "4"}

	in := textsJSONL(docs, nil)
	got := rerankJSON(t, in, len(docs), append([]string{"rerank", "--model", dir, "--query", query, "--json"}, flags...)...)
	for _, r := range got {
		w := want[r.Index]
		if r.RawScore != w.Raw || r.Chunk == nil || *r.Chunk != *w.Chunk {
			t.Errorf("rerank doc %d: raw %v chunk %v, want %v %v", r.Index, r.RawScore, r.Chunk, w.Raw, *w.Chunk)
		}
	}
	code, stdout, stderr := cli(t, in, append([]string{"rerank", "--model", dir, "--query", query}, flags...)...)
	if code != 0 || !strings.Contains(stdout, "chunk") {
		t.Errorf("rerank table: exit %d %s %s, want a chunk column", code, stdout, stderr)
	}

	// search: the same options through SearchOptions.
	store := "mem:" + t.TempDir() + "/long.snap"
	var idx strings.Builder
	for i, d := range docs {
		b, _ := json.Marshal(map[string]string{"id": string(rune('a' + i)), "text": d})
		idx.Write(append(b, '\n'))
	}
	if code, out, stderr := cli(t, idx.String(), "index", "--store", store); code != 0 {
		t.Fatalf("index: exit %d %q %q", code, out, stderr)
	}
	code, stdout, stderr = cli(t, "", append([]string{"search", "--store", store, "--reranker", "zerank:" + dir, "--json", "--top-n", "2", query}, flags...)...)
	if code != 0 {
		t.Fatalf("search: exit %d: %s", code, stderr)
	}
	var res struct {
		Hits []twostage.Hit `json:"hits"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if len(res.Hits) != 2 {
		t.Fatalf("%d hits, want 2: %s", len(res.Hits), stdout)
	}
	for _, h := range res.Hits {
		w := want[int(h.ID[0]-'a')]
		if math.Abs(h.RerankRaw-w.Raw) > 1e-9 || h.RerankChunk == nil || *h.RerankChunk != *w.Chunk {
			t.Errorf("search hit %s: raw %v chunk %v, want %v %v", h.ID, h.RerankRaw, h.RerankChunk, w.Raw, *w.Chunk)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--long-documents", "split"}, "--long-documents"},
		{[]string{"--chunk-tokens", "4", "--chunk-overlap", "4"}, "--chunk-overlap"},
		{[]string{"--max-tokens-per-query", "-1"}, "--max-tokens-per-query"},
	} {
		code, _, stderr := cli(t, in, append([]string{"rerank", "--model", dir, "--query", query}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("rerank %q: exit %d %q, want 2 naming %s", tc.args, code, stderr, tc.want)
		}
		code, _, stderr = cli(t, "", append([]string{"search", "--store", store, query}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("search %q: exit %d %q, want 2 naming %s", tc.args, code, stderr, tc.want)
		}
	}
	// The default (lexical) reranker takes no options: refused, not ignored.
	code, _, stderr = cli(t, "", "search", "--store", store, "--instruction", "x", query)
	if code == 0 || !strings.Contains(stderr, "per-call options") {
		t.Errorf("search with the lexical reranker and --instruction: exit %d %q, want a refusal", code, stderr)
	}
}
