package convert_test

import (
	"math"
	"testing"

	"twostage/convert"
	"twostage/internal/tffixture"
	"twostage/internal/tinymodel"
)

// transformersTolerance bounds a converted graph's relative difference to
// the transformers float64 fixture, per case and graph kind: about 10 times
// the largest observed (the graphs compute in float32).
var transformersTolerance = map[string]map[string]float64{
	// Observed: fused 2.6e-7, plain 3.4e-7.
	"zerank-2layers": {convert.GraphFused: 3e-6, convert.GraphPlain: 4e-6},
	// Observed: fused 6.1e-7, plain 7e-7.
	"qwen3-reranker-rope1e4": {convert.GraphFused: 6e-6, convert.GraphPlain: 7e-6},
	// Observed: fused 3.1e-7, plain 5.3e-7.
	"zerank-untied-f32": {convert.GraphFused: 3e-6, convert.GraphPlain: 5e-6},
	// Observed: fused 5.6e-7, plain 5.6e-7.
	"bert-cross-encoder": {convert.GraphFused: 6e-6, convert.GraphPlain: 6e-6},
}

// TestAgainstTransformers runs the converted graphs (fused and plain) of the
// fixture's tiny checkpoints in ONNX Runtime, the sequences right-padded in
// one batch, and checks the scores against Hugging Face transformers'
// float64 ones: a check of the converter that does not go through refmodel.
func TestAgainstTransformers(t *testing.T) {
	fx, err := tffixture.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tffixture.Cases() {
		for _, graph := range graphs {
			t.Run(tc.Name+" "+graph, func(t *testing.T) {
				tol, ok := transformersTolerance[tc.Name][graph]
				if !ok {
					t.Fatalf("no tolerance for %s %s", tc.Name, graph)
				}
				r := newRunner(t, tinymodel.ModelSpec(t, tc.Spec, &convert.Options{Graph: graph}))
				seqs := make([]seq, len(tc.IDs))
				for i, ids := range tc.IDs {
					seqs[i].ids = ids
					if tc.TypeIDs != nil {
						seqs[i].types = tc.TypeIDs[i]
					}
				}
				got := r.run(t, seqs)
				want := fx.Scores[tc.Name]
				worst := 0.0
				for i := range want {
					d := math.Abs(got[i][0]-want[i]) / math.Max(1, math.Abs(want[i]))
					worst = max(worst, d)
					if d > tol {
						t.Errorf("sequence %d: %s graph %.9g, transformers (float64) %.15g (relative difference %.2g, tolerance %g)", i, graph, got[i][0], want[i], d, tol)
					}
				}
				t.Logf("largest relative difference %.2g (tolerance %g)", worst, tol)
			})
		}
	}
}
