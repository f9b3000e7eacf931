package arch_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"twostage/errdefs"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// pad right-pads rows to one length: ids (with 0) and mask, row-major.
func pad(rows [][]int64) (ids, mask []int64, S int) {
	for _, r := range rows {
		S = max(S, len(r))
	}
	ids, mask = make([]int64, len(rows)*S), make([]int64, len(rows)*S)
	for i, r := range rows {
		copy(ids[i*S:], r)
		for j := range r {
			mask[i*S+j] = 1
		}
	}
	return ids, mask, max(S, 1)
}

// TestReferencePast checks that rows continuing prefixes score as the whole
// rows do: a batch mixing three prefixes of different lengths (one empty)
// and suffixes of different lengths, in float64.
func TestReferencePast(t *testing.T) {
	for _, family := range []string{modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker} {
		t.Run(family, func(t *testing.T) {
			ref, _ := reference(t, family)
			rng := rand.New(rand.NewPCG(1, 2))
			tokens := func(n int) []int64 {
				out := make([]int64, n)
				for i := range out {
					out[i] = rng.Int64N(tinymodel.Qwen3Vocab)
				}
				return out
			}
			prefixes := [][]int64{tokens(7), tokens(3), {}}
			type row struct {
				prefix int
				own    []int64
			}
			rows := []row{{0, tokens(5)}, {1, tokens(2)}, {0, tokens(1)}, {2, tokens(6)}, {1, tokens(4)}}
			pids, pmask, P := pad(prefixes)
			past, err := ref.Prefix(pids, pmask, len(prefixes), P)
			if err != nil {
				t.Fatal(err)
			}
			own := make([][]int64, len(rows))
			index := make([]int, len(rows))
			whole := make([][]int64, len(rows))
			for i, r := range rows {
				own[i], index[i] = r.own, r.prefix
				whole[i] = append(append([]int64(nil), prefixes[r.prefix]...), r.own...)
			}
			ids, mask, S := pad(own)
			got, err := ref.EvalPast(ids, mask, len(rows), S, past, index)
			if err != nil {
				t.Fatal(err)
			}
			wids, wmask, WS := pad(whole)
			want, err := ref.Eval(wids, wmask, nil, len(rows), WS)
			if err != nil {
				t.Fatal(err)
			}
			for i := range rows {
				if d := math.Abs(got.Data[i] - want.Data[i]); d > 1e-9*math.Max(1, math.Abs(want.Data[i])) {
					t.Errorf("row %d: past %.12g, whole %.12g", i, got.Data[i], want.Data[i])
				}
			}
		})
	}
}

func TestReferencePastErrors(t *testing.T) {
	ref, _ := reference(t, modeldir.FamilyZerank)
	past, err := ref.Prefix([]int64{1, 2}, []int64{1, 1}, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.EvalPast([]int64{3}, []int64{1}, 1, 1, past, []int{1}); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("index past the prefixes: %v, want ErrInvalidInput", err)
	}
	if _, err := ref.EvalPast([]int64{3}, []int64{1}, 1, 1, past, nil); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("no index: %v, want ErrInvalidInput", err)
	}
	bert, _ := reference(t, modeldir.FamilyBertCrossEncoder)
	if _, err := bert.Prefix([]int64{1}, []int64{1}, 1, 1); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("bert prefix: %v, want ErrUnsupported", err)
	}
}
