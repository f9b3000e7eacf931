package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostage/server"
)

// indexed returns a mem store spec holding three documents.
func indexed(t *testing.T) string {
	t.Helper()
	store := "mem:" + filepath.Join(t.TempDir(), "index.snap")
	docs := `{"id":"a","text":"machine learning learns from data","metadata":{"kind":"ml"}}
{"id":"b","text":"deep learning uses neural networks for learning","metadata":{"kind":"ml"}}
{"id":"c","text":"stock markets and learning to trade","metadata":{"kind":"news","year":2021}}
`
	if code, out, stderr := cli(t, docs, "index", "--store", store); code != 0 {
		t.Fatalf("index: exit %d %q %q", code, out, stderr)
	}
	return store
}

type searchOut struct {
	Query string `json:"query"`
	Hits  []struct {
		ID string `json:"id"`
	} `json:"hits"`
}

func searchJSON(t *testing.T, args ...string) searchOut {
	t.Helper()
	code, out, stderr := cli(t, "", append([]string{"search"}, args...)...)
	if code != 0 {
		t.Fatalf("search %q: exit %d: %s", args, code, stderr)
	}
	var res searchOut
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("search %q: output %q: %v", args, out, err)
	}
	return res
}

// Flags before, between and after the positional arguments mean the same;
// "--" ends the flags.
func TestFlagsAnywhere(t *testing.T) {
	store := indexed(t)
	for _, args := range [][]string{
		{"--store", store, "--json", "--top-n", "1", "learning"},
		{"--json", "learning", "--top-n", "1", "--store", store},
		{"learning", "--store=" + store, "--top-n=1", "--json"},
		{"--store", store, "learning", "--json", "-top-n", "1"},
	} {
		res := searchJSON(t, args...)
		if res.Query != "learning" || len(res.Hits) != 1 {
			t.Errorf("search %q: query %q with %d hits; want query %q with 1 hit", args, res.Query, len(res.Hits), "learning")
		}
	}
	res := searchJSON(t, "--store", store, "--json", "--", "learning", "--top-n", "1")
	if res.Query != "learning --top-n 1" {
		t.Errorf("after --: query %q, want the flags taken as text", res.Query)
	}
	// The store named after the query is the one searched.
	empty := "mem:" + filepath.Join(t.TempDir(), "other.snap")
	cli(t, `{"id":"z","text":"learning elsewhere"}`, "index", "--store", empty)
	res = searchJSON(t, "learning", "--json", "--store", empty)
	if len(res.Hits) != 1 || res.Hits[0].ID != "z" {
		t.Errorf("search q --store OTHER: hits %+v, want only z from OTHER", res.Hits)
	}
}

// An unknown flag, anywhere, is a usage error printed once, without the
// flag list.
func TestUnknownFlagIsOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"search", "q", "--nope"},
		{"search", "--nope", "q"},
		{"index", "--nope"},
		{"tokenize", "x", "--nope=3"},
	} {
		code, out, stderr := cli(t, "", args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "unknown flag --nope") || out != "" {
			t.Errorf("%q: exit %d stdout %q stderr %q; want exit 2 and one line naming --nope", args, code, out, stderr)
		}
	}
	code, _, stderr := cli(t, "", "search", "q", "--top-n")
	if code != 2 || !strings.Contains(stderr, "flag needs an argument") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("--top-n without value: exit %d %q", code, stderr)
	}
}

