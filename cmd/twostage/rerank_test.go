package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"twostage"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

func TestRerankCommand(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyZerank)
	docs := []string{"Go is a programming language.", "Bananas are yellow.", "", "Reranking reorders search results with a cross-encoder."}
	in := textsJSONL(docs, nil)
	const query = "what reorders search results?"
	e, err := rerank.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.Rerank(context.Background(), query, docs)
	e.Close()
	if err != nil {
		t.Fatal(err)
	}

	got := rerankJSON(t, in, len(docs), "rerank", "--model", dir, "--query", query, "--json")
	seen := map[int]bool{}
	for k, r := range got {
		if k > 0 && r.RelevanceScore > got[k-1].RelevanceScore {
			t.Errorf("results not sorted by relevance_score: %v", got)
		}
		if seen[r.Index] || r.Index < 0 || r.Index >= len(docs) {
			t.Fatalf("bad or repeated index %d", r.Index)
		}
		seen[r.Index] = true
		if w := want[r.Index]; r.RelevanceScore != w.Score || r.RawScore != w.Raw {
			t.Errorf("doc %d: got %v/%v, engine gives %v/%v", r.Index, r.RelevanceScore, r.RawScore, w.Score, w.Raw)
		}
	}

	// "--docs -" reads stdin, as index's "--file -" does.
	if fromStdin := rerankJSON(t, in, len(docs), "rerank", "--model", dir, "--query", query, "--json", "--docs", "-"); !slices.Equal(fromStdin, got) {
		t.Errorf("--docs -: %v, want what stdin gives by default, %v", fromStdin, got)
	}

	// Table output, documents from a file.
	path := filepath.Join(t.TempDir(), "docs.jsonl")
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, "", "rerank", "--model", dir, "--query", query, "--docs", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(docs)+1 || !strings.HasPrefix(lines[0], "rank") {
		t.Fatalf("table:\n%s", stdout)
	}
	if top := got[0]; !strings.Contains(lines[1], fmt.Sprintf("%.4f", top.RelevanceScore)) {
		t.Errorf("first table row %q lacks the top score %.4f", lines[1], top.RelevanceScore)
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		msg         string
	}{
		{"no query", "", []string{"rerank", "--model", dir}, 2, "--model and --query are required"},
		{"bad json", "{\"text\": 1}\n", []string{"rerank", "--model", dir, "--query", "q"}, 1, "line 1"},
		{"no text field", "{\"body\": \"x\"}\n", []string{"rerank", "--model", dir, "--query", "q"}, 1, "no \"text\" field"},
		{"not a model", "{\"text\": \"x\"}\n", []string{"rerank", "--model", t.TempDir(), "--query", "q"}, 1, "not a model directory"},
		{"cuda on cpu", "{\"text\": \"x\"}\n", []string{"rerank", "--model", dir, "--query", "q", "--provider", "cuda"}, 1, "cuda execution provider not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := cli(t, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestEngineRerankerSpecs(t *testing.T) {
	testassets.ONNXRuntime(t)
	zr := tinymodel.Model(t, modeldir.FamilyZerank)
	bert := tinymodel.Model(t, modeldir.FamilyBertCrossEncoder)
	ctx := context.Background()
	for _, spec := range []string{"zerank:" + zr, "onnx:" + zr + ",batch=4,threads=1", "onnx:" + bert + ",max_length=64"} {
		r, err := openReranker(ctx, spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		s, err := r.Rerank(ctx, "query", []string{"a", "b"})
		if err != nil || len(s) != 2 {
			t.Fatalf("%s: %v, %v", spec, s, err)
		}
		if err := closeAll(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		spec string
		want error
		msg  string
	}{
		{"zerank:" + bert, errUsage, "use onnx:"},
		{"onnx:" + zr + ",batch=x", errUsage, "not a non-negative number"},
		{"onnx:" + zr + ",colour=red", errUsage, "unknown option"},
		{"onnx:" + zr + ",provider=tensorrt", twostage.ErrUnsupported, "tensorrt"},
	} {
		if _, err := openReranker(ctx, tc.spec); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %v saying %q", tc.spec, err, tc.want, tc.msg)
		}
	}
}

func TestBenchRerankCommand(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyBertCrossEncoder)
	code, stdout, stderr := cli(t, "", "bench", "rerank", "--model", dir, "--clients", "1,3", "--docs", "6",
		"--min-tokens", "5", "--median-tokens", "20", "--max-tokens", "80")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	t.Log("\n" + stdout)
	for _, want := range []string{"raw ORT session, fixed shapes", "engine, 1 client", "engine, 3 clients", "engine, 3 clients, no grouping", "vs raw", "fill", "measured before and after each engine run"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bench output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := cli(t, "", "bench", "rerank"); code != 2 || !strings.Contains(stderr, "--model is required") {
		t.Errorf("bench without --model: exit %d, %s", code, stderr)
	}
	if code, _, stderr := cli(t, "", "bench", "nonsense"); code != 2 || !strings.Contains(stderr, "unknown bench target") {
		t.Errorf("unknown target: exit %d, %s", code, stderr)
	}
}

// TestBenchRerankFlagMistakes: a negative --docs or --calls became the
// default silently, and misordered token lengths failed as a runtime error
// in rerankbench's words; both are usage errors naming the flags, found
// before the model is opened.
func TestBenchRerankFlagMistakes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--docs", "-5"}, "--docs -5"},
		{[]string{"--calls", "0"}, "--calls 0"},
		{[]string{"--max-tokens", "100"}, "--min-tokens 30, --median-tokens 120, --max-tokens 100"},
		{[]string{"--min-tokens", "-1"}, "--min-tokens -1"},
	} {
		args := append([]string{"bench", "rerank", "--model", filepath.Join(t.TempDir(), "absent")}, tt.args...)
		if code, _, stderr := cli(t, "", args...); code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestXLAFlagsWithoutProviderXLA: --platform, --compute and --family
// without --provider xla are usage errors in the flags' names (they failed
// at Open, exit 1, naming EngineOptions fields).
func TestXLAFlagsWithoutProviderXLA(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent")
	for _, args := range [][]string{
		{"rerank", "--model", absent, "--query", "q", "--family", "qwen3-reranker"},
		{"rerank", "--model", absent, "--query", "q", "--provider", "cuda", "--compute", "bf16"},
		{"bench", "rerank", "--model", absent, "--platform", "cuda"},
	} {
		if code, _, stderr := cli(t, "", args...); code != 2 || !strings.Contains(stderr, "are for --provider xla") {
			t.Errorf("%v: exit %d, %q; want 2 and the flags' names", args, code, stderr)
		}
	}
}

// TestXLAFlagsWithProviderXLAInCaps: the provider is named in any case, as
// everywhere else, so --provider XLA takes the xla flags.
func TestXLAFlagsWithProviderXLAInCaps(t *testing.T) {
	absent := filepath.Join(t.TempDir(), "absent")
	code, _, stderr := cli(t, "", "rerank", "--model", absent, "--query", "q", "--provider", "XLA", "--family", "qwen3-reranker")
	if code == 0 || strings.Contains(stderr, "are for --provider xla") {
		t.Errorf("--provider XLA --family: exit %d, %q; want the absent model's error, not the flags refused", code, stderr)
	}
}

// TestSearchWithONNXReranker runs the Pipeline through `search --reranker
// onnx:DIR`: the hits must carry the engine's scores, highest first.
func TestSearchWithONNXReranker(t *testing.T) {
	testassets.ONNXRuntime(t)
	model := tinymodel.Model(t, modeldir.FamilyBertCrossEncoder)
	store := "mem:" + filepath.Join(t.TempDir(), "index.snap")
	texts := map[string]string{
		"a": "the cat sat on the mat",
		"b": "dogs chase cats in the park",
		"c": "stock markets fell sharply today",
		"d": "a cat and a mat and a hat",
	}
	var in strings.Builder
	for id, text := range texts {
		b, _ := json.Marshal(map[string]string{"id": id, "text": text})
		in.Write(b)
		in.WriteByte('\n')
	}
	if code, out, stderr := cli(t, in.String(), "index", "--store", store); code != 0 {
		t.Fatalf("index: exit %d %s %s", code, out, stderr)
	}
	code, out, stderr := cli(t, "", "search", "--store", store, "--reranker", "onnx:"+model, "--json", "--top-n", "4", "--candidate-k", "4", "cat", "mat")
	if code != 0 {
		t.Fatalf("search: exit %d: %s", code, stderr)
	}
	var res struct {
		Hits []struct {
			ID          string  `json:"id"`
			Text        string  `json:"text"`
			Score       float64 `json:"score"`
			RerankScore float64 `json:"rerank_score"`
			RerankRaw   float64 `json:"rerank_raw"`
			Reranked    bool    `json:"reranked"`
		} `json:"hits"`
		Reranked bool `json:"reranked"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !res.Reranked || len(res.Hits) != 4 {
		t.Fatalf("search result %s: want 4 reranked hits", out)
	}
	e, err := rerank.Open(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for k, h := range res.Hits {
		want, err := e.Rerank(context.Background(), "cat mat", []string{texts[h.ID]})
		if err != nil {
			t.Fatal(err)
		}
		if !h.Reranked || h.RerankScore != want[0].Score || h.RerankRaw != want[0].Raw {
			t.Errorf("hit %s: reranked %v score %v raw %v; the engine gives %v / %v", h.ID, h.Reranked, h.RerankScore, h.RerankRaw, want[0].Score, want[0].Raw)
		}
		if k > 0 && h.RerankScore > res.Hits[k-1].RerankScore {
			t.Errorf("hits not in rerank order: %s", out)
		}
	}
}

// rerankJSON runs the CLI with args (a `rerank ... --json` command line)
// on stdin in and returns its results, failing the test unless it exits 0
// with n of them.
func rerankJSON(t *testing.T, in string, n int, args ...string) []rerankResult {
	t.Helper()
	code, stdout, stderr := cli(t, in, args...)
	if code != 0 {
		t.Fatalf("rerank: exit %d: %s", code, stderr)
	}
	var got struct {
		Results []rerankResult `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if len(got.Results) != n {
		t.Fatalf("%d results for %d docs", len(got.Results), n)
	}
	return got.Results
}
