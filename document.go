package twostage

import "math"

// Document is the unit stored and retrieved.
type Document struct {
	// ID is the caller's id; adapters map it to the backend's id type and
	// keep the original.
	ID string `json:"id"`
	// Text is stored so the reranker can read it back.
	Text string `json:"text"`
	// Vector may be empty when the Pipeline has an Embedder.
	Vector []float32 `json:"vector,omitempty"`
	// Metadata values are string, bool, int64, float64 or []string. Other
	// integer and float types are converted on Upsert; anything else is
	// ErrInvalidInput.
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Hit is one search result.
type Hit struct {
	Document
	// Score is the final ranking score: RerankScore when Reranked, else
	// RetrievalScore.
	Score float64 `json:"score"`
	// RetrievalScore is the first-stage similarity, higher is better for
	// every metric (see Metric).
	RetrievalScore float64 `json:"retrieval_score"`
	// RerankScore is the calibrated reranker score in [0,1]; meaningful when
	// Reranked.
	RerankScore float64 `json:"rerank_score,omitempty"`
	// RerankRaw is the reranker's uncalibrated score (a logit for zerank).
	RerankRaw float64 `json:"rerank_raw,omitempty"`
	// RerankChunk is the window of the text that gave RerankScore when the
	// reranker scored the text in chunks (RerankOptions.LongDocuments =
	// Chunk); nil otherwise.
	RerankChunk *Span `json:"rerank_chunk,omitempty"`
	// Reranked reports whether the reranker scored this hit.
	Reranked bool `json:"reranked"`
}

// Query is a first-stage vector search.
type Query struct {
	// Vector is the query vector, of the store's Info().Dim elements.
	Vector []float32
	// K is the number of hits wanted; a store returns fewer when it holds
	// fewer matching documents.
	K int
	// Filter restricts the search to documents whose metadata match; nil
	// matches everything.
	Filter *Filter
	// WithVectors asks for hit vectors; by default hits carry none.
	WithVectors bool
}

// Metric is a vector similarity. RetrievalScore is higher-is-better for every
// metric: cosine similarity, dot product, or the negative squared Euclidean
// distance.
type Metric string

// The metrics every Store supports.
const (
	Cosine Metric = "cosine"
	Dot    Metric = "dot"
	L2     Metric = "l2"
)

// Valid reports whether m is a known metric.
func (m Metric) Valid() bool { return m == Cosine || m == Dot || m == L2 }

// Similarity returns the RetrievalScore of b against a under m (higher is
// better). For Cosine, a zero vector scores 0.
func (m Metric) Similarity(a, b []float32) float64 {
	switch m {
	case Dot:
		return dot(a, b)
	case L2:
		var s float64
		for i := range a {
			d := float64(a[i]) - float64(b[i])
			s += d * d
		}
		return -s
	default:
		na, nb := math.Sqrt(dot(a, a)), math.Sqrt(dot(b, b))
		if na == 0 || nb == 0 {
			return 0
		}
		return dot(a, b) / (na * nb)
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
