//go:build xla

package xla

import (
	"context"
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
// continuation program's inputs.
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
	if err := e.checkPrefixes(prefixes, index, mask, b, s); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, fmt.Errorf("xla: executor closed: %w", twostage.ErrClosed)
	}
	n, pl := len(prefixes), 1
	for _, p := range prefixes {
		pl = max(pl, len(p))
	}
	N, P := e.prefix(n, pl)
	N, P = max(N, n), max(P, pl)
	B, S := e.Shape(b, s)
	pre, err := e.get(progKey{mode: progPrefix, B: N, S: P})
	if err != nil {
		return nil, err
	}
	cont, err := e.get(progKey{mode: progPast, B: B, S: S, N: N, P: P})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}

	// The prefix program: an empty prefix runs as one pad token, which
	// its rows never see (its length is 0).
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
	past, err := pre.exec.Execute(append(slices.Clip(in), pre.params...)...).OnDevice(e.c.device).Done()
	defer destroy(past)
	if err != nil {
		return nil, fmt.Errorf("xla: execute prefixes: %w", err)
	}
	if len(past) != pre.outs {
		return nil, fmt.Errorf("xla: prefix program gave %d outputs, want %d: %w", len(past), pre.outs, twostage.ErrInvalidInput)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}

	// The continuation: ids, mask, past_lengths, prefix_index, the past.
	lens, rows := make([]int32, N), make([]int32, B)
	for i, p := range prefixes {
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
	args := make([]*pjrt.Buffer, 0, len(own)+len(meta)+len(past)+len(cont.params))
	args = append(append(append(append(args, own...), meta...), past...), cont.params...)
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

// checkPrefixes validates the prefixes of a [b, s] batch and its rows'
// index into them.
func (e *Executor) checkPrefixes(prefixes [][]int64, index []int, mask []int64, b, s int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("xla: %s: %w", fmt.Sprintf(format, args...), twostage.ErrInvalidInput)
	}
	if len(prefixes) == 0 || len(index) != b {
		return bad("%d prefixes and %d prefix indexes for %d rows", len(prefixes), len(index), b)
	}
	V := int64(e.model.Config.VocabSize)
	for _, p := range prefixes {
		for _, id := range p {
			if id < 0 || id >= V {
				return bad("prefix token id %d outside the vocabulary of %d", id, V)
			}
		}
	}
	for r, k := range index {
		if k < 0 || k >= len(prefixes) {
			return bad("row %d continues prefix %d of %d", r, k, len(prefixes))
		}
		n := len(prefixes[k])
		for _, m := range mask[r*s : (r+1)*s] {
			n += int(m)
		}
		if n > e.maxLen {
			return bad("row %d has %d tokens with its prefix, above the max length %d", r, n, e.maxLen)
		}
	}
	return nil
}
