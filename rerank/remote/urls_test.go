package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"twostage"
	"twostage/rerank/remote"
)

// TestBaseURLForms: a base URL written as the official SDKs write it (with
// the API's version segment, as in https://api.cohere.com/v2) reaches the
// same endpoint as the bare host; a path prefix of a proxy is kept.
func TestBaseURLForms(t *testing.T) {
	tests := []struct {
		kind  remote.Kind
		bases []string // appended to the fake's URL
		want  string   // the path the request arrives at
	}{
		{remote.Cohere, []string{"", "/", "/v2", "/v2/", "/v2/rerank"}, "/v2/rerank"},
		{remote.Cohere, []string{"/proxy", "/proxy/v2", "/proxy/v2/rerank"}, "/proxy/v2/rerank"},
		{remote.VLLM, []string{"", "/v1", "/v1/", "/v1/rerank"}, "/v1/rerank"},
		{remote.Jina, []string{"", "/v1", "/v1/rerank"}, "/v1/rerank"},
		{remote.Twostage, []string{"", "/v1"}, "/v1/rerank"},
		{remote.ZeroEntropy, []string{"", "/v1", "/v1/models", "/v1/models/rerank"}, "/v1/models/rerank"},
		{remote.TEI, []string{"", "/rerank"}, "/rerank"},
		{remote.VLLM, []string{"/v1beta"}, "/v1beta/v1/rerank"},
	}
	for _, tt := range tests {
		for _, base := range tt.bases {
			t.Run(string(tt.kind)+base, func(t *testing.T) {
				f, srv := newFake(t, tt.kind)
				o := quick()
				o.APIKey = "k"
				r, err := remote.New(tt.kind, srv.URL+base, o)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if r.URL() != srv.URL+tt.want {
					t.Errorf("URL() = %q, want %q", r.URL(), srv.URL+tt.want)
				}
				// The fake serves its API's own path only; behind a prefix it
				// answers 404, but records where the request arrived.
				if _, err := r.Rerank(context.Background(), query, docs); err != nil && tt.want == paths[tt.kind] {
					t.Fatal(err)
				}
				if got := f.reqs(); len(got) != 1 || got[0].Path != tt.want {
					t.Errorf("requests %+v, want one at %s", got, tt.want)
				}
			})
		}
	}
	// A host that looks like a version segment is not one.
	for base, want := range map[string]string{"http://v1": "http://v1/v1/rerank", "http://v2:8080/v2": "http://v2:8080/v2/rerank"} {
		kind := remote.VLLM
		if strings.Contains(base, "v2") {
			kind = remote.Cohere
		}
		r, err := remote.New(kind, base, nil)
		if err != nil || r.URL() != want {
			t.Errorf("%s %s: URL %v (%v), want %s", kind, base, r, err, want)
		}
	}
}

// TestZeroEntropyLatency: ZeroEntropy is asked for its fast mode unless
// told otherwise, so a 429 comes at once instead of a slow answer that
// spends a chain's timeout.
func TestZeroEntropyLatency(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]json.RawMessage
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var b map[string]json.RawMessage
		json.Unmarshal(data, &b)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"results":[{"index":0,"relevance_score":0.5}]}`))
	}))
	t.Cleanup(srv.Close)
	for _, tt := range []struct{ latency, want string }{
		{"", `"fast"`},
		{"fast", `"fast"`},
		{"slow", `"slow"`},
		{"auto", ""}, // the field is left out: the service picks
	} {
		o := quick()
		o.APIKey, o.Latency = "k", tt.latency
		r, err := remote.New(remote.ZeroEntropy, srv.URL, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Rerank(context.Background(), "q", []string{"d"}); err != nil {
			t.Fatal(err)
		}
		r.Close()
		mu.Lock()
		got, ok := bodies[len(bodies)-1]["latency"]
		mu.Unlock()
		if string(got) != tt.want || ok != (tt.want != "") {
			t.Errorf("latency option %q sent %s (present %v), want %s", tt.latency, got, ok, tt.want)
		}
	}
	for _, tt := range []struct {
		kind    remote.Kind
		latency string
	}{{remote.ZeroEntropy, "medium"}, {remote.Cohere, "fast"}} {
		o := quick()
		o.APIKey, o.Latency = "k", tt.latency
		if _, err := remote.New(tt.kind, srv.URL, o); !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), "latency") {
			t.Errorf("%s latency %q: %v, want ErrInvalidInput naming latency", tt.kind, tt.latency, err)
		}
	}
}

// TestTwostageAsksNoDocuments: a twostage server returns the documents on
// /v1/rerank unless told not to; the reranker only needs the scores.
func TestTwostageAsksNoDocuments(t *testing.T) {
	got := make(chan json.RawMessage, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var b map[string]json.RawMessage
		json.Unmarshal(data, &b)
		got <- b["return_documents"]
		w.Write([]byte(`{"results":[{"index":0,"relevance_score":0.5}]}`))
	}))
	t.Cleanup(srv.Close)
	r, err := remote.New(remote.Twostage, srv.URL, quick())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Rerank(context.Background(), "q", []string{"d"}); err != nil {
		t.Fatal(err)
	}
	if rd := <-got; string(rd) != "false" {
		t.Errorf("return_documents %s, want false", rd)
	}
}
