package testassets_test

import (
	"os"
	"path/filepath"
	"testing"

	"twostage/internal/testassets"
)

func TestCopyDir(t *testing.T) {
	src := t.TempDir()
	testassets.WriteFiles(t, src, map[string]string{"a.json": `{"x":1}`, "b.bin": "\x00\x01"})
	dst := testassets.CopyDir(t, src)
	if dst == src {
		t.Fatal("CopyDir returned its source")
	}
	for name, want := range map[string]string{"a.json": `{"x":1}`, "b.bin": "\x00\x01"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(got) != want {
			t.Errorf("copy of %s = %q, %v; want %q", name, got, err, want)
		}
	}
	// The copy is independent: writing it leaves the source as it was.
	if err := os.WriteFile(filepath.Join(dst, "a.json"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "a.json")); string(b) != `{"x":1}` {
		t.Errorf("source changed with the copy: %q", b)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 2 {
		t.Errorf("copy holds %d entries, want 2", len(ents))
	}
}
