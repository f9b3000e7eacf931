package inference

import (
	"context"
)

// Task says what a model computes, and so how its output is read.
type Task int

const (
	// Score is a cross-encoder: one raw score (a logit) per row.
	Score Task = iota + 1
	// Embed is a bi-encoder: one vector per row, or hidden states per
	// token that the front end pools.
	Embed
)

// String returns the task's name: "score" or "embed".
func (t Task) String() string {
	switch t {
	case Score:
		return "score"
	case Embed:
		return "embed"
	}
	return "task(?)"
}

// Backend loads models onto one kind of execution engine: ONNX Runtime on
// its CPU, CUDA or TensorRT provider (the built-in ORT backend), or another
// one, such as OpenXLA's PJRT, added through Options.Backends.
//
// The contract, for implementers:
//
//   - Open reads the model file at path (for ONNX: model.onnx, weights next
//     to it; a backend that compiles from other files, such as the
//     StableHLO and weights an XLA backend reads, finds them in
//     filepath.Dir(path), the model directory) and returns an Executor for task, configured by opts (provider,
//     device, threads, provider options; the batching fields are the
//     runtime's business, not the backend's). opts is never nil and already
//     validated. An Open that fails halfway releases what it took.
//   - Errors: a model that breaks the input and output contract (see
//     Signature) wraps ErrModel; a provider the backend cannot run here
//     (no GPU build, no plugin) wraps errdefs.ErrUnsupported; a missing
//     native library errdefs.ErrUnavailable; a missing file
//     errdefs.ErrNotFound. The backend's own error stays reachable with
//     errors.As.
//   - Open may be called concurrently, for different models.
type Backend interface {
	Open(path string, task Task, opts *ModelOptions) (Executor, error)
}

// Executor runs one loaded model on right-padded batches. The runtime owns
// it: it calls Shape and Run from one goroutine at a time (the model's
// batch runner), never concurrently with each other, and Close once, after
// the last Run has returned, so an executor needs no locking of its own for
// them. Signature may be called at any time.
type Executor interface {
	// Signature describes the model's inputs and the output the executor
	// returns.
	Signature() Signature
	// Shape rounds a batch of rows inputs of at most seq tokens up to the
	// shape the executor will run, for a backend that compiles a program
	// per shape and keeps a few buckets. The result must be at least
	// (rows, seq); an executor with dynamic shapes returns them unchanged.
	// The runtime pads the batch to the returned shape and counts the added
	// tokens as padded tokens in Stats, so bucket padding shows in the
	// fill figure.
	Shape(rows, seq int) (int, int)
	// Run runs one batch and returns its raw output. ctx is not any one
	// caller's (a batch serves many calls, and a caller that gives up
	// only loses its results): the runtime does not cancel it today, but
	// an executor that waits on something should still honour it.
	// An error fails every call with a row in the batch; the model keeps
	// running later batches. Run must not keep b's slices after it returns.
	Run(ctx context.Context, b *Batch) (*Output, error)
	// Close releases the model. It is called once, with no Run in flight.
	Close() error
}

// Signature describes a loaded model.
type Signature struct {
	// Mask and TypeIDs report whether the model takes attention_mask and
	// token_type_ids; every model takes input_ids. Inputs are int64
	// [rows, seq].
	Mask, TypeIDs bool
	// Output names the graph output the executor reads.
	Output string
	// Pooled (Embed) reports an output of one vector per row,
	// [rows, Width]; otherwise the output is hidden states,
	// [rows, seq, Width], that the front end pools over each row's real
	// tokens.
	Pooled bool
	// Width is the vector or hidden-state width (Embed); 0 when the model
	// leaves it symbolic, and then it is learnt from the first run.
	Width int
	// Prefix reports an executor that continues shared prefixes (a
	// decoder): it takes batches whose Prefixes are set. Without it the
	// runtime runs every input whole.
	Prefix bool
}

// Batch is one right-padded batch, as the runtime hands it to Run. Row r
// holds Lens[r] real tokens followed by padding (IDs the model's pad id,
// Mask 0). Rows from Real to Rows are padding rows added to reach the
// shape that Executor.Shape asked for (every token padding).
type Batch struct {
	// Rows and Seq are the shape of every input, after Executor.Shape.
	Rows, Seq int
	// Real is the number of leading rows that hold inputs.
	Real int
	// Lens holds the real tokens of each of the Rows rows (0 for padding
	// rows).
	Lens []int
	// IDs, Mask and TypeIDs are the inputs, Rows*Seq values each, row
	// major. TypeIDs is nil unless the signature has TypeIDs; Mask is
	// always filled.
	IDs, Mask, TypeIDs []int64
	// Prefixes, for an executor whose signature has Prefix, are the
	// distinct shared prefixes of the batch's rows (token ids; one may be
	// empty, for rows without a prefix), and PrefixOf[r] the index of row
	// r's prefix (0 for padding rows). Each row then continues its prefix:
	// IDs, Mask and Lens hold the row's tokens after it, at positions
	// len(prefix) and on, and the row's output is that of the prefix and
	// its tokens run whole. The executor runs each prefix at most once for
	// the batch (it may keep a prefix's keys and values from an earlier
	// batch). Nil when no row has a prefix: rows are whole.
	Prefixes [][]int64
	PrefixOf []int
}

// Output is an executor's raw result for one batch, in float32 (a float16
// output converted exactly).
type Output struct {
	// Data holds, row major: Score: one value per row, Rows values; Embed
	// with a pooled signature: Rows*Width values; Embed with hidden states:
	// Rows*Seq*Width values. Only the first Real rows are read. The runtime
	// takes ownership of Data.
	Data []float32
	// Width is the vector or hidden-state width (Embed; 1 for Score).
	Width int
}
