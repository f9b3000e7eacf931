package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"twostage"
	"twostage/embed"
	"twostage/rerank"
	"twostage/rerank/fallback"
	"twostage/server"
)

// TestErrorBodyForCohereClients: Cohere's clients read a top-level
// "message"; every error also carries the request id of its X-Request-Id
// header, the caller's own when it sent one.
func TestErrorBodyForCohereClients(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	r := e.do("POST", "/v2/rerank", `{"query":"q"}`, "")
	if r.status != 400 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	if got := r.errorBody(t); !strings.Contains(got.Message, `missing "documents"`) {
		t.Errorf("message %q", got.Message)
	}
	ok := e.do("POST", "/v2/rerank", `{"query":"q","documents":["a q"]}`, "")
	if ok.status != 200 || ok.header.Get("X-Request-Id") == "" || ok.header.Get("X-Request-Id") == r.header.Get("X-Request-Id") {
		t.Errorf("success: %d, X-Request-Id %q (error's %q): want a fresh id on every response", ok.status, ok.header.Get("X-Request-Id"), r.header.Get("X-Request-Id"))
	}
	for _, tt := range []struct{ sent, want string }{
		{"trace-42", "trace-42"},
		{"bad id\twith a tab", ""},
		{strings.Repeat("x", 129), ""},
	} {
		req, _ := http.NewRequest("POST", e.url+"/v1/rerank", strings.NewReader(`{"documents":["a"]}`))
		req.Header.Set("X-Request-Id", tt.sent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if (tt.want != "" && got != tt.want) || (tt.want == "" && (got == "" || got == tt.sent)) {
			t.Errorf("sent X-Request-Id %q: got %q, want %q (or a new one when empty)", tt.sent, got, tt.want)
		}
	}
}

// recorder scores with BM25 and keeps the last query and documents it saw.
type recorder struct {
	mu    sync.Mutex
	query string
	docs  []string
}

func (r *recorder) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	r.mu.Lock()
	r.query, r.docs = q, slices.Clone(docs)
	r.mu.Unlock()
	return rerank.NewLexical().Rerank(ctx, q, docs)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.docs
}

// cutter is a recorder with its own tokenizer: one token per byte.
type cutter struct {
	recorder
	calls []int // maxTokens of each CutTokens call
}

func (c *cutter) CutTokens(texts []string, maxTokens int) ([]string, []int, error) {
	c.mu.Lock()
	c.calls = append(c.calls, maxTokens)
	c.mu.Unlock()
	out, n := make([]string, len(texts)), make([]int, len(texts))
	for i, t := range texts {
		if maxTokens > 0 && len(t) > maxTokens {
			t = t[:maxTokens]
		}
		out[i], n[i] = t, len(t)
	}
	return out, n, nil
}

// rerankReply is the union of the Jina and Cohere answers, documents kept
// raw so a test sees exactly what came back.
type rerankReply struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Results []struct {
		Index          int             `json:"index"`
		RelevanceScore float64         `json:"relevance_score"`
		Document       json.RawMessage `json:"document"`
	} `json:"results"`
	Usage *struct {
		TotalTokens int `json:"total_tokens"`
	} `json:"usage"`
	Meta struct {
		BilledUnits struct {
			SearchUnits int `json:"search_units"`
		} `json:"billed_units"`
	} `json:"meta"`
}

func (e *testEnv) rerank(t *testing.T, path string, body any) rerankReply {
	t.Helper()
	r := e.do("POST", path, mustJSON(body), "")
	if r.status != 200 {
		t.Fatalf("%s %s: %d %s", path, mustJSON(body), r.status, r.body)
	}
	var out rerankReply
	r.decode(t, &out)
	if out.ID == "" || out.ID != r.header.Get("X-Request-Id") {
		t.Errorf("response id %q, want the X-Request-Id %q", out.ID, r.header.Get("X-Request-Id"))
	}
	return out
}

