package refmodel

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"twostage/convert/tinymodel"
	"twostage/modeldir"
)

// fixtureCase is one tiny checkpoint and the sequences scored on it.
type fixtureCase struct {
	name    string
	spec    tinymodel.Spec
	ids     [][]int64
	typeIDs [][]int64
}

func fixtureCases() []fixtureCase {
	qwenIDs := [][]int64{
		{151644, 8948, 198, 3838, 374},
		{151644, 8948, 198, 3838, 374, 279, 6722, 315, 9625, 30, 151645, 198, 151644, 872, 198, 59604, 151645},
		{9454},
	}
	bertIDs := [][]int64{{101, 2054, 2003, 102, 3000, 102}, {101, 7592, 102, 2088, 1996, 2034, 102}}
	bertTypes := [][]int64{{0, 0, 0, 0, 1, 1}, {0, 0, 0, 1, 1, 1, 1}}
	return []fixtureCase{
		{"zerank-2layers", tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 11, Layers: 2}, qwenIDs, nil},
		// An explicit, non-default rope_theta: a converter or reference that
		// ignores the config's value disagrees.
		{"qwen3-reranker-rope1e4", tinymodel.Spec{Family: modeldir.FamilyQwen3Reranker, Seed: 12, Layers: 2, RopeTheta: 10000}, qwenIDs, nil},
		{"zerank-untied-f32", tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 13, Layers: 1, Untied: true, Dtype: "F32"}, qwenIDs, nil},
		{"bert-cross-encoder", tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 14, Layers: 2}, bertIDs, bertTypes},
	}
}

type transformersFixture struct {
	Transformers string               `json:"transformers"`
	Torch        string               `json:"torch"`
	Scores       map[string][]float64 `json:"scores"`
}

const fixturePath = "testdata/transformers.json"

// TestTransformersFixture checks refmodel against scores Hugging Face
// transformers computed in float64 for the same tiny checkpoints (their
// weights are seeded, so the checkpoints are remade identically): an
// independent reading of the architectures, where refmodel is otherwise the
// one reference for the converter and the engines. The tolerance is 1e-13
// relative, about 20 times the largest difference observed (4.4e-15): both
// sides compute in float64 (the script keeps transformers' float32 islands,
// RoPE angles, RMSNorm and the attention softmax, in float64).
// TWOSTAGE_WRITE_FIXTURE=1 recomputes the fixture with
// scripts/transformers_fixture.py and .deps/pystack.
func TestTransformersFixture(t *testing.T) {
	cases := fixtureCases()
	if os.Getenv("TWOSTAGE_WRITE_FIXTURE") == "1" {
		writeTransformersFixture(t, cases)
	}
	data, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var fx transformersFixture
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := fx.Scores[tc.name]
			if len(want) != len(tc.ids) {
				t.Fatalf("fixture has %d scores, want %d (rewrite it)", len(want), len(tc.ids))
			}
			m, err := Load(tinymodel.Checkpoint(t, tc.spec), tc.spec.Family)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			worst := 0.0
			for i, ids := range tc.ids {
				var types []int64
				if tc.typeIDs != nil {
					types = tc.typeIDs[i]
				}
				got, err := m.Score(ids, types)
				if err != nil {
					t.Fatal(err)
				}
				d := math.Abs(got-want[i]) / math.Max(1, math.Abs(want[i]))
				worst = max(worst, d)
				if d > 1e-13 {
					t.Errorf("sequence %d: refmodel %.15g, transformers (float64) %.15g", i, got, want[i])
				}
			}
			t.Logf("largest relative difference %.2g", worst)
		})
	}
}

func writeTransformersFixture(t *testing.T, cases []fixtureCase) {
	type request struct {
		Name    string    `json:"name"`
		Family  string    `json:"family"`
		Dir     string    `json:"dir"`
		IDs     [][]int64 `json:"ids"`
		TypeIDs [][]int64 `json:"type_ids,omitempty"`
	}
	var reqs []request
	for _, tc := range cases {
		reqs = append(reqs, request{tc.name, tc.spec.Family, tinymodel.Checkpoint(t, tc.spec), tc.ids, tc.typeIDs})
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
	if err := os.WriteFile(fixturePath, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
