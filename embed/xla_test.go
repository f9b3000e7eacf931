//go:build xla

package embed

import (
	"context"
	"errors"
	"math"
	"testing"

	"twostage/errdefs"
	"twostage/inference"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestXLAMatchesORT: the ONNX embedder on provider xla, given the tiny
// BERT checkpoint as it is, embeds as ONNX Runtime does on the converted
// model (same pooling, normalization, dimension), within 1e-4, for texts
// batched together and alone (bucket padding changes nothing).
func TestXLAMatchesORT(t *testing.T) {
	testassets.PJRTCPUPlugin(t)
	ortE, _ := tinyEmbedder(t, nil)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	rt, err := inference.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	xlaE, err := NewONNX(ckpt, &ONNXOptions{Runtime: rt, ModelOptions: inference.ModelOptions{Provider: inference.ProviderXLA, MaxBatchSize: 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer xlaE.Close()
	if xlaE.Dim() != ortE.Dim() || xlaE.Pooling() != ortE.Pooling() || xlaE.Normalized() != ortE.Normalized() || xlaE.MaxLength() != ortE.MaxLength() {
		t.Fatalf("xla: dim %d pooling %s normalized %v max %d; ORT: %d %s %v %d", xlaE.Dim(), xlaE.Pooling(), xlaE.Normalized(), xlaE.MaxLength(),
			ortE.Dim(), ortE.Pooling(), ortE.Normalized(), ortE.MaxLength())
	}
	ctx := context.Background()
	texts := []string{"short", "a mid length sentence about vector search", "Ünïcödé text, emoji 🙂 and punctuation!?", "x"}
	want, err := ortE.EmbedDocuments(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := xlaE.EmbedDocuments(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	one, err := xlaE.EmbedQuery(ctx, texts[1])
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		for j := range want[i] {
			if math.Abs(float64(got[i][j]-want[i][j])) > 1e-4 {
				t.Fatalf("text %d, dim %d: xla %v, ORT %v", i, j, got[i][j], want[i][j])
			}
		}
	}
	for j := range one {
		if math.Abs(float64(one[j]-got[1][j])) > 1e-5 {
			t.Fatalf("dim %d: alone %v, in a batch %v", j, one[j], got[1][j])
		}
	}
	if st := xlaE.Stats(); st.PaddedTokens <= st.RealTokens {
		t.Errorf("stats %+v: bucket padding not counted", st)
	}
}

// TestXLAOpenErrors: what the xla embedder refuses, and how.
func TestXLAOpenErrors(t *testing.T) {
	testassets.PJRTCPUPlugin(t)
	xla := inference.ModelOptions{Provider: inference.ProviderXLA}
	for _, tc := range []struct {
		name string
		dir  string
		want error
	}{
		{"converted directory", tinymodel.Model(t, modeldir.FamilyBertEmbedding), errdefs.ErrUnsupported},
		{"cross-encoder checkpoint", tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 1}), errdefs.ErrUnsupported},
		{"no config.json", t.TempDir(), errdefs.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewONNX(tc.dir, &ONNXOptions{ModelOptions: xla})
			if !errors.Is(err, tc.want) {
				t.Errorf("NewONNX: %v, want %v", err, tc.want)
			}
			if e != nil {
				e.Close()
			}
		})
	}
}