// TestJinaRerank: Jina's clients read results[i].document.text (returned
// unless return_documents is false), usage.total_tokens, and the model they
// asked for.
func TestJinaRerank(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	const model = "jina-reranker-v2-base-multilingual"
	docs := []string{"Venus", "Mars is the red planet."}
	got := e.rerank(t, "/v1/rerank", map[string]any{"model": model, "query": "red planet", "documents": docs})
	if got.Model != model {
		t.Errorf("model %q, want the requested %q", got.Model, model)
	}
	if len(got.Results) != 2 || got.Results[0].Index != 1 {
		t.Fatalf("results %+v", got.Results)
	}
	for _, res := range got.Results {
		var d struct{ Text string }
		if err := json.Unmarshal(res.Document, &d); err != nil || d.Text != docs[res.Index] {
			t.Errorf("result %d document %s, want {\"text\":%q}", res.Index, res.Document, docs[res.Index])
		}
	}
	// The estimate for model-free rerankers counts words and punctuation:
	// query 2 per document, "Venus" 1, "Mars is the red planet." 6.
	if got.Usage == nil || got.Usage.TotalTokens != 2*2+1+6 {
		t.Errorf("usage %+v, want total_tokens %d", got.Usage, 2*2+1+6)
	}
	off := e.rerank(t, "/v1/rerank", map[string]any{"model": model, "query": "red planet", "documents": docs, "return_documents": false})
	for _, res := range off.Results {
		if res.Document != nil {
			t.Errorf("return_documents false: document %s", res.Document)
		}
	}
	// Cohere v2 has no documents in its results unless asked.
	v2 := e.rerank(t, "/v2/rerank", map[string]any{"model": "rerank-v3.5", "query": "red planet", "documents": docs})
	if v2.Model != "rerank-v3.5" || v2.Results[0].Document != nil {
		t.Errorf("v2: model %q, document %s", v2.Model, v2.Results[0].Document)
	}
	// No model asked: the configured reranker's name.
	if got := e.rerank(t, "/v1/rerank", map[string]any{"query": "red planet", "documents": docs}); got.Model != "default" {
		t.Errorf("no model asked: %q, want default", got.Model)
	}
}

// TestCohereObjectDocuments: Cohere v1 object documents come back whole,
// and rank_fields chooses (and orders) the fields that are ranked.
func TestCohereObjectDocuments(t *testing.T) {
	rec := &recorder{}
	e := start(t, baseConfig+"rerank: {reranker: rec}\n", nil, map[string]twostage.Reranker{"rec": rec})
	docs := []map[string]any{
		{"title": "Mars", "text": "the red planet", "year": float64(1610), "tags": []any{"planet"}},
		{"text": "a hot planet", "title": "Venus", "moons": nil},
	}
	got := e.rerank(t, "/v1/rerank", map[string]any{"query": "red planet", "documents": docs, "return_documents": true})
	if len(got.Results) != 2 {
		t.Fatalf("results %+v", got.Results)
	}
	for _, res := range got.Results {
		// Compared as canonical JSON (encoding/json writes map keys
		// sorted): the same fields with the same values, in any order.
		var back map[string]any
		if err := json.Unmarshal(res.Document, &back); err != nil || mustJSON(back) != mustJSON(docs[res.Index]) {
			t.Errorf("document %d came back as %s, want %v", res.Index, res.Document, docs[res.Index])
		}
	}
	if want := []string{"the red planet", "a hot planet"}; !slices.Equal(rec.seen(), want) {
		t.Errorf("ranked %q, want the text fields %q", rec.seen(), want)
	}

	noText := []map[string]any{{"title": "Venus", "body": "hot"}, {"title": "Mars", "body": "red", "year": 1610}}
	e.rerank(t, "/v1/rerank", map[string]any{"query": "q", "documents": []map[string]any{{"a: b": "c: d"}}, "rank_fields": []string{"a: b"}})
	if want := []string{"c: d"}; !slices.Equal(rec.seen(), want) {
		t.Errorf("one rank field with ': ' in its name ranked %q, want %q", rec.seen(), want)
	}
	got = e.rerank(t, "/v1/rerank", map[string]any{"query": "venus", "documents": noText, "rank_fields": []string{"title"}})
	if got.Results[0].Index != 0 {
		t.Errorf("rank_fields [title]: order %+v", got.Results)
	}
	if want := []string{"Venus", "Mars"}; !slices.Equal(rec.seen(), want) {
		t.Errorf("rank_fields [title] ranked %q, want %q", rec.seen(), want)
	}
	e.rerank(t, "/v1/rerank", map[string]any{"query": "venus", "documents": noText, "rank_fields": []string{"body", "year", "title"}})
	if want := []string{"body: hot\ntitle: Venus", "body: red\nyear: 1610\ntitle: Mars"}; !slices.Equal(rec.seen(), want) {
		t.Errorf("rank_fields [body year title] ranked %q, want %q", rec.seen(), want)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"no text, no rank_fields", `{"query":"q","documents":[{"title":"x"}]}`, `no "text"`},
		{"no rank field present", `{"query":"q","documents":[{"title":"x"},{"body":"y"}],"rank_fields":["title"]}`, "document 1"},
		{"text not a string", `{"query":"q","documents":[{"text":5}]}`, `"text"`},
		{"rank_fields empty name", `{"query":"q","documents":[{"text":"x"}],"rank_fields":[""]}`, "rank_fields"},
	} {
		r := e.do("POST", "/v1/rerank", tt.body, "")
		if r.status != 400 || !strings.Contains(r.errorBody(t).Message, tt.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", tt.name, r.status, r.body, tt.want)
		}
	}
}

