package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBarQuietOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "indexing", 10, "docs")
	for range 10 {
		b.Add(1)
	}
	if buf.Len() != 0 {
		t.Fatalf("drew %q on a non-terminal", buf.String())
	}
	b.Finish()
	b.Finish()
	got := buf.String()
	if !strings.HasPrefix(got, "indexing: 10 docs in ") || strings.Count(got, "\n") != 1 {
		t.Errorf("summary %q, want one line starting %q", got, "indexing: 10 docs in ")
	}
}

func TestBarLine(t *testing.T) {
	b := New(&bytes.Buffer{}, "convert", 4, "tensors")
	b.Set(2)
	if l := b.line(); !strings.Contains(l, " 50% 2/4 tensors") || !strings.Contains(l, "[===============               ]") {
		t.Errorf("line %q", l)
	}
}
