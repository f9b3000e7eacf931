package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"twostage/server"
)

// A server over the model-free stages, answering a Cohere-style rerank
// request. The zero Openers opens the config's specs with package spec, as
// `twostage serve --config FILE` does.
func Example() {
	cfg, err := server.ParseConfig([]byte(`
embedders: {default: "hash:64"}
rerankers: {default: lexical}
collections:
  docs: {store: mem}
`), func(string) string { return "" })
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := server.Open(context.Background(), cfg, server.Openers{}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	resp, err := http.Post(ts.URL+"/v2/rerank", "application/json", strings.NewReader(
		`{"model": "rerank-v3.5", "query": "red planet", "documents": ["Venus is hot", "Mars is the red planet"], "top_n": 1}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var out server.RerankResponse
	json.NewDecoder(resp.Body).Decode(&out)
	fmt.Println(resp.StatusCode, "best:", out.Results[0].Index)
	// Output:
	// 200 best: 1
}
