package batcher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"twostage/errdefs"
	"twostage/internal/leaktest"
)

// item is a test item: an id and a size.
type item struct{ id, size int }

func itemSize(it item) int { return it.size }

// recorder is a PrepareFunc that doubles ids and records every batch.
type recorder struct {
	mu      sync.Mutex
	batches [][]item
	gate    chan struct{} // when non-nil, every run waits for a receive
	started chan int      // when non-nil, gets the batch number as each run starts
	fail    error
}

func (r *recorder) prepare(batch []item) (func() ([]int, error), error) {
	r.mu.Lock()
	r.batches = append(r.batches, append([]item(nil), batch...))
	k := len(r.batches)
	r.mu.Unlock()
	return func() ([]int, error) {
		if r.started != nil {
			r.started <- k
		}
		if r.gate != nil {
			<-r.gate
		}
		if r.fail != nil {
			return nil, r.fail
		}
		out := make([]int, len(batch))
		for i, it := range batch {
			out[i] = 2 * it.id
		}
		return out, nil
	}, nil
}

func (r *recorder) snapshot() [][]item {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]item(nil), r.batches...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentCallersGetTheirOwnOutputs(t *testing.T) {
	leaktest.Check(t)
	for _, grouping := range []bool{true, false} {
		t.Run(fmt.Sprintf("grouping=%v", grouping), func(t *testing.T) {
			rec := &recorder{}
			b := New(itemSize, rec.prepare, &Options{MaxBatchSize: 7, MaxBatchTokens: 400, NoGrouping: !grouping, MinFill: 0.5})
			defer b.Shutdown()
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for c := 0; c < 16; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(c), 1))
					for round := 0; round < 5; round++ {
						items := make([]item, rng.IntN(40))
						for i := range items {
							items[i] = item{id: c*100000 + round*1000 + i, size: 1 + rng.IntN(100)}
						}
						out, err := b.Add(context.Background(), items)
						if err != nil {
							errs <- err
							return
						}
						if len(out) != len(items) {
							errs <- fmt.Errorf("client %d: %d outputs for %d items", c, len(out), len(items))
							return
						}
						for i := range items {
							if out[i] != 2*items[i].id {
								errs <- fmt.Errorf("client %d item %d: got %d, want %d", c, i, out[i], 2*items[i].id)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			var items, tokens, padded int64
			for _, batch := range rec.snapshot() {
				longest := 0
				for _, it := range batch {
					longest = max(longest, it.size)
					tokens += int64(it.size)
				}
				if len(batch) > 7 {
					t.Errorf("batch of %d items, cap 7", len(batch))
				}
				if len(batch) > 1 && len(batch)*longest > 400 {
					t.Errorf("batch of %d items, longest %d: %d padded tokens over the 400 budget", len(batch), longest, len(batch)*longest)
				}
				items += int64(len(batch))
				padded += int64(len(batch) * longest)
			}
			st := b.Stats()
			if st.Items != items || st.Tokens != tokens || st.PaddedTokens != padded || st.Batches != int64(len(rec.snapshot())) {
				t.Errorf("stats %+v, recorded %d batches, %d items, %d tokens, %d padded", st, len(rec.snapshot()), items, tokens, padded)
			}
		})
	}
}

func TestZeroItemsAndClosed(t *testing.T) {
	leaktest.Check(t)
	rec := &recorder{}
	b := New(itemSize, rec.prepare, nil)
	out, err := b.Add(context.Background(), nil)
	if err != nil || out == nil || len(out) != 0 {
		t.Fatalf("Add(nil) = %v, %v; want empty, nil", out, err)
	}
	b.Shutdown()
	b.Shutdown() // idempotent
	if _, err := b.Add(context.Background(), []item{{1, 1}}); !errors.Is(err, errdefs.ErrClosed) {
		t.Fatalf("Add after Shutdown: %v, want ErrClosed", err)
	}
	if n := len(rec.snapshot()); n != 0 {
		t.Fatalf("%d batches run for no items", n)
	}
}

// TestOverloadCancelAndDrain fills the queue (MaxWait is long and no batch
// is full, so nothing leaves it), checks ErrOverloaded, cancels one call
// (its items must never run), and shuts down: the rest must be drained.
func TestOverloadCancelAndDrain(t *testing.T) {
	leaktest.Check(t)
	rec := &recorder{}
	b := New(itemSize, rec.prepare, &Options{MaxBatchSize: 10, MaxWait: time.Hour, MaxQueue: 5})
	ctxA, cancelA := context.WithCancel(context.Background())
	type result struct {
		out []int
		err error
	}
	resA, resB, resC := make(chan result, 1), make(chan result, 1), make(chan result, 1)
	go func() {
		out, err := b.Add(ctxA, []item{{1, 5}, {2, 5}, {3, 5}})
		resA <- result{out, err}
	}()
	waitFor(t, "3 queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 3 })
	go func() {
		out, err := b.Add(context.Background(), []item{{4, 5}, {5, 5}})
		resB <- result{out, err}
	}()
	waitFor(t, "5 queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 5 })
	// A deadline, so that a batcher that queues the item instead fails the
	// test rather than hanging it.
	over, cancelOver := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelOver()
	if _, err := b.Add(over, []item{{6, 1}}); !errors.Is(err, errdefs.ErrOverloaded) {
		t.Fatalf("Add over MaxQueue: %v, want ErrOverloaded", err)
	}
	cancelA()
	if r := <-resA; !errors.Is(r.err, context.Canceled) || r.out != nil {
		t.Fatalf("cancelled call: %v, %v; want nil, context.Canceled", r.out, r.err)
	}
	go func() {
		out, err := b.Add(context.Background(), []item{{7, 5}, {8, 5}, {9, 5}})
		resC <- result{out, err}
	}()
	waitFor(t, "5 queued again", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 5 })
	b.Shutdown()
	if r := <-resB; r.err != nil || fmt.Sprint(r.out) != "[8 10]" {
		t.Fatalf("drained call B: %v, %v; want [8 10]", r.out, r.err)
	}
	if r := <-resC; r.err != nil || fmt.Sprint(r.out) != "[14 16 18]" {
		t.Fatalf("drained call C: %v, %v; want [14 16 18]", r.out, r.err)
	}
	for _, batch := range rec.snapshot() {
		for _, it := range batch {
			if it.id <= 3 {
				t.Errorf("item %d of the cancelled call ran", it.id)
			}
		}
	}
	st := b.Stats()
	if st.Cancelled != 3 || st.Overloaded != 1 || st.Items != 5 {
		t.Errorf("stats %+v; want 3 cancelled, 1 overloaded, 5 items run", st)
	}
}

// TestPrepareOverlapsRun holds the first batch's run and checks that the
// second batch is prepared meanwhile.
func TestPrepareOverlapsRun(t *testing.T) {
	leaktest.Check(t)
	rec := &recorder{gate: make(chan struct{}), started: make(chan int, 10)}
	b := New(itemSize, rec.prepare, &Options{MaxBatchSize: 2, MaxWait: -1})
	defer b.Shutdown()
	done := make(chan error, 1)
	go func() {
		out, err := b.Add(context.Background(), []item{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}})
		if err == nil && fmt.Sprint(out) != "[2 4 6 8 10]" {
			err = fmt.Errorf("got %v", out)
		}
		done <- err
	}()
	if k := <-rec.started; k != 1 {
		t.Fatalf("first run is batch %d", k)
	}
	waitFor(t, "batch 2 prepared while batch 1 runs", func() bool { return len(rec.snapshot()) == 2 })
	if n := len(rec.snapshot()); n != 2 {
		t.Fatalf("%d batches prepared while the first runs, want exactly 2 (one waiting)", n)
	}
	go func() {
		for range 3 {
			rec.gate <- struct{}{}
		}
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunErrorsReachEveryCallInTheBatch(t *testing.T) {
	leaktest.Check(t)
	boom := errors.New("boom")
	rec := &recorder{fail: boom}
	b := New(itemSize, rec.prepare, nil)
	defer b.Shutdown()
	if _, err := b.Add(context.Background(), []item{{1, 1}}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	panicky := New(itemSize, func([]item) (func() ([]int, error), error) {
		return func() ([]int, error) { panic("oops") }, nil
	}, nil)
	defer panicky.Shutdown()
	if _, err := panicky.Add(context.Background(), []item{{1, 1}}); err == nil {
		t.Fatal("a panicking run gave no error")
	}
	short := New(itemSize, func([]item) (func() ([]int, error), error) {
		return func() ([]int, error) { return []int{1}, nil }, nil
	}, nil)
	defer short.Shutdown()
	if _, err := short.Add(context.Background(), []item{{1, 1}, {2, 1}}); err == nil {
		t.Fatal("a run with too few outputs gave no error")
	}
}

// TestGroupingCutsPadding queues the same mixed-size items with and without
// grouping while the runner is held, and compares the padding.
func TestGroupingCutsPadding(t *testing.T) {
	leaktest.Check(t)
	fills := map[bool]float64{}
	for _, grouping := range []bool{true, false} {
		rec := &recorder{gate: make(chan struct{}), started: make(chan int, 1000)}
		// MinFill 0.9, as the inference runtime sets it: with 0 grouping
		// accepts any fill and cuts the fewest batches, padding or not.
		b := New(itemSize, rec.prepare, &Options{MaxBatchSize: 8, NoGrouping: !grouping, MaxWait: time.Hour, MinFill: 0.9})
		// The first call fills one batch that holds the runner.
		first := make(chan error, 1)
		go func() {
			_, err := b.Add(context.Background(), []item{{0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}})
			first <- err
		}()
		<-rec.started
		rng := rand.New(rand.NewPCG(7, 7))
		items := make([]item, 200)
		for i := range items {
			items[i] = item{i, []int{10, 300}[rng.IntN(2)] + rng.IntN(10)}
		}
		res := make(chan error, 1)
		go func() {
			out, err := b.Add(context.Background(), items)
			for i := range out {
				if err == nil && out[i] != 2*i {
					err = fmt.Errorf("item %d: %d", i, out[i])
				}
			}
			res <- err
		}()
		waitFor(t, "items queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) >= 190 })
		go func() {
			for range rec.started {
				rec.gate <- struct{}{}
			}
		}()
		rec.gate <- struct{}{}
		// Shutdown forms the last, partial batches at once (MaxWait is an
		// hour) and returns when every item has run.
		b.Shutdown()
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		close(rec.started)
		var tok, pad int
		for _, batch := range rec.snapshot()[1:] {
			longest := 0
			for _, it := range batch {
				longest = max(longest, it.size)
				tok += it.size
			}
			pad += longest * len(batch)
		}
		fills[grouping] = float64(tok) / float64(pad)
	}
	t.Logf("fill with grouping %.3f, without %.3f", fills[true], fills[false])
	if fills[true] < 0.9 || fills[false] > 0.8 {
		t.Fatalf("fill with grouping %.3f (want >= 0.9), without %.3f (want <= 0.8 for this mix)", fills[true], fills[false])
	}
}

// TestPickKeepsMinFill checks the fill rule on pick directly: a batch grown
// around the oldest item takes a longer item only while real tokens over
// padded tokens stay at or above MinFill.
func TestPickKeepsMinFill(t *testing.T) {
	rec := &recorder{}
	for _, tc := range []struct {
		minFill float64
		sizes   []int
		want    []int
	}{
		// 10, 10, then 1000: with the long item the fill is 1020/3000 = 0.34.
		{0.5, []int{10, 10, 1000}, []int{0, 1}},
		{0.3, []int{10, 10, 1000}, []int{0, 1, 2}},
		// 10 and 15: fill 25/30 = 0.83.
		{0.8, []int{10, 15}, []int{0, 1}},
		{0.9, []int{10, 15}, []int{0}},
	} {
		b := New(itemSize, rec.prepare, &Options{MaxBatchSize: 8, MinFill: tc.minFill, MaxWait: time.Hour})
		b.mu.Lock()
		for i, s := range tc.sizes {
			b.queue = append(b.queue, &entry[item, int]{item: item{i, s}, size: s})
		}
		sel, _ := b.pick()
		b.queue = nil
		b.mu.Unlock()
		b.Shutdown()
		slices.Sort(sel)
		if !slices.Equal(sel, tc.want) {
			t.Errorf("MinFill %v, sizes %v: picked %v, want %v", tc.minFill, tc.sizes, sel, tc.want)
		}
	}
}
