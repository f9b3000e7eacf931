package batcher

import (
	"math"
	"slices"
)

// plan picks the next length-grouped batch (b.mu held, queue not empty).
// It groups only a window of the oldest queued items (Window),
// so that calls are served in about arrival order and finish one after
// another rather than all near the end.
//
// It sorts the window by size (arrival order breaks ties) and cuts it into
// runs of neighbours under the item cap and the token budget, each run's
// fill at or above MinFill, choosing the cut with the fewest batches and,
// among those, the least padding (dynamic programming over the sorted
// window). When the window is complete (the queue holds at least Window
// items), the whole cut becomes the plan: its runs are the next batches,
// the one holding the oldest item first, then by their oldest item, and
// items queued meanwhile wait for the plan to finish. Otherwise (a short
// queue) it returns the run holding the oldest item, reporting it full
// only when the cap or the budget stops it from growing, and plans again
// next time with whatever has arrived.
//
// No item starves: the runs of a plan go in the order of their oldest
// items and a plan takes the oldest queued items, so the oldest queued
// item is always in the next batch.
func (b *Batcher[In, Out]) plan() (sel []int, full bool) {
	for len(b.planned) > 0 {
		next := b.planned[0]
		b.planned = b.planned[1:]
		sel = b.positions(next)
		if len(sel) > 0 { // empty when every item's call gave up
			return sel, true
		}
	}
	runs := b.cut()
	if len(b.queue) >= b.opts.Window {
		b.planned = make([][]*entry[In, Out], 0, len(runs)-1)
		for _, r := range runs[1:] {
			es := make([]*entry[In, Out], len(r))
			for k, i := range r {
				es[k] = b.queue[i]
			}
			b.planned = append(b.planned, es)
		}
		return runs[0], true
	}
	sel = runs[0]
	if len(sel) == b.opts.MaxBatchSize {
		return sel, true
	}
	// Full when not even an item of the run's longest size could join it
	// under the budget.
	budget := b.opts.MaxBatchTokens
	return sel, budget > 0 && (len(sel)+1)*b.queue[sel[len(sel)-1]].size > budget
}

// positions returns the queue positions of es's entries still queued.
func (b *Batcher[In, Out]) positions(es []*entry[In, Out]) []int {
	var sel []int
	for i, e := range b.queue {
		if slices.Contains(es, e) {
			sel = append(sel, i)
			if len(sel) == len(es) {
				break
			}
		}
	}
	return sel
}

// cut cuts the window into runs (queue positions), the run holding the
// oldest item first, the others by their oldest item.
func (b *Batcher[In, Out]) cut() [][]int {
	q := b.queue
	capN, budget, minFill := b.opts.MaxBatchSize, b.opts.MaxBatchTokens, b.opts.MinFill
	n := min(len(q), b.opts.Window)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return q[x].size - q[y].size })
	prefix := make([]int, n+1) // prefix[k]: tokens of the k shortest
	for k, i := range order {
		prefix[k+1] = prefix[k] + q[i].size
	}
	// best[j] is the best cut of the j shortest items: its batch count,
	// padded tokens, and where its last run starts.
	type cut struct{ batches, padded, from int }
	best := make([]cut, n+1)
	for j := 1; j <= n; j++ {
		best[j] = cut{math.MaxInt, 0, j - 1}
		longest := q[order[j-1]].size
		for i := j - 1; i >= 0 && j-i <= capN; i-- {
			k, padded := j-i, (j-i)*longest
			if k > 1 && ((budget > 0 && padded > budget) || float64(prefix[j]-prefix[i]) < minFill*float64(padded)) {
				break // a longer run only adds shorter items: its fill and padded size get no better
			}
			c := cut{best[i].batches + 1, best[i].padded + padded, i}
			if c.batches < best[j].batches || (c.batches == best[j].batches && c.padded < best[j].padded) {
				best[j] = c
			}
		}
	}
	var runs [][]int
	for j := n; j > 0; j = best[j].from {
		r := slices.Clone(order[best[j].from:j])
		slices.Sort(r) // arrival order
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(x, y []int) int { return x[0] - y[0] })
	return runs
}
