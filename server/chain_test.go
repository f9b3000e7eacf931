package server_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/rerank"
	"twostage/rerank/fallback"
	"twostage/rerank/remote"
	"twostage/retry"
	"twostage/server"
)

// TestFallbackChainAcrossServers runs the fallback chain end to end: server
// A's reranker is chain(local engine, remote twostage server B). While the
// local engine fails, B reranks A's searches (and its own /v1/rerank shape
// is what the remote client reads); when B goes away too, A answers in
// first-stage order, marked degraded, the cause naming both stages.
func TestFallbackChainAcrossServers(t *testing.T) {
	b := start(t, "rerankers: {default: lexical}\n", nil, nil)

	// The remote client against a real twostage server: same scores as BM25
	// in-process.
	client, err := remote.New(remote.Twostage, b.url, &remote.Options{Retry: retry.Policy{Attempts: 2, Initial: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	q, docs := "red planet", []string{"Venus is hot", "Mars is the red planet", "red red"}
	got, err := client.Rerank(context.Background(), q, docs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rerank.NewLexical().Rerank(context.Background(), q, docs)
	for i := range want {
		if math.Abs(got[i].Score-want[i].Score) > 1e-12 || math.Abs(got[i].Raw-want[i].Raw) > 1e-12 {
			t.Errorf("doc %d: remote %+v, in-process %+v", i, got[i], want[i])
		}
	}

	local := failingReranker{errors.New("engine: onnx runtime: device lost")}
	chain, err := fallback.New(fallback.Stage{Name: "zerank", Reranker: local}, fallback.Stage{Name: "twostage-b", Reranker: client})
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, baseConfig+"rerank: {reranker: chain}\n", nil, map[string]twostage.Reranker{"chain": chain})
	a.index("docs")

	r := a.do("POST", "/v1/search", `{"query":"why is mars the red planet","top_n":3}`, "")
	var res server.SearchResponse
	r.decode(t, &res)
	if r.status != 200 || !res.Reranked || res.Degraded || res.Reranker != "twostage-b" || res.Hits[0].ID != "mars" {
		t.Fatalf("with B up: %d %s", r.status, r.body)
	}
	r = a.do("POST", "/v1/rerank", `{"query":"red planet","documents":["Venus","Mars, the red planet"]}`, "")
	var rr server.RerankResponse
	r.decode(t, &rr)
	if r.status != 200 || rr.Reranker != "twostage-b" || rr.Results[0].Index != 1 {
		t.Fatalf("rerank with B up: %d %s", r.status, r.body)
	}

	b.http.Close() // B goes away
	r = a.do("POST", "/v1/search", `{"query":"why is mars the red planet","top_n":3}`, "")
	res = server.SearchResponse{}
	r.decode(t, &res)
	if r.status != 200 || !res.Degraded || res.Reranked || res.Reranker != "" {
		t.Fatalf("with B down: %d %s", r.status, r.body)
	}
	for _, s := range []string{"zerank", "device lost", "twostage-b", "unavailable"} {
		if !strings.Contains(res.Cause, s) {
			t.Errorf("cause %q lacks %q", res.Cause, s)
		}
	}
	for _, h := range res.Hits {
		if h.Reranked || h.Score != h.RetrievalScore {
			t.Errorf("degraded hit %+v: want first-stage scores", h)
		}
	}
	// The rerank endpoint has no first stage to fall back to: 503.
	r = a.do("POST", "/v1/rerank", `{"query":"red planet","documents":["Venus"]}`, "")
	if r.status != 503 || r.errorBody(t).Code != "unavailable" {
		t.Errorf("rerank with everything down: %d %s", r.status, r.body)
	}
}
