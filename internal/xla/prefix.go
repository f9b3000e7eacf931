//go:build xla

package xla

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gomlx/go-xla/pkg/pjrt"

	"twostage"
	"twostage/modeldir"
)

// RunPrefixed scores rows that continue shared prefixes (a decoder's): it
// runs the distinct prefixes once, as the rows of a prefix program whose
// outputs are each layer's keys and values, and then the rows' own tokens,
// whose attention takes those keys and values as its past. The keys and
// values stay on the device: the prefix program's output buffers are the
// continuation program's inputs. It is Prefix, RunPast and Past.Close;
// a caller that scores several batches against the same prefixes can
// keep the Past instead.
//
// prefixes are the distinct prefixes (one may be empty); index[r] is row
// r's prefix; ids and mask are [b, s] row-major, each row's tokens after
// its prefix (at least one real one), right-padded. The prefixes round up
// to the PrefixShape bucket and the rows to the Shape bucket. The scores
// equal Run's on the whole rows (prefix then own tokens).
//
// Errors: a family that is not a decoder wraps twostage.ErrUnsupported;
// bad inputs (see Run), an index outside prefixes, or a prefix and row
// longer than the max length twostage.ErrInvalidInput; a closed Executor
// twostage.ErrClosed; an ended ctx its error.
func (e *Executor) RunPrefixed(ctx context.Context, prefixes [][]int64, index []int, ids, mask []int64, b, s int) ([]float64, error) {
	if !modeldir.IsDecoder(e.desc.Family) {
		return nil, fmt.Errorf("xla: family %s continues no prefix: %w", e.desc.Family, twostage.ErrUnsupported)
	}
	if err := e.check(ids, mask, nil, b, s); err != nil {
		return nil, err
	}
	if err := e.checkRows(prefixes, index, mask, b, s); err != nil { // Prefix checks the prefixes
		return nil, err
	}
	past, err := e.Prefix(ctx, prefixes)
	if err != nil {
		return nil, err
	}
	defer past.Close()
	return e.RunPast(ctx, past, index, ids, mask, b, s)
}

// Past is one prefix pass's output on the device: per layer the keys and
// values of its distinct prefixes, padded to their [N, P] bucket. Any
// number of RunPast calls may continue it; Close frees its buffers, and
// the Executor's Close frees those still held. A Past is safe for
// concurrent RunPast calls, but not for Close while one runs.
type Past struct {
	e        *Executor
	prefixes [][]int64
	n, p     int // the bucket
	bufs     []*pjrt.Buffer
	bytes    int64
}

// Prefixes are the prefixes the Past holds (the caller must not modify them).
func (p *Past) Prefixes() [][]int64 { return p.prefixes }

// Bytes is the device memory its keys and values take.
func (p *Past) Bytes() int64 { return p.bytes }

// Close frees the device buffers; later calls, and calls after the
// Executor's Close, do nothing.
func (p *Past) Close() error {
	e := p.e
	e.pastMu.Lock()
	defer e.pastMu.Unlock()
	if _, ok := e.pasts[p]; !ok {
		return nil
	}
	delete(e.pasts, p)
	return p.free()
}

// free destroys the buffers (pastMu held).
func (p *Past) free() error {
	var errs []error
	for _, b := range p.bufs {
		if b != nil {
			errs = append(errs, b.Destroy())
		}
	}
	p.bufs = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xla: free prefix keys and values: %w", err)
	}
	return nil
}

// LivePasts is the number of Pasts whose buffers are held (neither closed
// nor freed by the Executor's Close).
func (e *Executor) LivePasts() int {
	e.pastMu.Lock()
	defer e.pastMu.Unlock()
	return len(e.pasts)
}

// PrefixRuns is the number of prefix programs run (each Prefix, and so
// each RunPrefixed, runs one).
func (e *Executor) PrefixRuns() int64 { return e.prefixRuns.Load() }

// Prefix runs the distinct prefixes (one may be empty) as the rows of a
// prefix program on their PrefixShape bucket, and returns each layer's
// keys and values on the device, for RunPast.
//
// Errors: a family that is not a decoder wraps twostage.ErrUnsupported; no
// prefixes, a token outside the vocabulary or a prefix longer than the max
// length twostage.ErrInvalidInput; a closed Executor twostage.ErrClosed;
// an ended ctx its error.
func (e *Executor) Prefix(ctx context.Context, prefixes [][]int64) (*Past, error) {
	if !modeldir.IsDecoder(e.desc.Family) {
		return nil, fmt.Errorf("xla: family %s continues no prefix: %w", e.desc.Family, twostage.ErrUnsupported)
	}
	if err := e.checkPrefixes(prefixes); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, fmt.Errorf("xla: executor: %w", twostage.ErrClosed)
	}
	n, pl := len(prefixes), 1
	for _, p := range prefixes {
		pl = max(pl, len(p))
	}
	N, P := e.prefix(n, pl)
	N, P = max(N, n), max(P, pl)
	pre, err := e.get(progKey{mode: progPrefix, B: N, S: P})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}

	// An empty prefix runs as one pad token, which its rows never see
	// (its length is 0).
	pad := int64(e.desc.PadTokenID)
	pids, pmask := make([]int64, n*pl), make([]int64, n*pl)
	for i, p := range prefixes {
		row := pids[i*pl : (i+1)*pl]
		for j := range row {
			row[j] = pad
		}
		copy(row, p)
		for j := range max(len(p), 1) {
			pmask[i*pl+j] = 1
		}
	}
	in, err := e.inputs(pids, pmask, nil, n, pl, N, P, pre.inputs)
	defer destroy(in)
	if err != nil {
		return nil, err
	}
	bufs, err := pre.exec.Execute(append(slices.Clip(in), pre.params...)...).OnDevice(e.c.device).Done()
	if err != nil {
		destroy(bufs)
		return nil, fmt.Errorf("xla: execute prefixes: %w", err)
	}
	e.prefixRuns.Add(1)
	if len(bufs) != pre.outs {
		destroy(bufs)
		return nil, fmt.Errorf("xla: prefix program gave %d outputs, want %d: %w", len(bufs), pre.outs, twostage.ErrInvalidInput)
	}
	past := &Past{e: e, n: N, p: P, bufs: bufs, prefixes: make([][]int64, n)}
	for i, p := range prefixes {
		past.prefixes[i] = slices.Clone(p)
	}
	for _, b := range bufs {
		size, err := b.Size()
		if err != nil {
			destroy(bufs)
			return nil, fmt.Errorf("xla: prefix keys and values: %w", err)
		}
		past.bytes += int64(size)
	}
	e.pastMu.Lock()
	e.pasts[past] = struct{}{}
	e.pastMu.Unlock()
	return past, nil
}

