//go:build xla

package inference_test

import (
	"context"
	"math"
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
	testassets.Path(t, "pjrt/pjrt_c_api_cpu_plugin.so")
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 4})
	rt, err := inference.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := rt.Open(filepath.Join(ckpt, "config.json"), inference.Score, 0, &inference.ModelOptions{Provider: inference.ProviderXLA, MaxBatchSize: 32, MaxWait: 200e6, NoLengthGrouping: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Signature().Prefix {
		t.Fatal("the XLA backend does not continue a decoder's prefixes")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	draw := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = rng.Int64N(int64(tinymodel.Qwen3Vocab))
		}
		return out
	}
	var calls [][]inference.Input
	for _, p := range []int{40, 12, 25, 0} {
		prefix := draw(p)
		var tails [][]int64
		for range 5 {
			tails = append(tails, draw(1+rng.IntN(20)))
		}
		calls = append(calls, prefixed(prefix, tails...))
	}
	got := make([][][]float32, len(calls))
	errs := make(chan error, len(calls))
	for i, c := range calls {
		go func() {
			var err error
			got[i], err = m.Run(context.Background(), c)
			errs <- err
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := m.Stats()
	if st.PrefixTokens < 40+12+25 || st.RealTokens >= int64(5*(40+12+25)) {
		t.Errorf("stats %+v: want the prefixes run (%d tokens) once per batch, not with every input", st, 40+12+25)
	}
	for i, c := range calls {
		whole := make([]inference.Input, len(c))
		for j, in := range c {
			whole[j] = inference.Input{IDs: in.IDs}
		}
		want, err := m.Run(context.Background(), whole)
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			g, w := float64(got[i][j][0]), float64(want[j][0])
			if math.Abs(g-w) > 1e-5*math.Abs(w) || math.IsNaN(g) {
				t.Errorf("call %d input %d: prefixed %v, whole %v", i, j, g, w)
			}
		}
	}
}
