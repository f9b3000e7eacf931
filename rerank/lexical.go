package rerank

import (
	"context"
	"fmt"
	"math"

	"twostage"
	"twostage/internal/textfeat"
)

// Lexical is the model-free reranker: Okapi BM25 of the query's words over
// the candidate set itself (document frequencies come from the candidates,
// so no corpus statistics are needed), mapped to [0,1] by raw/(raw+1). It
// needs no files and is the zero-setup default; a cross-encoder (zerank-2
// through the ONNX engine) judges meaning, not shared words.
type Lexical struct {
	k1, b float64
}

// NewLexical returns a BM25 reranker with the usual k1 = 1.2, b = 0.75.
func NewLexical() *Lexical { return &Lexical{k1: 1.2, b: 0.75} }

// Rerank implements twostage.Reranker. Score.Raw is the BM25 score.
func (l *Lexical) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	if err := twostage.CheckText("query", query); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if len(docs) == 0 {
		return []twostage.Score{}, nil
	}
	qterms := unique(textfeat.Words(nil, query))
	tfs := make([]map[string]int, len(docs))
	df := make(map[string]int, len(qterms))
	var totalLen float64
	for i, d := range docs {
		if err := twostage.CheckText(fmt.Sprintf("document %d", i), d); err != nil {
			return nil, fmt.Errorf("rerank: %w", err)
		}
		words := textfeat.Words(nil, d)
		totalLen += float64(len(words))
		tf := make(map[string]int, len(qterms))
		for _, w := range words {
			tf[w]++
		}
		for _, q := range qterms {
			if tf[q] > 0 {
				df[q]++
			}
		}
		tfs[i] = map[string]int{"": len(words)}
		for _, q := range qterms {
			tfs[i][q] = tf[q]
		}
	}
	n := float64(len(docs))
	avgLen := max(totalLen/n, 1)
	out := make([]twostage.Score, len(docs))
	for i, tf := range tfs {
		var raw float64
		dl := float64(tf[""])
		for _, q := range qterms {
			f := float64(tf[q])
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (n-float64(df[q])+0.5)/(float64(df[q])+0.5))
			raw += idf * f * (l.k1 + 1) / (f + l.k1*(1-l.b+l.b*dl/avgLen))
		}
		out[i] = twostage.Score{Score: raw / (raw + 1), Raw: raw}
	}
	return out, nil
}

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
