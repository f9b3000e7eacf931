// Package batcher turns concurrent, blocking calls into batches for a model
// runner: dynamic batching under an item cap and a token budget, with length
// grouping to cut padding, a bounded wait for a batch to fill, a bounded queue
// that refuses work with errdefs.ErrOverloaded instead of growing, and
// overlap of preparing the next batch with running the current one.
//
// It knows nothing about models. A caller supplies the size of an item (its
// token count), and a PrepareFunc that turns a batch of items into a run
// function (for ONNX Runtime: build the padded input tensors, then run the
// session). The rerank engine and the ONNX embedder share it.
//
// # Goroutines
//
// New starts two goroutines. The former waits for queued items, picks the
// next batch and calls PrepareFunc; the runner calls the run functions one
// at a time, in order. The former prepares batch k+1 while the runner runs
// batch k, so at most one prepared batch waits. Both goroutines exit when
// Shutdown has been called and every queued item has been run; Shutdown
// returns after they have exited.
//
// # Forming a batch
//
// A batch is formed when the queue holds a full batch (MaxBatchSize items,
// or MaxBatchTokens padded tokens), when the oldest queued item has waited
// MaxWait, or at Shutdown. The oldest queued item is always in the next
// batch, so no item starves. With length grouping (the default) the batcher
// looks at a window of the oldest queued items (Window), sorts it by size
// and cuts it into runs of neighbours, each within MaxBatchSize and
// MaxBatchTokens and with a fill (real tokens over padded tokens,
// len(batch) * longest) at or above MinFill, choosing the cut with the
// fewest batches and then the least padding. Under load (the window full)
// the cut is the plan for the next batches, run in the order of their
// oldest items; items queued meanwhile wait for the next plan. Because only
// the window is grouped, calls finish in about arrival order, one after
// another, instead of all together at the end. Without grouping, items are
// taken in arrival order.
package batcher

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"twostage/errdefs"
)

// Options configures a Batcher. Zero fields take the documented defaults.
type Options struct {
	// MaxBatchSize caps the number of items in a batch (default 32).
	MaxBatchSize int
	// MaxBatchTokens caps a batch's padded size, len(batch) times the size of
	// its largest item; 0 means no cap. An item larger than the cap on its
	// own still runs, alone.
	MaxBatchTokens int
	// MaxWait is how long the oldest queued item may wait for its batch to
	// fill before a partial batch is formed (default 2ms; negative: never
	// wait).
	MaxWait time.Duration
	// MaxQueue caps the number of queued items (not yet in a batch); an Add
	// that would exceed it fails at once with errdefs.ErrOverloaded
	// (default 16384).
	MaxQueue int
	// NoGrouping takes items in arrival order instead of grouping them by
	// size.
	NoGrouping bool
	// MinFill is the lowest fill (real over padded tokens) that length
	// grouping accepts in a batch; 0 accepts any (grouping then cuts the
	// fewest batches, padded or not), 1 only equal sizes. Ignored with
	// NoGrouping.
	MinFill float64
	// Window is how many of the oldest queued items length grouping
	// chooses from (default 8 * MaxBatchSize): the smaller, the sooner
	// each call finishes; the larger, the less padding. Ignored with
	// NoGrouping.
	Window int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MaxBatchSize <= 0 {
		r.MaxBatchSize = 32
	}
	if r.MaxBatchTokens < 0 {
		r.MaxBatchTokens = 0
	}
	if r.MaxWait == 0 {
		r.MaxWait = 2 * time.Millisecond
	}
	if r.MaxWait < 0 {
		r.MaxWait = 0
	}
	if r.MaxQueue <= 0 {
		r.MaxQueue = 16384
	}
	r.MinFill = min(max(r.MinFill, 0), 1)
	if r.Window <= 0 {
		r.Window = 8 * r.MaxBatchSize
	}
	return r
}

// PrepareFunc turns a batch into the function that runs it. It is called on
// the former goroutine, overlapping the previous batch's run; run is called
// on the runner goroutine and must return one output per item, in order. An
// error from either fails every call with an item in the batch.
type PrepareFunc[In, Out any] func(batch []In) (run func() ([]Out, error), err error)

// Stats counts what a Batcher has done since New.
type Stats struct {
	// Batches and Items run (items of cancelled calls that were already in
	// a batch included).
	Batches, Items int64
	// Tokens is the sum of the sizes of the items run; PaddedTokens the sum
	// over batches of len(batch) times the largest size. Tokens/PaddedTokens
	// is the padding efficiency.
	Tokens, PaddedTokens int64
	// QueueWait is the time items spent queued, from Add to being put in a
	// batch, summed over items.
	QueueWait time.Duration
	// PrepareTime and RunTime are the time spent in PrepareFunc and in the
	// run functions, summed over batches.
	PrepareTime, RunTime time.Duration
	// Overloaded counts items refused with ErrOverloaded; Cancelled counts
	// queued items dropped because their call's context ended.
	Overloaded, Cancelled int64
}

