package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cohere "github.com/cohere-ai/cohere-go/v2"
	cohereclient "github.com/cohere-ai/cohere-go/v2/client"
	"github.com/cohere-ai/cohere-go/v2/option"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
	"twostage/server"
)

// holdReranker blocks each call until released, saying when one entered.
type holdReranker struct{ entered, release chan struct{} }

func (h holdReranker) Rerank(ctx context.Context, q string, docs []string) ([]twostage.Score, error) {
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return rerank.NewLexical().Rerank(ctx, q, docs)
}

// downReranker fails as an engine whose device is gone.
type downReranker struct{}

func (downReranker) Rerank(context.Context, string, []string) ([]twostage.Score, error) {
	return nil, fmt.Errorf("test: device lost: %w", twostage.ErrUnavailable)
}

// startServer runs a twostage server in process over the model-free stages
// (BM25 reranker), with bearer token "tok", one request in flight at most,
// and the rerankers "hold" and "down" selectable by model name.
func startServer(t *testing.T, hold holdReranker) string {
	t.Helper()
	cfg, err := server.ParseConfig([]byte(`
max_in_flight: 1
auth: {tokens_env: TOKENS}
rerankers: {default: lexical, hold: hold, down: down}
embedders: {default: "hash:32"}
collections:
  docs: {store: mem, reranker: none}
`), func(k string) string { return map[string]string{"TOKENS": "tok"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	op := server.Openers{
		Store: func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
			return memstore.New(info.Dim, info.Metric)
		},
		Embedder: func(ctx context.Context, spec string) (twostage.Embedder, error) { return embed.NewHashing(32) },
		Reranker: func(ctx context.Context, spec string) (twostage.Reranker, error) {
			switch spec {
			case "lexical":
				return rerank.NewLexical(), nil
			case "hold":
				return hold, nil
			case "down":
				return downReranker{}, nil
			}
			return nil, fmt.Errorf("test: reranker %q: %w", spec, twostage.ErrInvalidInput)
		},
	}
	srv, err := server.Open(context.Background(), cfg, op, &server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return hs.URL
}

// TestCohereGoSDK drives the server through Cohere's official Go SDK
// (github.com/cohere-ai/cohere-go/v2): v1 and v2 rerank answers parse into
// the SDK's types, and 400, 401, 429 and 503 arrive as its typed errors
// carrying the server's message.
func TestCohereGoSDK(t *testing.T) {
	hold := holdReranker{entered: make(chan struct{}, 4), release: make(chan struct{})}
	url := startServer(t, hold)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	co := cohereclient.NewClient(option.WithBaseURL(url), option.WithToken("tok"), option.WithMaxAttempts(1))
	docs := []string{"Venus is the hottest planet", "Mars is the red planet", "a red tomato"}
	want, err := rerank.NewLexical().Rerank(ctx, "red planet", docs)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("v2", func(t *testing.T) {
		topN := 2
		resp, err := co.V2.Rerank(ctx, &cohere.V2RerankRequest{Model: "rerank-v3.5", Query: "red planet", Documents: docs, TopN: &topN})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Id == nil || *resp.Id == "" || len(resp.Results) != 2 || resp.Results[0].Index != 1 {
			t.Fatalf("response %+v", resp)
		}
		for _, r := range resp.Results {
			if d := r.RelevanceScore - want[r.Index].Score; d > 1e-12 || d < -1e-12 {
				t.Errorf("index %d score %v, want %v", r.Index, r.RelevanceScore, want[r.Index].Score)
			}
		}
		if m := resp.Meta; m == nil || m.BilledUnits == nil || m.BilledUnits.SearchUnits == nil || *m.BilledUnits.SearchUnits != 1 {
			t.Errorf("meta %+v, want 1 search unit", resp.Meta)
		}
	})

	t.Run("v1 strings and objects", func(t *testing.T) {
		yes := true
		items := []*cohere.RerankRequestDocumentsItem{
			{String: docs[0]},
			{RerankDocument: cohere.RerankDocument{"text": docs[1], "title": "Mars", "source": "wiki"}},
			{String: docs[2]},
		}
		resp, err := co.Rerank(ctx, &cohere.RerankRequest{Query: "red planet", Documents: items, ReturnDocuments: &yes})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 3 || resp.Results[0].Index != 1 {
			t.Fatalf("results %+v", resp.Results)
		}
		for _, r := range resp.Results {
			if r.Document == nil || r.Document.Text != docs[r.Index] {
				t.Errorf("index %d document %+v, want text %q", r.Index, r.Document, docs[r.Index])
			}
		}
		if extra := resp.Results[0].Document.GetExtraProperties(); extra["title"] != "Mars" || extra["source"] != "wiki" {
			t.Errorf("object document's other fields %v, want title and source back", extra)
		}
		resp, err = co.Rerank(ctx, &cohere.RerankRequest{Query: "mars", Documents: []*cohere.RerankRequestDocumentsItem{
			{RerankDocument: cohere.RerankDocument{"title": "Venus"}},
			{RerankDocument: cohere.RerankDocument{"title": "Mars"}},
		}, RankFields: []string{"title"}})
		if err != nil || resp.Results[0].Index != 1 {
			t.Fatalf("rank_fields: %+v, %v", resp, err)
		}
	})

	t.Run("400", func(t *testing.T) {
		zero := 0
		_, err := co.V2.Rerank(ctx, &cohere.V2RerankRequest{Model: "rerank-v3.5", Query: "q", Documents: docs, TopN: &zero})
		var e *cohere.BadRequestError
		if !errors.As(err, &e) || e.StatusCode != 400 {
			t.Fatalf("err %T %v, want *cohere.BadRequestError", err, err)
		}
		checkMessage(t, err, e.Body, "want at least 1")
	})

	t.Run("401", func(t *testing.T) {
		bad := cohereclient.NewClient(option.WithBaseURL(url), option.WithToken("wrong"), option.WithMaxAttempts(1))
		_, err := bad.V2.Rerank(ctx, &cohere.V2RerankRequest{Model: "rerank-v3.5", Query: "q", Documents: docs})
		var e *cohere.UnauthorizedError
		if !errors.As(err, &e) || e.StatusCode != 401 {
			t.Fatalf("err %T %v, want *cohere.UnauthorizedError", err, err)
		}
		checkMessage(t, err, e.Body, "invalid bearer token")
	})

	t.Run("429", func(t *testing.T) {
		held := make(chan error, 1)
		go func() {
			_, err := co.V2.Rerank(ctx, &cohere.V2RerankRequest{Model: "hold", Query: "red", Documents: docs})
			held <- err
		}()
		<-hold.entered // one request in flight: the limit
		_, err := co.V2.Rerank(ctx, &cohere.V2RerankRequest{Model: "rerank-v3.5", Query: "q", Documents: docs})
		hold.release <- struct{}{}
		var e *cohere.TooManyRequestsError
		if !errors.As(err, &e) || e.StatusCode != 429 {
			t.Fatalf("err %T %v, want *cohere.TooManyRequestsError", err, err)
		}
		checkMessage(t, err, e.Body, "requests in flight")
		if err := <-held; err != nil {
			t.Errorf("the held request: %v", err)
		}
	})

	t.Run("503", func(t *testing.T) {
		_, err := co.Rerank(ctx, &cohere.RerankRequest{Model: ptr("down"), Query: "q", Documents: []*cohere.RerankRequestDocumentsItem{{String: "a"}}})
		var e *cohere.ServiceUnavailableError
		if !errors.As(err, &e) || e.StatusCode != 503 {
			t.Fatalf("err %T %v, want *cohere.ServiceUnavailableError", err, err)
		}
		// A 5xx carries a generic message with the request id (the cause,
		// "device lost", goes to the server log only).
		checkMessage(t, err, e.Body, "service unavailable (request id ")
		if strings.Contains(err.Error(), "device lost") {
			t.Errorf("503 leaks its cause to the client: %v", err)
		}
	})
}

// checkMessage checks that the SDK error shows the server's message, both
// in its text and as the body's top-level "message" the SDKs read.
func checkMessage(t *testing.T, err error, body any, want string) {
	t.Helper()
	m, _ := body.(map[string]any)
	msg, _ := m["message"].(string)
	if !strings.Contains(msg, want) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, body message %q: want both to contain %q", err, msg, want)
	}
	if id, _ := m["id"].(string); id == "" {
		t.Errorf("error body %v has no request id", body)
	}
}

func ptr[T any](v T) *T { return &v }
