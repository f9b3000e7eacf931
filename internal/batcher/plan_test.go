package batcher

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// drain runs pick on b's queue until it is empty, as the former does when
// every item is queued at once, and returns the batches (as entries).
func drain(b *Batcher[item, int]) [][]*entry[item, int] {
	var out [][]*entry[item, int]
	for len(b.queue) > 0 {
		sel, _ := b.pick()
		out = append(out, b.take(sel))
	}
	return out
}

// rerankLike queues calls of 50 items each with log-normal sizes (median
// 145, 30 to 625: the rerank benchmark's workload), in arrival order.
func rerankLike(b *Batcher[item, int], calls int) []*call[int] {
	rng := rand.New(rand.NewPCG(1, 0xbe4c))
	sigma := math.Log(600.0/120) / 2.33
	cs := make([]*call[int], calls)
	for c := range cs {
		cs[c] = &call[int]{pending: 50}
		for i := 0; i < 50; i++ {
			n := min(max(int(math.Round(120*math.Exp(sigma*rng.NormFloat64()))), 30), 600) + 25
			b.queue = append(b.queue, &entry[item, int]{c: cs[c], idx: i, item: item{c*50 + i, n}, size: n})
		}
	}
	return cs
}

// TestPlanFillAndFairness queues 16 calls of 50 rerank-like items at once
// and drains them: the batches respect the caps and MinFill, the overall
// fill is at least 0.95, and calls finish one after another in about
// their arrival order (the median call by 70% of the batches), where
// grouping the whole queue made every call wait for the last batches.
func TestPlanFillAndFairness(t *testing.T) {
	b := &Batcher[item, int]{opts: (&Options{MaxBatchSize: 32, MaxBatchTokens: 16384, MinFill: 0.95}).withDefaults()}
	calls := rerankLike(b, 16)
	batches := drain(b)
	var tok, pad int
	done := make(map[*call[int]]int)
	for k, batch := range batches {
		longest, sum := 0, 0
		for _, e := range batch {
			longest = max(longest, e.size)
			sum += e.size
			if e.c.pending--; e.c.pending == 0 {
				done[e.c] = k
			}
		}
		if len(batch) > 32 || (len(batch) > 1 && len(batch)*longest > 16384) {
			t.Fatalf("batch %d: %d items, longest %d: over the caps", k, len(batch), longest)
		}
		if len(batch) > 1 && float64(sum) < 0.95*float64(len(batch)*longest) {
			t.Fatalf("batch %d: fill %.3f below MinFill 0.95", k, float64(sum)/float64(len(batch)*longest))
		}
		tok += sum
		pad += len(batch) * longest
	}
	fill := float64(tok) / float64(pad)
	finish := make([]int, len(calls))
	for c, cl := range calls {
		finish[c] = done[cl]
	}
	t.Logf("%d batches, fill %.3f, calls done after batch %v", len(batches), fill, finish)
	if fill < 0.95 {
		t.Errorf("fill %.3f, want >= 0.95", fill)
	}
	sorted := slices.Sorted(slices.Values(finish))
	if med := sorted[len(sorted)/2]; float64(med) > 0.7*float64(len(batches)) {
		t.Errorf("median call done after batch %d of %d, want by 70%%", med, len(batches))
	}
	// About arrival order: the first call finishes before the last, and
	// the first seven before any of the last seven.
	if finish[0] >= finish[len(finish)-1] || slices.Max(finish[:7]) > slices.Min(finish[9:]) {
		t.Errorf("calls done after batches %v: not in about arrival order", finish)
	}
}

