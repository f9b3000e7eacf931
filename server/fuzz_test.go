package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/driver"
	"twostage/embed"
	"twostage/internal/filterspec"
	"twostage/rerank"
)

// Seeds shared by the decoder fuzzers: valid requests of every endpoint, the
// shapes other APIs send, and near misses.
var fuzzSeeds = []string{
	`{"query":"red planet","documents":["Mars","Venus"]}`,
	`{"model":"rerank-v3.5","query":"q","documents":["a","b"],"top_n":1,"return_documents":true,"max_tokens_per_doc":512}`,
	`{"model":"jina-reranker-v2-base-multilingual","query":"q","documents":[{"text":"a"},"b"],"top_n":0}`,
	`{"query":"q","documents":[{"title":"no text"}]}`,
	`{"query":"q","documents":[null,1,true,[]]}`,
	`{"query":"","documents":[]}`,
	`{"query":"q","documents":["a"],"top_n":-3}`,
	`{"query":"q","documents":["a"],"top_n":1e400}`,
	`{"query":"q","collection":"docs","top_n":3,"candidate_k":10,"min_score":0.2,"filter":{"op":"and","filters":[{"op":"eq","field":"kind","value":"planet"},{"op":"range","field":"moons","gte":1}]}}`,
	`{"query":"q","filter":{"op":"not","filters":[]}}`,
	`{"query":"q","filter":{"op":"in","field":"x","values":[1,"a",null,{"k":1}]}}`,
	`{"query":"q","vector":[1,2,3],"no_rerank":true,"on_rerank_error":"degrade"}`,
	`{"documents":[{"id":"a","text":"x","metadata":{"n":1,"f":1.5,"s":"t","l":["a","b"],"b":true}}]}`,
	`{"documents":[{"id":"a","text":"x","vector":[0.1,0.2],"metadata":{"big":123456789012345678901234567890}}]}`,
	`{"ids":["a","b"]}`,
	`{"ids":[""]}`,
	`{"query":"q","documents":["a"]} trailing`,
	`[]`, `null`, `"string"`, `{`, ``, "\xff\xfe", `{"query":"\ud800","documents":["\u0000"]}`,
	// Invalid UTF-8 inside otherwise valid requests: encoding/json would
	// turn it into U+FFFD, so only the body check rejects it.
	"{\"query\":\"q\xff\",\"documents\":[\"a\"]}",
	"{\"query\":\"q\",\"documents\":[\"a\xc3\"]}",
	"{\"query\":\"q\xed\xa0\x80\"}",
	"{\"documents\":[{\"id\":\"a\xff\",\"text\":\"x\"}]}",
	"{\"ids\":[\"\xfe\"]}",
	// The decoders' limit is 8 documents: 8 pass, 9 do not.
	`{"query":"q","documents":["1","2","3","4","5","6","7","8"]}`,
	`{"query":"q","documents":["1","2","3","4","5","6","7","8","9"]}`,
	`{"documents":[{"id":"1"},{"id":"2"},{"id":"3"},{"id":"4"},{"id":"5"},{"id":"6"},{"id":"7"},{"id":"8"},{"id":"9"}]}`,
	// Filters whose answer depends on a bound's strictness.
	`{"query":"q","filter":{"op":"range","field":"moons","lt":2}}`,
	`{"query":"q","filter":{"op":"range","field":"moons","gte":2,"lte":2}}`,
	`{"query":"q","filter":{"op":"not","filters":[{"op":"in","field":"kind","values":["planet",2]}]}}`,
}

// fuzzDocs are the metadata FuzzDecodeSearch evaluates decoded filters on.
var fuzzDocs = []map[string]any{
	{"kind": "planet", "moons": int64(2)},
	{"kind": "moon", "moons": 0.5, "tags": []string{"icy", "small"}},
	{"moons": int64(79)},
	{},
}

