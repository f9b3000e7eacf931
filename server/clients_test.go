package server_test

import (
	"net/http"
	"strings"
	"testing"
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