// TestPlanTakesTheOldestAndKeepsCaps checks pick on random queues: the
// oldest item is always in the batch (no starvation), the batch keeps the
// item cap, the token budget and MinFill, only the window is looked at,
// and every item is eventually taken exactly once.
func TestPlanTakesTheOldestAndKeepsCaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for trial := 0; trial < 200; trial++ {
		o := Options{MaxBatchSize: 1 + rng.IntN(16), MaxBatchTokens: rng.IntN(3) * 400, MinFill: rng.Float64(), Window: 1 + rng.IntN(40), MaxWait: time.Hour}
		b := &Batcher[item, int]{opts: o.withDefaults()}
		n := 1 + rng.IntN(120)
		for i := 0; i < n; i++ {
			s := 1 + rng.IntN(300)
			b.queue = append(b.queue, &entry[item, int]{item: item{i, s}, size: s})
		}
		seen := make([]bool, n)
		for len(b.queue) > 0 {
			sel, _ := b.pick()
			if !slices.Contains(sel, 0) {
				t.Fatalf("trial %d (%+v): batch %v lacks the oldest item", trial, b.opts, sel)
			}
			longest, sum := 0, 0
			for _, i := range sel {
				if i >= b.opts.Window && !b.opts.NoGrouping {
					t.Fatalf("trial %d: picked queue position %d outside the window of %d", trial, i, b.opts.Window)
				}
				e := b.queue[i]
				if seen[e.item.id] {
					t.Fatalf("trial %d: item %d taken twice", trial, e.item.id)
				}
				seen[e.item.id] = true
				longest = max(longest, e.size)
				sum += e.size
			}
			if len(sel) > 1 {
				if len(sel) > b.opts.MaxBatchSize || (b.opts.MaxBatchTokens > 0 && len(sel)*longest > b.opts.MaxBatchTokens) {
					t.Fatalf("trial %d: %d items, longest %d, over the caps %+v", trial, len(sel), longest, b.opts)
				}
				if float64(sum) < b.opts.MinFill*float64(len(sel)*longest) {
					t.Fatalf("trial %d: fill %.3f below MinFill %.3f", trial, float64(sum)/float64(len(sel)*longest), b.opts.MinFill)
				}
			}
			b.take(sel)
		}
		for id, ok := range seen {
			if !ok {
				t.Fatalf("trial %d: item %d never taken", trial, id)
			}
		}
	}
}

// TestPlanSkipsDroppedItems plans a full window, drops one call's queued
// items as a cancelled Add does, and checks that the rest of the plan runs
// without them, in the order of the oldest items.
func TestPlanSkipsDroppedItems(t *testing.T) {
	b := &Batcher[item, int]{opts: (&Options{MaxBatchSize: 2, MinFill: 0.9, Window: 6}).withDefaults()}
	keep, drop := &call[int]{}, &call[int]{}
	// Sizes pair up as (0,3), (1,4), (2,5); call drop owns 4 and 5.
	for i, s := range []int{10, 50, 90, 10, 50, 90} {
		c := keep
		if i >= 4 {
			c = drop
		}
		b.queue = append(b.queue, &entry[item, int]{c: c, item: item{i, s}, size: s})
	}
	ids := func(sel []int) []int {
		var out []int
		for _, i := range sel {
			out = append(out, b.queue[i].item.id)
		}
		return out
	}
	take := func(sel []int) {
		b.queue = slices.DeleteFunc(b.queue, func(e *entry[item, int]) bool {
			return slices.ContainsFunc(sel, func(i int) bool { return e.item.id == i })
		})
	}
	sel, full := b.pick()
	if got := ids(sel); !slices.Equal(got, []int{0, 3}) || !full || len(b.planned) != 2 {
		t.Fatalf("first batch %v (full %v, %d planned), want [0 3], full, 2 planned", got, full, len(b.planned))
	}
	take(ids(sel))
	b.queue = slices.DeleteFunc(b.queue, func(e *entry[item, int]) bool { return e.c == drop })
	for _, want := range [][]int{{1}, {2}} {
		sel, full := b.pick()
		got := ids(sel)
		if !slices.Equal(got, want) || !full {
			t.Fatalf("batch %v (full %v), want %v, full", got, full, want)
		}
		take(got)
	}
	if len(b.queue) != 0 || len(b.planned) != 0 {
		t.Fatalf("%d queued, %d planned after the plan ran", len(b.queue), len(b.planned))
	}
}
