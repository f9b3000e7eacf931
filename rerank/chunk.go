package rerank

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"twostage"
	"twostage/inference"
	"twostage/internal/par"
	"twostage/modeldir"
	"twostage/tokenizer"
)

// defaultMaxChunks is the bound on windows per document when neither the
// call nor the engine sets one.
const defaultMaxChunks = 8

// RerankWith implements twostage.OptionsReranker: Rerank under per-call
// options. Zero fields of opts take the engine's defaults (EngineOptions).
//
// The caps come first: MaxTokensPerQuery and MaxTokensPerDoc cut the texts
// at a character boundary to that many tokens (as CutTokens does), before
// the prompt is built, so the template is never cut. With
// twostage.Chunk, each document is split into windows of ChunkTokens tokens
// (at most the tokens that fit beside the query, which is also the
// default), consecutive windows sharing ChunkOverlap tokens, at most
// MaxChunks windows (default 8; the text after them is not scored). Every
// window is scored as a document of its own (zerank's 10,000-character cut
// applies to each window, not to the document), the document gets the best
// window's Score, and Score.Chunk holds that window's character offsets in
// the document as sent. Windows end at character boundaries, so a token
// that straddles one is split as the tokenizer splits the window alone.
//
// Errors are Rerank's; besides, invalid options wrap
// twostage.ErrInvalidInput, an instruction for a BERT cross-encoder
// twostage.ErrUnsupported, and an instruction whose template alone exceeds
// the max length twostage.ErrInvalidInput.
func (e *Engine) RerankWith(ctx context.Context, query string, docs []string, opts twostage.RerankOptions) ([]twostage.Score, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("rerank: engine: %w", twostage.ErrClosed)
	}
	if err := opts.Check(); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	o := e.merge(opts)
	if err := checkText("query", query); err != nil {
		return nil, err
	}
	if strings.TrimSpace(query) == "" {
		return nil, fmt.Errorf("rerank: empty query: %w", twostage.ErrInvalidInput)
	}
	for i, d := range docs {
		if err := checkText(fmt.Sprintf("document %d", i), d); err != nil {
			return nil, err
		}
	}
	if o.Instruction != "" && e.cfg.Family == modeldir.FamilyBertCrossEncoder {
		return nil, fmt.Errorf("rerank: a %s model takes no instruction: %w", e.cfg.Family, twostage.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if len(docs) == 0 {
		return []twostage.Score{}, nil
	}
	if o.MaxTokensPerQuery > 0 {
		query, _ = cutTokens(e.prompt.tok, query, o.MaxTokensPerQuery)
	}
	if o.MaxTokensPerDoc > 0 {
		cut := make([]string, len(docs))
		par.For(len(docs), min(runtime.GOMAXPROCS(0), (len(docs)+15)/16), func(i int) error {
			cut[i], _ = cutTokens(e.prompt.tok, docs[i], o.MaxTokensPerDoc)
			return nil
		})
		docs = cut
	}
	q := e.prompt.queryWith(query, o.Instruction)
	if o.Instruction != "" {
		if n := len(e.prompt.pair(e.prompt.queryWith("", o.Instruction), "").IDs); n > e.maxLen {
			return nil, fmt.Errorf("rerank: the instruction makes the template %d tokens, above the max length %d: %w", n, e.maxLen, twostage.ErrInvalidInput)
		}
	}
	if o.LongDocuments == twostage.Chunk {
		return e.rerankChunks(ctx, q, docs, o)
	}
	raw, err := e.model.Stream(ctx, len(docs), func(lo, hi int) []inference.Input { return e.pairs(q, docs[lo:hi]) })
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	res := make([]twostage.Score, len(docs))
	for i, r := range raw {
		x := float64(r[0])
		res[i] = twostage.Score{Score: e.cfg.Calibration.Apply(x), Raw: x}
	}
	return res, nil
}

// merge fills opts' zero fields with the engine's defaults.
func (e *Engine) merge(opts twostage.RerankOptions) twostage.RerankOptions {
	d := e.defaults
	if opts.Instruction == "" {
		opts.Instruction = d.Instruction
	}
	if opts.LongDocuments == "" {
		opts.LongDocuments = d.LongDocuments
	}
	if opts.ChunkTokens == 0 {
		opts.ChunkTokens = d.ChunkTokens
	}
	if opts.ChunkOverlap == 0 {
		opts.ChunkOverlap = d.ChunkOverlap
	}
	if opts.MaxChunks == 0 {
		opts.MaxChunks = d.MaxChunks
	}
	if opts.MaxChunks == 0 {
		opts.MaxChunks = defaultMaxChunks
	}
	return opts
}

// rerankChunks scores every window of every document and keeps each
// document's best.
func (e *Engine) rerankChunks(ctx context.Context, q *query, docs []string, o twostage.RerankOptions) ([]twostage.Score, error) {
	// The window: what fits beside the query, or less when asked.
	n := max(1, e.maxLen-len(e.prompt.pair(q, "").IDs))
	if o.ChunkTokens > 0 {
		n = min(n, o.ChunkTokens)
	}
	overlap := min(o.ChunkOverlap, n-1)
	spans := make([][]span, len(docs))
	par.For(len(docs), min(runtime.GOMAXPROCS(0), (len(docs)+3)/4), func(i int) error {
		spans[i] = windows(e.prompt.tok, docs[i], n, overlap, o.MaxChunks)
		return nil
	})
	type item struct{ doc, lo, hi int }
	var items []item
	for i, ws := range spans {
		for _, w := range ws {
			items = append(items, item{i, w.lo, w.hi})
		}
	}
	raw, err := e.model.Stream(ctx, len(items), func(lo, hi int) []inference.Input {
		out := make([]inference.Input, hi-lo)
		par.For(hi-lo, min(runtime.GOMAXPROCS(0), (hi-lo+15)/16), func(k int) error {
			it := items[lo+k]
			out[k] = e.prompt.pair(q, docs[it.doc][it.lo:it.hi])
			return nil
		})
		return e.share(out)
	})
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	res := make([]twostage.Score, len(docs))
	best := make([]int, len(docs))
	for i := range best {
		best[i] = -1
	}
	for k, it := range items {
		if b := best[it.doc]; b < 0 || raw[k][0] > raw[b][0] {
			best[it.doc] = k
		}
	}
	for i, k := range best {
		it := items[k]
		x := float64(raw[k][0])
		start := utf8.RuneCountInString(docs[i][:it.lo])
		res[i] = twostage.Score{Score: e.cfg.Calibration.Apply(x), Raw: x,
			Chunk: &twostage.Span{Start: start, End: start + utf8.RuneCountInString(docs[i][it.lo:it.hi])}}
	}
	return res, nil
}

// span is a window of a document, in bytes: doc[lo:hi].
type span struct{ lo, hi int }

// windows splits doc into at most maxChunks windows of at most n tokens
// each (a single character above n tokens makes a window of its own),
// consecutive windows sharing about overlap tokens (overlap < n), the
// windows ending at character boundaries. An empty document is one empty
// window.
func windows(tok *tokenizer.Tokenizer, doc string, n, overlap, maxChunks int) []span {
	count := func(s string) int {
		e, _ := tok.Encode(s, false)
		return len(e.IDs)
	}
	var out []span
	for s := 0; len(out) < maxChunks; {
		rest := doc[s:]
		// A prefix long enough to hold more than n tokens, or all of rest.
		b := min(len(rest), 8*n)
		for b < len(rest) && count(rest[:runeStart(rest, b)]) <= n {
			b = min(len(rest), 2*b)
		}
		piece, _ := cutTokens(tok, rest[:runeStart(rest, b)], n)
		hi := s + len(piece)
		if hi == s && len(rest) > 0 {
			_, size := utf8.DecodeRuneInString(rest)
			hi = s + size
		}
		out = append(out, span{s, hi})
		if hi >= len(doc) {
			break
		}
		next := hi
		if overlap > 0 {
			next = s + suffixStart(count, doc[s:hi], overlap)
		}
		if next <= s {
			next = hi
		}
		s = next
	}
	return out
}

// runeStart moves byte index i of s back to the start of its character.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// suffixStart returns the greatest character boundary p of text whose
// suffix text[p:] holds at least k tokens (0 when the whole text holds
// fewer), by bisection: token counts shrink about monotonically as p grows.
func suffixStart(count func(string) int, text string, k int) int {
	bounds := make([]int, 0, len(text)+1)
	for i := range text {
		bounds = append(bounds, i)
	}
	lo, hi := 0, len(bounds) // text[bounds[lo]:] holds >= k tokens; from hi on, fewer
	if count(text) < k {
		return 0
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if count(text[bounds[mid]:]) >= k {
			lo = mid
		} else {
			hi = mid
		}
	}
	return bounds[lo]
}