// RunPast scores rows that continue the prefixes of past (from this
// Executor's Prefix): index[r] is row r's prefix in past.Prefixes(); ids
// and mask are [b, s] row-major, each row's tokens after its prefix (at
// least one real one), right-padded; the rows round up to the Shape
// bucket, the past keeps its own. A past may hold prefixes that no row
// continues: those rows score as with a past of their prefixes alone.
//
// Errors: as RunPrefixed's; a past of another Executor, or closed,
// twostage.ErrInvalidInput.
func (e *Executor) RunPast(ctx context.Context, past *Past, index []int, ids, mask []int64, b, s int) ([]float64, error) {
	if err := e.check(ids, mask, nil, b, s); err != nil {
		return nil, err
	}
	if past == nil || past.e != e {
		return nil, fmt.Errorf("xla: prefix keys and values of another executor: %w", twostage.ErrInvalidInput)
	}
	if err := e.checkRows(past.prefixes, index, mask, b, s); err != nil { // its prefixes were checked when it ran
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, fmt.Errorf("xla: executor: %w", twostage.ErrClosed)
	}
	e.pastMu.Lock()
	_, live := e.pasts[past]
	e.pastMu.Unlock()
	if !live {
		return nil, fmt.Errorf("xla: prefix keys and values already freed: %w", twostage.ErrInvalidInput)
	}
	N, P := past.n, past.p
	B, S := e.Shape(b, s)
	cont, err := e.get(progKey{mode: progPast, B: B, S: S, N: N, P: P})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}

	// The continuation: ids, mask, past_lengths, prefix_index, the past.
	lens, rows := make([]int32, N), make([]int32, B)
	for i, p := range past.prefixes {
		lens[i] = int32(len(p))
	}
	for r, k := range index {
		rows[r] = int32(k)
	}
	own, err := e.inputs(ids, mask, nil, b, s, B, S, cont.inputs)
	defer destroy(own)
	if err != nil {
		return nil, err
	}
	var meta []*pjrt.Buffer
	defer func() { destroy(meta) }()
	for _, v := range []struct {
		data []int32
		dim  int
	}{{lens, N}, {rows, B}} {
		buf, err := e.upload32(v.data, v.dim)
		if err != nil {
			return nil, err
		}
		meta = append(meta, buf)
	}
	args := make([]*pjrt.Buffer, 0, len(own)+len(meta)+len(past.bufs)+len(cont.params))
	args = append(append(append(append(args, own...), meta...), past.bufs...), cont.params...)
	outs, err := cont.exec.Execute(args...).OnDevice(e.c.device).Done()
	defer destroy(outs)
	if err != nil {
		return nil, fmt.Errorf("xla: execute: %w", err)
	}
	flat, _, err := pjrt.BufferToArray[float32](outs[0])
	if err != nil {
		return nil, fmt.Errorf("xla: read scores: %w", err)
	}
	res := make([]float64, b)
	for i := range res {
		res[i] = float64(flat[i])
	}
	return res, nil
}

// checkPrefixes validates a batch's distinct prefixes: at least one, each
// of tokens in the vocabulary and leaving a token under the max length.
func (e *Executor) checkPrefixes(prefixes [][]int64) error {
	if len(prefixes) == 0 {
		return badPrefix("no prefixes")
	}
	V := int64(e.model.Config.VocabSize)
	for _, p := range prefixes {
		if len(p) >= e.maxLen {
			return badPrefix("a prefix of %d tokens leaves none under the max length %d", len(p), e.maxLen)
		}
		for _, id := range p {
			if id < 0 || id >= V {
				return badPrefix("prefix token id %d outside the vocabulary of %d", id, V)
			}
		}
	}
	return nil
}

// checkRows validates the rows' index into prefixes (checked by
// checkPrefixes, for a Past when it ran) and their lengths.
func (e *Executor) checkRows(prefixes [][]int64, index []int, mask []int64, b, s int) error {
	if len(index) != b {
		return badPrefix("%d prefixes and %d prefix indexes for %d rows", len(prefixes), len(index), b)
	}
	for r, k := range index {
		if k < 0 || k >= len(prefixes) {
			return badPrefix("row %d continues prefix %d of %d", r, k, len(prefixes))
		}
		n := len(prefixes[k])
		for _, m := range mask[r*s : (r+1)*s] {
			n += int(m)
		}
		if n > e.maxLen {
			return badPrefix("row %d has %d tokens with its prefix, above the max length %d", r, n, e.maxLen)
		}
	}
	return nil
}

// badPrefix is a shared-prefix input error.
func badPrefix(format string, args ...any) error {
	return fmt.Errorf("xla: %s: %w", fmt.Sprintf(format, args...), twostage.ErrInvalidInput)
}
