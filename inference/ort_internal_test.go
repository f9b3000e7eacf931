package inference

import (
	"context"
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
	if e.prefixRuns != 1+pastCacheSize || len(e.past) != pastCacheSize {
		t.Errorf("%d prefix passes and %d kept after %d new prefixes", e.prefixRuns, len(e.past), pastCacheSize)
	}
	if got := run(batch(1, 2, 3)); e.prefixRuns != 2+pastCacheSize || got[0] != first[0] {
		t.Errorf("a dropped prefix: %d prefix passes, score %v, want %v", e.prefixRuns, got[0], first[0])
	}
}
