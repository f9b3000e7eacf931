package embed

import (
	"context"
	"errors"
	"math"
	"testing"

	"twostage"
)

func TestHashing(t *testing.T) {
	h, err := NewHashing(64)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	docs := []string{"machine learning from data", "cooking pasta at home", "", "machine learning from data"}
	vs, err := h.EmbedDocuments(ctx, docs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if len(v) != 64 {
			t.Fatalf("vector %d has %d dims", i, len(v))
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("vector %d has squared norm %v, want 1", i, n)
		}
	}
	q, err := h.EmbedQuery(ctx, "What is machine learning?")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := twostage.Cosine.Similarity(q, vs[0]), twostage.Cosine.Similarity(q, vs[1]); a <= b {
		t.Errorf("query vs shared-words doc %v <= vs unrelated doc %v", a, b)
	}
	if s := twostage.Cosine.Similarity(vs[0], vs[3]); math.Abs(s-1) > 1e-6 {
		t.Errorf("same text gives similarity %v, want 1", s)
	}
	h2, _ := NewHashing(64)
	v2, _ := h2.EmbedQuery(ctx, "What is machine learning?")
	for i := range q {
		if q[i] != v2[i] {
			t.Fatalf("not deterministic at %d: %v vs %v", i, q[i], v2[i])
		}
	}
}

func TestHashingErrors(t *testing.T) {
	for _, d := range []int{-1, 4, 1 << 20} {
		if _, err := NewHashing(d); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("NewHashing(%d): got %v, want ErrInvalidInput", d, err)
		}
	}
	h, _ := NewHashing(0)
	if h.Dim() != 384 {
		t.Errorf("default dim %d, want 384", h.Dim())
	}
	if _, err := h.EmbedDocuments(context.Background(), []string{"ok", "\xff"}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("invalid UTF-8: got %v, want ErrInvalidInput", err)
	}
}
