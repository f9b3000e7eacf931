package remote_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"twostage"
	"twostage/rerank/remote"
	"twostage/retry"
)

// TestHostileAnswers: answers from services we do not control that do not
// give each of the documents exactly one finite score are ErrUnavailable,
// never a misaligned or partial result, never a panic.
func TestHostileAnswers(t *testing.T) {
	results := remote.Cohere // {"results": [...]} as Cohere, Jina, ZeroEntropy, vLLM and twostage answer
	for _, tt := range []struct {
		name string
		kind remote.Kind
		body string
	}{
		{"fewer", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.2}]}`},
		{"more", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.2},{"index":2,"relevance_score":0.3},{"index":2,"relevance_score":0.3}]}`},
		{"repeated index, right count", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.2},{"index":1,"relevance_score":0.3}]}`},
		{"negative index", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":-1,"relevance_score":0.2},{"index":2,"relevance_score":0.3}]}`},
		{"null score", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":null},{"index":2,"relevance_score":0.3}]}`},
		{"null index", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":null,"relevance_score":0.2},{"index":2,"relevance_score":0.3}]}`},
		{"null raw score", remote.Twostage, `{"results":[{"index":0,"relevance_score":0.1,"raw_score":null},{"index":1,"relevance_score":0.2,"raw_score":null},{"index":2,"relevance_score":0.3,"raw_score":null}]}`},
		{"NaN as a string", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":"NaN"},{"index":2,"relevance_score":0.3}]}`},
		{"beyond float64", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":1e400},{"index":2,"relevance_score":0.3}]}`},
		{"fractional index", results, `{"results":[{"index":0,"relevance_score":0.1},{"index":1.5,"relevance_score":0.2},{"index":2,"relevance_score":0.3}]}`},
		{"error in a 200", results, `{"message":"invalid api token"}`},
		{"null results", results, `{"results":null}`},
		{"truncated", results, `{"results":[{"index":0,"relevance_score":0.1},{"ind`},
		{"empty", results, ``},
		{"tei fewer", remote.TEI, `[{"index":0,"score":0.1},{"index":1,"score":0.2}]`},
		{"tei null score", remote.TEI, `[{"index":0,"score":0.1},{"index":1,"score":null},{"index":2,"score":0.3}]`},
		{"tei out of range", remote.TEI, `[{"index":0,"score":0.1},{"index":1,"score":0.2},{"index":3,"score":0.3}]`},
		{"tei error in a 200", remote.TEI, `{"error":"model overloaded","error_type":"overloaded"}`},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(tt.body))
		}))
		r, err := remote.New(tt.kind, srv.URL, &remote.Options{APIKey: "k", Retry: retry.Policy{Attempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
		scores, err := r.Rerank(context.Background(), "q", []string{"a", "b", "c"})
		if !errors.Is(err, twostage.ErrUnavailable) || scores != nil {
			t.Errorf("%s: %v, %v; want no scores and ErrUnavailable", tt.name, scores, err)
		}
		r.Close()
		srv.Close()
	}
}

// TestTruncatedTransfer: a body cut short on the wire is retried, then
// ErrUnavailable.
func TestTruncatedTransfer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "300")
		w.Write([]byte(`{"results":[{"index":0,"relevance_score":0.1},{"index":1,"relevance_score":0.2},{"index":2,"relevance_score":0.3}]}`))
	}))
	defer srv.Close()
	r, err := remote.New(remote.Cohere, srv.URL, &remote.Options{APIKey: "k",
		Retry: retry.Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	scores, err := r.Rerank(context.Background(), "q", []string{"a", "b", "c"})
	if !errors.Is(err, twostage.ErrUnavailable) || scores != nil {
		t.Errorf("truncated transfer: %v, %v; want ErrUnavailable", scores, err)
	}
}
