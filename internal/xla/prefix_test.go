//go:build xla

package xla_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"twostage/errdefs"
	"twostage/internal/tinymodel"
	"twostage/internal/xla"
	"twostage/modeldir"
)

// prefixCase is a mixed batch of rows continuing several prefixes (one
// empty, one longer than the smallest sequence bucket).
type prefixCase struct {
	prefixes [][]int64
	index    []int
	own      [][]int64
}

func newPrefixCase(seed uint64) prefixCase {
	rng := rand.New(rand.NewPCG(seed, 7))
	tokens := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = rng.Int64N(tinymodel.Qwen3Vocab)
		}
		return out
	}
	c := prefixCase{prefixes: [][]int64{tokens(7), tokens(3), {}, tokens(21)}}
	for i, n := range []int{5, 2, 1, 6, 4, 9, 3} {
		c.index = append(c.index, []int{0, 1, 0, 2, 1, 3, 3}[i])
		c.own = append(c.own, tokens(n))
	}
	return c
}

// whole is each row's prefix and own tokens.
func (c prefixCase) whole() [][]int64 {
	out := make([][]int64, len(c.own))
	for i, o := range c.own {
		out[i] = append(append([]int64(nil), c.prefixes[c.index[i]]...), o...)
	}
	return out
}

// prefixed scores c's rows on e, each continuing its prefix
// (RunPrefixed), padded with the model's pad token.
func (c prefixCase) prefixed(t *testing.T, e *xla.Executor) []float64 {
	t.Helper()
	ids, mask, _, B, S := batch(c.own, int64(e.Describe().PadTokenID))
	got, err := e.RunPrefixed(context.Background(), c.prefixes, c.index, ids, mask, B, S)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// within fails unless got and want agree within tol relative to
// max(|want|, floor).
func within(t *testing.T, what string, got, want []float64, tol, floor float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d scores, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > tol*max(math.Abs(want[i]), floor) || math.IsNaN(got[i]) {
			t.Errorf("%s row %d: %.9g, want %.9g (diff %.3g > %g relative)", what, i, got[i], want[i], d, tol)
		}
	}
}

// TestRunPrefixed: rows continuing prefixes (several calls' prefixes of
// different lengths, one empty, in one batch) score as the whole rows do
// on the same executor, within 1e-5 relative (fp32 compute), and as the
// float64 reference's whole rows and EvalPast, within 1e-5 relative for
// zerank and 1e-5 relative to the logits' scale (1 on the tiny models) for
// Qwen3-Reranker: its score is the difference of two logits, and fp32
// rounding is relative to those, so a score near 0 is off the reference
// by more than 1e-5 of itself, also when the rows run whole.
func TestRunPrefixed(t *testing.T) {
	for _, tc := range []struct {
		spec  tinymodel.Spec
		floor float64 // against float64: relative to max(|score|, floor)
	}{
		{tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5}, 0},
		{tinymodel.Spec{Family: modeldir.FamilyQwen3Reranker, Seed: 6, Untied: true}, 1},
	} {
		spec := tc.spec
		t.Run(spec.Family, func(t *testing.T) {
			dir := tinymodel.Checkpoint(t, spec)
			e := open(t, dir, &xla.Options{Family: spec.Family})
			pad := int64(e.Describe().PadTokenID)
			c := newPrefixCase(1)
			ctx := context.Background()
			got := c.prefixed(t, e)
			wids, wmask, _, WB, WS := batch(c.whole(), pad)
			whole, err := e.Run(ctx, wids, wmask, nil, WB, WS)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "prefixed vs whole rows", got, whole, 1e-5, 0)

			ref := reference(t, dir, spec.Family)
			want, err := ref.Eval(wids, wmask, nil, WB, WS)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "prefixed vs float64 whole rows", got, want.Data, 1e-5, tc.floor)
			within(t, "whole rows vs float64 whole rows", whole, want.Data, 1e-5, tc.floor)
			pids, pmask, _, N, P := batch(c.prefixes[:2], pad) // the reference's past: non-empty prefixes only
			past, err := ref.Prefix(pids, pmask, N, P)
			if err != nil {
				t.Fatal(err)
			}
			var sub [][]int64
			var idx []int
			for i, k := range c.index {
				if k < 2 {
					sub, idx = append(sub, c.own[i]), append(idx, k)
				}
			}
			sids, smask, _, SB, SS := batch(sub, pad)
			refPast, err := ref.EvalPast(sids, smask, SB, SS, past, idx)
			if err != nil {
				t.Fatal(err)
			}
			gotSub, err := e.RunPrefixed(ctx, c.prefixes[:2], idx, sids, smask, SB, SS)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "prefixed vs float64 EvalPast", gotSub, refPast.Data, 1e-5, tc.floor)
		})
	}
}

