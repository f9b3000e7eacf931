package rerank

import (
	"context"
	"errors"
	"math"
	"testing"

	"twostage/errdefs"
	"twostage/internal/textfeat"
)

func TestLexicalKnownAnswer(t *testing.T) {
	// Worked by hand: n=3, df(a)=2, idf=ln(1.6), avgdl=4/3, k1=0.9, b=0.4;
	// one query word, so no proximity bonus.
	got, err := NewLexical().Rerank(context.Background(), "A", []string{"a b", "a", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.4293302382533161, 0.4933739754513246, 0}
	for i, w := range want {
		if math.Abs(got[i].Raw-w) > 1e-12 {
			t.Errorf("doc %d: raw %v, want %v", i, got[i].Raw, w)
		}
		if s := w / (w + 1); math.Abs(got[i].Score-s) > 1e-12 {
			t.Errorf("doc %d: score %v, want %v", i, got[i].Score, s)
		}
	}
}

func TestLexicalOrdersByRelevance(t *testing.T) {
	docs := []string{
		"Python is a programming language.",
		"Machine learning is a field of AI that learns from data.",
		"Deep learning uses neural networks with many layers.",
	}
	got, err := NewLexical().Rerank(context.Background(), "What is machine learning?", docs)
	if err != nil {
		t.Fatal(err)
	}
	if !(got[1].Score > got[2].Score && got[2].Score > 0 && got[1].Score > got[0].Score) {
		t.Errorf("scores %+v: want doc 1 first, doc 2 above zero", got)
	}
	for _, s := range got {
		if s.Score < 0 || s.Score >= 1 {
			t.Errorf("score %v outside [0,1)", s.Score)
		}
	}
}

func TestLexicalBadInput(t *testing.T) {
	l := NewLexical()
	if got, err := l.Rerank(context.Background(), "q", nil); err != nil || len(got) != 0 {
		t.Errorf("no documents: got %v, %v; want empty, nil", got, err)
	}
	if _, err := l.Rerank(context.Background(), "q", []string{"ok", "bad \xff"}); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("invalid UTF-8 document: got %v, want ErrInvalidInput", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Rerank(ctx, "q", []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v, want context.Canceled", err)
	}
}

func textfeatWords(s string) []string { return textfeat.Words(nil, s) }

func TestCoverGap(t *testing.T) {
	tests := []struct {
		doc, query string
		want       int
	}{
		{"machine learning is fun", "what is machine learning", 0},
		{"deep learning is a subset of machine learning", "what is machine learning", 3},
		{"learning alone", "machine learning", -1},
		{"a b x x x a y b", "a b", 0},
		{"a x x b", "a b", 2},
	}
	for _, tc := range tests {
		if got := coverGap(textfeatWords(tc.doc), unique(textfeatWords(tc.query))); got != tc.want {
			t.Errorf("coverGap(%q, %q) = %d, want %d", tc.doc, tc.query, got, tc.want)
		}
	}
}

func TestLexicalPrefersCloseQueryWords(t *testing.T) {
	// Same words, same length: the one with the query words together wins.
	got, err := NewLexical().Rerank(context.Background(), "machine learning", []string{
		"machine tools and learning curves", "learning machine tools and curves", "curves and tools machine learning"})
	if err != nil {
		t.Fatal(err)
	}
	if !(got[2].Raw > got[0].Raw && got[1].Raw > got[0].Raw && math.Abs(got[1].Raw-got[2].Raw) < 1e-12) {
		t.Errorf("raw scores %v: want adjacent pairs (docs 1, 2) equal and above the spread one (doc 0)", got)
	}
}
