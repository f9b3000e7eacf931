package inference

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"twostage/errdefs"
	"twostage/internal/xla"
	"twostage/modeldir"
)

// XLA returns the built-in OpenXLA backend, which serves ProviderXLA: it
// runs a Hugging Face checkpoint directory as it is (config.json,
// safetensors, sharded or not, in F32, F16 or BF16), compiled by a PJRT
// plugin per shape bucket (package internal/xla), weights uploaded once.
// It needs a binary built with -tags xla; without it Open fails with an
// error wrapping errdefs.ErrUnsupported that says so.
//
// Open's path names a file in the checkpoint directory (config.json); the
// backend reads the directory. ModelOptions.Platform, DeviceID, Compute
// and Family configure it; the ONNX Runtime fields (threads, provider
// options, session configuration) are ignored. Shape rounds batches up to
// the compiled buckets (xla.Buckets), so bucket padding shows in Stats.
// Score runs cross-encoder families (one raw score per row), Embed the
// embedding family (hidden states per token, which the front end pools).
// A decoder continues shared prefixes (Signature.Prefix): a batch's
// distinct prefixes run once as a prefix program, whose keys and values
// stay on the device as the past of the rows' own tokens (xla.Past). As
// on ONNX Runtime, the executor keeps the latest 4 prefix passes (at most
// 1 GiB of keys and values beyond the latest) and runs a batch against a
// kept pass that holds all its prefixes, so a call whose pairs fill
// several batches runs its prefix once.
//
// Errors: no loadable plugin for the platform, a family the task cannot
// use, or a build without the xla tag wrap errdefs.ErrUnsupported; a
// missing config.json errdefs.ErrNotFound; bad options or a checkpoint
// that does not match its config errdefs.ErrInvalidInput.
func XLA() Backend { return xlaBackend{} }

type xlaBackend struct{}

type xlaExec struct {
	e   *xla.Executor
	sig Signature

	// past keeps the latest prefix passes' keys and values on the device
	// (the ONNX Runtime executor's rule, pastCache), so that a call whose
	// pairs fill several batches runs its prefix once. Only Run and Close
	// touch it (never concurrently).
	past pastCache[*xla.Past]
}

// Open implements Backend.
func (xlaBackend) Open(path string, task Task, o *ModelOptions) (Executor, error) {
	dir := filepath.Dir(path)
	e, err := xla.Open(dir, &xla.Options{Platform: strings.ToLower(o.Platform), DeviceID: o.DeviceID,
		Compute: strings.ToLower(o.Compute), Family: o.Family})
	if err != nil {
		return nil, fmt.Errorf("inference: %w", err)
	}
	desc := e.Describe()
	if embed := desc.Family == modeldir.FamilyBertEmbedding; embed != (task == Embed) {
		return nil, errors.Join(fmt.Errorf("inference: %s holds a %s model, which cannot %s: %w", dir, desc.Family, task, errdefs.ErrUnsupported), e.Close())
	}
	x := &xlaExec{e: e, sig: Signature{Mask: true, TypeIDs: desc.HasTokenTypeIDs, Output: outLogits}}
	x.past.release = func(p *xla.Past) { p.Close() } // its only error is PJRT's on freeing
	if task == Embed {
		x.sig.Output = outHidden
	}
	x.sig.Prefix = modeldir.IsDecoder(desc.Family)
	return x, nil
}

func (x *xlaExec) Signature() Signature { return x.sig }

func (x *xlaExec) Shape(rows, seq int) (int, int) { return x.e.Shape(rows, seq) }

// Run hands the executor the batch's real rows only: it adds its own
// padding rows up to the bucket (each with one real token, so that no row
// is all padding), which is the runtime's Shape(Real, Seq) = (Rows, Seq).
// A batch with prefixes runs them once and its rows after them.
func (x *xlaExec) Run(ctx context.Context, b *Batch) (*Output, error) {
	n := b.Real * b.Seq
	var types []int64
	if b.TypeIDs != nil {
		types = b.TypeIDs[:n]
	}
	if x.sig.Output == outHidden {
		h, err := x.e.Hidden(ctx, b.IDs[:n], b.Mask[:n], types, b.Real, b.Seq)
		if err != nil {
			return nil, fmt.Errorf("inference: %w", err)
		}
		return &Output{Data: h, Width: len(h) / max(n, 1)}, nil
	}
	var s []float64
	var err error
	if b.Prefixes != nil {
		if !x.sig.Prefix {
			return nil, fmt.Errorf("inference: a batch with shared prefixes for a %s model: %w", x.e.Family(), errdefs.ErrInvalidInput)
		}
		s, err = x.runPrefixed(ctx, b, n)
	} else {
		s, err = x.e.Run(ctx, b.IDs[:n], b.Mask[:n], types, b.Real, b.Seq)
	}
	if err != nil {
		return nil, fmt.Errorf("inference: %w", err)
	}
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v) // the device computed float32
	}
	return &Output{Data: out, Width: 1}, nil
}

// runPrefixed scores a batch with prefixes against a kept prefix pass that
// holds them all, or against a new one, which it keeps. A batch that fails
// after its prefix pass leaves the pass kept: its keys and values depend
// on the prefixes only.
func (x *xlaExec) runPrefixed(ctx context.Context, b *Batch, n int) ([]float64, error) {
	if len(b.PrefixOf) < b.Real {
		return nil, fmt.Errorf("inference: %d prefix indexes for %d rows: %w", len(b.PrefixOf), b.Real, errdefs.ErrInvalidInput)
	}
	past, at, err := x.past.get(b.Prefixes, func() (*xla.Past, int64, error) {
		p, err := x.e.Prefix(ctx, b.Prefixes)
		if err != nil {
			return nil, 0, err
		}
		return p, p.Bytes(), nil
	})
	if err != nil {
		return nil, err
	}
	index := make([]int, b.Real)
	for r, k := range b.PrefixOf[:b.Real] {
		if k < 0 || k >= len(at) {
			return nil, fmt.Errorf("inference: row %d continues prefix %d of %d: %w", r, k, len(at), errdefs.ErrInvalidInput)
		}
		index[r] = at[k]
	}
	return x.e.RunPast(ctx, past, index, b.IDs[:n], b.Mask[:n], b.Real, b.Seq)
}

// Close releases the kept prefix passes, then the executor.
func (x *xlaExec) Close() error {
	x.past.clear()
	if err := x.e.Close(); err != nil {
		return fmt.Errorf("inference: %w", err)
	}
	return nil
}
