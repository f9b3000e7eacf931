//go:build xla

package inference

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"twostage/errdefs"
	"twostage/internal/benchenv"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// xlaRecorder is the XLA backend, keeping the executors it opens.
type xlaRecorder struct{ opened chan *xlaExec }

func (r xlaRecorder) Open(path string, task Task, o *ModelOptions) (Executor, error) {
	x, err := XLA().Open(path, task, o)
	if err == nil {
		r.opened <- x.(*xlaExec)
	}
	return x, err
}

func openXLAExec(t *testing.T, seed uint64) *xlaExec {
	t.Helper()
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: seed})
	x, err := XLA().Open(filepath.Join(ckpt, "config.json"), Score, &ModelOptions{Provider: ProviderXLA})
	if err != nil {
		t.Fatal(err)
	}
	return x.(*xlaExec)
}

func drawTokens(rng *rand.Rand, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = rng.Int64N(tinymodel.Qwen3Vocab)
	}
	return out
}

// rowsBatch is the batch of rows (right-padded with pad) continuing
// prefixes (row r prefixes[of[r]]); nil prefixes: whole rows.
func rowsBatch(rows [][]int64, prefixes [][]int64, of []int, pad int64) *Batch {
	seq := 1
	for _, r := range rows {
		seq = max(seq, len(r))
	}
	b := &Batch{Rows: len(rows), Seq: seq, Real: len(rows), Prefixes: prefixes, PrefixOf: of}
	for _, r := range rows {
		b.Lens = append(b.Lens, len(r))
		for j := range seq {
			if j < len(r) {
				b.IDs, b.Mask = append(b.IDs, r[j]), append(b.Mask, 1)
			} else {
				b.IDs, b.Mask = append(b.IDs, pad), append(b.Mask, 0)
			}
		}
	}
	return b
}

