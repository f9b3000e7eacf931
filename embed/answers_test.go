package embed

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"twostage"
	"twostage/retry"
)

// TestHostileAnswers: the HTTP embedders parse answers from servers we do
// not control. An answer with too few or too many embeddings, an index out
// of range or repeated, a null where a number or a vector belongs, a vector
// of the wrong dimension, a 200 carrying an error, or a body cut short is an
// error (ErrUnavailable; ErrDimension for a vector of another length, as
// HTTPOptions.Dim documents), never a misaligned or partial result, never a
// panic.
func TestHostileAnswers(t *testing.T) {
	type answer struct {
		name string
		body string
		want error
	}
	openai := []answer{
		{"fewer", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":[0,1,0]}]}`, twostage.ErrUnavailable},
		{"more", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":[0,1,0]},{"index":2,"embedding":[0,0,1]},{"index":3,"embedding":[1,1,1]}]}`, twostage.ErrUnavailable},
		{"index out of range", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":[0,1,0]},{"index":7,"embedding":[0,0,1]}]}`, twostage.ErrUnavailable},
		{"negative index", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":-1,"embedding":[0,1,0]},{"index":2,"embedding":[0,0,1]}]}`, twostage.ErrUnavailable},
		{"repeated index", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":0,"embedding":[0,1,0]},{"index":2,"embedding":[0,0,1]}]}`, twostage.ErrUnavailable},
		{"null embedding", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":null},{"index":2,"embedding":[0,0,1]}]}`, twostage.ErrUnavailable},
		{"null number", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":[0,null,0]},{"index":2,"embedding":[0,0,1]}]}`, twostage.ErrUnavailable},
		{"string number", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":[0,"1",0]},{"index":2,"embedding":[0,0,1]}]}`, twostage.ErrUnavailable},
		{"beyond float32", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":[0,1e39,0]},{"index":2,"embedding":[0,0,1]}]}`, twostage.ErrUnavailable},
		{"wrong dimension", `{"data":[{"index":0,"embedding":[1,0,0]},{"index":1,"embedding":[0,1]},{"index":2,"embedding":[0,0,1]}]}`, twostage.ErrDimension},
		{"error in a 200", `{"error":{"message":"quota exceeded"}}`, twostage.ErrUnavailable},
		{"not json", `<html>gateway</html>`, twostage.ErrUnavailable},
		{"truncated", `{"data":[{"index":0,"embedding":[1,0,0]},{"ind`, twostage.ErrUnavailable},
		{"empty", ``, twostage.ErrUnavailable},
	}
	tei := []answer{
		{"fewer", `[[1,0,0],[0,1,0]]`, twostage.ErrUnavailable},
		{"more", `[[1,0,0],[0,1,0],[0,0,1],[1,1,1]]`, twostage.ErrUnavailable},
		{"null embedding", `[[1,0,0],null,[0,0,1]]`, twostage.ErrUnavailable},
		{"null number", `[[1,0,0],[0,null,0],[0,0,1]]`, twostage.ErrUnavailable},
		{"wrong dimension", `[[1,0,0],[0,1,0,0],[0,0,1]]`, twostage.ErrDimension},
		{"error in a 200", `{"error":"model overloaded","error_type":"overloaded"}`, twostage.ErrUnavailable},
		{"truncated", `[[1,0,0],[0,1`, twostage.ErrUnavailable},
	}
	fast := retry.Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}
	ctx := context.Background()
	for _, api := range []struct {
		name    string
		answers []answer
		open    func(url string) (twostage.Embedder, error)
	}{
		{"openai", openai, func(url string) (twostage.Embedder, error) {
			return NewOpenAI(ctx, url, "m", &HTTPOptions{Dim: 3, Retry: fast})
		}},
		{"tei", tei, func(url string) (twostage.Embedder, error) {
			return NewTEI(ctx, url, &HTTPOptions{Dim: 3, BatchSize: 8, Retry: fast})
		}},
	} {
		for _, a := range api.answers {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(a.body))
			}))
			e, err := api.open(srv.URL)
			if err != nil {
				t.Fatalf("%s %s: open: %v", api.name, a.name, err)
			}
			vs, err := e.EmbedDocuments(ctx, []string{"a", "b", "c"})
			if !errors.Is(err, a.want) || vs != nil {
				t.Errorf("%s %s: %d vectors, err %v; want no vectors and %v", api.name, a.name, len(vs), err, a.want)
			}
			e.(interface{ Close() error }).Close()
			srv.Close()
		}
	}
}

// TestHostileProbe: the dimension learnt from the probe comes from a whole,
// valid vector: a null in it is an error, not a dimension.
func TestHostileProbe(t *testing.T) {
	for _, body := range []string{`[[0.5,null,0.5]]`, `[[]]`, `[null]`, `[]`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/info" {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(body))
		}))
		e, err := NewTEI(context.Background(), srv.URL, &HTTPOptions{Retry: retry.Policy{Attempts: 1}})
		if !errors.Is(err, twostage.ErrUnavailable) || e != nil {
			t.Errorf("probe answered %s: %v, %v; want ErrUnavailable", body, e, err)
		}
		srv.Close()
	}
}

// TestTruncatedTransfer: a body cut short on the wire (Content-Length
// larger than what arrives) is retried and then ErrUnavailable.
func TestTruncatedTransfer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "200")
		w.Write([]byte(`[[1,0,0],[0,1,0],[0,0`))
	}))
	defer srv.Close()
	e, err := NewTEI(context.Background(), srv.URL, &HTTPOptions{Dim: 3, BatchSize: 8,
		Retry: retry.Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	vs, err := e.EmbedDocuments(context.Background(), []string{"a", "b", "c"})
	if !errors.Is(err, twostage.ErrUnavailable) || vs != nil {
		t.Errorf("truncated transfer: %d vectors, %v; want ErrUnavailable", len(vs), err)
	}
}
