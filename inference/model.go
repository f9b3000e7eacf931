package inference

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"twostage/errdefs"
	"twostage/internal/batcher"
	"twostage/internal/par"
)

// Input is one tokenized input: its token ids and, for models that take
// them, its token type ids (same length). Front ends build them (prompt,
// truncation); the model pads, batches and runs them.
type Input struct {
	IDs, TypeIDs []int64
	// Prefix is the number of leading IDs that other inputs share (a
	// call's query and template, say); 0 means none. A model whose
	// executor continues prefixes (Signature.Prefix) runs each distinct
	// prefix of a batch once and each input's remaining tokens after it;
	// the output is the same as the input's run whole, which is how other
	// models run it. It must leave at least one token after the prefix.
	Prefix int
}

// Model is a handle on a model loaded in a Runtime, shared by every handle
// that opened the same model: their calls are queued together, grouped by
// length under the token budget, right-padded and run in batches by one
// runner (package internal/batcher). It is safe for concurrent use.
type Model struct {
	m      *model
	closed atomic.Bool
}

// model is the shared, loaded model behind the handles.
type model struct {
	rt    *Runtime
	key   string
	refs  int // guarded by rt.mu
	path  string
	task  Task
	pad   int64
	exec  Executor
	sig   Signature
	opts  ModelOptions // batching defaults filled in
	b     *batcher.Batcher[Input, []float32]
	chunk int

	calls        atomic.Int64
	bucketPad    atomic.Int64 // tokens added by Executor.Shape (less those a batch run in groups saves)
	groupRuns    atomic.Int64 // batches beyond the batcher's: a batch run in groups counts each
	prefixTokens atomic.Int64 // tokens of the shared prefixes run
	prefixRuns   atomic.Int64 // shared prefixes run (distinct per batch)
	prefixItems  atomic.Int64 // inputs that continued a shared prefix
	savedTokens  atomic.Int64 // prefix tokens those inputs did not run
	width        atomic.Int64 // learnt width of a symbolic output

	stopOnce sync.Once
	stopErr  error
}

func newModel(rt *Runtime, key, path string, task Task, pad int64, exec Executor, o ModelOptions) *model {
	m := &model{rt: rt, key: key, refs: 1, path: path, task: task, pad: pad, exec: exec, sig: exec.Signature(), opts: o}
	m.width.Store(int64(m.sig.Width))
	bo := o.batcherOptions()
	size := func(in Input) int { return len(in.IDs) }
	if m.sig.Prefix { // an input costs its tokens after the shared prefix
		size = func(in Input) int { return len(in.IDs) - in.Prefix }
	}
	m.b = batcher.New(size, m.prepare, &bo)
	m.chunk = max(4*m.b.Options().MaxBatchSize, 128)
	return m
}

// prepare pads a batch to the executor's shape (on the batcher's former
// goroutine, overlapping the previous run) and returns its run function.
// The batcher sizes an input that continues a prefix by its own tokens,
// so the batch's distinct prefixes together may exceed MaxBatchTokens; it
// then runs as several batches, each of prefixes that fit (see groups).
func (m *model) prepare(batch []Input) (func() ([][]float32, error), error) {
	prefixes, of := m.prefixes(batch)
	groups := m.groups(prefixes)
	if groups == nil {
		b, err := m.build(batch, prefixes, of)
		if err != nil {
			return nil, err
		}
		return func() ([][]float32, error) { return m.run(b) }, nil
	}
	var (
		subs   []*Batch
		rowsOf [][]int // batch rows of each sub-batch, in order
		padded int     // the sub-batches' rows times their longest
	)
	for _, g := range groups {
		index := make(map[int]int, len(g)) // prefix -> its index in the group
		sub := make([][]int64, len(g))
		for k, i := range g {
			index[i] = k
			sub[k] = prefixes[i]
		}
		var rows []int
		var in []Input
		var subOf []int
		longest := 0
		for r, x := range batch {
			if k, ok := index[of[r]]; ok {
				rows, in, subOf = append(rows, r), append(in, x), append(subOf, k)
				longest = max(longest, len(x.IDs)-x.Prefix, 1)
			}
		}
		if len(sub) == 1 && len(sub[0]) == 0 {
			sub, subOf = nil, nil // rows without a prefix: whole
		}
		b, err := m.build(in, sub, subOf)
		if err != nil {
			return nil, err
		}
		subs, rowsOf = append(subs, b), append(rowsOf, rows)
		padded += len(rows) * longest
	}
	// The batcher counted the batch as padded to its longest input.
	longest := 0
	for _, x := range batch {
		longest = max(longest, len(x.IDs)-x.Prefix, 1)
	}
	m.bucketPad.Add(int64(padded - len(batch)*longest))
	m.groupRuns.Add(int64(len(subs) - 1))
	return func() ([][]float32, error) {
		out := make([][]float32, len(batch))
		for k, b := range subs {
			res, err := m.run(b)
			if err != nil {
				return nil, err
			}
			for j, r := range rowsOf[k] {
				out[r] = res[j]
			}
		}
		return out, nil
	}, nil
}

