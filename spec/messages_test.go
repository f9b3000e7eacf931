package spec

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/embed"
	"twostage/errdefs"
	"twostage/hub"
	"twostage/rerank/remote"
	"twostage/retry"
)

// repeated reports the first place where a message says a thing twice in a
// row across a ": " (a wrapped sentinel restating its wrapper: "hub:
// unavailable: unavailable", "invalid input: invalid input", "engine closed:
// closed"), or "" when there is none.
func repeated(msg string) string {
	segs := strings.Split(strings.ToLower(msg), ": ")
	for i := 1; i < len(segs); i++ {
		a, b := strings.Fields(segs[i-1]), strings.Fields(segs[i])
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		if a[len(a)-1] == b[0] || strings.HasSuffix(segs[i-1], segs[i]) {
			return segs[i-1] + ": " + segs[i]
		}
	}
	return ""
}

func TestRepeated(t *testing.T) {
	for msg, want := range map[string]bool{
		"hub: x: hub: unavailable: unavailable":                             true,
		"spec: bad: invalid input: invalid input":                           true,
		"rerank: engine closed: closed":                                     true,
		"hub: x is not pulled: hub: model not pulled":                       false,
		"remote: cohere: gave up after 2 attempts: status 503: unavailable": false,
	} {
		if got := repeated(msg) != ""; got != want {
			t.Errorf("repeated(%q) = %v, want %v", msg, got, want)
		}
	}
}

var prefixed = regexp.MustCompile(`^[a-z][a-z0-9]*: `)

// TestMessagesSayItOnce: the main user-facing failures read once, cleanly:
// a package prefix first, no wrapped sentinel restating its wrapper, and
// errors.Is still matches the package's sentinel and errdefs'.
func TestMessagesSayItOnce(t *testing.T) {
	ctx := context.Background()
	t.Setenv("TWOSTAGE_HOME", t.TempDir())
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	fast := retry.Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}

	tests := []struct {
		name string
		err  func() error
		is   []error
	}{
		{"pull while the hub is down", func() error {
			c, err := hub.New(&hub.Options{Endpoint: down.URL, Retry: fast})
			if err != nil {
				return err
			}
			_, err = c.Pull(ctx, "org/model", nil)
			return err
		}, []error{hub.ErrUnavailable, errdefs.ErrUnavailable, twostage.ErrUnavailable}},
		{"model not pulled", func() error {
			_, err := OpenReranker(ctx, "onnx:org/none@main")
			return err
		}, []error{hub.ErrNotPulled, errdefs.ErrNotFound, twostage.ErrNotFound}},
		{"offline pull", func() error {
			c, err := hub.New(&hub.Options{Offline: true})
			if err != nil {
				return err
			}
			_, err = c.Pull(ctx, "org/model", nil)
			return err
		}, []error{hub.ErrNotPulled, errdefs.ErrNotFound}},
		{"bad reference", func() error {
			c, err := hub.New(&hub.Options{Offline: true})
			if err != nil {
				return err
			}
			_, err = c.Pull(ctx, "org/", nil)
			return err
		}, []error{hub.ErrInvalidRef, errdefs.ErrInvalidInput}},
		{"chain stage not pulled", func() error {
			_, err := OpenReranker(ctx, "chain:lexical|onnx:org/none@main")
			return err
		}, []error{hub.ErrNotPulled, twostage.ErrNotFound}},
		{"chain stage bad spec", func() error {
			_, err := OpenReranker(ctx, "chain:lexical|cohere:http://x#colour=red")
			return err
		}, []error{ErrBadSpec, twostage.ErrInvalidInput}},
		{"unknown reranker", func() error {
			_, err := OpenReranker(ctx, "bm42:x")
			return err
		}, []error{ErrBadSpec, twostage.ErrInvalidInput}},
		{"remote reranker down", func() error {
			r, err := remote.New(remote.Cohere, down.URL, &remote.Options{APIKey: "k", Retry: fast})
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = r.Rerank(ctx, "q", []string{"a", "b"})
			return err
		}, []error{twostage.ErrUnavailable}},
		{"remote embedder down", func() error {
			_, err := embed.NewTEI(ctx, down.URL, &embed.HTTPOptions{Retry: fast})
			return err
		}, []error{twostage.ErrUnavailable}},
		{"closed embedder", func() error {
			e, err := embed.NewOpenAI(ctx, down.URL, "m", &embed.HTTPOptions{Dim: 4, Retry: fast})
			if err != nil {
				return err
			}
			e.Close()
			_, err = e.EmbedQuery(ctx, "q")
			return err
		}, []error{twostage.ErrClosed}},
		{"embedder closed twice", func() error {
			e, err := embed.NewOpenAI(ctx, down.URL, "m", &embed.HTTPOptions{Dim: 4, Retry: fast})
			if err != nil {
				return err
			}
			e.Close()
			return e.Close()
		}, []error{twostage.ErrClosed}},
	}
	for _, tt := range tests {
		err := tt.err()
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		msg := err.Error()
		t.Logf("%s: %s", tt.name, msg)
		if r := repeated(msg); r != "" {
			t.Errorf("%s: %q says %q", tt.name, msg, r)
		}
		if !prefixed.MatchString(msg) {
			t.Errorf("%s: %q lacks a package prefix", tt.name, msg)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: %q is not one line", tt.name, msg)
		}
		for _, target := range tt.is {
			if !errors.Is(err, target) {
				t.Errorf("%s: %q is not %q", tt.name, msg, target)
			}
		}
	}
}
