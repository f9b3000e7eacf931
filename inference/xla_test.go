//go:build xla

package inference_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"twostage/errdefs"
	"twostage/inference"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/internal/xla"
	"twostage/modeldir"
)

// TestXLABackend: a runtime given no backends knows provider xla; the
// executor's bucket shape is what the model pads to and counts (fill), and
// a row's score does not depend on the rows or bucket it runs with.
func TestXLABackend(t *testing.T) {
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	m := openScore(t, filepath.Join(ckpt, "config.json"), &inference.ModelOptions{Provider: "XLA", MaxBatchSize: 8, NoLengthGrouping: true})
	if sig := m.Signature(); !sig.Mask || sig.TypeIDs || sig.Pooled {
		t.Errorf("signature %+v, want a mask, no token types, not pooled", sig)
	}
	in := []inference.Input{{IDs: []int64{5, 6, 7}}, {IDs: []int64{8, 9, 10, 11, 12}}, {IDs: []int64{13}}}
	ctx := context.Background()
	all, err := m.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	B, S := xla.Buckets(3, 5, 0)
	if st.Batches != 1 || st.RealTokens != 9 || st.PaddedTokens != int64(B*S) {
		t.Errorf("stats %+v, want 1 batch, 9 real tokens, %d padded (bucket %dx%d)", st, B*S, B, S)
	}
	for i := range in {
		one, err := m.Run(ctx, in[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(one[0][0]-all[i][0])) > 1e-5 {
			t.Errorf("input %d: %v alone, %v in a batch of 3", i, one[0][0], all[i][0])
		}
	}
	if _, err := m.Run(ctx, []inference.Input{{IDs: []int64{1 << 40}}}); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("token id outside the vocabulary: %v, want ErrInvalidInput", err)
	}
}

// TestXLABackendErrors: the task must fit the family; ONNX Runtime's
// providers refuse the xla options.
func TestXLABackendErrors(t *testing.T) {
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	path := filepath.Join(ckpt, "config.json")
	for _, tc := range []struct {
		name string
		task inference.Task
		o    inference.ModelOptions
		want error
	}{
		{"cross-encoder as embedder", inference.Embed, inference.ModelOptions{Provider: inference.ProviderXLA}, errdefs.ErrUnsupported},
		{"bad compute", inference.Score, inference.ModelOptions{Provider: inference.ProviderXLA, Compute: "int4"}, errdefs.ErrInvalidInput},
		{"xla options on ORT", inference.Score, inference.ModelOptions{Compute: "bf16"}, errdefs.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := inference.Default().Open(path, tc.task, 0, &tc.o)
			if !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
			if m != nil {
				m.Close()
			}
		})
	}
}