func FuzzDecodeRerank(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeRerank(data, 8)
		if err != nil {
			checkAPIError(t, err)
			return
		}
		if req.Query == nil || strings.TrimSpace(*req.Query) == "" || !utf8.ValidString(*req.Query) {
			t.Fatalf("accepted a bad query: %q", data)
		}
		if req.Documents == nil || len(req.Documents) > 8 || (req.TopN != nil && *req.TopN < 0) {
			t.Fatalf("accepted bad documents or top_n: %q", data)
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted a body that is not valid UTF-8: %q", data)
		}
	})
}

func FuzzDecodeSearch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeSearch(data)
		if err != nil {
			checkAPIError(t, err)
			return
		}
		if strings.TrimSpace(req.Query) == "" && req.Vector == nil {
			t.Fatalf("accepted a search without query: %q", data)
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted a body that is not valid UTF-8: %q", data)
		}
		if req.Filter != nil {
			nf, err := req.Filter.Normalize()
			if err != nil {
				t.Fatalf("accepted a filter that does not normalize: %v", err)
			}
			for _, md := range fuzzDocs {
				if got, want := nf.Match(md), filterspec.Match(nf, md); got != want {
					t.Errorf("filter of %q on %v: Match = %v, the documented semantics say %v", data, md, got, want)
				}
			}
		}
	})
}

func FuzzDecodeDocuments(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, data []byte, queryID string) {
		if up, err := decodeUpsert(data, 8); err != nil {
			checkAPIError(t, err)
		} else {
			if !utf8.Valid(data) {
				t.Fatalf("accepted a body that is not valid UTF-8: %q", data)
			}
			if len(up.Documents) > 8 {
				t.Fatalf("accepted %d documents", len(up.Documents))
			}
			for _, d := range up.Documents {
				if d.ID == "" {
					t.Fatal("accepted an empty id")
				}
				if _, err := driver.NormalizeMetadata(d.Metadata); err != nil {
					t.Fatalf("accepted metadata that does not normalize: %v", err)
				}
			}
		}
		var q []string
		if queryID != "" {
			q = []string{queryID}
		}
		if del, err := decodeDelete(data, q, 8); err != nil {
			checkAPIError(t, err)
		} else if len(del.IDs) == 0 || len(del.IDs) > 8 {
			t.Fatalf("accepted %d ids", len(del.IDs))
		}
	})
}

func checkAPIError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Code == "" || ae.Message == "" {
		t.Fatalf("decoder error %v (%T): want a 4xx apiError", err, err)
	}
}

// FuzzHandler sends arbitrary bodies to every endpoint of a server over the
// model-free stages: the answer is always JSON, never a 5xx, and errors have
// the documented shape.
func FuzzHandler(f *testing.F) {
	for _, s := range fuzzSeeds {
		for route := range 5 {
			f.Add(uint8(route), []byte(s))
		}
	}
	cfg, err := ParseConfig([]byte(`
max_documents: 8
max_body_bytes: 4096
embedders: {default: "hash:16"}
rerankers: {default: lexical}
collections: {docs: {store: mem, candidate_k: 8}}
`), func(string) string { return "" })
	if err != nil {
		f.Fatal(err)
	}
	srv, err := Open(context.Background(), cfg, Openers{
		Store: func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
			return memstore.New(info.Dim, info.Metric)
		},
		Embedder: func(ctx context.Context, spec string) (twostage.Embedder, error) { return embed.NewHashing(16) },
		Reranker: func(ctx context.Context, spec string) (twostage.Reranker, error) { return rerank.NewLexical(), nil },
	}, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	routes := []struct{ method, path string }{
		{"POST", "/v1/rerank"}, {"POST", "/v2/rerank"}, {"POST", "/v1/search"},
		{"POST", "/v1/collections/docs/documents"}, {"DELETE", "/v1/collections/docs/documents"},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: response is not JSON: %q", rt.method, rt.path, rec.Body)
		}
		if rec.Code >= 400 {
			var eb ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("error body %q", rec.Body)
			}
		} else if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	})
}
