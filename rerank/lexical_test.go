package rerank

import (
	"context"
	"errors"
	"math"
	"testing"

	"twostage"
)

func TestLexicalKnownAnswer(t *testing.T) {
	// Worked by hand: n=3, df(a)=2, idf=ln(1.6), avgdl=4/3, k1=1.2, b=0.75.
	got, err := NewLexical().Rerank(context.Background(), "A", []string{"a b", "a", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.39019169220400696, 0.523548346501579, 0}
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
	if _, err := l.Rerank(context.Background(), "q", []string{"ok", "bad \xff"}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("invalid UTF-8 document: got %v, want ErrInvalidInput", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Rerank(ctx, "q", []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v, want context.Canceled", err)
	}
}
