package embed

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"

	"twostage"
	"twostage/driver"
	"twostage/internal/textfeat"
)

// Hashing is the model-free embedder: each lowercase word (weight 1) and
// word bigram (weight 1/2) is hashed into one of Dim buckets with a
// pseudo-random sign, term frequencies are dampened (1+log tf) and the
// vector is L2-normalised. It needs no files, is deterministic across runs
// and machines, and finds documents that share words with the query. It is
// the zero-setup default; a neural embedder (NewONNX, OpenAI) finds
// paraphrases it cannot.
type Hashing struct {
	dim int
}

// NewHashing returns a hashing embedder of dim dimensions (384 when dim is 0).
func NewHashing(dim int) (*Hashing, error) {
	if dim == 0 {
		dim = 384
	}
	if dim < 8 || dim > 1<<16 {
		return nil, fmt.Errorf("embed: hashing dimension %d outside [8, 65536]: %w", dim, twostage.ErrInvalidInput)
	}
	return &Hashing{dim: dim}, nil
}

// Dim implements twostage.Embedder.
func (h *Hashing) Dim() int { return h.dim }

// EmbedQuery implements twostage.Embedder.
func (h *Hashing) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	if err := driver.CheckText("query", text); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	v, err := h.vector(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	return v, nil
}

// EmbedDocuments implements twostage.Embedder.
func (h *Hashing) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		if err := driver.CheckText(fmt.Sprintf("text %d", i), t); err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		v, err := h.vector(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		out[i] = v
	}
	return out, nil
}

// emptyFeature keeps the vector of a text without words non-zero, so it is
// still a valid cosine vector (it matches only other empty texts).
const emptyFeature = "\x00empty"

// ctxEvery is how many words vector hashes between looks at its context.
const ctxEvery = 4096

func (h *Hashing) vector(ctx context.Context, text string) ([]float32, error) {
	words := textfeat.Words(nil, text)
	type feat struct{ n, weight float64 }
	tf := make(map[uint64]feat, 2*len(words))
	add := func(feature string, weight float64) {
		f := fnv.New64a()
		f.Write([]byte(feature))
		k := f.Sum64()
		tf[k] = feat{tf[k].n + 1, weight}
	}
	for i, w := range words {
		if i%ctxEvery == ctxEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		add(w, 1)
		if i > 0 {
			add(words[i-1]+" "+w, 0.5)
		}
	}
	if len(words) == 0 {
		add(emptyFeature, 1)
	}
	v := make([]float64, h.dim)
	for key, f := range tf {
		sign := 1.0
		if key>>63 == 1 {
			sign = -1
		}
		v[key%uint64(h.dim)] += sign * f.weight * (1 + math.Log(f.n))
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	out := make([]float32, h.dim)
	if norm == 0 { // every feature cancelled out: fall back to the empty feature's bucket
		out[0] = 1
		return out, nil
	}
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out, nil
}
