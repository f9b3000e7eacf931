package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs one command line in-process.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, 2, ""},
		{[]string{"help"}, 0, ""},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"search"}, 2, "give a query"},
		{[]string{"search", "--top-n"}, 2, "flag needs an argument"},
		{[]string{"search", "--store", "mem:", "--filter", "{not json", "q"}, 2, "--filter"},
		{[]string{"search", "--store", "bogus:x", "q"}, 2, `unknown store "bogus:x"`},
		{[]string{"search", "--store", "mem:", "--metric", "hamming", "q"}, 2, "unknown metric"},
		{[]string{"search", "--store", "mem:", "--embedder", "hash:abc", "q"}, 2, "not a number"},
		{[]string{"index", "--store", "mem:", "--file", "/nonexistent/docs.jsonl"}, 1, "no such file"},
	}
	for _, tc := range tests {
		code, stdout, stderr := cli(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.inStderr) {
			t.Errorf("twostage %q: exit %d stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.inStderr)
		}
		// No expected message means help: the usage on stdout, nothing on stderr.
		if tc.inStderr == "" && (stderr != "" || !strings.Contains(stdout, "Usage: twostage COMMAND")) {
			t.Errorf("twostage %q: stdout %q stderr %q; want the usage on stdout and nothing on stderr", tc.args, stdout, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") > 0 && tc.code == 1 {
			t.Errorf("twostage %q: error is not one line: %q", tc.args, stderr)
		}
	}
}

// TestPositionalArgumentsRefused: every command that takes no positional
// argument refuses one, before it checks its flags or does any work.
func TestPositionalArgumentsRefused(t *testing.T) {
	takesArgs := map[string]bool{"search": true, "pull": true, "bench": true}
	for name := range commands {
		if takesArgs[name] {
			continue
		}
		for _, tc := range []struct {
			extra []string
			want  string
		}{
			{[]string{"extra"}, `unexpected argument "extra"`},
			{[]string{"a", "b"}, `unexpected arguments ["a" "b"]`},
		} {
			code, stdout, stderr := cli(t, "", append([]string{name}, tc.extra...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("twostage %s %q: exit %d stdout %q stderr %q; want exit 2, no output and %q", name, tc.extra, code, stdout, stderr, tc.want)
			}
		}
	}
}

func TestDemoRanksTheMachineLearningPassageFirst(t *testing.T) {
	code, out, stderr := cli(t, "", "demo")
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "model-free") {
		t.Errorf("demo does not say it uses the model-free stages: %q", stderr)
	}
	if !strings.Contains(out, "twostage demo: store ") || !strings.Contains(out, "embedder hash, reranker lexical") {
		t.Errorf("demo does not name its stages:\n%s", out)
	}
	_, after, ok := strings.Cut(out, `query: "What is machine learning?"`)
	if !ok {
		t.Fatalf("demo output lacks the tutorial query:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(after), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "1 ") || !strings.Contains(lines[1], " ml ") {
		t.Errorf("first hit for the tutorial query is not the machine-learning passage:\n%s", strings.Join(lines[:min(len(lines), 4)], "\n"))
	}
}

func TestIndexThenSearch(t *testing.T) {
	dir := t.TempDir()
	store := "mem:" + filepath.Join(dir, "index.snap")
	docs := `{"id": "a", "text": "the cat sat on the mat", "metadata": {"kind": "pet", "n": 1}}
{"id": 2, "text": "dogs chase cats in the park", "metadata": {"kind": "pet", "n": 2.5}}

{"id": "c", "text": "stock markets fell sharply today", "metadata": {"kind": "news", "tags": ["money"]}}
`
	code, out, stderr := cli(t, docs, "index", "--store", store)
	if code != 0 || !strings.Contains(out, "indexed 3 documents") {
		t.Fatalf("index: exit %d out %q err %q", code, out, stderr)
	}
	code, out, stderr = cli(t, "", "search", "--store", store, "--json", "--top-n", "2", "--candidate-k", "3", "cat", "on", "mat")
	if code != 0 {
		t.Fatalf("search: exit %d: %s", code, stderr)
	}
	var res struct {
		Query string `json:"query"`
		Hits  []struct {
			ID       string         `json:"id"`
			Score    float64        `json:"score"`
			Reranked bool           `json:"reranked"`
			Metadata map[string]any `json:"metadata"`
		} `json:"hits"`
		Reranked bool `json:"reranked"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("search --json output %q: %v", out, err)
	}
	if res.Query != "cat on mat" || len(res.Hits) != 2 || res.Hits[0].ID != "a" || !res.Reranked || !res.Hits[0].Reranked {
		t.Errorf("search result %+v: want query %q, 2 reranked hits, a first", res, "cat on mat")
	}
	code, out, _ = cli(t, "", "search", "--store", store, "--json", "--filter", `{"op":"eq","field":"kind","value":"news"}`, "cats")
	if code != 0 || !strings.Contains(out, `"id":"c"`) || strings.Contains(out, `"id":"a"`) {
		t.Errorf("filtered search: exit %d out %s", code, out)
	}
	// A malformed line names its number and indexes nothing.
	code, _, stderr = cli(t, "{\"id\":\"z\",\"text\":\"ok\"}\n{\"id\": \"y\", \"text\": \n", "index", "--store", store)
	if code != 1 || !strings.Contains(stderr, "line 2") {
		t.Errorf("malformed input: exit %d stderr %q; want exit 1 naming line 2", code, stderr)
	}
	code, out, _ = cli(t, "", "search", "--store", store, "--json", "--top-n", "10", "--candidate-k", "10", "ok")
	if code != 0 || strings.Contains(out, `"id":"z"`) {
		t.Errorf("a rejected file was partly indexed: %s", out)
	}
}

func TestIndexCSVAndBadRecords(t *testing.T) {
	dir := t.TempDir()
	store := "mem:" + filepath.Join(dir, "i.snap")
	csvFile := filepath.Join(dir, "docs.csv")
	os.WriteFile(csvFile, []byte("id,text,year:float,draft:bool\nx,\"first, with comma\",2020,true\ny,second,2021.5,false\n"), 0o644)
	if code, out, stderr := cli(t, "", "index", "--store", store, "--file", csvFile); code != 0 || !strings.Contains(out, "indexed 2") {
		t.Fatalf("csv index: exit %d %q %q", code, out, stderr)
	}
	code, out, _ := cli(t, "", "search", "--store", store, "--json", "--filter", `{"op":"range","field":"year","gt":2020.1}`, "second")
	if code != 0 || !strings.Contains(out, `"id":"y"`) || strings.Contains(out, `"id":"x"`) {
		t.Errorf("csv metadata typed: exit %d %s", code, out)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"id":"a"}`, `missing "text"`},
		{`{"text":"no id"}`, `missing "id"`},
		{`{"id":{},"text":"x"}`, `"id" must be a string or a number, got {}`},
		{"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"a\",\"text\":\"y\"}", "already on line 1"},
		{`{"id":"a","text":"x","metadata":{"m":{"nested":1}}}`, "unsupported type"},
		{`{"id":"a","text":"x","vector":[1,2]}`, "dimension"},
	} {
		code, _, stderr := cli(t, tc.in, "index", "--store", "mem:")
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("index %s: exit %d stderr %q, want %q", tc.in, code, stderr, tc.want)
		}
	}
}