// TestXLAPastCache: the XLA executor keeps prefix passes as ONNX Runtime's
// does (pastCache): batches continuing kept prefixes, or some of them, run
// no prefix program and score as their whole rows (1e-5 relative); a
// failed batch leaves the kept passes usable; beyond pastCacheSize the
// oldest is freed on the device; Close frees the rest.
func TestXLAPastCache(t *testing.T) {
	x := openXLAExec(t, 4)
	pad := int64(x.e.Describe().PadTokenID)
	rng := rand.New(rand.NewPCG(3, 9))
	q1, q2, q3 := drawTokens(rng, 20), drawTokens(rng, 9), drawTokens(rng, 30)
	ctx := context.Background()
	ran := int64(0) // RunPrefixed calls of check, each a prefix program
	// check runs the rows (own tokens) continuing prefixes and compares
	// them with the whole rows.
	check := func(what string, prefixes [][]int64, of []int, own [][]int64) {
		t.Helper()
		out, err := x.Run(ctx, rowsBatch(own, prefixes, of, pad))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		whole := make([][]int64, len(own))
		for r, o := range own {
			whole[r] = append(append([]int64(nil), prefixes[of[r]]...), o...)
		}
		want, err := x.Run(ctx, rowsBatch(whole, nil, nil, pad))
		if err != nil {
			t.Fatal(err)
		}
		b := rowsBatch(own, prefixes, of, pad)
		fresh, err := x.e.RunPrefixed(ctx, prefixes, of, b.IDs, b.Mask, b.Rows, b.Seq) // a prefix pass of its own
		if err != nil {
			t.Fatal(err)
		}
		for r := range own {
			g, w, f := float64(out.Data[r]), float64(want.Data[r]), float64(float32(fresh[r]))
			if math.Abs(g-w) > 1e-5*math.Abs(w) || math.Abs(g-f) > 1e-5*math.Abs(f) || math.IsNaN(g) {
				t.Errorf("%s row %d: %v, whole %v, with a prefix pass of its own %v", what, r, g, w, f)
			}
		}
		ran++
	}
	runs := func(what string, want int64, held int) {
		t.Helper()
		if got := x.e.PrefixRuns() - ran; got != want || x.e.LivePasts() != held || x.past.len() != held {
			t.Errorf("%s: %d prefix runs, %d pasts on the device, %d kept; want %d, %d", what, got, x.e.LivePasts(), x.past.len(), want, held)
		}
	}
	own := func(n int) [][]int64 {
		var out [][]int64
		for range n {
			out = append(out, drawTokens(rng, 1+rng.IntN(6)))
		}
		return out
	}

	for range 3 { // one call's pairs in three batches
		check("q1 batch", [][]int64{q1}, []int{0, 0, 0}, own(3))
		runs("q1 batches", 1, 1)
	}
	check("q2 and q1", [][]int64{q2, q1}, []int{1, 0, 0, 1}, own(4))
	runs("q2 and q1", 2, 2)
	check("q1 of the pass of q2 and q1", [][]int64{q1}, []int{0, 0}, own(2))
	check("q2 of the pass of q2 and q1", [][]int64{q2}, []int{0}, own(1))
	check("q1, q2 reordered", [][]int64{q1, q2}, []int{1, 0}, own(2))
	runs("subsets", 2, 2)

	// Failures: an ended ctx runs nothing and keeps nothing; a batch that
	// fails after its prefix pass keeps the pass, which is right for the
	// next batch; a failed batch on a kept pass leaves it usable.
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := x.Run(ended, rowsBatch(own(2), [][]int64{q3}, []int{0, 0}, pad)); !errors.Is(err, context.Canceled) {
		t.Errorf("an ended ctx: %v, want context.Canceled", err)
	}
	runs("an ended ctx", 2, 2)
	bad := rowsBatch(own(2), [][]int64{q3}, []int{0, 0}, pad)
	bad.IDs[0] = tinymodel.Qwen3Vocab
	if _, err := x.Run(ctx, bad); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("a token outside the vocabulary: %v, want ErrInvalidInput", err)
	}
	runs("a bad batch after its prefix pass", 3, 3)
	check("q3 after a failed batch", [][]int64{q3}, []int{0, 0}, own(2))
	bad = rowsBatch(own(2), [][]int64{q1}, []int{0, 0}, pad)
	bad.IDs[0] = -1
	if _, err := x.Run(ctx, bad); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("a negative token: %v, want ErrInvalidInput", err)
	}
	if _, err := x.Run(ended, rowsBatch(own(2), [][]int64{q1}, []int{0, 0}, pad)); !errors.Is(err, context.Canceled) {
		t.Errorf("an ended ctx on a kept pass: %v, want context.Canceled", err)
	}
	check("q1 after failed batches", [][]int64{q1}, []int{0, 0}, own(2))
	runs("failed batches on kept passes", 3, 3)

	// Eviction: the least recently used pass is freed on the device.
	for i := range pastCacheSize {
		check("other prefixes", [][]int64{drawTokens(rng, 5+i)}, []int{0}, own(1))
	}
	runs("other prefixes", 3+pastCacheSize, pastCacheSize)
	check("q2 after eviction", [][]int64{q2}, []int{0, 0}, own(2))
	runs("q2 after eviction", 4+pastCacheSize, pastCacheSize)

	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if n := x.e.LivePasts(); n != 0 || x.past.len() != 0 {
		t.Errorf("after Close: %d pasts on the device, %d kept", n, x.past.len())
	}
	if _, err := x.Run(ctx, rowsBatch(own(1), [][]int64{q1}, []int{0}, pad)); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
}

