//go:build !xla

package inference_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostage/errdefs"
	"twostage/inference"
)

// TestXLANotBuilt: without the xla build tag the default runtime still
// knows provider xla, and says how to get it.
func TestXLANotBuilt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := inference.Default().Open(path, inference.Score, 0, &inference.ModelOptions{Provider: inference.ProviderXLA})
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "-tags xla") {
		t.Fatalf("Open: %v, want ErrUnsupported naming -tags xla", err)
	}
}
