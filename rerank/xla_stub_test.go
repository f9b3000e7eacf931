//go:build !xla

package rerank

import (
	"errors"
	"strings"
	"testing"

	"twostage/errdefs"
	"twostage/inference"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestXLANotBuilt: without the xla build tag the provider says how to get it.
func TestXLANotBuilt(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	_, err := Open(dir, &EngineOptions{ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA}})
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "-tags xla") {
		t.Fatalf("Open: %v, want ErrUnsupported naming -tags xla", err)
	}
}
