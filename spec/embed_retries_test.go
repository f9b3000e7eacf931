package spec

import "testing"

// TestHTTPEmbedderRetries: the spec option retries=N (retries after the
// first try) becomes N+1 attempts of embed.HTTPOptions.Retry; left out, the
// embedder's default (0 here) applies.
func TestHTTPEmbedderRetries(t *testing.T) {
	tests := []struct {
		opts map[string]string
		want int
	}{
		{map[string]string{}, 0},
		{map[string]string{"retries": "0"}, 1},
		{map[string]string{"retries": "3"}, 4},
	}
	for _, tc := range tests {
		o, err := httpOptions("tei:http://x", tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if o.Retry.Attempts != tc.want {
			t.Errorf("%v: Retry.Attempts = %d, want %d", tc.opts, o.Retry.Attempts, tc.want)
		}
	}
	if _, err := httpOptions("tei:http://x", map[string]string{"retries": "-1"}); err == nil {
		t.Error("retries=-1 accepted")
	}
}
