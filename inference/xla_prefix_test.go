//go:build xla

package inference_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"twostage/inference"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestXLAPrefix runs a tiny zerank checkpoint on the XLA backend: calls of
// different prefixes (and one without), batched together, score as their
// inputs run whole (1e-5 relative), and the prefixes run once per batch.
func TestXLAPrefix(t *testing.T) {
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 4})
	m := openScore(t, filepath.Join(ckpt, "config.json"), &inference.ModelOptions{Provider: inference.ProviderXLA, MaxBatchSize: 32, MaxWait: 200e6, NoLengthGrouping: true})
	if !m.Signature().Prefix {
		t.Fatal("the XLA backend does not continue a decoder's prefixes")
	}
	calls := prefixCalls(rand.New(rand.NewPCG(7, 8)), []int{40, 12, 25, 0}, 5, 20)
	got := runAll(t, m, calls)
	st := m.Stats()
	if st.PrefixTokens < 40+12+25 || st.RealTokens >= int64(5*(40+12+25)) {
		t.Errorf("stats %+v: want the prefixes run (%d tokens) once per batch, not with every input", st, 40+12+25)
	}
	checkWhole(t, m, calls, got)
}
