package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"twostage/embed"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// textsJSONL returns the JSON lines input of the embed and rerank commands:
// one {"text": ...} object a text, with the extra fields, each followed by
// a blank line (the commands skip blank lines).
func textsJSONL(texts []string, extra map[string]string) string {
	var b strings.Builder
	for _, s := range texts {
		rec := map[string]string{"text": s}
		maps.Copy(rec, extra)
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteString("\n\n")
	}
	return b.String()
}

func TestEmbedCommand(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyBertEmbedding)
	texts := []string{"a short text", "", "a much longer text about machine learning and vector search engines", "ünïcode 🙂"}
	in := textsJSONL(texts, map[string]string{"id": "ignored"})
	code, out, stderr := cli(t, in, "embed", "--model", dir, "--json", "--batch", "3")
	if code != 0 {
		t.Fatalf("embed: exit %d: %s", code, stderr)
	}
	e, err := embed.NewONNX(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	want, err := e.EmbedDocuments(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d output lines for %d inputs:\n%s", len(lines), len(texts), out)
	}
	for i, l := range lines {
		var rec struct {
			Embedding []float32 `json:"embedding"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		if len(rec.Embedding) != e.Dim() {
			t.Fatalf("line %d: %d dims, want %d", i+1, len(rec.Embedding), e.Dim())
		}
		for k := range rec.Embedding {
			if math.Abs(float64(rec.Embedding[k]-want[i][k])) > 1e-6 {
				t.Fatalf("line %d (%q) differs from the library's embedding at %d", i+1, texts[i], k)
			}
		}
	}
	// The human summary: one line per input, with dimension and norm.
	code, out, _ = cli(t, in, "embed", "--model", dir)
	if code != 0 || strings.Count(out, "\n") != len(texts) || !strings.Contains(out, "dim 32\tnorm 1.0000") {
		t.Errorf("summary output (exit %d):\n%s", code, out)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"", []string{"embed"}, 2, "--model DIR is required"},
		{"{\"text\": 1}\n", []string{"embed", "--model", dir}, 2, "line 1"},
		{"{\"txt\": \"x\"}\n", []string{"embed", "--model", dir}, 2, `unknown field "txt" (did you mean "text"?)`},
		{"{\"id\": \"x\"}\n", []string{"embed", "--model", dir}, 2, `missing "text"`},
		{"", []string{"embed", "--model", filepath.Join(t.TempDir(), "none")}, 1, "not found"},
		{"", []string{"embed", "--embedder", "onnx:" + dir + ",pooling=max"}, 1, "pooling"},
		{"", []string{"embed", "--embedder", "onnx:" + dir + ",colour=red"}, 2, `unknown option "colour"`},
		{"", []string{"embed", "--embedder", "onnx:" + dir + ",normalize=maybe"}, 2, "normalize"},
		{"", []string{"embed", "--model", dir, "--embedder", "hash"}, 2, "not both"},
		{"", []string{"embed", "--embedder", "openai:http://127.0.0.1:1"}, 2, "missing model=NAME"},
		{"", []string{"embed", "--embedder", "tei:http://127.0.0.1:1,timeout=soon"}, 2, "timeout"},
	} {
		code, _, stderr := cli(t, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("twostage %q: exit %d stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
}

// TestIndexSearchONNX: index and search take --embedder onnx:DIR; a
// document's own text finds it first.
func TestIndexSearchONNX(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyBertEmbedding)
	store := "mem:" + filepath.Join(t.TempDir(), "index.snap")
	emb := "onnx:" + dir + ",query_prefix=,passage_prefix="
	docs := `{"id": "a", "text": "the cat sat on the mat"}
{"id": "b", "text": "dogs chase cats in the park"}
{"id": "c", "text": "stock markets fell sharply today"}
`
	code, out, stderr := cli(t, docs, "index", "--store", store, "--embedder", emb)
	if code != 0 || !strings.Contains(out, "indexed 3 documents") {
		t.Fatalf("index: exit %d out %q err %q", code, out, stderr)
	}
	for id, q := range map[string]string{"a": "the cat sat on the mat", "c": "stock markets fell sharply today"} {
		code, out, stderr = cli(t, "", "search", "--store", store, "--embedder", emb, "--no-rerank", "--json", "--top-n", "1", q)
		if code != 0 || !strings.Contains(out, fmt.Sprintf(`"id":%q`, id)) {
			t.Errorf("search %q: exit %d out %s err %s; want hit %s", q, code, out, stderr, id)
		}
	}
}

// TestOpenAIScheme: the openai scheme reads its key from the environment
// and indexes through the API.
func TestOpenAIScheme(t *testing.T) {
	t.Setenv("TWOSTAGE_EMBED_API_KEY", "sk-from-env")
	t.Setenv("OPENAI_API_KEY", "sk-not-this-one")
	var mu sync.Mutex
	var auths, models []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if r.URL.Path != "/v1/embeddings" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"error":{"message":"bad"}}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		models = append(models, req.Model)
		mu.Unlock()
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		for i, s := range req.Input {
			data = append(data, item{"embedding", i, []float32{float32(len(s)), 1, float32(strings.Count(s, "a"))}})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model})
	}))
	defer srv.Close()
	store := "mem:" + filepath.Join(t.TempDir(), "index.snap")
	emb := "openai:" + srv.URL + "/v1,model=nomic-embed-text,batch=2"
	code, out, stderr := cli(t, `{"id":"x","text":"aaa"}`+"\n"+`{"id":"y","text":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}`+"\n", "index", "--store", store, "--embedder", emb)
	if code != 0 || !strings.Contains(out, "indexed 2 documents") {
		t.Fatalf("index: exit %d out %q err %q", code, out, stderr)
	}
	code, out, stderr = cli(t, "", "search", "--store", store, "--embedder", emb, "--no-rerank", "--json", "--top-n", "1", "aaaa")
	if code != 0 || !strings.Contains(out, `"id":"x"`) {
		t.Errorf("search: exit %d out %s err %s", code, out, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, a := range auths {
		if a != "Bearer sk-from-env" || models[i] != "nomic-embed-text" {
			t.Fatalf("request %d: Authorization %q model %q", i, a, models[i])
		}
	}
	if len(auths) < 3 {
		t.Errorf("%d requests, want probe + index + query", len(auths))
	}
}
