package refmodel

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"twostage/internal/tffixture"
	"twostage/internal/tinymodel"
)

// transformersTolerance is each case's bound on refmodel's relative
// difference to the fixture, about 10 times the largest observed.
var transformersTolerance = map[string]float64{
	"zerank-2layers":         1e-14, // observed 1e-15
	"qwen3-reranker-rope1e4": 4e-14, // observed 3.8e-15
	"zerank-untied-f32":      1e-14, // observed 8.9e-16
	"bert-cross-encoder":     2e-15, // observed 1.6e-16
}

// TestTransformersFixture checks refmodel against scores Hugging Face
// transformers computed in float64 for the same tiny checkpoints (their
// weights are seeded, so the checkpoints are remade identically): an
// independent reading of the architectures, where refmodel is otherwise the
// one reference for the converter and the engines. Each case's relative
// tolerance (transformersTolerance) is about 10 times the largest
// difference observed on it: both sides compute in float64 (the script keeps transformers' float32 islands,
// RoPE angles, RMSNorm and the attention softmax, in float64).
// TWOSTAGE_WRITE_FIXTURE=1 recomputes the fixture with
// scripts/transformers_fixture.py and .deps/pystack.
func TestTransformersFixture(t *testing.T) {
	cases := tffixture.Cases()
	if os.Getenv("TWOSTAGE_WRITE_FIXTURE") == "1" {
		writeTransformersFixture(t, cases)
	}
	fx, err := tffixture.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			want := fx.Scores[tc.Name]
			tol, ok := transformersTolerance[tc.Name]
			if !ok {
				t.Fatalf("no tolerance for case %s", tc.Name)
			}
			m := load(t, tinymodel.Checkpoint(t, tc.Spec), tc.Spec.Family)
			worst := 0.0
			for i, ids := range tc.IDs {
				var types []int64
				if tc.TypeIDs != nil {
					types = tc.TypeIDs[i]
				}
				got, err := m.Score(ids, types)
				if err != nil {
					t.Fatal(err)
				}
				d := math.Abs(got-want[i]) / math.Max(1, math.Abs(want[i]))
				worst = max(worst, d)
				if d > tol {
					t.Errorf("sequence %d: refmodel %.15g, transformers (float64) %.15g (relative difference %.2g, tolerance %g)", i, got, want[i], d, tol)
				}
			}
			t.Logf("largest relative difference %.2g (tolerance %g)", worst, tol)
		})
	}
}

func writeTransformersFixture(t *testing.T, cases []tffixture.Case) {
	type request struct {
		Name    string    `json:"name"`
		Family  string    `json:"family"`
		Dir     string    `json:"dir"`
		IDs     [][]int64 `json:"ids"`
		TypeIDs [][]int64 `json:"type_ids,omitempty"`
	}
	var reqs []request
	for _, tc := range cases {
		reqs = append(reqs, request{tc.Name, tc.Spec.Family, tinymodel.Checkpoint(t, tc.Spec), tc.IDs, tc.TypeIDs})
	}
	data, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	req := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(req, data, 0o644); err != nil {
		t.Fatal(err)
	}
	py := filepath.Join(tinymodel.DepsDir(), "pystack", "bin", "python")
	out, err := exec.Command(py, "../../scripts/transformers_fixture.py", req).Output()
	if err != nil {
		t.Fatalf("transformers_fixture.py: %v", err)
	}
	if err := os.WriteFile(tffixture.Path(), out, 0o644); err != nil {
		t.Fatal(err)
	}
}