func TestErrorsAreOneLineWithoutDoubledPrefixes(t *testing.T) {
	store := indexed(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"search", "--store", store, "--filter", `{"op":"like","field":"kind","value":"x"}`, "q"}, 2,
			`twostage search: --filter: unknown op "like"`},
		{[]string{"search", "--store", store, "--filter", `{"op":1}`, "q"}, 2, `field "op": got a JSON number, want a string`},
		{[]string{"search", "--store", store, "--top-n", "-3", "q"}, 2, "--top-n -3: want 1 to 10000"},
		{[]string{"search", "--store", store, "--top-n", "x", "q"}, 2, `invalid value "x" for flag -top-n`},
		{[]string{"search", "--store", store, "--min-score", "2", "q"}, 2, "--min-score 2: want 0 to 1"},
		{[]string{"search", "--store", store, "--top-n", "20", "--candidate-k", "10", "q"}, 2, "--top-n 20 exceeds --candidate-k 10"},
	}
	for _, tc := range tests {
		code, _, stderr := cli(t, "", tc.args...)
		if code != tc.code || !strings.HasPrefix(stderr, tc.want) && !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
		if strings.Count(stderr, "twostage") != 1 || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: stderr %q is not one line with one prefix", tc.args, stderr)
		}
	}
	code, _, stderr := cli(t, "[1,2]\n", "index", "--store", "mem:")
	if code != 1 || !strings.Contains(stderr, "line 1: the value: got a JSON array, want an object") || strings.Contains(stderr, "struct") {
		t.Errorf("index [1,2]: exit %d stderr %q; want line 1 named with JSON kinds", code, stderr)
	}
}

// top-n, candidate-k and min-score follow twostage.CheckLimits.
func TestSearchLimits(t *testing.T) {
	store := indexed(t)
	// Without the rerank stage candidate-k does not bound top-n.
	res := searchJSON(t, "--store", store, "--json", "--no-rerank", "--top-n", "60", "--candidate-k", "50", "learning")
	if len(res.Hits) != 3 {
		t.Errorf("--no-rerank --top-n 60: %d hits, want all 3", len(res.Hits))
	}
	// --top-n 0 is the default (10), as on the server.
	res = searchJSON(t, "--store", store, "--json", "--top-n", "0", "learning")
	if len(res.Hits) != 3 {
		t.Errorf("--top-n 0: %d hits, want all 3", len(res.Hits))
	}
}