// TestPrefixBucketInvariance: rounding the prefixes (N and P) and the rows
// (B and S) up to larger buckets does not change the scores.
func TestPrefixBucketInvariance(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	exact := open(t, dir, &xla.Options{Shape: func(b, s int) (int, int) { return b, s },
		PrefixShape: func(n, p int) (int, int) { return n, p }})
	wide := open(t, dir, &xla.Options{Shape: func(b, s int) (int, int) { return b + 2, s + 13 },
		PrefixShape: func(n, p int) (int, int) { return n + 3, p + 29 }})
	c := newPrefixCase(2)
	a := c.prefixed(t, exact)
	within(t, "wide buckets vs exact", c.prefixed(t, wide), a, 1e-5, 0)
	// One row alone, with its prefix alone, scores as in the batch.
	for r := range c.own {
		k := c.index[r]
		one, err := exact.RunPrefixed(context.Background(), c.prefixes[k:k+1], []int{0}, c.own[r], ones(len(c.own[r])), 1, len(c.own[r]))
		if err != nil {
			t.Fatal(err)
		}
		within(t, "alone vs in the batch", one, a[r:r+1], 1e-5, 0)
	}
}

func TestRunPrefixedErrors(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	e := open(t, dir, &xla.Options{MaxLength: 40})
	ctx := context.Background()
	own, m := []int64{5, 6}, []int64{1, 1}
	long := make([]int64, 39)
	for _, tc := range []struct {
		name     string
		prefixes [][]int64
		index    []int
		want     error
	}{
		{"no prefixes", nil, []int{0}, errdefs.ErrInvalidInput},
		{"index outside", [][]int64{{1}}, []int{1}, errdefs.ErrInvalidInput},
		{"index count", [][]int64{{1}}, []int{0, 0}, errdefs.ErrInvalidInput},
		{"token outside the vocabulary", [][]int64{{tinymodel.Qwen3Vocab}}, []int{0}, errdefs.ErrInvalidInput},
		{"longer than the max length", [][]int64{long}, []int{0}, errdefs.ErrInvalidInput},
	} {
		if _, err := e.RunPrefixed(ctx, tc.prefixes, tc.index, own, m, 1, 2); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	bert := open(t, tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 7}), nil)
	if _, err := bert.RunPrefixed(ctx, [][]int64{{1}}, []int{0}, own, m, 1, 2); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("bert: %v, want ErrUnsupported", err)
	}
	if _, err := bert.Prefix(ctx, [][]int64{{1}}); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("bert Prefix: %v, want ErrUnsupported", err)
	}
	if _, err := e.Prefix(ctx, [][]int64{make([]int64, 40)}); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("a prefix of the max length: %v, want ErrInvalidInput", err)
	}
	if _, err := e.Prefix(ctx, nil); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("Prefix of no prefixes: %v, want ErrInvalidInput", err)
	}
	if e.LivePasts() != 0 || e.PrefixRuns() != 0 {
		t.Errorf("failed calls: %d pasts held, %d prefix runs", e.LivePasts(), e.PrefixRuns())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RunPrefixed(ctx, [][]int64{{1}}, []int{0}, own, m, 1, 2); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// TestRunPrefixedReducedPrecision: in bf16 (the GPU's compute type) rows
// continuing prefixes stay as near the float64 scores as whole rows do
// (0.05, TestReducedPrecision's bound) and near the whole rows' bf16
// scores.
func TestRunPrefixedReducedPrecision(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	e := open(t, dir, &xla.Options{Compute: xla.ComputeBF16})
	c := newPrefixCase(3)
	got := c.prefixed(t, e)
	wids, wmask, _, WB, WS := batch(c.whole(), 151643)
	whole, err := e.Run(context.Background(), wids, wmask, nil, WB, WS)
	if err != nil {
		t.Fatal(err)
	}
	want, err := reference(t, dir, modeldir.FamilyZerank).Eval(wids, wmask, nil, WB, WS)
	if err != nil {
		t.Fatal(err)
	}
	for r := range got {
		if d := math.Abs(got[r] - want.Data[r]); d > 0.05 {
			t.Errorf("row %d: bf16 prefixed %v, float64 %v (diff %g > 0.05)", r, got[r], want.Data[r], d)
		}
		if d := math.Abs(got[r] - whole[r]); d > 0.05 {
			t.Errorf("row %d: bf16 prefixed %v, bf16 whole %v (diff %g > 0.05)", r, got[r], whole[r], d)
		}
	}
}

// TestPast: a Past (one prefix pass) serves several batches, also batches
// that continue only some of its prefixes, with the scores of RunPrefixed
// (1e-5 relative); PrefixRuns counts one run; Close frees it once, and the
// Executor's Close frees those still held.
func TestPast(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	e := open(t, dir, nil)
	other := open(t, dir, nil)
	pad := int64(e.Describe().PadTokenID)
	c := newPrefixCase(2)
	ctx := context.Background()
	want := c.prefixed(t, e)
	ids, mask, _, B, S := batch(c.own, pad) // for RunPast
	if e.PrefixRuns() != 1 || e.LivePasts() != 0 {
		t.Fatalf("after RunPrefixed: %d prefix runs, %d pasts held; want 1, 0", e.PrefixRuns(), e.LivePasts())
	}
	past, err := e.Prefix(ctx, c.prefixes)
	if err != nil {
		t.Fatal(err)
	}
	if e.LivePasts() != 1 || past.Bytes() <= 0 || len(past.Prefixes()) != len(c.prefixes) {
		t.Fatalf("a Past: %d held, %d bytes, %d prefixes", e.LivePasts(), past.Bytes(), len(past.Prefixes()))
	}
	for range 2 {
		got, err := e.RunPast(ctx, past, c.index, ids, mask, B, S)
		if err != nil {
			t.Fatal(err)
		}
		within(t, "RunPast vs RunPrefixed", got, want, 1e-5, 0)
	}
	// Rows 1 and 4 continue prefix 1 only: the Past's other prefixes do not
	// change them.
	sub := [][]int64{c.own[1], c.own[4]}
	sids, smask, _, SB, SS := batch(sub, pad)
	got, err := e.RunPast(ctx, past, []int{1, 1}, sids, smask, SB, SS)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := e.RunPrefixed(ctx, c.prefixes[1:2], []int{0, 0}, sids, smask, SB, SS)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "some of the Past's prefixes", got, alone, 1e-5, 0)
	within(t, "some of the Past's prefixes vs the whole batch", got, []float64{want[1], want[4]}, 1e-5, 0)
	if e.PrefixRuns() != 3 {
		t.Errorf("%d prefix runs, want 3 (RunPrefixed twice, Prefix once)", e.PrefixRuns())
	}
	if _, err := other.RunPast(ctx, past, c.index, ids, mask, B, S); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("another executor's Past: %v, want ErrInvalidInput", err)
	}
	if _, err := e.RunPast(ctx, past, []int{len(c.prefixes)}, ids[:S], mask[:S], 1, S); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("an index outside the Past: %v, want ErrInvalidInput", err)
	}
	if err := past.Close(); err != nil || e.LivePasts() != 0 {
		t.Fatalf("Close: %v, %d held", err, e.LivePasts())
	}
	if err := past.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.RunPast(ctx, past, c.index, ids, mask, B, S); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("a closed Past: %v, want ErrInvalidInput", err)
	}
	// Pasts held at the Executor's Close are freed by it.
	var held []*xla.Past
	for i := range 3 {
		p, err := e.Prefix(ctx, c.prefixes[i:i+1])
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	if e.LivePasts() != 3 {
		t.Fatalf("%d held, want 3", e.LivePasts())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e.LivePasts() != 0 {
		t.Errorf("after the Executor's Close %d pasts held", e.LivePasts())
	}
	for _, p := range held {
		if err := p.Close(); err != nil {
			t.Errorf("a Past's Close after the Executor's: %v", err)
		}
	}
	if _, err := e.Prefix(ctx, c.prefixes); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("Prefix after Close: %v, want ErrClosed", err)
	}
	if _, err := e.RunPast(ctx, past, c.index, ids, mask, B, S); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("RunPast after Close: %v, want ErrClosed", err)
	}
}
