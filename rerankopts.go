package twostage

import (
	"context"
	"fmt"
	"math"
	"unicode/utf8"
)

// LongDocuments says how a reranker treats a document longer than what fits
// in one model input beside the query.
type LongDocuments string

const (
	// Truncate cuts the document's tokens on the right to fit (the default).
	Truncate LongDocuments = "truncate"
	// Chunk splits the document at token level into windows (of
	// RerankOptions.ChunkTokens tokens, consecutive windows sharing
	// ChunkOverlap tokens, at most MaxChunks of them), scores each window
	// and gives the document its best window's score; Score.Chunk names
	// that window.
	Chunk LongDocuments = "chunk"
)

// RerankOptions are the per-call options of a rerank: the instruction, the
// long-document strategy and the token caps. The zero value means the
// reranker's defaults. SearchOptions.Rerank carries them through
// Pipeline.Search.
type RerankOptions struct {
	// Instruction is the task instruction: Qwen3-Reranker's <Instruct>
	// ("" its default), zerank's in ZeroEntropy's format (the system turn
	// becomes <query>{query}</query>\n<instruction>{instruction}</instruction>;
	// "" keeps the plain prompt). Other models refuse it.
	Instruction string
	// LongDocuments is Truncate or Chunk; "" means the reranker's default.
	LongDocuments LongDocuments
	// ChunkTokens is the window size in document tokens with Chunk; 0
	// means as many as fit in one input beside the query.
	ChunkTokens int
	// ChunkOverlap is the number of tokens consecutive windows share with
	// Chunk (0: none); it must be below ChunkTokens when both are set.
	ChunkOverlap int
	// MaxChunks bounds the windows scored per document with Chunk (0: 8);
	// the text after the last window is not scored.
	MaxChunks int
	// MaxTokensPerDoc cuts each document to this many tokens of the
	// reranker's tokenizer before anything else (0: no cap). The prompt
	// template is never cut.
	MaxTokensPerDoc int
	// MaxTokensPerQuery cuts the query to this many tokens (0: no cap).
	MaxTokensPerQuery int
}

// IsZero reports whether o asks for nothing beyond the reranker's defaults.
func (o RerankOptions) IsZero() bool { return o == RerankOptions{} }

// Check validates o; errors wrap ErrInvalidInput.
func (o RerankOptions) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("twostage: rerank options: %s: %w", fmt.Sprintf(format, args...), ErrInvalidInput)
	}
	switch {
	case o.LongDocuments != "" && o.LongDocuments != Truncate && o.LongDocuments != Chunk:
		return bad("long documents %q: want %q or %q", o.LongDocuments, Truncate, Chunk)
	case o.ChunkTokens < 0 || o.ChunkOverlap < 0 || o.MaxChunks < 0:
		return bad("chunk tokens %d, overlap %d, max chunks %d must not be negative", o.ChunkTokens, o.ChunkOverlap, o.MaxChunks)
	case o.ChunkTokens > 0 && o.ChunkOverlap >= o.ChunkTokens:
		return bad("chunk overlap %d must be below chunk tokens %d", o.ChunkOverlap, o.ChunkTokens)
	case o.MaxTokensPerDoc < 0 || o.MaxTokensPerQuery < 0:
		return bad("max tokens per doc %d and per query %d must not be negative", o.MaxTokensPerDoc, o.MaxTokensPerQuery)
	case !utf8.ValidString(o.Instruction):
		return bad("instruction is not valid UTF-8")
	}
	return nil
}

// Span is a part of a document, in characters (Unicode code points) of the
// original text: [Start, End).
type Span struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// OptionsReranker is the optional capability of a Reranker that takes
// per-call RerankOptions (the ONNX engine, rerank.Engine, has it). RerankWith
// is Rerank with opts; opts' zero value must give Rerank's result.
type OptionsReranker interface {
	Reranker
	RerankWith(ctx context.Context, query string, docs []string, opts RerankOptions) ([]Score, error)
}

// RerankWith reranks docs with r under opts: zero options call r.Rerank;
// otherwise r must implement OptionsReranker, or the error wraps
// ErrUnsupported. Invalid options wrap ErrInvalidInput. An answer no
// working reranker gives, a score count other than len(docs) or a NaN
// score, is r's failure (ErrUnavailable): Pipeline.Search, the server's
// rerank endpoints and fallback chains all rerank through it.
func RerankWith(ctx context.Context, r Reranker, query string, docs []string, opts RerankOptions) ([]Score, error) {
	var scores []Score
	var err error
	if opts.IsZero() {
		scores, err = r.Rerank(ctx, query, docs)
	} else if err = opts.checkFor(r); err == nil {
		scores, err = r.(OptionsReranker).RerankWith(ctx, query, docs, opts)
	}
	if err != nil {
		return nil, err
	}
	if len(scores) != len(docs) {
		return nil, fmt.Errorf("twostage: reranker returned %d scores for %d documents: %w", len(scores), len(docs), ErrUnavailable)
	}
	for i, s := range scores {
		// NaN would fail every MinScore comparison and drop its hit unseen.
		if math.IsNaN(s.Score) {
			return nil, fmt.Errorf("twostage: reranker scored document %d NaN: %w", i, ErrUnavailable)
		}
	}
	return scores, nil
}

// checkFor returns the error RerankWith refuses opts with for r: nil for
// zero options, an invalid option (ErrInvalidInput), or options r cannot
// take (ErrUnsupported).
func (o RerankOptions) checkFor(r Reranker) error {
	if o.IsZero() {
		return nil
	}
	if err := o.Check(); err != nil {
		return err
	}
	if _, ok := r.(OptionsReranker); !ok {
		return fmt.Errorf("twostage: reranker %T takes no per-call options (instruction, long documents, token caps): %w", r, ErrUnsupported)
	}
	return nil
}
