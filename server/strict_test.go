package server_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"twostage"
	"twostage/rerank"
)

// TestUnknownFieldsRefused: twostage's own endpoints answer a field they do
// not define (a typo, at the top level or inside a document or a filter)
// with 400 invalid_input naming it, and a near name when there is one,
// rather than ignore it: {"topn": 3} gave the default top_n, and a
// document's "metdata" was dropped. Nothing is written.
func TestUnknownFieldsRefused(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	e.index("docs")
	for _, tc := range []struct {
		name, method, path, body string
		want                     []string // in the message
	}{
		{"search top level", "POST", "/v1/search", `{"query":"red planet","topn":3}`, []string{`unknown field "topn"`, `"top_n"`}},
		{"search filter", "POST", "/v1/search", `{"query":"planet","filter":{"op":"range","field":"moons","gte":1,"lte_":3}}`, []string{`unknown field "lte_"`, `"lte"`}},
		{"search no near name", "POST", "/v1/search", `{"query":"planet","colour":"red"}`, []string{`unknown field "colour"`}},
		{"upsert document", "POST", "/v1/collections/docs/documents", `{"documents":[{"id":"new","text":"a new doc","metdata":{"kind":"x"}}]}`, []string{`document 0 ("new"): unknown field "metdata"`, `"metadata"`}},
		{"upsert top level", "POST", "/v1/collections/docs/documents", `{"documents":[{"id":"new","text":"a new doc"}],"collection":"docs"}`, []string{`unknown field "collection"`}},
		{"delete", "DELETE", "/v1/collections/docs/documents", `{"ids":["mars"],"id":["venus"]}`, []string{`unknown field "id"`, `"ids"`}},
		{"rerank v1 typo", "POST", "/v1/rerank", `{"query":"q","documents":["a q"],"topn":1}`, []string{`unknown field "topn"`, `"top_n"`}},
		{"rerank v2 voyage top_k", "POST", "/v2/rerank", `{"query":"q","documents":["a q"],"top_k":1}`, []string{`unknown field "top_k"`, `"top_n"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := e.do(tc.method, tc.path, tc.body, "").invalidInput(t, tc.want...)
			if strings.Contains(tc.name, "search no near name") && strings.Contains(msg, "did you mean") {
				t.Errorf("message %q suggests a name for colour", msg)
			}
		})
	}
	// Nothing was written or deleted by the refused requests.
	r := e.do("DELETE", "/v1/collections/docs/documents", `{"ids":["new","mars","venus"]}`, "")
	if r.status != 200 || !strings.Contains(string(r.body), `"deleted":["mars","venus"],"not_found":["new"]`) {
		t.Errorf("after the refused requests: %d %s, want mars and venus still there and no new", r.status, r.body)
	}
}

// optsRecorder is a lexical reranker that takes per-call options and
// keeps the last ones it was given.
type optsRecorder struct {
	mu   sync.Mutex
	opts []twostage.RerankOptions
}

func (o *optsRecorder) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	return o.RerankWith(ctx, q, docs, twostage.RerankOptions{})
}

func (o *optsRecorder) RerankWith(ctx context.Context, q string, docs []string, opts twostage.RerankOptions) ([]twostage.Score, error) {
	o.mu.Lock()
	o.opts = append(o.opts, opts)
	o.mu.Unlock()
	return rerank.NewLexical().Rerank(ctx, q, docs)
}

func (o *optsRecorder) last() twostage.RerankOptions {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opts[len(o.opts)-1]
}

// TestRerankVendorFields: every field the Cohere v1, Cohere v2 and Jina
// rerank APIs document is accepted (null as if left out); Cohere's
// max_chunks_per_doc is honoured as long_documents "chunk" with max_chunks,
// and refused where it contradicts the request's own options.
func TestRerankVendorFields(t *testing.T) {
	rec := &optsRecorder{}
	e := start(t, "rerankers: {default: rec}\n", nil, map[string]twostage.Reranker{"rec": rec})
	for _, tc := range []struct {
		name, path, body string
		want             twostage.RerankOptions
	}{
		{"cohere v1", "/v1/rerank", `{"model":"rerank-english-v3.0","query":"red q","documents":[{"text":"a q","title":"t"},"b"],"top_n":1,"rank_fields":["text"],"return_documents":true}`, twostage.RerankOptions{}},
		{"cohere v1 nulls", "/v1/rerank", `{"model":null,"query":"q","documents":["a q"],"top_n":null,"rank_fields":null,"return_documents":null,"max_chunks_per_doc":null}`, twostage.RerankOptions{}},
		{"cohere v2", "/v2/rerank", `{"model":"rerank-v3.5","query":"q","documents":["a q","b"],"top_n":2,"max_tokens_per_doc":4096,"priority":0}`, twostage.RerankOptions{}},
		{"cohere v2 older sdk", "/v2/rerank", `{"model":"rerank-v3.5","query":"q","documents":["a q"],"top_n":1,"return_documents":false,"rank_fields":null,"max_chunks_per_doc":null}`, twostage.RerankOptions{}},
		{"jina", "/v1/rerank", `{"model":"jina-reranker-v2-base-multilingual","query":"q","documents":["a q"],"top_n":1,"return_documents":false}`, twostage.RerankOptions{}},
		{"max_chunks_per_doc", "/v1/rerank", `{"query":"q","documents":["a q"],"max_chunks_per_doc":3}`, twostage.RerankOptions{LongDocuments: twostage.Chunk, MaxChunks: 3}},
		{"max_chunks_per_doc with chunk", "/v1/rerank", `{"query":"q","documents":["a q"],"max_chunks_per_doc":3,"long_documents":"chunk","max_chunks":3,"chunk_tokens":16}`, twostage.RerankOptions{LongDocuments: twostage.Chunk, MaxChunks: 3, ChunkTokens: 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, tc.body, "")
			if r.status != 200 {
				t.Fatalf("%s: %d %s, want 200", tc.body, r.status, r.body)
			}
			if got := rec.last(); got != tc.want {
				t.Errorf("options %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ body, want string }{
		{`{"query":"q","documents":["a"],"max_chunks_per_doc":0}`, `"max_chunks_per_doc" 0: want at least 1`},
		{`{"query":"q","documents":["a"],"max_chunks_per_doc":3,"long_documents":"truncate"}`, `"max_chunks_per_doc" asks for "long_documents": "chunk"`},
		{`{"query":"q","documents":["a"],"max_chunks_per_doc":3,"max_chunks":4}`, `"max_chunks_per_doc" 3 and "max_chunks" 4 differ`},
	} {
		t.Run(tc.body, func(t *testing.T) { e.do("POST", "/v1/rerank", tc.body, "").invalidInput(t, tc.want) })
	}
}

// TestMinScoreWithoutRerank: min_score judges rerank scores, so with
// no_rerank (or on a collection without a reranker, or by vector alone)
// it is a 400 naming both rather than ignored.
func TestMinScoreWithoutRerank(t *testing.T) {
	e := start(t, baseConfig+"  plain:\n    store: mem\n    reranker: none\n", nil, nil)
	e.index("docs")
	vec := `[` + strings.TrimSuffix(strings.Repeat("0.125,", 64), ",") + `]`
	for _, tc := range []struct{ body, want string }{
		{`{"query":"red planet","collection":"docs","no_rerank":true,"min_score":0.5}`, `"min_score" 0.5 with "no_rerank"`},
		{`{"query":"red planet","collection":"plain","min_score":0.5}`, "min score 0.5"},
		{`{"vector":` + vec + `,"collection":"docs","min_score":0.5}`, "min score 0.5"},
	} {
		t.Run(tc.body, func(t *testing.T) { e.do("POST", "/v1/search", tc.body, "").invalidInput(t, tc.want) })
	}
	if r := e.do("POST", "/v1/search", `{"query":"red planet","collection":"docs","no_rerank":true,"min_score":0}`, ""); r.status != 200 {
		t.Errorf("no_rerank with min_score 0: %d %s, want 200", r.status, r.body)
	}
}

// TestRerankOptionsWithoutRerank: rerank options on a search with
// no_rerank are a 400 naming them, not ignored.
func TestRerankOptionsWithoutRerank(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	e.index("docs")
	e.do("POST", "/v1/search", `{"query":"red planet","no_rerank":true,"instruction":"x","max_tokens_per_doc":8}`, "").
		invalidInput(t, `"instruction", "max_tokens_per_doc" with "no_rerank"`)
}

// TestMaxChunksPerDocWithoutOptions: Cohere v1's max_chunks_per_doc caps
// the chunks a long document is scored in. A reranker that takes no
// per-call options (lexical, a remote API) does not chunk here, so a Cohere
// v1 client that sends it is served, with the scores it gets without it;
// twostage's own options beside it are still refused there.
func TestMaxChunksPerDocWithoutOptions(t *testing.T) {
	e := start(t, baseConfig, nil, nil)
	docs := `"documents":["the red planet mars","a blue planet","red red wine"]`
	plain := e.do("POST", "/v1/rerank", `{"model":"rerank-english-v3.0","query":"red planet",`+docs+`}`, "")
	capped := e.do("POST", "/v1/rerank", `{"model":"rerank-english-v3.0","query":"red planet",`+docs+`,"max_chunks_per_doc":10}`, "")
	if plain.status != 200 || capped.status != 200 {
		t.Fatalf("without max_chunks_per_doc %d %s; with it %d %s; want 200 both", plain.status, plain.body, capped.status, capped.body)
	}
	results := func(b []byte) string { // the answer less its random id
		s := string(b)
		return s[strings.Index(s, `"results"`):]
	}
	if results(capped.body) != results(plain.body) {
		t.Errorf("with max_chunks_per_doc %s, want as without %s", capped.body, plain.body)
	}
	r := e.do("POST", "/v1/rerank", `{"query":"red planet",`+docs+`,"max_chunks_per_doc":10,"instruction":"x"}`, "")
	if got := r.errorBody(t); r.status != 400 || got.Code != "unsupported" {
		t.Errorf("max_chunks_per_doc with instruction on lexical: %d %s, want 400 unsupported", r.status, r.body)
	}
}

// nanReranker scores every document NaN, as a broken model might.
type nanReranker struct{}

func (nanReranker) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	out := make([]twostage.Score, len(docs))
	for i := range out {
		out[i].Score = math.NaN()
	}
	return out, nil
}

// TestRerankNaNScores: a reranker's NaN score is its failure, 503
// unavailable on the rerank endpoint as on a search (the cause goes to the
// log), not a 500 from the JSON encoder.
func TestRerankNaNScores(t *testing.T) {
	e := start(t, "rerankers: {default: nan}\n", nil, map[string]twostage.Reranker{"nan": nanReranker{}})
	r := e.do("POST", "/v1/rerank", `{"query":"q","documents":["a q","b"]}`, "")
	if got := r.errorBody(t); r.status != 503 || got.Code != "unavailable" {
		t.Errorf("%d %s, want 503 unavailable", r.status, r.body)
	}
}
