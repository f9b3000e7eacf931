package server

import (
	"errors"
	"testing"

	"twostage"
)

// The search decoder follows twostage.CheckLimits, as the CLI and
// Pipeline.Search do: 0 is the default, min_score is in [0,1], and without
// the rerank stage candidate_k does not bound top_n.
func TestDecodeSearchLimits(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"query":"q","top_n":0}`, true},
		{`{"query":"q","top_n":0,"candidate_k":0}`, true},
		{`{"query":"q","top_n":60,"candidate_k":50,"no_rerank":true}`, true},
		{`{"query":"q","top_n":60,"candidate_k":50}`, false},
		{`{"query":"q","top_n":-1}`, false},
		{`{"query":"q","top_n":10001}`, false},
		{`{"query":"q","min_score":2}`, false},
		{`{"query":"q","min_score":-0.1}`, false},
	} {
		req, err := decodeSearch([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok %v", tc.body, err, tc.ok)
			continue
		}
		if err == nil && (req.TopN != nil && *req.TopN == 0) {
			t.Errorf("%s: top_n 0 kept, want it to mean the collection's default", tc.body)
		}
	}
	if err := twostage.CheckLimits(0, 0, 2, true); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("CheckLimits min score 2: %v, want ErrInvalidInput", err)
	}
}
