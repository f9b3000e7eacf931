package twostage

import "encoding/json"

// MarshalJSON writes rerank_score and rerank_raw exactly when the hit was
// reranked, zeros included (a reranker may score a document 0), and leaves
// them out of hits the reranker never saw.
func (h Hit) MarshalJSON() ([]byte, error) {
	type plain Hit // without this method
	out := struct {
		plain
		RerankScore *float64 `json:"rerank_score,omitempty"`
		RerankRaw   *float64 `json:"rerank_raw,omitempty"`
	}{plain: plain(h)}
	if h.Reranked {
		out.RerankScore, out.RerankRaw = &h.RerankScore, &h.RerankRaw
	}
	return json.Marshal(out)
}
