package twostage

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

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
	// Reranked reports whether the reranker scored this hit.
	Reranked bool `json:"reranked"`
}

// Query is a first-stage vector search.
type Query struct {
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

// CheckVector returns an error wrapping ErrDimension when v does not have dim
// elements, or ErrInvalidInput when it holds NaN or Inf.
func CheckVector(v []float32, dim int) error {
	if len(v) != dim {
		return fmt.Errorf("twostage: vector has %d dimensions, want %d: %w", len(v), dim, ErrDimension)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("twostage: vector element %d is %v: %w", i, x, ErrInvalidInput)
		}
	}
	return nil
}

// CheckText returns an error wrapping ErrInvalidInput when s is not valid UTF-8.
func CheckText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("twostage: %s is not valid UTF-8: %w", what, ErrInvalidInput)
	}
	return nil
}

// NormalizeMetadata returns a copy of md with every value converted to one of
// the portable types (string, bool, int64, float64, []string), or an error
// wrapping ErrInvalidInput naming the first key that cannot be.
func NormalizeMetadata(md map[string]any) (map[string]any, error) {
	if md == nil {
		return nil, nil
	}
	out := make(map[string]any, len(md))
	for k, v := range md {
		if k == "" {
			return nil, fmt.Errorf("twostage: empty metadata key: %w", ErrInvalidInput)
		}
		if err := CheckText("metadata key", k); err != nil {
			return nil, err
		}
		nv, err := normalizeValue(v)
		if err != nil {
			return nil, fmt.Errorf("twostage: metadata %q: %w", k, err)
		}
		out[k] = nv
	}
	return out, nil
}

func normalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("string is not valid UTF-8: %w", ErrInvalidInput)
		}
		return x, nil
	case bool, int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d overflows int64: %w", x, ErrInvalidInput)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d overflows int64: %w", x, ErrInvalidInput)
		}
		return int64(x), nil
	case float32:
		return normalizeValue(float64(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("number %v is not finite: %w", x, ErrInvalidInput)
		}
		return x, nil
	case []string:
		for _, s := range x {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("string is not valid UTF-8: %w", ErrInvalidInput)
			}
		}
		return append([]string(nil), x...), nil
	case []any:
		ss := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list element %d has type %T, only lists of strings are supported: %w", i, e, ErrInvalidInput)
			}
			ss[i] = s
		}
		return normalizeValue(ss)
	default:
		return nil, fmt.Errorf("unsupported type %T (want string, bool, int64, float64 or []string): %w", v, ErrInvalidInput)
	}
}

// Timings are the per-stage wall-clock durations of one Pipeline.Search.
type Timings struct {
	Embed    time.Duration `json:"embed_ns"`
	Retrieve time.Duration `json:"retrieve_ns"`
	Rerank   time.Duration `json:"rerank_ns"`
	Total    time.Duration `json:"total_ns"`
}
