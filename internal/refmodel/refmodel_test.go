package refmodel

import (
	"errors"
	"math"
	"testing"

	"twostage/errdefs"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func TestKernels(t *testing.T) {
	y := rmsNorm([]float64{3, 4}, []float64{1, 2}, 0) // rms = sqrt(12.5)
	if r := math.Sqrt(12.5); !near(y[0], 3/r) || !near(y[1], 8/r) {
		t.Errorf("rmsNorm = %v", y)
	}
	y = layerNorm([]float64{1, 3}, []float64{1, 1}, []float64{0, 10}, 0)
	if !near(y[0], -1) || !near(y[1], 11) {
		t.Errorf("layerNorm = %v", y)
	}
	s := []float64{0, math.Log(3)}
	softmax(s)
	if !near(s[0], 0.25) || !near(s[1], 0.75) {
		t.Errorf("softmax = %v", s)
	}
	// W = [[1 2] [3 4] [5 6]] (out 3, in 2)
	y = linear([]float64{1, 2, 3, 4, 5, 6}, []float64{0, 0, 1}, []float64{1, -1})
	if !near(y[0], -1) || !near(y[1], -1) || !near(y[2], 0) {
		t.Errorf("linear = %v", y)
	}
}

// load loads the checkpoint in dir for family, failing t on an error; the
// model is closed when the test ends.
func load(t *testing.T, dir, family string) *Model {
	t.Helper()
	m, err := Load(dir, family)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestScoreProperties(t *testing.T) {
	ck := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1, Layers: 1})
	z := load(t, ck, modeldir.FamilyZerank)
	q := load(t, ck, modeldir.FamilyQwen3Reranker)
	ids := []int64{151644, 8948, 198, 3838, 374}
	a, _ := z.Score(ids, nil)
	b, _ := z.Score(append([]int64{}, ids[:4]...), nil)
	c, _ := q.Score(ids, nil)
	if a == b || a == c {
		t.Errorf("scores do not depend on input or family: %v %v %v", a, b, c)
	}
	// Scoring is deterministic.
	if b2, _ := z.Score(ids[:4], nil); b2 != b {
		t.Errorf("nondeterministic: %v then %v", b, b2)
	}
	if _, err := z.Score(nil, nil); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("empty: %v", err)
	}
	if _, err := z.Score([]int64{tinymodel.Qwen3Vocab}, nil); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("out of vocab: %v", err)
	}
	if _, err := z.HiddenStates(ids, nil); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("HiddenStates on a decoder: %v", err)
	}
}

// TestDefinitionMatchesOracle checks convert/arch's one definition of each
// architecture, evaluated in float64, against the independent per-token
// oracle, to 1e-9.
func TestDefinitionMatchesOracle(t *testing.T) {
	seqs := [][]int64{
		{101, 2054, 2003, 1037, 3231, 102, 1037, 3231, 102},
		{101, 7592, 102, 2088, 102},
		{101, 102},
	}
	specs := []tinymodel.Spec{
		{Family: modeldir.FamilyZerank, Seed: 3},
		{Family: modeldir.FamilyQwen3Reranker, Seed: 4, Untied: true},
		{Family: modeldir.FamilyBertCrossEncoder, Seed: 5},
		{Family: modeldir.FamilyBertEmbedding, Seed: 6},
	}
	for _, spec := range specs {
		t.Run(spec.Family, func(t *testing.T) {
			dir := tinymodel.Checkpoint(t, spec)
			m := load(t, dir, spec.Family)
			o, err := newOracle(m)
			if err != nil {
				t.Fatal(err)
			}
			for i, ids := range seqs {
				types := make([]int64, len(ids))
				for s := 3; s < len(ids); s++ {
					types[s] = 1
				}
				if spec.Family == modeldir.FamilyBertEmbedding {
					got, err := m.HiddenStates(ids, types)
					if err != nil {
						t.Fatal(err)
					}
					want, err := o.hiddenStates(ids, types)
					if err != nil {
						t.Fatal(err)
					}
					for s := range want {
						for j := range want[s] {
							if math.Abs(got[s][j]-want[s][j]) > 1e-9 {
								t.Fatalf("seq %d token %d dim %d: %v, oracle %v", i, s, j, got[s][j], want[s][j])
							}
						}
					}
					continue
				}
				got, err := m.Score(ids, types)
				if err != nil {
					t.Fatal(err)
				}
				want, err := o.score(ids, types)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-want) > 1e-9 {
					t.Errorf("seq %d: %v, oracle %v", i, got, want)
				}
			}
		})
	}
}
