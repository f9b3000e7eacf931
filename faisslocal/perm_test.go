//go:build faiss

package faisslocal_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"twostage"
	"twostage/faisslocal"
)

// TestFilesArePrivate is issue 23 item 8: the store's directory is 0700
// and every file in it 0600 (documents, index, snapshot, log, lock), so
// other users of the machine cannot read the documents.
func TestFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	st, err := faisslocal.Open(dir, &faisslocal.Options{Dim: 3, Metric: twostage.Cosine})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Upsert(context.Background(), []twostage.Document{{ID: "a", Text: "secret", Vector: []float32{1, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // saves the index
		t.Fatal(err)
	}
	n := 0
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Errorf("walked %d entries, want the directory and its files", n)
	}
}