// Search, info and eval read stores; they never create one.
func TestReadersNeverCreateAStore(t *testing.T) {
	dir := t.TempDir()
	for _, store := range []string{"mem:" + filepath.Join(dir, "typo.snap"), "faiss:" + filepath.Join(dir, "typo")} {
		for _, args := range [][]string{
			{"search", "--store", store, "q"},
			{"info", "--store", store},
		} {
			code, _, stderr := cli(t, "", args...)
			want := "no store at " + store + "; create it with: twostage index --store " + store
			if code != 1 || !strings.Contains(stderr, want) {
				t.Errorf("%q: exit %d stderr %q; want exit 1 and %q", args, code, stderr, want)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("reading missing stores created %d files in %s", len(entries), dir)
	}
}

// An embedded store records its embedder and metric; later commands use
// them, and a contradicting flag is a usage error.
func TestStoreRemembersItsSettings(t *testing.T) {
	store := "mem:" + filepath.Join(t.TempDir(), "i.snap")
	docs := `{"id":"a","text":"red planet mars"}` + "\n" + `{"id":"b","text":"blue ocean"}` + "\n"
	if code, out, stderr := cli(t, docs, "index", "--store", store, "--embedder", "hash:64", "--metric", "dot"); code != 0 {
		t.Fatalf("index: exit %d %q %q", code, out, stderr)
	}
	res := searchJSON(t, "--store", store, "--json", "mars")
	if len(res.Hits) != 2 || res.Hits[0].ID != "a" {
		t.Errorf("search without the flags: hits %+v, want a first", res.Hits)
	}
	// Repeating the recorded flags is fine; contradicting them is not.
	searchJSON(t, "--store", store, "--json", "--embedder", "hash:64", "--metric", "dot", "mars")
	for _, args := range [][]string{
		{"search", "--store", store, "--embedder", "hash:32", "mars"},
		{"search", "--store", store, "--metric", "cosine", "mars"},
		{"index", "--store", store, "--metric", "l2"},
	} {
		code, _, stderr := cli(t, docs, args...)
		if code != 2 || !strings.Contains(stderr, "was built with") {
			t.Errorf("%q: exit %d %q; want exit 2 naming the recorded setting", args, code, stderr)
		}
	}
	// Index adds with the recorded embedder.
	if code, out, stderr := cli(t, `{"id":"c","text":"green forest"}`, "index", "--store", store); code != 0 || !strings.Contains(out, "holds 3") {
		t.Errorf("second index: exit %d %q %q", code, out, stderr)
	}
	code, out, stderr := cli(t, "", "info", "--store", store)
	for _, want := range []string{"documents     3", "dimension     64", "metric        dot", "embedder      hash:64", "created by    twostage index", "size on disk"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("info: exit %d %q (stderr %q); want %q", code, out, stderr, want)
		}
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := cli(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "twostage ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: exit %d %q", code, out)
	}
}

func TestDemoJSONPrintsOnlyJSON(t *testing.T) {
	store := "mem:" + filepath.Join(t.TempDir(), "d.snap")
	cli(t, `{"id":"own1","text":"x"}`+"\n"+`{"id":"own2","text":"y"}`, "index", "--store", store)
	code, out, stderr := cli(t, "", "demo", "--json", "--store", store)
	if code != 0 {
		t.Fatalf("demo --json: exit %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(demoQueries) {
		t.Errorf("demo --json printed %d lines, want %d JSON results", len(lines), len(demoQueries))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("demo --json line is not JSON: %q", l)
		}
	}
	if !strings.Contains(stderr, "indexed 28 sample documents; the store holds 30") {
		t.Errorf("demo --store S with 2 documents of its own: stderr %q", stderr)
	}
}

// TestDemoHelpNamesItsStore: without --store the demo indexes into a
// temporary store it removes, not the other commands' default
// (.twostage/faiss), and its help says so.
func TestDemoHelpNamesItsStore(t *testing.T) {
	_, _, stderr := cli(t, "", "demo", "-h")
	if strings.Contains(stderr, defaultStore) || !strings.Contains(stderr, "temporary") {
		t.Errorf("demo -h: %q; want the temporary store, not %s", stderr, defaultStore)
	}
}

type hitMD struct {
	Hits []struct {
		ID       string         `json:"id"`
		Metadata map[string]any `json:"metadata"`
	} `json:"hits"`
}

// CSV cells stay text unless their type is declared; JSON lines keep
// JSON's types.
func TestCSVCellsStayText(t *testing.T) {
	dir := t.TempDir()
	csvFile := filepath.Join(dir, "docs.csv")
	os.WriteFile(csvFile, []byte("id,text,zip,year:int,score,ok\nx,first,02134,2020,1.5,true\n"), 0o644)
	get := func(store string, extra ...string) map[string]any {
		t.Helper()
		args := append([]string{"index", "--store", store, "--file", csvFile}, extra...)
		if code, out, stderr := cli(t, "", args...); code != 0 {
			t.Fatalf("%q: exit %d %q %q", args, code, out, stderr)
		}
		_, out, _ := cli(t, "", "search", "--store", store, "--json", "first")
		var res hitMD
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Hits) != 1 {
			t.Fatalf("search: %q %v", out, err)
		}
		return res.Hits[0].Metadata
	}
	md := get("mem:" + filepath.Join(dir, "a.snap"))
	want := map[string]any{"zip": "02134", "year": float64(2020), "score": "1.5", "ok": "true"}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %#v, want %#v (all: %v)", k, md[k], v, md)
		}
	}
	md = get("mem:"+filepath.Join(dir, "b.snap"), "--csv-types", "score=float,ok=bool")
	if md["score"] != 1.5 || md["ok"] != true || md["zip"] != "02134" {
		t.Errorf("--csv-types score=float,ok=bool: metadata %v", md)
	}
	for _, tc := range []struct {
		csv, types, want string
		code             int
	}{
		{"id,text,year:int\nx,a,20x\n", "", `csv line 2, column "year": "20x" is not an int`, 1},
		{"id,text,year:date\nx,a,1\n", "", `unknown type "date"`, 1},
		{"id,text,year\nx,a,1\n", "nope=int", `--csv-types names "nope"`, 2},
		{"id,text,year\nx,a,1\n", "year=complex", "--csv-types", 2},
		{"id,text\nx,caf\xe9\n", "", "csv line 2, column 3 (field 2): invalid UTF-8", 1},
	} {
		f := filepath.Join(dir, "bad.csv")
		os.WriteFile(f, []byte(tc.csv), 0o644)
		args := []string{"index", "--store", "mem:", "--file", f}
		if tc.types != "" {
			args = append(args, "--csv-types", tc.types)
		}
		code, _, stderr := cli(t, "", args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q types %q: exit %d %q; want exit %d and %q", tc.csv, tc.types, code, stderr, tc.code, tc.want)
		}
	}
	// JSON lines keep JSON's types.
	store := "mem:" + filepath.Join(dir, "j.snap")
	cli(t, `{"id":"j","text":"first","metadata":{"zip":"02134","n":7,"ok":true}}`, "index", "--store", store)
	_, out, _ := cli(t, "", "search", "--store", store, "--json", "first")
	var res hitMD
	json.Unmarshal([]byte(out), &res)
	if len(res.Hits) != 1 || res.Hits[0].Metadata["zip"] != "02134" || res.Hits[0].Metadata["n"] != float64(7) || res.Hits[0].Metadata["ok"] != true {
		t.Errorf("jsonl metadata: %s", out)
	}
}

