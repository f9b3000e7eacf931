//go:build unix

package spec

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"twostage"
)

// TestMemFileLock: a second open of one mem:FILE fails while the first
// holds it (two servers would overwrite each other's saves), and succeeds
// once it is closed.
func TestMemFileLock(t *testing.T) {
	spec := "mem:" + filepath.Join(t.TempDir(), "sub", "docs.snap")
	info := twostage.Info{Dim: 4, Metric: twostage.Cosine}
	first, err := openMem(context.Background(), spec, info)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openMem(context.Background(), spec, info); !errors.Is(err, twostage.ErrUnavailable) {
		t.Errorf("second open while the first holds the file: %v, want ErrUnavailable", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := openMem(context.Background(), spec, info)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Error(err)
	}
}