// TestXLAPrefixOnce: through the runtime, one call whose pairs fill
// several batches runs its prefix program once, scores as its inputs run
// whole (1e-5 relative to max(|score|, 1)), and the stats count the prefix once per batch, as
// on ONNX Runtime (Stats.PrefixTokens).
func TestXLAPrefixOnce(t *testing.T) {
	testassets.PJRTCPUPlugin(t)
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 4})
	rec := xlaRecorder{opened: make(chan *xlaExec, 1)}
	rt, err := New(&Options{Backends: map[string]Backend{ProviderXLA: rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := rt.Open(filepath.Join(ckpt, "config.json"), Score, 0, &ModelOptions{Provider: ProviderXLA, MaxBatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x := <-rec.opened
	rng := rand.New(rand.NewPCG(5, 6))
	prefix := drawTokens(rng, 30)
	const docs = 40
	in, whole := make([]Input, docs), make([]Input, docs)
	for i := range in {
		ids := append(append([]int64(nil), prefix...), drawTokens(rng, 1+rng.IntN(8))...)
		in[i], whole[i] = Input{IDs: ids, Prefix: len(prefix)}, Input{IDs: ids}
	}
	got, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	if runs := x.e.PrefixRuns(); runs != 1 || st.Prefixes < docs/8 {
		t.Errorf("%d prefix programs run for %d batches' prefixes, want 1", runs, st.Prefixes)
	}
	if st.PrefixTokens != st.Prefixes*int64(len(prefix)) || st.SavedTokens != docs*int64(len(prefix))-st.PrefixTokens {
		t.Errorf("stats %+v: want the prefix's tokens once per batch", st)
	}
	want, err := m.Run(context.Background(), whole)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want { // relative to the logits' scale: a score near 0 is off its whole row's by fp32 rounding of that scale, with or without kept passes
		g, w := float64(got[i][0]), float64(want[i][0])
		if math.Abs(g-w) > 1e-5*max(math.Abs(w), 1) || math.IsNaN(g) {
			t.Errorf("input %d: prefixed %v, whole %v", i, g, w)
		}
	}
}

// BenchmarkXLAPastCache: the executor's work for one call whose pairs
// fill 4 batches of 8 (a 300-token query, documents of 20 own tokens),
// its prefix pass kept across the batches or run again for each (the kept
// passes cleared before every batch), side by side; the benchmark model
// (benchenv.ZerankSpec), fp32, CPU plugin. It logs the ratio.
func BenchmarkXLAPastCache(b *testing.B) {
	testassets.PJRTCPUPlugin(b)
	spec := benchenv.ZerankSpec()
	spec.Dtype = "F32"
	ckpt := tinymodel.Checkpoint(b, spec)
	e, err := XLA().Open(filepath.Join(ckpt, "config.json"), Score, &ModelOptions{Provider: ProviderXLA})
	if err != nil {
		b.Fatal(err)
	}
	x := e.(*xlaExec)
	defer x.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	prefix := [][]int64{drawTokens(rng, 300)}
	var batches []*Batch
	for range 4 {
		var own [][]int64
		for range 8 {
			own = append(own, drawTokens(rng, 20))
		}
		batches = append(batches, rowsBatch(own, prefix, make([]int, 8), int64(x.e.Describe().PadTokenID)))
	}
	call := func(keep bool) time.Duration {
		x.past.clear()
		start := time.Now()
		for _, bt := range batches {
			if !keep {
				x.past.clear()
			}
			if _, err := x.Run(context.Background(), bt); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	call(true) // compile
	rounds := benchenv.Int("TWOSTAGE_BENCH_ROUNDS", 3)
	for i := 0; i < b.N; i++ {
		kept, again := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		for range rounds { // fastest of rounds, interleaved
			kept, again = min(kept, call(true)), min(again, call(false))
		}
		ratio := float64(again) / float64(kept)
		b.Logf("hidden %d, %d layers: a 4-batch call with its 300-token prefix run once: %.2fx the speed of running it per batch (%v vs %v)",
			spec.Hidden, spec.Layers, ratio, kept.Round(time.Millisecond), again.Round(time.Millisecond))
		b.ReportMetric(ratio, "kept/per-batch")
	}
}