// Invalid UTF-8 and lone surrogate escapes are rejected, naming the line
// and column; nothing is indexed.
func TestInvalidUTF8IsRejected(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\"id\":\"a\",\"text\":\"ok\"}\n{\"id\":\"b\xff\",\"text\":\"x\"}\n", "line 2, column 9: invalid UTF-8"},
		{"{\"id\":\"a\",\"text\":\"caf\xc3\"}\n", "line 1, column 22: invalid UTF-8"},
		{`{"id":"a","text":"x \uD800 y"}`, `line 1, column 21: lone surrogate escape \uD800`},
		{`{"id":"a","text":"x \uDC00"}`, `lone surrogate escape \uDC00`},
		{`{"id":"a","text":"x \uD83D\u0041"}`, `lone surrogate escape \uD83D`},
	} {
		code, _, stderr := cli(t, tc.in, "index", "--store", "mem:")
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("index %q: exit %d %q; want exit 1 and %q", tc.in, code, stderr, tc.want)
		}
	}
	// A valid pair and escaped backslashes are fine.
	if code, _, stderr := cli(t, `{"id":"a","text":"smile \uD83D\uDE00 and \\uD800 as text"}`, "index", "--store", "mem:"); code != 0 {
		t.Errorf("valid surrogate pair: exit %d %q", code, stderr)
	}
}

