package server_test

import (
	"slices"
	"strings"
	"testing"

	"twostage"
	"twostage/inference"
	"twostage/internal/leaktest"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

// TestPrefixMetrics reranks through /v1/rerank with a tiny zerank engine
// whose shared query prefix is on, and checks the prefix counters of
// /metrics against the tokens of the prompts, tokenized whole here: each
// call's prefix (the template's head and the query) runs once for its
// batch and its other pairs save its tokens. An engine with the prefix off
// counts none and runs every prompt whole.
func TestPrefixMetrics(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyZerank)
	const query = "which planet is red"
	// The documents begin with different words, so the pairs share exactly
	// the template's head and the query.
	calls := [][]string{{"Mars is the red planet.", "Venus is hot.", "Jupiter has storms."}, {"Saturn has rings.", "Mercury is small."}}
	const headText = "<|im_start|>system\n" + query + "<|im_end|>\n<|im_start|>user\n" // zerank's template
	head := tinymodel.Tokens(t, dir, headText)
	p := float64(len(head))
	whole := make([]float64, len(calls)) // tokens of each call's prompts run whole
	for c, docs := range calls {
		for _, d := range docs {
			ids := tinymodel.Tokens(t, dir, headText+d+"<|im_end|>\n<|im_start|>assistant\n")
			if !slices.Equal(ids[:len(head)], head) {
				t.Fatalf("prompt of %q does not begin with the %d tokens of its head", d, len(head))
			}
			whole[c] += float64(len(ids))
		}
	}

	metrics := func(mode rerank.PrefixMode) func(docs []string) string {
		rt, err := inference.New(nil) // a model of its own: nothing else moves its counters
		if err != nil {
			t.Fatal(err)
		}
		leaktest.Close(t, rt)
		// MinFill -1: length grouping puts each call's pairs, added
		// together, in one batch, whatever their lengths.
		eng, err := rerank.Open(dir, &rerank.EngineOptions{Runtime: rt, ModelOptions: inference.ModelOptions{MinFill: -1}, MaxLength: 128, SharedPrefix: mode})
		if err != nil {
			t.Fatal(err)
		}
		leaktest.Close(t, eng)
		e := start(t, "rerankers: {default: zr}\n", nil, map[string]twostage.Reranker{"zr": eng})
		return func(docs []string) string {
			t.Helper()
			if r := e.do("POST", "/v1/rerank", mustJSON(map[string]any{"query": query, "documents": docs}), ""); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			return string(e.do("GET", "/metrics", "", "").body)
		}
	}
	const (
		runs   = `twostage_engine_prefixes_total{reranker="default"}`
		pairs  = `twostage_engine_prefix_pairs_total{reranker="default"}`
		tokens = `twostage_engine_prefix_tokens_total{reranker="default"}`
		saved  = `twostage_engine_prefix_saved_tokens_total{reranker="default"}`
		real   = `twostage_engine_real_tokens_total{reranker="default"}`
		bats   = `twostage_engine_batches_total{reranker="default"}`
	)
	on := metrics(rerank.PrefixOn)
	// One batch of 3 pairs: the prefix runs once, 2 pairs save its tokens.
	m := on(calls[0])
	checkMetrics(t, m, map[string]float64{bats: 1, runs: 1, pairs: 3, tokens: p, saved: 2 * p, real: whole[0] - 3*p})
	// The next call's prefix counts again (once per batch that continues
	// it), whether or not the executor kept its keys and values.
	m = on(calls[1])
	checkMetrics(t, m, map[string]float64{bats: 2, runs: 2, pairs: 5, tokens: 2 * p, saved: 3 * p, real: whole[0] + whole[1] - 5*p})
	if t.Failed() {
		t.Logf("prefix of %d tokens; /metrics:\n%s", len(head), grepLines(m, "twostage_engine_"))
	}

	off := metrics(rerank.PrefixOff)
	m = off(calls[0])
	checkMetrics(t, m, map[string]float64{bats: 1, runs: 0, pairs: 0, tokens: 0, saved: 0, real: whole[0]})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
