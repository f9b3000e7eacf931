package inference_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"twostage/convert"
	"twostage/errdefs"
	"twostage/inference"
	"twostage/internal/leaktest"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// prefixed returns inputs that share prefix: its tokens, then tail i's.
func prefixed(prefix []int64, tails ...[]int64) []inference.Input {
	out := make([]inference.Input, len(tails))
	for i, t := range tails {
		out[i] = inference.Input{IDs: append(slices.Clone(prefix), t...), Prefix: len(prefix)}
	}
	return out
}

// TestPrefixBatch: an executor that continues prefixes gets each batch's
// distinct prefixes once and each row's tokens after its prefix, batches
// are sized by those tokens, and an executor that does not gets the rows
// whole; the outputs are the same.
func TestPrefixBatch(t *testing.T) {
	a, b := []int64{7, 7, 7}, []int64{9, 9}
	in := append(prefixed(a, []int64{1}, []int64{2, 2}), prefixed(b, []int64{3})...)
	in = append(append(in, inference.Input{IDs: []int64{4, 4}}), prefixed(a, []int64{5, 5, 5})...)
	want := []float32{22, 25, 21, 8, 36}
	for _, continues := range []bool{true, false} {
		f := &fake{sig: inference.Signature{Mask: true, Width: 1, Prefix: continues}}
		rt := newRuntime(t, f, inference.ModelOptions{Provider: "fake", MaxWait: -1})
		m, err := rt.Open(modelFile(t), inference.Score, 0, &inference.ModelOptions{MaxBatchSize: 8, MaxWait: 50e6, NoLengthGrouping: true})
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if out[i][0] != want[i] {
				t.Errorf("prefix %v: input %d scored %v, want %v", continues, i, out[i][0], want[i])
			}
		}
		f.mu.Lock()
		batches := f.batches
		f.mu.Unlock()
		if len(batches) != 1 {
			t.Fatalf("prefix %v: %d batches, want 1", continues, len(batches))
		}
		bt := batches[0]
		st := m.Stats()
		if !continues {
			if bt.Prefixes != nil || bt.Seq != 6 || st.PrefixTokens != 0 || st.RealTokens != 20 {
				t.Errorf("whole rows: prefixes %v, seq %d, stats %+v", bt.Prefixes, bt.Seq, st)
			}
		} else {
			// The prefixes are a, b and the empty one, each once.
			if len(bt.Prefixes) != 3 || bt.Seq != 3 || st.PrefixTokens != 5 || st.RealTokens != 9 {
				t.Errorf("prefixed rows: prefixes %v, seq %d, stats %+v", bt.Prefixes, bt.Seq, st)
			}
			for r := range bt.Real {
				p := bt.Prefixes[bt.PrefixOf[r]]
				if len(p) != 0 && len(p) != 2 && len(p) != 3 {
					t.Errorf("row %d continues %v", r, p)
				}
			}
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f := &fake{sig: inference.Signature{Mask: true, Width: 1, Prefix: true}}
	m, err := newRuntime(t, f, inference.ModelOptions{Provider: "fake"}).Open(modelFile(t), inference.Score, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Run(context.Background(), []inference.Input{{IDs: []int64{1, 2}, Prefix: 2}}); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("a prefix that leaves no token: %v, want ErrInvalidInput", err)
	}
}

// TestPrefixORT runs a tiny zerank model on ONNX Runtime (fused and plain
// graphs): calls of different prefixes, batched together, score as their
// inputs run whole (1e-5 relative).
func TestPrefixORT(t *testing.T) {
	for _, graph := range []string{"fused", "plain"} {
		t.Run(graph, func(t *testing.T) {
			spec := tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 4, Dtype: "F32"}
			dir := tinymodel.ModelSpec(t, spec, tinymodelOptions(graph))
			m := openScore(t, modeldir.ModelPath(dir), &inference.ModelOptions{MaxWait: 20e6, IntraOpThreads: 1})
			if !m.Signature().Prefix {
				t.Fatal("a converted decoder does not continue prefixes")
			}
			calls := prefixCalls(rand.New(rand.NewPCG(5, 6)), []int{40, 12, 25}, 7, 30)
			got := runAll(t, m, calls)
			if m.Stats().PrefixTokens == 0 {
				t.Error("no prefix was run")
			}
			checkWhole(t, m, calls, got)
		})
	}
}

// openScore opens the scorer at path with o under a new runtime of the
// built-in backends; both are closed when t ends.
func openScore(t *testing.T, path string, o *inference.ModelOptions) *inference.Model {
	t.Helper()
	rt, err := inference.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	leaktest.Close(t, rt)
	m, err := rt.Open(path, inference.Score, 0, o)
	if err != nil {
		t.Fatal(err)
	}
	leaktest.Close(t, m)
	return m
}