// TestNegativeFlagsAreUsageErrors: index --batch below 1 and a negative
// --rerank-timeout were taken silently (as the default, as no bound).
func TestNegativeFlagsAreUsageErrors(t *testing.T) {
	doc := `{"id":"a","text":"x"}`
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"index", "--store", "mem:", "--batch", "0"}, "--batch 0: want at least 1"},
		{[]string{"index", "--store", "mem:", "--batch", "-3"}, "--batch -3: want at least 1"},
		{[]string{"search", "--store", "mem:", "--rerank-timeout", "-1s", "x"}, "--rerank-timeout -1s must not be negative"},
	} {
		if code, _, stderr := cli(t, doc, tt.args...); code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestSmallerCLIFixes(t *testing.T) {
	// mem:FILE.jsonl would be a binary file with a text name.
	code, _, stderr := cli(t, `{"id":"a","text":"x"}`, "index", "--store", "mem:"+filepath.Join(t.TempDir(), "docs.jsonl"))
	if code != 2 || !strings.Contains(stderr, "binary snapshot, not jsonl") {
		t.Errorf("mem:FILE.jsonl: exit %d %q", code, stderr)
	}
	// rerank -h names the flag's argument, not a backquoted phrase.
	code, _, stderr = cli(t, "", "rerank", "-h")
	if code != 0 || !strings.Contains(stderr, "-model string") || strings.Contains(stderr, "-model twostage convert") {
		t.Errorf("rerank -h: exit %d\n%s", code, stderr)
	}
}

// The notice names only the stages that really are model-free.
func TestModelFreeNoticeNamesOnlyModelFreeStages(t *testing.T) {
	store := indexed(t)
	_, _, stderr := cli(t, "", "search", "--store", store, "--reranker", "none", "learning")
	if !strings.Contains(stderr, "model-free hashing embedder") || strings.Contains(stderr, "BM25") || strings.Contains(stderr, "zerank") {
		t.Errorf("search --reranker none: notice %q; want the hashing embedder only", stderr)
	}
	for _, tc := range []struct {
		hashing, lexical bool
		want, not        string
	}{
		{true, true, "hashing embedder, BM25 reranker", ""},
		{false, true, "model-free BM25 reranker", "embedder"},
		{true, false, "model-free hashing embedder", "BM25"},
	} {
		got := modelFreeNotice(tc.hashing, tc.lexical)
		if !strings.Contains(got, tc.want) || tc.not != "" && strings.Contains(got, tc.not) {
			t.Errorf("notice(hashing %v, lexical %v) = %q; want %q without %q", tc.hashing, tc.lexical, got, tc.want, tc.not)
		}
	}
	if got := modelFreeNotice(false, false); got != "" {
		t.Errorf("no model-free stage: notice %q", got)
	}
	code, out, _ := cli(t, `{"id":"q","text":"x"}`, "index", "--store", store)
	if code != 0 || strings.Contains(out, "reranker") {
		t.Errorf("index reports a reranker: %q", out)
	}
}

// search and info leave a mem:FILE store's file as it was.
func TestReadersDoNotRewriteAMemStore(t *testing.T) {
	store := indexed(t)
	path := strings.TrimPrefix(store, "mem:")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	searchJSON(t, "--store", store, "--json", "learning")
	cli(t, "", "info", "--store", store)
	after, err := os.Stat(path)
	if err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("reading the store rewrote %s (%v -> %v, %v)", path, before.ModTime(), after.ModTime(), err)
	}
}

// serve opens an embedded store with the settings it recorded, or says
// what the config must change.
func TestServeChecksTheRecordedSettings(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "docs.snap")
	if code, _, stderr := cli(t, `{"id":"a","text":"x"}`, "index", "--store", "mem:"+snap, "--metric", "dot", "--embedder", "hash:16"); code != 0 {
		t.Fatal(stderr)
	}
	cfg := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfg, []byte("allow_mem_file: true\nembedders: {default: \"hash:16\"}\ncollections:\n  docs:\n    store: \"mem:"+snap+"\"\n    metric: cosine\n"), 0o644)
	code, _, stderr := cli(t, "", "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, "was built with embedder hash:16 (16 dimensions) and metric dot") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("serve with metric cosine over a dot store: exit %d %q", code, stderr)
	}
}

// A collection that leaves metric and embedder out is served with the
// settings its store recorded; one that sets them keeps its own.
func TestServeAdoptsTheRecordedSettings(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "docs.snap")
	if code, _, stderr := cli(t, `{"id":"a","text":"x"}`, "index", "--store", "mem:"+snap, "--metric", "dot", "--embedder", "hash:16"); code != 0 {
		t.Fatal(stderr)
	}
	yml := "allow_mem_file: true\nembedders: {default: \"hash:32\"}\ncollections:\n  docs:\n    store: \"mem:" + snap + "\"\n  mine:\n    store: \"mem:" + snap + "\"\n    metric: l2\n    embedder: default\n"
	cfg, err := server.ParseConfig([]byte(yml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := adoptRecorded(cfg, []byte(yml)); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Collections["docs"]; got.Metric != "dot" || got.Embedder != "hash:16" {
		t.Errorf("docs: metric %q, embedder %q; want the recorded dot and hash:16", got.Metric, got.Embedder)
	}
	if got := cfg.Collections["mine"]; got.Metric != "l2" || got.Embedder != "default" {
		t.Errorf("mine: metric %q, embedder %q; want the config's own l2 and default", got.Metric, got.Embedder)
	}
}
