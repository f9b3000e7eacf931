package server_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"twostage"
	"twostage/internal/leaktest"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

// tinyEngine opens the ONNX engine on a tiny zerank model.
func tinyEngine(t *testing.T) *rerank.Engine {
	t.Helper()
	testassets.ONNXRuntime(t)
	e, err := rerank.Open(tinymodel.Model(t, modeldir.FamilyZerank), &rerank.EngineOptions{MaxLength: 128})
	if err != nil {
		t.Fatal(err)
	}
	leaktest.Close(t, e)
	return e
}

var longText = strings.Repeat("Rerankers read the query and the document together. ", 5) +
	"Über Käse: 日本語の文書。 " + strings.Repeat("Chunked scoring keeps the best window. ", 6)

// TestRerankExtensionFields sends instruction, long_documents, the chunk
// sizes and max_tokens_per_query to /v2/rerank and checks the scores and
// chunk offsets against the engine called directly with the same options.
func TestRerankExtensionFields(t *testing.T) {
	eng := tinyEngine(t)
	e := start(t, "rerankers: {default: zr}\n", nil, map[string]twostage.Reranker{"zr": eng})
	docs := []string{longText, "short", "Chunked scoring keeps the best window."}
	query := "how does chunked scoring work for rerankers"
	body := map[string]any{"query": query, "documents": docs, "instruction": "prefer definitions",
		"long_documents": "chunk", "chunk_tokens": 16, "chunk_overlap": 4, "max_chunks": 3, "max_tokens_per_query": 3}
	var got struct {
		Results []struct {
			Index          int            `json:"index"`
			RelevanceScore float64        `json:"relevance_score"`
			RawScore       float64        `json:"raw_score"`
			Chunk          *twostage.Span `json:"chunk"`
		} `json:"results"`
	}
	r := e.do("POST", "/v2/rerank", mustJSON(body), "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r.decode(t, &got)
	cq, _, err := eng.CutTokens([]string{query}, 3)
	if err != nil {
		t.Fatal(err)
	}
	want, err := eng.RerankWith(context.Background(), cq[0], docs, twostage.RerankOptions{Instruction: "prefer definitions",
		LongDocuments: twostage.Chunk, ChunkTokens: 16, ChunkOverlap: 4, MaxChunks: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != len(docs) {
		t.Fatalf("%d results, want %d", len(got.Results), len(docs))
	}
	for _, res := range got.Results {
		w := want[res.Index]
		if math.Abs(res.RawScore-w.Raw) > 1e-6 || res.Chunk == nil || *res.Chunk != *w.Chunk {
			t.Errorf("doc %d: raw %v chunk %v, want %v %v", res.Index, res.RawScore, res.Chunk, w.Raw, *w.Chunk)
		}
	}
	if c := want[0].Chunk; c.End-c.Start >= len([]rune(longText)) {
		t.Errorf("long doc chunk %+v covers the whole text; want one window", *c)
	}
	// Without the extension fields the response has no chunk.
	r = e.do("POST", "/v2/rerank", mustJSON(map[string]any{"query": query, "documents": docs}), "")
	if r.status != 200 || strings.Contains(string(r.body), `"chunk"`) {
		t.Errorf("plain request: %d %s, want 200 without chunk", r.status, r.body)
	}
	for _, tt := range []struct{ name, body, want string }{
		{"unknown strategy", `{"query":"q","documents":["a"],"long_documents":"split"}`, "long documents"},
		{"overlap not below size", `{"query":"q","documents":["a"],"long_documents":"chunk","chunk_tokens":4,"chunk_overlap":4}`, "overlap"},
		{"negative max_chunks", `{"query":"q","documents":["a"],"max_chunks":-1}`, "max chunks"},
		{"max_tokens_per_query 0", `{"query":"q","documents":["a"],"max_tokens_per_query":0}`, "max_tokens_per_query"},
	} {
		r := e.do("POST", "/v2/rerank", tt.body, "")
		if r.status != 400 || !strings.Contains(r.errorBody(t).Message, tt.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", tt.name, r.status, r.body, tt.want)
		}
	}
	// A reranker without per-call options refuses them rather than
	// ignoring them.
	lex := start(t, baseConfig, nil, nil)
	r = lex.do("POST", "/v2/rerank", `{"query":"q","documents":["a"],"instruction":"x"}`, "")
	if r.status != 400 || r.errorBody(t).Code != "unsupported" {
		t.Errorf("lexical reranker with an instruction: %d %s, want 400 unsupported", r.status, r.body)
	}
}

// TestSearchExtensionFields sends the rerank options to /v1/search and
// checks the hits' rerank scores and rerank_chunk against the engine.
func TestSearchExtensionFields(t *testing.T) {
	eng := tinyEngine(t)
	e := start(t, baseConfig+"  long:\n    store: mem\n    reranker: zr\n", nil, map[string]twostage.Reranker{"zr": eng})
	docs := []twostage.Document{{ID: "long", Text: longText}, {ID: "short", Text: "Chunked scoring keeps the best window."}}
	if r := e.do("POST", "/v1/collections/long/documents", mustJSON(map[string]any{"documents": docs}), ""); r.status != 200 {
		t.Fatalf("upsert: %d %s", r.status, r.body)
	}
	body := map[string]any{"query": "chunked scoring", "collection": "long", "top_n": 2, "long_documents": "chunk",
		"chunk_tokens": 12, "max_chunks": 4, "instruction": "prefer definitions", "max_tokens_per_doc": 40, "max_tokens_per_query": 2}
	r := e.do("POST", "/v1/search", mustJSON(body), "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got struct {
		Hits     []twostage.Hit `json:"hits"`
		Reranked bool           `json:"reranked"`
	}
	r.decode(t, &got)
	if !got.Reranked || len(got.Hits) != 2 {
		t.Fatalf("reranked %v, %d hits; want 2 reranked hits: %s", got.Reranked, len(got.Hits), r.body)
	}
	texts := map[string]string{"long": longText, "short": docs[1].Text}
	for _, h := range got.Hits {
		want, err := eng.RerankWith(context.Background(), "chunked scoring", []string{texts[h.ID]}, twostage.RerankOptions{
			LongDocuments: twostage.Chunk, ChunkTokens: 12, MaxChunks: 4, Instruction: "prefer definitions", MaxTokensPerDoc: 40, MaxTokensPerQuery: 2})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(h.RerankRaw-want[0].Raw) > 1e-6 || h.RerankChunk == nil || *h.RerankChunk != *want[0].Chunk {
			t.Errorf("hit %s: raw %v chunk %v, want %v %v", h.ID, h.RerankRaw, h.RerankChunk, want[0].Raw, *want[0].Chunk)
		}
	}
	for _, tt := range []struct{ name, body, want string }{
		{"unknown strategy", `{"query":"q","collection":"long","long_documents":"split"}`, "long documents"},
		{"max_tokens_per_doc 0", `{"query":"q","collection":"long","max_tokens_per_doc":0}`, "max_tokens_per_doc"},
		{"lexical with an instruction", `{"query":"red planet","collection":"docs","instruction":"x"}`, "per-call options"},
	} {
		e.index("docs")
		r := e.do("POST", "/v1/search", tt.body, "")
		if r.status != 400 || !strings.Contains(r.errorBody(t).Message, tt.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", tt.name, r.status, r.body, tt.want)
		}
	}
}
