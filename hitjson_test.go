package twostage_test

import (
	"encoding/json"
	"strings"
	"testing"

	"twostage"
)

func TestHitJSONKeepsAZeroRerankScore(t *testing.T) {
	for _, tc := range []struct {
		hit  twostage.Hit
		want string
	}{
		{twostage.Hit{Document: twostage.Document{ID: "a", Text: "t"}, Score: 0, RetrievalScore: 0.5, Reranked: true},
			`{"id":"a","text":"t","score":0,"retrieval_score":0.5,"reranked":true,"rerank_score":0,"rerank_raw":0}`},
		{twostage.Hit{Document: twostage.Document{ID: "b", Text: "t"}, Score: 0.5, RetrievalScore: 0.5},
			`{"id":"b","text":"t","score":0.5,"retrieval_score":0.5,"reranked":false}`},
	} {
		b, err := json.Marshal(tc.hit)
		if err != nil || string(b) != tc.want {
			t.Errorf("marshal %+v: %s (%v), want %s", tc.hit, b, err, tc.want)
		}
		var back twostage.Hit
		if err := json.Unmarshal(b, &back); err != nil || back.ID != tc.hit.ID || back.Reranked != tc.hit.Reranked {
			t.Errorf("round trip of %s: %+v %v", b, back, err)
		}
	}
	b, _ := json.Marshal([]twostage.Hit{{Document: twostage.Document{ID: "x", Metadata: map[string]any{"k": "v"}}, Reranked: true, RerankScore: 0.25}})
	if !strings.Contains(string(b), `"metadata":{"k":"v"}`) || !strings.Contains(string(b), `"rerank_score":0.25`) {
		t.Errorf("slice of hits: %s", b)
	}
}