// Fill returns Tokens / PaddedTokens (1 when nothing ran).
func (s Stats) Fill() float64 {
	if s.PaddedTokens == 0 {
		return 1
	}
	return float64(s.Tokens) / float64(s.PaddedTokens)
}

// Batcher queues items from concurrent Add calls and runs them in batches.
// Its methods are safe for concurrent use.
type Batcher[In, Out any] struct {
	opts    Options
	size    func(In) int
	prepare PrepareFunc[In, Out]

	mu    sync.Mutex
	queue []*entry[In, Out] // arrival order
	// planned holds the batches still to run from the last window
	// planned by length grouping (see plan), in order.
	planned [][]*entry[In, Out]
	closed  bool
	stats   Stats

	wake chan struct{}      // capacity 1: something changed for the former
	jobs chan *job[In, Out] // unbuffered: one prepared batch waits at most
	done chan struct{}      // closed when both goroutines have exited
}

type call[Out any] struct {
	out      []Out
	pending  int
	err      error
	finished bool // done is closed
	dropped  bool // the caller gave up (ctx ended)
	done     chan struct{}
}

type entry[In, Out any] struct {
	c    *call[Out]
	idx  int
	item In
	size int
	at   time.Time
}

type job[In, Out any] struct {
	entries []*entry[In, Out]
	run     func() ([]Out, error)
	err     error
}

// New starts a Batcher. size returns an item's size in tokens (at least 1 is
// assumed); prepare turns a batch into its run function. Call Shutdown to
// stop it.
func New[In, Out any](size func(In) int, prepare PrepareFunc[In, Out], opts *Options) *Batcher[In, Out] {
	b := &Batcher[In, Out]{
		opts:    opts.withDefaults(),
		size:    size,
		prepare: prepare,
		wake:    make(chan struct{}, 1),
		jobs:    make(chan *job[In, Out]),
		done:    make(chan struct{}),
	}
	go b.form()
	go func() { // the runner outlives the former: it drains jobs until the former closes it
		b.runLoop()
		close(b.done)
	}()
	return b
}

// Options returns the options in effect (defaults filled in).
func (b *Batcher[In, Out]) Options() Options { return b.opts }

// Add queues items and blocks until every one has been run, returning the
// outputs in item order. Zero items return an empty result at once.
//
// Errors: errdefs.ErrClosed after Shutdown has begun; errdefs.ErrOverloaded
// (at once, nothing queued) when the queue cannot take all items; the
// context's error when ctx ends first: the call's queued items are then
// dropped, and results of its items already in a batch are discarded; the
// PrepareFunc's or run function's error for a failed batch.
func (b *Batcher[In, Out]) Add(ctx context.Context, items []In) ([]Out, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("batcher: %w", err)
	}
	c := &call[Out]{out: make([]Out, len(items)), pending: len(items), done: make(chan struct{})}
	now := time.Now()
	entries := make([]*entry[In, Out], len(items))
	for i, it := range items {
		entries[i] = &entry[In, Out]{c: c, idx: i, item: it, size: max(b.size(it), 1), at: now}
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, fmt.Errorf("batcher: add after shutdown: %w", errdefs.ErrClosed)
	}
	if len(items) == 0 {
		b.mu.Unlock()
		return c.out, nil
	}
	if len(b.queue)+len(items) > b.opts.MaxQueue {
		b.stats.Overloaded += int64(len(items))
		n := len(b.queue)
		b.mu.Unlock()
		return nil, fmt.Errorf("batcher: queue holds %d of %d items, cannot take %d more: %w", n, b.opts.MaxQueue, len(items), errdefs.ErrOverloaded)
	}
	b.queue = append(b.queue, entries...)
	b.mu.Unlock()
	b.signal()

	select {
	case <-c.done:
	case <-ctx.Done():
		b.mu.Lock()
		if !c.finished {
			c.dropped = true
			c.finished = true
			close(c.done)
			n := len(b.queue)
			b.queue = slices.DeleteFunc(b.queue, func(e *entry[In, Out]) bool { return e.c == c })
			b.stats.Cancelled += int64(n - len(b.queue))
			b.mu.Unlock()
			b.signal()
			return nil, fmt.Errorf("batcher: %w", ctx.Err())
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	return c.out, nil
}

// Stats returns a snapshot of the counters.
func (b *Batcher[In, Out]) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Shutdown stops taking new items (Add then fails with errdefs.ErrClosed),
// runs every item already queued, and returns once both goroutines have
// exited. Calls waiting in Add get their results. Later calls return at once.
func (b *Batcher[In, Out]) Shutdown() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.signal()
	<-b.done
}