// TestCohereBillingAndLimits: one search unit per 100 documents;
// max_tokens_per_doc cuts every document; an empty list, top_n 0 and
// max_tokens_per_doc 0 are 400s.
func TestCohereBillingAndLimits(t *testing.T) {
	rec := &recorder{}
	cut := &cutter{}
	e := start(t, "max_documents: 1000\nrerankers: {default: rec, cut: cut}\n",
		nil, map[string]twostage.Reranker{"rec": rec, "cut": cut})
	for _, tt := range []struct{ docs, units int }{{1, 1}, {100, 1}, {101, 2}, {250, 3}, {1000, 10}} {
		docs := make([]string, tt.docs)
		for i := range docs {
			docs[i] = fmt.Sprintf("doc %d", i)
		}
		got := e.rerank(t, "/v2/rerank", map[string]any{"query": "doc", "documents": docs})
		if got.Meta.BilledUnits.SearchUnits != tt.units {
			t.Errorf("%d documents: %d search units, want %d", tt.docs, got.Meta.BilledUnits.SearchUnits, tt.units)
		}
	}

	docs := []string{"one two, three four five", "Mars", "  leading space, then words"}
	e.rerank(t, "/v2/rerank", map[string]any{"query": "q", "documents": docs, "max_tokens_per_doc": 3})
	if want := []string{"one two,", "Mars", "  leading space,"}; !slices.Equal(rec.seen(), want) {
		t.Errorf("model-free cut to 3 tokens: %q, want %q", rec.seen(), want)
	}
	e.rerank(t, "/v2/rerank", map[string]any{"query": "q", "documents": []string{"日本語のテキスト", "naïve café"}, "max_tokens_per_doc": 2})
	if want := []string{"日本", "naïve café"}; !slices.Equal(rec.seen(), want) {
		t.Errorf("model-free cut of ideographs and accents: %q, want %q", rec.seen(), want)
	}
	got := e.rerank(t, "/v1/rerank", map[string]any{"model": "cut", "query": "q", "documents": docs, "max_tokens_per_doc": 4})
	if want := []string{"one ", "Mars", "  le"}; !slices.Equal(cut.seen(), want) {
		t.Errorf("cut with the reranker's tokenizer: %q, want %q", cut.seen(), want)
	}
	if !slices.Contains(cut.calls, 4) {
		t.Errorf("CutTokens calls %v, want one with 4", cut.calls)
	}
	// Inside a fallback chain, the first stage with a tokenizer cuts.
	chain, err := fallback.New(fallback.Stage{Name: "rec", Reranker: &recorder{}}, fallback.Stage{Name: "cut", Reranker: cut})
	if err != nil {
		t.Fatal(err)
	}
	ce := start(t, "rerankers: {default: chain}\n", nil, map[string]twostage.Reranker{"chain": chain})
	ce.rerank(t, "/v2/rerank", map[string]any{"query": "q", "documents": docs, "max_tokens_per_doc": 2})
	if !slices.Contains(cut.calls, 2) {
		t.Errorf("chain: CutTokens calls %v, want one with 2", cut.calls)
	}
	// usage counts what was ranked: the query (1 token a byte) per document
	// and each cut document.
	if want := 3*1 + 4 + 4 + 4; got.Usage == nil || got.Usage.TotalTokens != want {
		t.Errorf("usage %+v, want %d", got.Usage, want)
	}
	// Returned documents are the ones sent, not the cut ones.
	var d struct{ Text string }
	if json.Unmarshal(got.Results[0].Document, &d); d.Text != docs[got.Results[0].Index] {
		t.Errorf("returned document %s, want the uncut text", got.Results[0].Document)
	}

	for _, tt := range []struct{ name, body, want string }{
		{"empty documents", `{"query":"q","documents":[]}`, "documents"},
		{"top_n 0", `{"query":"q","documents":["a"],"top_n":0}`, "top_n"},
		{"max_tokens_per_doc 0", `{"query":"q","documents":["a"],"max_tokens_per_doc":0}`, "max_tokens_per_doc"},
		{"max_tokens_per_doc negative", `{"query":"q","documents":["a"],"max_tokens_per_doc":-5}`, "max_tokens_per_doc"},
	} {
		for _, path := range []string{"/v1/rerank", "/v2/rerank"} {
			r := e.do("POST", path, tt.body, "")
			if r.status != 400 || !strings.Contains(r.errorBody(t).Message, tt.want) {
				t.Errorf("%s %s: %d %s, want 400 naming %q", path, tt.name, r.status, r.body, tt.want)
			}
		}
	}
}