// groups splits a batch's distinct prefixes into groups whose prefix
// pass fits MaxBatchTokens (prefixes times the longest, an empty one
// counting one token), longest first, or returns nil when they fit
// together (or there is no budget).
func (m *model) groups(prefixes [][]int64) [][]int {
	budget := m.b.Options().MaxBatchTokens
	size := func(i int) int { return max(len(prefixes[i]), 1) }
	longest := 0
	for i := range prefixes {
		longest = max(longest, size(i))
	}
	if budget <= 0 || len(prefixes)*longest <= budget {
		return nil
	}
	order := make([]int, len(prefixes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return size(b) - size(a) })
	var out [][]int
	for _, i := range order {
		if n := len(out); n > 0 && (len(out[n-1])+1)*size(out[n-1][0]) <= budget {
			out[n-1] = append(out[n-1], i)
			continue
		}
		out = append(out, []int{i})
	}
	return out
}

// build pads batch, whose distinct prefixes are prefixes (nil: none) and
// input i's prefix prefixes[of[i]], to the executor's shape.
func (m *model) build(batch []Input, prefixes [][]int64, of []int) (*Batch, error) {
	if prefixes != nil {
		cut := make([]Input, len(batch))
		for i, in := range batch {
			cut[i] = Input{IDs: in.IDs[in.Prefix:]}
			if len(in.TypeIDs) > in.Prefix { // shorter ones pad with zeros, as whole
				cut[i].TypeIDs = in.TypeIDs[in.Prefix:]
			}
		}
		batch = cut
	}
	rows, seq := len(batch), 0
	for _, in := range batch {
		seq = max(seq, len(in.IDs))
	}
	R, S := m.exec.Shape(rows, seq)
	if R < rows || S < seq {
		return nil, fmt.Errorf("inference: executor shape %dx%d is below the batch's %dx%d: %w", R, S, rows, seq, ErrModel)
	}
	m.bucketPad.Add(int64(R*S - rows*seq))
	b := &Batch{Rows: R, Seq: S, Real: rows, Lens: make([]int, R), IDs: make([]int64, R*S), Mask: make([]int64, R*S)}
	if m.sig.TypeIDs {
		b.TypeIDs = make([]int64, R*S)
	}
	for r := range R {
		row := b.IDs[r*S : (r+1)*S]
		n := 0
		if r < rows {
			in := batch[r]
			n = copy(row, in.IDs)
			if b.TypeIDs != nil {
				copy(b.TypeIDs[r*S:], in.TypeIDs)
			}
		}
		for j := n; j < S; j++ {
			row[j] = m.pad
		}
		mask := b.Mask[r*S : r*S+n]
		for j := range mask {
			mask[j] = 1
		}
		b.Lens[r] = n
	}
	if prefixes != nil {
		b.Prefixes, b.PrefixOf = prefixes, make([]int, R)
		copy(b.PrefixOf, of)
	}
	return b, nil
}