func (b *Batcher[In, Out]) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// form is the former goroutine: it picks batches, prepares them and hands
// them to the runner. It exits (closing jobs) once closed and the queue is
// empty.
func (b *Batcher[In, Out]) form() {
	defer close(b.jobs)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		b.mu.Lock()
		now := time.Now()
		if len(b.queue) == 0 {
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return
			}
			<-b.wake
			continue
		}
		sel, full := b.pick()
		waited := now.Sub(b.queue[0].at)
		if !full && !b.closed && waited < b.opts.MaxWait {
			b.mu.Unlock()
			timer.Reset(b.opts.MaxWait - waited)
			select {
			case <-b.wake:
			case <-timer.C:
			}
			continue
		}
		j := &job[In, Out]{entries: b.take(sel)}
		longest, tokens := 0, 0
		for _, e := range j.entries {
			longest = max(longest, e.size)
			tokens += e.size
			b.stats.QueueWait += now.Sub(e.at)
		}
		b.stats.Batches++
		b.stats.Items += int64(len(sel))
		b.stats.Tokens += int64(tokens)
		b.stats.PaddedTokens += int64(longest * len(sel))
		b.mu.Unlock()

		items := make([]In, len(j.entries))
		for k, e := range j.entries {
			items[k] = e.item
		}
		t0 := time.Now()
		j.run, j.err = safePrepare(b.prepare, items)
		dt := time.Since(t0)
		b.mu.Lock()
		b.stats.PrepareTime += dt
		b.mu.Unlock()
		b.jobs <- j
	}
}

func safePrepare[In, Out any](prepare PrepareFunc[In, Out], items []In) (run func() ([]Out, error), err error) {
	defer func() {
		if r := recover(); r != nil {
			run, err = nil, fmt.Errorf("batcher: prepare panicked: %v\n%s", r, debug.Stack())
		}
	}()
	run, err = prepare(items)
	if err == nil && run == nil {
		err = errors.New("batcher: prepare returned no run function")
	}
	return run, err
}

func safeRun[Out any](run func() ([]Out, error)) (out []Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("batcher: run panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return run()
}

// runLoop is the runner goroutine: it runs prepared batches in order and
// delivers their outputs.
func (b *Batcher[In, Out]) runLoop() {
	for j := range b.jobs {
		out, err := []Out(nil), j.err
		if err == nil {
			t0 := time.Now()
			out, err = safeRun(j.run)
			dt := time.Since(t0)
			b.mu.Lock()
			b.stats.RunTime += dt
			b.mu.Unlock()
			if err == nil && len(out) != len(j.entries) {
				err = fmt.Errorf("batcher: run returned %d outputs for %d items", len(out), len(j.entries))
			}
		}
		b.deliver(j, out, err)
	}
}

func (b *Batcher[In, Out]) deliver(j *job[In, Out], out []Out, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, e := range j.entries {
		c := e.c
		if c.finished {
			continue
		}
		if err != nil {
			c.err = err
			c.finished = true
			close(c.done)
			continue
		}
		c.out[e.idx] = out[k]
		c.pending--
		if c.pending == 0 {
			c.finished = true
			close(c.done)
		}
	}
}

// take removes the entries at queue positions sel from the queue, keeping
// the others in order, and returns them in sel's order. The caller holds
// b.mu.
func (b *Batcher[In, Out]) take(sel []int) []*entry[In, Out] {
	out := make([]*entry[In, Out], len(sel))
	taken := make([]bool, len(b.queue))
	for k, i := range sel {
		out[k] = b.queue[i]
		taken[i] = true
	}
	kept := b.queue[:0]
	for i, e := range b.queue {
		if !taken[i] {
			kept = append(kept, e)
		}
	}
	clear(b.queue[len(kept):])
	b.queue = kept
	return out
}

// pick chooses the next batch from the queue (b.mu held, queue not empty)
// and reports whether it is full: more items are queued, but the item cap or
// the token budget keeps them out. It returns indices into b.queue.
func (b *Batcher[In, Out]) pick() (sel []int, full bool) {
	q := b.queue
	capN, budget := b.opts.MaxBatchSize, b.opts.MaxBatchTokens
	fits := func(n, longest int) bool { return n <= capN && (budget == 0 || n*longest <= budget) }
	if b.opts.NoGrouping || (len(q) == 1 && len(b.planned) == 0) {
		longest := 0
		for i, e := range q {
			l := max(longest, e.size)
			if i > 0 && !fits(i+1, l) {
				return sel, true
			}
			longest = l
			sel = append(sel, i)
		}
		return sel, len(sel) == capN
	}
	return b.plan()
}

// Queued returns the number of items waiting for a batch.
func (b *Batcher[In, Out]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}
