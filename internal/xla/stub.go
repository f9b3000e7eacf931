//go:build !xla

package xla

import (
	"context"

	"twostage/errdefs"
	"twostage/modeldir"
)

// Available reports whether this build has the PJRT runtime (build tag xla).
const Available = false

// errNoTag is every call's error in a build without the xla tag.
var errNoTag = errdefs.New("xla: the PJRT runtime is not in this build; build with -tags xla", errdefs.ErrUnsupported)

// Executor runs one checkpoint's model on one PJRT device; this build has
// no PJRT runtime (build with -tags xla), so none can be opened.
type Executor struct{}

// Open fails: build with -tags xla.
func Open(dir string, opts *Options) (*Executor, error) { return nil, errNoTag }

// Family is the model family run.
func (e *Executor) Family() string { return "" }

// Describe is the model's description.
func (e *Executor) Describe() *modeldir.Config { return &modeldir.Config{} }

// MaxLength is the longest sequence it runs.
func (e *Executor) MaxLength() int { return 0 }

// Shape is the compiled shape that runs b rows of at most s tokens.
func (e *Executor) Shape(b, s int) (int, int) { return b, s }

// Run fails: build with -tags xla.
func (e *Executor) Run(ctx context.Context, ids, mask, types []int64, b, s int) ([]float64, error) {
	return nil, errNoTag
}

// RunPrefixed fails: build with -tags xla.
func (e *Executor) RunPrefixed(ctx context.Context, prefixes [][]int64, index []int, ids, mask []int64, b, s int) ([]float64, error) {
	return nil, errNoTag
}

// Hidden fails: build with -tags xla.
func (e *Executor) Hidden(ctx context.Context, ids, mask, types []int64, b, s int) ([]float32, error) {
	return nil, errNoTag
}

// Close fails: build with -tags xla.
func (e *Executor) Close() error { return errNoTag }

// Past is a prefix pass's keys and values on the device; this build has
// none (build with -tags xla).
type Past struct{}

// Prefixes are the prefixes the Past holds.
func (p *Past) Prefixes() [][]int64 { return nil }

// Bytes is the device memory its keys and values take.
func (p *Past) Bytes() int64 { return 0 }

// Close does nothing.
func (p *Past) Close() error { return nil }

// Prefix fails: build with -tags xla.
func (e *Executor) Prefix(ctx context.Context, prefixes [][]int64) (*Past, error) {
	return nil, errNoTag
}

// RunPast fails: build with -tags xla.
func (e *Executor) RunPast(ctx context.Context, past *Past, index []int, ids, mask []int64, b, s int) ([]float64, error) {
	return nil, errNoTag
}

// LivePasts is the number of Pasts held: none.
func (e *Executor) LivePasts() int { return 0 }

// PrefixRuns is the number of prefix programs run: none.
func (e *Executor) PrefixRuns() int64 { return 0 }