// prefixCalls draws from rng one call per prefix length in lens: n inputs
// that share a random prefix of that length, each followed by 1 to maxTail
// random tokens of its own.
func prefixCalls(rng *rand.Rand, lens []int, n, maxTail int) [][]inference.Input {
	draw := func(n int) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = rng.Int64N(int64(tinymodel.Qwen3Vocab))
		}
		return out
	}
	var calls [][]inference.Input
	for _, p := range lens {
		prefix := draw(p)
		var tails [][]int64
		for range n {
			tails = append(tails, draw(1+rng.IntN(maxTail)))
		}
		calls = append(calls, prefixed(prefix, tails...))
	}
	return calls
}

// runAll runs calls on m at once, so that they share batches, and returns
// each call's outputs.
func runAll(t *testing.T, m *inference.Model, calls [][]inference.Input) [][][]float32 {
	t.Helper()
	got := make([][][]float32, len(calls))
	errs := make(chan error, len(calls))
	for i, c := range calls {
		go func() {
			var err error
			got[i], err = m.Run(context.Background(), c)
			errs <- err
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// checkWhole fails t unless each call's scores got (run with their
// prefixes) are, within 1e-5 relative, those of its inputs run whole on m.
func checkWhole(t *testing.T, m *inference.Model, calls [][]inference.Input, got [][][]float32) {
	t.Helper()
	for i, c := range calls {
		whole := make([]inference.Input, len(c))
		for j, in := range c {
			whole[j] = inference.Input{IDs: in.IDs}
		}
		want, err := m.Run(context.Background(), whole)
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			g, w := float64(got[i][j][0]), float64(want[j][0])
			if math.Abs(g-w) > 1e-5*math.Abs(w) || math.IsNaN(g) {
				t.Errorf("call %d input %d: prefixed %v, whole %v", i, j, g, w)
			}
		}
	}
}

// tinymodelOptions converts to graph kind graph.
func tinymodelOptions(graph string) *convert.Options { return &convert.Options{Graph: graph} }

// TestPrefixBudget: the distinct prefixes a batch runs stay within
// MaxBatchTokens (prefixes times the longest, as a batch of whole inputs
// would): inputs that are short after long, different prefixes are
// batched by their own tokens, and a batch whose prefixes would exceed
// the budget runs them in groups that fit. Outputs are unchanged.
func TestPrefixBudget(t *testing.T) {
	const budget, p = 64, 30
	var in []inference.Input
	var want []float32
	for i := range 6 {
		prefix := slices.Repeat([]int64{int64(i + 1)}, p)
		in = append(in, prefixed(prefix, []int64{100})...)
		want = append(want, float32(p*(i+1)+100))
	}
	in = append(in, inference.Input{IDs: []int64{7, 8}}) // whole, with the others
	want = append(want, 15)
	f := &fake{sig: inference.Signature{Mask: true, Width: 1, Prefix: true}}
	rt := newRuntime(t, f, inference.ModelOptions{Provider: "fake", MaxWait: -1})
	m, err := rt.Open(modelFile(t), inference.Score, 0, &inference.ModelOptions{MaxBatchSize: 8, MaxBatchTokens: budget, MaxWait: 50e6, NoLengthGrouping: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if out[i][0] != want[i] {
			t.Errorf("input %d scored %v, want %v", i, out[i][0], want[i])
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := 0
	for k, b := range f.batches {
		longest := 1
		for _, x := range b.Prefixes {
			longest = max(longest, len(x))
		}
		if len(b.Prefixes)*longest > budget {
			t.Errorf("batch %d runs %d prefixes of up to %d tokens, over the budget of %d", k, len(b.Prefixes), longest, budget)
		}
		rows += b.Real
	}
	if rows != len(in) {
		t.Errorf("%d rows run, want %d", rows, len(in))
	}
	// Run in 4 groups, the rows are padded within their group: 3 groups
	// of 2 one-token rows and the whole 2-token row alone.
	if st := m.Stats(); st.Prefixes != 6 || st.PrefixTokens != 6*p || st.PrefixItems != 6 || st.SavedTokens != 0 || st.RealTokens != 8 || st.PaddedTokens != 8 || st.Batches != 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestPrefixTypeIDs: type ids shorter than an input's prefix (a model that
// takes none ignores them) do not fail the batch the input shares with
// others.
func TestPrefixTypeIDs(t *testing.T) {
	f := &fake{sig: inference.Signature{Mask: true, Width: 1, Prefix: true}}
	m, err := newRuntime(t, f, inference.ModelOptions{Provider: "fake"}).Open(modelFile(t), inference.Score, 0, &inference.ModelOptions{MaxWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := prefixed([]int64{7, 7, 7}, []int64{1}, []int64{2})
	in[0].TypeIDs = []int64{0}
	out, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out[0][0] != 22 || out[1][0] != 23 {
		t.Errorf("scores %v %v, want 22 23", out[0][0], out[1][0])
	}
}
