// Package tffixture holds the cases of the committed Hugging Face
// transformers fixture (internal/refmodel/testdata/transformers.json): tiny
// seeded checkpoints, the token sequences scored on them, and the raw
// scores transformers computed in float64. refmodel's and convert's tests
// both check against it, so the two read one list of cases.
package tffixture

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// Case is one tiny checkpoint and the sequences scored on it.
type Case struct {
	Name    string
	Spec    tinymodel.Spec
	IDs     [][]int64
	TypeIDs [][]int64 // nil for decoder families
}

// Cases returns the fixture's cases.
func Cases() []Case {
	qwenIDs := [][]int64{
		{151644, 8948, 198, 3838, 374},
		{151644, 8948, 198, 3838, 374, 279, 6722, 315, 9625, 30, 151645, 198, 151644, 872, 198, 59604, 151645},
		{9454},
	}
	bertIDs := [][]int64{{101, 2054, 2003, 102, 3000, 102}, {101, 7592, 102, 2088, 1996, 2034, 102}}
	bertTypes := [][]int64{{0, 0, 0, 0, 1, 1}, {0, 0, 0, 1, 1, 1, 1}}
	return []Case{
		{"zerank-2layers", tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 11, Layers: 2}, qwenIDs, nil},
		// An explicit, non-default rope_theta: a converter or reference that
		// ignores the config's value disagrees.
		{"qwen3-reranker-rope1e4", tinymodel.Spec{Family: modeldir.FamilyQwen3Reranker, Seed: 12, Layers: 2, RopeTheta: 10000}, qwenIDs, nil},
		{"zerank-untied-f32", tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 13, Layers: 1, Untied: true, Dtype: "F32"}, qwenIDs, nil},
		{"bert-cross-encoder", tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 14, Layers: 2}, bertIDs, bertTypes},
	}
}

// Fixture is the file's content.
type Fixture struct {
	// Transformers and Torch are the versions that computed the scores.
	Transformers string `json:"transformers"`
	Torch        string `json:"torch"`
	// Scores maps a case name to the raw score of each of its sequences.
	Scores map[string][]float64 `json:"scores"`
}

// Path is the fixture file's absolute path.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "refmodel", "testdata", "transformers.json")
}

// Load reads the fixture and checks that it has a score for every sequence
// of every case.
func Load() (*Fixture, error) {
	data, err := os.ReadFile(Path())
	if err != nil {
		return nil, fmt.Errorf("tffixture: %w", err)
	}
	var fx Fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		return nil, fmt.Errorf("tffixture: %s: %w", Path(), err)
	}
	for _, c := range Cases() {
		if len(fx.Scores[c.Name]) != len(c.IDs) {
			return nil, fmt.Errorf("tffixture: %s has %d scores for %s, want %d (rewrite it)", Path(), len(fx.Scores[c.Name]), c.Name, len(c.IDs))
		}
	}
	return &fx, nil
}
