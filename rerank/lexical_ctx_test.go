package rerank

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cancelAfter is a context whose Err reports Canceled from its n+1st call
// on: it is canceled while the work that looked at it first is running.
type cancelAfter struct {
	context.Context
	n, calls atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) > c.n.Load() {
		return context.Canceled
	}
	return nil
}

func (c *cancelAfter) Done() <-chan struct{}       { return nil }
func (c *cancelAfter) Deadline() (time.Time, bool) { return time.Time{}, false }

func newCancelAfter(n int64) *cancelAfter {
	c := &cancelAfter{Context: context.Background()}
	c.n.Store(n)
	return c
}

// TestLexicalStopsWhenCanceled is issue 23 item 1: a context canceled while
// Rerank runs stops it inside its loop over documents.
func TestLexicalStopsWhenCanceled(t *testing.T) {
	docs := make([]string, 100)
	for i := range docs {
		docs[i] = fmt.Sprintf("w%d w%d w%d", i, i+1, i+2)
	}
	ctx := newCancelAfter(3) // the entry checks pass, then it is canceled
	if _, err := NewLexical().Rerank(ctx, "w1 w2 w3", docs); !errors.Is(err, context.Canceled) {
		t.Errorf("Rerank with a context canceled midway: %v, want context.Canceled", err)
	}
	if got := ctx.calls.Load(); got < 4 {
		t.Errorf("Rerank looked at its context %d times, want it inside the loop", got)
	}
}

// TestLexicalBoundsQueryTerms: words after the first MaxLexicalTerms
// distinct ones do not change the scores.
func TestLexicalBoundsQueryTerms(t *testing.T) {
	var q strings.Builder
	for i := range MaxLexicalTerms + 500 {
		fmt.Fprintf(&q, "w%d ", i)
	}
	words := strings.Fields(q.String())
	docs := []string{"w1 w2 x", fmt.Sprintf("w%d w%d", MaxLexicalTerms+10, MaxLexicalTerms+20), "w5 y w1000"}
	l := NewLexical()
	long, err := l.Rerank(context.Background(), q.String(), docs)
	if err != nil {
		t.Fatal(err)
	}
	short, err := l.Rerank(context.Background(), strings.Join(words[:MaxLexicalTerms], " "), docs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range docs {
		if long[i] != short[i] {
			t.Errorf("document %d: %+v with the long query, %+v with its first %d words", i, long[i], short[i], MaxLexicalTerms)
		}
	}
	if long[1].Raw != 0 {
		t.Errorf("a document holding only words past the bound scored %v, want 0", long[1].Raw)
	}
}
