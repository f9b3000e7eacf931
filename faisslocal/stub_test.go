//go:build !faiss

package faisslocal_test

import (
	"errors"
	"strings"
	"testing"

	"twostage"
	"twostage/faisslocal"
)

func TestStubSaysHowToBuild(t *testing.T) {
	s, err := faisslocal.Open(t.TempDir(), &faisslocal.Options{Dim: 4})
	if s != nil || !errors.Is(err, faisslocal.ErrNotBuilt) || !errors.Is(err, twostage.ErrUnsupported) {
		t.Fatalf("Open without the faiss tag = %v, %v; want ErrNotBuilt", s, err)
	}
	if !strings.Contains(err.Error(), "build with -tags faiss") {
		t.Errorf("error %q does not say how to build", err)
	}
	if got := faisslocal.SIMD(); got != "" {
		t.Errorf("SIMD() without FAISS = %q, want \"\"", got)
	}
}
