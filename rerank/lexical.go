package rerank

import (
	"context"
	"fmt"
	"math"

	"twostage"
	"twostage/driver"
	"twostage/internal/textfeat"
)

// Lexical is the model-free reranker: Okapi BM25 of the query's words over
// the candidate set itself (document frequencies come from the candidates,
// so no corpus statistics are needed) plus a term-proximity bonus, mapped to
// [0,1] by raw/(raw+1).
//
// The proximity bonus is Tao and Zhai's π = ln(α + e^-δ) with α = 0.3
// (SIGIR 2007), shifted by -ln α so that no proximity evidence scores 0:
// ln(1 + e^-δ/α). When a document holds m >= 2 distinct query words, δ is
// the number of other words inside the shortest window that covers all m of
// them (0 when they stand together, bonus ln(1+1/0.3) ≈ 1.47); with fewer
// than two there is no bonus. It prefers "Machine learning is ..." over a passage that mentions
// learning twice but only in passing. It
// needs no files and is the zero-setup default; a cross-encoder (zerank-2
// through the ONNX engine) judges meaning, not shared words.
type Lexical struct {
	k1, b float64
}

// NewLexical returns a BM25 reranker with k1 = 0.9, b = 0.4, the defaults of
// Anserini and Pyserini (tuned on MS MARCO passages, short texts like
// reranking candidates).
func NewLexical() *Lexical { return &Lexical{k1: 0.9, b: 0.4} }

// Rerank implements twostage.Reranker. Score.Raw is the BM25 score.
func (l *Lexical) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	if err := driver.CheckText("query", query); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if len(docs) == 0 {
		return []twostage.Score{}, nil
	}
	qterms := unique(textfeat.Words(nil, query))
	if len(qterms) > MaxLexicalTerms {
		qterms = qterms[:MaxLexicalTerms]
	}
	tfs := make([]map[string]int, len(docs)) // query-word frequencies per document
	lens := make([]int, len(docs))
	spans := make([]int, len(docs))
	df := make(map[string]int, len(qterms))
	qset := make(map[string]bool, len(qterms))
	for _, q := range qterms {
		qset[q] = true
	}
	var totalLen float64
	for i, d := range docs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("rerank: %w", err)
		}
		if err := driver.CheckText(fmt.Sprintf("document %d", i), d); err != nil {
			return nil, fmt.Errorf("rerank: %w", err)
		}
		words := textfeat.Words(nil, d)
		totalLen += float64(len(words))
		tf := make(map[string]int, len(qterms))
		for _, w := range words {
			if qset[w] {
				tf[w]++
			}
		}
		for _, q := range qterms {
			if tf[q] > 0 {
				df[q]++
			}
		}
		tfs[i], lens[i] = tf, len(words)
		spans[i] = coverGap(words, qterms)
	}
	n := float64(len(docs))
	avgLen := max(totalLen/n, 1)
	out := make([]twostage.Score, len(docs))
	for i, tf := range tfs {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("rerank: %w", err)
			}
		}
		var raw float64
		dl := float64(lens[i])
		for _, q := range qterms {
			f := float64(tf[q])
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (n-float64(df[q])+0.5)/(float64(df[q])+0.5))
			raw += idf * f * (l.k1 + 1) / (f + l.k1*(1-l.b+l.b*dl/avgLen))
		}
		if spans[i] >= 0 {
			raw += math.Log1p(math.Exp(-float64(spans[i])) / proximityAlpha)
		}
		out[i] = twostage.Score{Score: raw / (raw + 1), Raw: raw}
	}
	return out, nil
}

// MaxLexicalTerms bounds the distinct query words Lexical scores: words
// after the first MaxLexicalTerms distinct ones are ignored, so the work per
// document is bounded however long the query (BM25 over a thousand distinct
// words already ranks by little more than length).
const MaxLexicalTerms = 1024

// proximityAlpha is α of Tao and Zhai's proximity bonus.
const proximityAlpha = 0.3

func unique(ws []string) []string {
	seen := make(map[string]bool, len(ws))
	out := ws[:0]
	for _, w := range ws {
		if w != "" && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// coverGap returns the number of non-query words inside the shortest window
// of words that holds every distinct query word the document contains, or
// -1 when it contains fewer than two of them.
func coverGap(words, qterms []string) int {
	idx := make(map[string]int, len(qterms))
	for i, q := range qterms {
		idx[q] = i
	}
	present := map[int]bool{}
	for _, w := range words {
		if i, ok := idx[w]; ok {
			present[i] = true
		}
	}
	m := len(present)
	if m < 2 {
		return -1
	}
	// Sliding window over the positions of query words.
	counts := make([]int, len(qterms))
	have, best, left := 0, len(words), 0
	for right, w := range words {
		i, ok := idx[w]
		if !ok {
			continue
		}
		if counts[i]++; counts[i] == 1 {
			have++
		}
		for have == m {
			if lw, ok := idx[words[left]]; ok {
				if right-left+1 < best {
					best = right - left + 1
				}
				if counts[lw]--; counts[lw] == 0 {
					have--
				}
			}
			left++
		}
	}
	return best - m
}
