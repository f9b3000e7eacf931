package httpjson

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"twostage/errdefs"
	"twostage/retry"
)

// TestPost: the request carries the body and headers, the answer comes back
// whatever its status.
func TestPost(t *testing.T) {
	tests := []struct {
		name, key, wantAuth string
		status              int
	}{
		{"with a key", "k1", "Bearer k1", http.StatusOK},
		{"without a key", "", "", http.StatusTeapot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if r.Method != http.MethodPost || string(body) != `{"q":1}` {
					t.Errorf("got %s %q, want POST {\"q\":1}", r.Method, body)
				}
				if got := r.Header.Get("Authorization"); got != tc.wantAuth {
					t.Errorf("Authorization %q, want %q", got, tc.wantAuth)
				}
				if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept") != "application/json" {
					t.Errorf("Content-Type %q, Accept %q, want application/json", r.Header.Get("Content-Type"), r.Header.Get("Accept"))
				}
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(tc.status)
				io.WriteString(w, "answer")
			}))
			defer srv.Close()
			resp, err := Post(context.Background(), srv.Client(), Request{URL: srv.URL, Body: []byte(`{"q":1}`),
				APIKey: tc.key, Timeout: time.Minute, MaxResponse: 6})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.status || string(resp.Body) != "answer" || resp.Header.Get("Retry-After") != "3" {
				t.Errorf("got status %d body %q Retry-After %q, want %d \"answer\" 3", resp.Status, resp.Body, resp.Header.Get("Retry-After"), tc.status)
			}
		})
	}
}

// TestPostErrors: each failure comes back marked as the retry loops of
// embed and rerank/remote expect.
func TestPostErrors(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			select {
			case <-r.Context().Done():
			case <-hang:
			}
		case "/big":
			io.WriteString(w, strings.Repeat("x", 100))
		}
	}))
	defer srv.Close()
	defer close(hang)
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		url       string
		transient bool
		want      error // errors.Is target
		wantMsg   string
	}{
		{"timeout", context.Background(), srv.URL + "/hang", true, context.DeadlineExceeded, "request timed out after 50ms"},
		{"canceled", canceled, srv.URL + "/hang", false, context.Canceled, "context canceled"},
		{"refused", context.Background(), refusedURL, true, nil, "request failed"},
		{"too large", context.Background(), srv.URL + "/big", false, errdefs.ErrUnavailable, "larger than 10 bytes"},
		{"bad url", context.Background(), "http://a b/", false, errdefs.ErrInvalidInput, "invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Post(tc.ctx, srv.Client(), Request{URL: tc.url, Body: []byte("{}"), Timeout: 50 * time.Millisecond, MaxResponse: 10})
			if err == nil {
				t.Fatal("Post succeeded")
			}
			if got := retry.Classify(err).Retry; got != tc.transient {
				t.Errorf("transient = %v, want %v (err %v)", got, tc.transient, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %v, want it to say %q", err, tc.wantMsg)
			}
		})
	}
}
