package embed

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestHashingStopsWhenCanceled is issue 23 item 1: a long text is hashed
// with looks at the context, so a canceled request stops.
func TestHashingStopsWhenCanceled(t *testing.T) {
	h, err := NewHashing(64)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	long := strings.Repeat("word ", 3*ctxEvery)
	if _, err := h.EmbedQuery(ctx, long); !errors.Is(err, context.Canceled) {
		t.Errorf("EmbedQuery of %d words with a canceled context: %v, want context.Canceled", 3*ctxEvery, err)
	}
	if _, err := h.EmbedDocuments(ctx, []string{"short"}); !errors.Is(err, context.Canceled) {
		t.Errorf("EmbedDocuments with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := h.EmbedQuery(context.Background(), long); err != nil {
		t.Errorf("EmbedQuery of a long text: %v", err)
	}
}