// checkPrefixes checks that every input leaves a token after its prefix,
// before it is queued (a bad input must not fail other calls' batches).
func checkPrefixes(in []Input) error {
	for i, x := range in {
		if x.Prefix < 0 || (x.Prefix > 0 && x.Prefix >= len(x.IDs)) {
			return fmt.Errorf("inference: input %d: a prefix of %d tokens leaves none of its %d: %w", i, x.Prefix, len(x.IDs), errdefs.ErrInvalidInput)
		}
	}
	return nil
}

// prefixes returns the distinct prefixes of batch and each input's index
// among them, or nil when the executor continues none or no input has
// one.
func (m *model) prefixes(batch []Input) ([][]int64, []int) {
	if !m.sig.Prefix {
		return nil, nil
	}
	var out [][]int64
	of := make([]int, len(batch))
	seen := map[string]int{}
	for i, in := range batch {
		p := in.IDs[:in.Prefix]
		key := prefixKey(p)
		k, ok := seen[key]
		if !ok {
			k = len(out)
			seen[key] = k
			out = append(out, p)
		}
		of[i] = k
	}
	if len(out) == 1 && len(out[0]) == 0 {
		return nil, nil
	}
	var runs, run, items, cont int64
	for _, p := range out {
		runs += int64(min(len(p), 1))
		run += int64(len(p))
	}
	for _, in := range batch {
		items += int64(min(in.Prefix, 1))
		cont += int64(in.Prefix)
	}
	m.prefixRuns.Add(runs)
	m.prefixTokens.Add(run)
	m.prefixItems.Add(items)
	m.savedTokens.Add(cont - run)
	return out, of
}

// prefixKey is a map key for a token sequence.
func prefixKey(ids []int64) string {
	b := make([]byte, 0, 8*len(ids))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint64(b, uint64(id))
	}
	return string(b)
}

// run runs one batch and cuts the output into one slice per real row.
func (m *model) run(b *Batch) ([][]float32, error) {
	out, err := m.exec.Run(context.Background(), b)
	if err != nil {
		return nil, err
	}
	res := make([][]float32, b.Real)
	w := out.Width
	bad := func(want int) error {
		return fmt.Errorf("inference: %s: output of %d values (width %d) for a %dx%d batch, want %d: %w", m.path, len(out.Data), w, b.Rows, b.Seq, want, errdefs.ErrDimension)
	}
	switch {
	case m.task == Score:
		if len(out.Data) < b.Real {
			return nil, bad(b.Rows)
		}
		for r := range res {
			res[r] = out.Data[r : r+1 : r+1]
		}
	case m.sig.Pooled:
		if w <= 0 || len(out.Data) < b.Real*w {
			return nil, bad(b.Rows * max(w, 1))
		}
		for r := range res {
			res[r] = out.Data[r*w : (r+1)*w : (r+1)*w]
		}
	default:
		if w <= 0 || len(out.Data) < b.Real*b.Seq*w {
			return nil, bad(b.Rows * b.Seq * max(w, 1))
		}
		for r := range res {
			lo := r * b.Seq * w
			res[r] = out.Data[lo : lo+b.Lens[r]*w : lo+b.Lens[r]*w]
		}
	}
	if w > 0 {
		m.width.CompareAndSwap(0, int64(w))
	}
	return res, nil
}

// stop drains the queue, stops the goroutines and closes the executor,
// once.
func (m *model) stop() error {
	m.stopOnce.Do(func() {
		m.b.Shutdown()
		m.stopErr = m.exec.Close()
	})
	return m.stopErr
}

func (h *Model) check() error {
	if h.closed.Load() {
		return fmt.Errorf("inference: model handle: %w", errdefs.ErrClosed)
	}
	return nil
}

