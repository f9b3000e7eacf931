//go:build faiss

package faisslocal_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"twostage"
	"twostage/faisslocal"
	"twostage/internal/testassets"
)

// TestCorruptFiles damages each file of a saved store in turn: Open must
// fail with ErrCorrupt (never panic), and RebuildIndex must recover from a
// damaged index snapshot.
func TestCorruptFiles(t *testing.T) {
	const dim = 8
	docs := clustered(11, 300, dim)
	src := t.TempDir()
	d := openDriver(t, src, &faisslocal.Options{Dim: dim, Index: faisslocal.HNSW{M: 8}})
	upsert(t, d, docs)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	index := filepath.Base(glob(t, src, "index-*.faiss")[0])

	truncate := func(name string, frac float64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			rewrite(t, dir, name, func(b []byte) []byte { return b[:int(float64(len(b))*frac)] })
		}
	}
	flip := func(name string, frac float64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			rewrite(t, dir, name, func(b []byte) []byte {
				b[int(float64(len(b))*frac)] ^= 0x5a
				return b
			})
		}
	}
	write := func(name, content string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(name string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name       string
		damage     func(t *testing.T, dir string)
		rebuildFix bool // Options.RebuildIndex recovers every document
	}{
		{"index truncated", truncate(index, 0.5), true},
		{"index empty", truncate(index, 0), true},
		{"index byte flipped", flip(index, 0.7), true},
		{"index missing", remove(index), true},
		{"snapshot truncated", truncate("SNAPSHOT", 0.6), true},
		{"snapshot byte flipped", flip("SNAPSHOT", 0.5), true},
		{"manifest garbage", write("MANIFEST", "{not json"), false},
		{"manifest wrong dim", write("MANIFEST", `{"format":"faisslocal/1","dim":0,"metric":"cosine","index":{"kind":"flat"}}`), false},
		{"manifest missing", remove("MANIFEST"), false},
		{"database truncated", truncate("docs.db", 0.3), false},
		{"database meta pages damaged", flipMetas, false},
		{"database value damaged", flipValue, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testassets.CopyDir(t, src)
			tc.damage(t, dir)
			d, err := faisslocal.OpenDriver(dir, nil)
			if err == nil {
				// Damage inside a value may only show when it is read.
				_, err = d.Get(ctx, hitIDs(toHits(docs)))
				d.Close()
			}
			if !errors.Is(err, faisslocal.ErrCorrupt) {
				t.Fatalf("Open (and Get) of a damaged store: %v, want ErrCorrupt", err)
			}
			t.Logf("error: %v", err)
			if !tc.rebuildFix {
				return
			}
			d, err = faisslocal.OpenDriver(dir, &faisslocal.Options{RebuildIndex: true})
			if err != nil {
				t.Fatalf("Open with RebuildIndex: %v", err)
			}
			defer d.Close()
			if n, _ := d.Count(ctx); n != len(docs) {
				t.Fatalf("after rebuild Count = %d, want %d", n, len(docs))
			}
			hits, err := d.Search(ctx, twostage.Query{Vector: docs[9].Vector, K: 1})
			if err != nil || len(hits) != 1 || hits[0].ID != docs[9].ID {
				t.Fatalf("after rebuild search: %v, %v", hitIDs(hits), err)
			}
		})
	}
}

// rewrite replaces the bytes of dir/name by edit's result.
func rewrite(t *testing.T, dir, name string, edit func(b []byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flipMetas damages both of bbolt's meta pages (one damaged meta page is
// survived: bbolt falls back to the other).
func flipMetas(t *testing.T, dir string) {
	t.Helper()
	rewrite(t, dir, "docs.db", func(b []byte) []byte {
		b[20] ^= 0xff
		b[os.Getpagesize()+20] ^= 0xff
		return b
	})
}

// flipValue damages a byte in the middle of docs.db's largest run of vector
// data, where bbolt keeps no checksum of its own.
func flipValue(t *testing.T, dir string) {
	t.Helper()
	// Find "d00123" (a key) and damage the bytes after its value's start on
	// the same leaf page: values follow keys in bbolt's leaf layout, so
	// flipping the bytes just after every occurrence's key hits a value.
	rewrite(t, dir, "docs.db", func(b []byte) []byte {
		n := 0
		for i := 0; i+6 <= len(b); i++ {
			if string(b[i:i+6]) == "d00123" {
				b[i+6] ^= 0xff
				b[i+7] ^= 0xff
				n++
			}
		}
		if n == 0 {
			t.Fatal("key not found in docs.db")
		}
		return b
	})
}