// TestDeleteReportsAndVectorSearch: DELETE names the ids it deleted and the
// ones that were not there; a search by vector alone has no query text to
// rerank with, so it comes back in first-stage order, not marked reranked.
func TestDeleteReportsAndVectorSearch(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	e.index("docs")
	r := e.do("DELETE", "/v1/collections/docs/documents?id=phobos", `{"ids":["tomato","nosuch","tomato"]}`, "")
	var del struct {
		Collection string    `json:"collection"`
		Deleted    []string  `json:"deleted"`
		NotFound   *[]string `json:"not_found"`
	}
	r.decode(t, &del)
	if r.status != 200 || !slices.Equal(del.Deleted, []string{"tomato", "phobos"}) || del.NotFound == nil || !slices.Equal(*del.NotFound, []string{"nosuch"}) {
		t.Errorf("delete: %d %s, want deleted [tomato phobos], not_found [nosuch]", r.status, r.body)
	}
	r = e.do("DELETE", "/v1/collections/docs/documents", `{"ids":["mars"]}`, "")
	if r.status != 200 || !strings.Contains(string(r.body), `"deleted":["mars"],"not_found":[]`) {
		t.Errorf("delete mars: %d %s", r.status, r.body)
	}

	emb, err := embed.NewHashing(64)
	if err != nil {
		t.Fatal(err)
	}
	vec, err := emb.EmbedQuery(context.Background(), "red planet")
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/v1/search", mustJSON(map[string]any{"vector": vec, "top_n": 2}), "")
	var s server.SearchResponse
	r.decode(t, &s)
	if r.status != 200 || s.Reranked || len(s.Hits) != 2 {
		t.Fatalf("vector search: %d %s, want 2 hits, not reranked", r.status, r.body)
	}
	for i, h := range s.Hits {
		if h.Reranked || h.Score != h.RetrievalScore || (i > 0 && h.RetrievalScore > s.Hits[i-1].RetrievalScore) {
			t.Errorf("hit %d %+v: want first-stage score and order, not reranked", i, h)
		}
	}
	if s.Timings.RerankMS != 0 {
		t.Errorf("rerank ran for %v ms", s.Timings.RerankMS)
	}
}