// Run queues inputs and blocks until every one has run, returning one raw
// output per input, in order: for Score one value (the raw score); for
// Embed with a pooled signature the vector, otherwise the hidden states of
// the input's real tokens, len(IDs) rows of Width values. The slices are
// the caller's. An input's output does not depend on what it is batched
// with. It counts one call in Stats.
//
// Errors: errdefs.ErrClosed after Close (of the handle or the runtime);
// errdefs.ErrOverloaded, at once and with nothing queued, when the queue
// cannot take every input; ctx's error when ctx ends first (the call's
// queued inputs are dropped); the executor's error for a failed batch;
// errdefs.ErrInvalidInput, with nothing queued, for an input whose Prefix
// leaves it no token.
func (h *Model) Run(ctx context.Context, in []Input) ([][]float32, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	if err := checkPrefixes(in); err != nil {
		return nil, err
	}
	h.m.calls.Add(1)
	return h.m.b.Add(ctx, in)
}

// Stream runs n inputs built by fill(lo, hi), which returns the inputs
// lo to hi-1. Up to a chunk (four batches, at least 128 inputs) it is Run;
// beyond, the calling goroutine builds the inputs chunk by chunk and
// queues each as soon as it is built, so the model starts on the first
// while the rest are being built (tokenized), and the chunks' batches
// interleave with other calls'. The first failure cancels the rest. It
// counts one call in Stats; outputs and errors are Run's.
func (h *Model) Stream(ctx context.Context, n int, fill func(lo, hi int) []Input) ([][]float32, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	m := h.m
	m.calls.Add(1)
	if n <= m.chunk {
		items := fill(0, n)
		if err := checkPrefixes(items); err != nil {
			return nil, err
		}
		return m.b.Add(ctx, items)
	}
	// Each chunk is built by next, on this goroutine and in order, and run
	// by its own call of Pieces' f; a chunk that fails its check ends the
	// building: its piece runs to n and fails at once.
	built := make([][]Input, (n+m.chunk-1)/m.chunk)
	invalid := make([]error, len(built))
	next := func(lo int) int {
		hi := min(lo+m.chunk, n)
		items := fill(lo, hi)
		if err := checkPrefixes(items); err != nil {
			invalid[lo/m.chunk] = err
			return n
		}
		built[lo/m.chunk] = items
		return hi
	}
	out := make([][]float32, n)
	err := par.Pieces(ctx, n, len(built), next, func(ctx context.Context, lo, _ int) error {
		if err := invalid[lo/m.chunk]; err != nil {
			return err
		}
		res, err := m.b.Add(ctx, built[lo/m.chunk])
		if err != nil {
			return err
		}
		copy(out[lo:], res)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Signature describes the loaded model. For Embed models with a symbolic
// width, Width is 0 until the first batch has run.
func (h *Model) Signature() Signature {
	s := h.m.sig
	s.Width = int(h.m.width.Load())
	return s
}

// Options returns the shared model's options, batching defaults filled in.
func (h *Model) Options() ModelOptions { return h.m.opts }

// Stats returns the shared model's counters, across every handle.
func (h *Model) Stats() Stats {
	s := h.m.b.Stats()
	return Stats{
		Calls: h.m.calls.Load(), Batches: s.Batches + h.m.groupRuns.Load(), Items: s.Items,
		RealTokens: s.Tokens, PaddedTokens: s.PaddedTokens + h.m.bucketPad.Load(),
		PrefixTokens: h.m.prefixTokens.Load(),
		Queued:       int64(h.m.b.Queued()),
		QueueWait:    s.QueueWait, PrepareTime: s.PrepareTime, RunTime: s.RunTime,
		Overloaded: s.Overloaded, Cancelled: s.Cancelled,
		Prefixes: h.m.prefixRuns.Load(), PrefixItems: h.m.prefixItems.Load(), SavedTokens: h.m.savedTokens.Load(),
	}
}

// Close releases this handle; later calls on it return errdefs.ErrClosed.
// When it is the model's last handle, the model stops taking calls,
// finishes the inputs already queued (their callers get their outputs),
// stops its goroutines and closes its executor; Close returns after all of
// that.
func (h *Model) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("inference: model handle: %w", errdefs.ErrClosed)
	}
	if !h.m.rt.release(h.m) {
		return nil
	}
	return h.m.stop()
}
