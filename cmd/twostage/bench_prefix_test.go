package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"twostage/internal/rerankbench"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

// TestBenchRerankPrefix runs `bench rerank --prefix on|off|auto` on a tiny
// zerank model. With the prefix on, every engine batch runs the call's
// prefix (the template's head and --query, whose tokens are counted here)
// once and its other pairs save those tokens; the rows still count the
// pairs' tokens whole, as the run with the prefix off does, and the raw
// session runs the same whole pairs in both.
func TestBenchRerankPrefix(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyZerank)
	const query = "which planet is red"
	p := int64(len(tinymodel.Tokens(t, dir, "<|im_start|>system\n"+query+"<|im_end|>\n<|im_start|>user\n")))
	args := []string{"bench", "rerank", "--model", dir, "--clients", "2", "--docs", "6", "--min-tokens", "5", "--median-tokens", "20", "--max-tokens", "60"}
	bench := func(mode string) []rerankbench.Row {
		t.Helper()
		code, stdout, stderr := cli(t, "", append(args, "--json", "--prefix", mode, "--query", query)...)
		if code != 0 {
			t.Fatalf("--prefix %s: exit %d: %s", mode, code, stderr)
		}
		var rep struct{ Rows []rerankbench.Row }
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("--prefix %s: %v\n%s", mode, err, stdout)
		}
		if len(rep.Rows) != 3 { // raw, engine, engine without grouping
			t.Fatalf("--prefix %s: %d rows, want 3:\n%s", mode, len(rep.Rows), stdout)
		}
		return rep.Rows
	}
	on, off := bench("on"), bench("off")
	for i, r := range on {
		o := off[i]
		if r.Name != o.Name || r.Pairs != o.Pairs || r.Tokens != o.Tokens {
			t.Errorf("row %d: on %q %d pairs %d tokens, off %q %d pairs %d tokens: want the same pairs and whole tokens", i, r.Name, r.Pairs, r.Tokens, o.Name, o.Pairs, o.Tokens)
		}
		if o.Prefixes != 0 || o.PrefixTokens != 0 || o.SavedTokens != 0 {
			t.Errorf("%s, --prefix off: prefixes %d, prefix tokens %d, saved %d; want none", o.Name, o.Prefixes, o.PrefixTokens, o.SavedTokens)
		}
		want := [3]int64{r.Batches, r.Batches * p, (r.Pairs - r.Batches) * p}
		if i == 0 { // the raw session runs whole pairs
			want = [3]int64{}
		}
		if got := [3]int64{r.Prefixes, r.PrefixTokens, r.SavedTokens}; got != want || (i > 0 && r.Pairs != 2*6) {
			t.Errorf("%s, --prefix on: %d pairs in %d batches: prefixes, prefix tokens, saved = %v, want %v (a %d-token prefix)", r.Name, r.Pairs, r.Batches, got, want, p)
		}
	}

	code, stdout, stderr := cli(t, "", append(args, "--prefix", "on", "--query", query)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Log("\n" + stdout)
	if want := "shared prefix, engine, 2 clients: "; !strings.Contains(stdout, want) || strings.Contains(stdout, "none run") {
		t.Errorf("table with --prefix on lacks %q:\n%s", want, stdout)
	}
	// The default query's prefix is under rerank.MinSharedPrefix: auto
	// runs none, and says why.
	code, stdout, stderr = cli(t, "", append(args, "--clients", "1")...)
	if code != 0 || !strings.Contains(stdout, "shared prefix: none run (with auto, a prefix under 32 tokens") {
		t.Errorf("--prefix auto with the default query: exit %d, want a line saying no prefix ran:\n%s%s", code, stdout, stderr)
	}

	code, _, stderr = cli(t, "", "bench", "rerank", "--model", dir, "--prefix", "sometimes")
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, `--prefix "sometimes": want auto, on or off`) {
		t.Errorf("--prefix sometimes: exit %d, stderr %q; want 2 and one line naming the flag", code, stderr)
	}
}

// TestRerankPrefixFlag runs `rerank --prefix on|off` on a tiny zerank
// model: the shared prefix changes how the pairs run, not their scores
// (1e-5 relative, as rerank's tests hold the engine to). The command's
// engine shares its model with one the test holds in the default runtime,
// whose counters show each pair continuing the prefix with on and none
// with off. A bad mode is a one-line usage error.
func TestRerankPrefixFlag(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyZerank)
	held, err := rerank.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	docs := []string{"Mars is the red planet.", "Venus is hot.", "", "Jupiter has storms and a great red spot."}
	in := textsJSONL(docs, nil)
	base := []string{"rerank", "--model", dir, "--query", "which planet is red", "--json"}
	rerankWith := func(mode string, wantItems int64) []rerankResult {
		t.Helper()
		before := held.Stats()
		res := rerankJSON(t, in, len(docs), append(base, "--prefix", mode)...)
		after := held.Stats()
		if pairs, items := after.Items-before.Items, after.PrefixItems-before.PrefixItems; pairs != int64(len(docs)) || items != wantItems {
			t.Errorf("--prefix %s: the model ran %d pairs, %d continuing a prefix; want %d, %d", mode, pairs, items, len(docs), wantItems)
		}
		return res
	}
	off := rerankWith("off", 0)
	on := rerankWith("on", int64(len(docs)))
	for k := range on {
		if on[k].Index != off[k].Index || math.Abs(on[k].RawScore-off[k].RawScore) > 1e-5*max(math.Abs(off[k].RawScore), 1e-3) {
			t.Errorf("rank %d: --prefix on gives doc %d raw %v, off doc %d raw %v", k, on[k].Index, on[k].RawScore, off[k].Index, off[k].RawScore)
		}
	}
	code, _, stderr := cli(t, in, append(base, "--prefix", "ON")...)
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, `--prefix "ON": want auto, on or off`) {
		t.Errorf("--prefix ON: exit %d, stderr %q; want 2 and one line naming the flag", code, stderr)
	}
}
