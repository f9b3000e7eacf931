package remote

import (
	"encoding/json"
	"testing"
)

// TestEncode pins each API's request body, field for field.
func TestEncode(t *testing.T) {
	docs := []string{"a", "b"}
	tests := []struct {
		kind Kind
		opts Options
		want string
	}{
		{Cohere, Options{Model: "rerank-v3.5"}, `{"model":"rerank-v3.5","query":"q","documents":["a","b"]}`},
		{VLLM, Options{}, `{"query":"q","documents":["a","b"]}`},
		{ZeroEntropy, Options{Model: "zerank-2", Latency: "fast"}, `{"model":"zerank-2","query":"q","documents":["a","b"],"latency":"fast"}`},
		{ZeroEntropy, Options{Model: "zerank-2", Latency: "auto"}, `{"model":"zerank-2","query":"q","documents":["a","b"]}`},
		{Jina, Options{Model: "jina-reranker-v2-base-multilingual"}, `{"model":"jina-reranker-v2-base-multilingual","query":"q","documents":["a","b"],"return_documents":false}`},
		{Twostage, Options{}, `{"query":"q","documents":["a","b"],"return_documents":false}`},
		{TEI, Options{}, `{"query":"q","texts":["a","b"],"raw_scores":true,"return_text":false,"truncate":true}`},
	}
	for _, tc := range tests {
		body, err := json.Marshal(apis[tc.kind].encode("q", docs, &tc.opts))
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != tc.want {
			t.Errorf("%s %+v: body %s, want %s", tc.kind, tc.opts, body, tc.want)
		}
	}
}
