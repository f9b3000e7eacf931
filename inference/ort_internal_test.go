package inference

import (
	"context"
	"math"
	"testing"

	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestPastCache: batches continuing the same prefixes reuse the prefix
// pass of the first (and score alike); other prefixes run theirs, and the
// oldest kept pass is dropped beyond pastCacheSize.
func TestPastCache(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.ModelSpec(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 2, Dtype: "F32"}, nil)
	x, err := ORT().Open(modeldir.ModelPath(dir), Score, &ModelOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	e := x.(*ortExec)
	batch := func(prefix ...int64) *Batch {
		return &Batch{Rows: 2, Seq: 2, Real: 2, Lens: []int{2, 1}, IDs: []int64{5, 6, 7, 0}, Mask: []int64{1, 1, 1, 0},
			Prefixes: [][]int64{prefix}, PrefixOf: []int{0, 0}}
	}
	run := func(b *Batch) []float32 {
		t.Helper()
		out, err := e.Run(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		return out.Data
	}
	first := run(batch(1, 2, 3))
	again := run(batch(1, 2, 3))
	if e.prefixRuns != 1 || first[0] != again[0] || first[1] != again[1] {
		t.Errorf("same prefix twice: %d prefix passes, scores %v then %v", e.prefixRuns, first, again)
	}
	for i := range int64(pastCacheSize) {
		run(batch(9, i))
	}
	if e.prefixRuns != 1+pastCacheSize || e.past.len() != pastCacheSize {
		t.Errorf("%d prefix passes and %d kept after %d new prefixes", e.prefixRuns, e.past.len(), pastCacheSize)
	}
	if got := run(batch(1, 2, 3)); e.prefixRuns != 2+pastCacheSize || got[0] != first[0] {
		t.Errorf("a dropped prefix: %d prefix passes, score %v, want %v", e.prefixRuns, got[0], first[0])
	}

	// A batch of two prefixes runs one pass; a later batch holding one of
	// them, or both in the other order, continues that pass (its rows'
	// prefix indexes mapped to the pass's) and scores as it did alone.
	two := func(a, b []int64) *Batch {
		return &Batch{Rows: 2, Seq: 2, Real: 2, Lens: []int{2, 1}, IDs: []int64{5, 6, 7, 0}, Mask: []int64{1, 1, 1, 0},
			Prefixes: [][]int64{a, b}, PrefixOf: []int{0, 1}}
	}
	p, q := []int64{4, 4, 4, 4}, []int64{8}
	both := run(two(p, q))
	ran := e.prefixRuns
	swapped := run(two(q, p))
	onlyQ := run(&Batch{Rows: 2, Seq: 2, Real: 2, Lens: []int{2, 1}, IDs: []int64{5, 6, 7, 0}, Mask: []int64{1, 1, 1, 0},
		Prefixes: [][]int64{q}, PrefixOf: []int{0, 0}})
	if e.prefixRuns != ran {
		t.Errorf("kept prefixes in another order or a subset ran %d new passes", e.prefixRuns-ran)
	}
	// Row 0 continues the pass's first prefix in both, row 1 the other:
	// swapped, row r continues the prefix row 1-r did.
	if swapped[0] == both[0] && swapped[1] == both[1] {
		t.Errorf("swapped prefixes scored %v, the same as %v: the prefix index was not mapped", swapped, both)
	}
	fresh, err := ORT().Open(modeldir.ModelPath(dir), Score, &ModelOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for name, c := range map[string]struct {
		b   *Batch
		got []float32
	}{"swapped": {two(q, p), swapped}, "subset": {&Batch{Rows: 2, Seq: 2, Real: 2, Lens: []int{2, 1}, IDs: []int64{5, 6, 7, 0},
		Mask: []int64{1, 1, 1, 0}, Prefixes: [][]int64{q}, PrefixOf: []int{0, 0}}, onlyQ}} {
		out, err := fresh.Run(context.Background(), c.b)
		if err != nil {
			t.Fatal(err)
		}
		for r := range 2 {
			if d := math.Abs(float64(out.Data[r] - c.got[r])); d > 1e-5*max(1, math.Abs(float64(out.Data[r]))) {
				t.Errorf("%s row %d: %v from the kept pass, %v from its own", name, r, c.got[r], out.Data[r])
			}
		}
	}
}
