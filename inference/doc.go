// Package inference is the model runtime that the ONNX front ends share
// (rerank's cross-encoder engine, embed's bi-encoder): one place that
// loads a model, binds its inputs, batches concurrent calls, pads and runs
// them, and counts what it did.
//
// It owns:
//
//   - Runtime, an explicit value the caller creates with New and closes
//     (like hugot's Session): the loaded models, one per model file and
//     backend configuration, shared by every caller that opens it; the
//     backends (for ONNX Runtime, the process-wide environment, held while
//     a session is open); a cache of loaded tokenizers. Default is the
//     runtime front ends use when given none.
//   - Model, a handle on a shared loaded model: Run and Stream queue
//     tokenized inputs (Input) into dynamic batches (package
//     internal/batcher: length grouping under a token budget, a bounded
//     wait and a bounded queue), pad them on the right and run them.
//   - ModelOptions, the one set of options and defaults (threads, batch
//     caps, wait, queue) for every front end, and ErrModel, the one error
//     for a model that breaks the contract.
//   - Stats, the one set of engine counters, read by the server's /metrics.
//   - Backend and Executor, the seam an execution engine plugs into: it
//     receives right-padded batches after the batcher, may round their
//     shape up to a compiled bucket, and returns raw per-row outputs. ORT
//     (ONNX Runtime on CPU, CUDA or TensorRT) and XLA (OpenXLA's PJRT,
//     provider "xla": a Hugging Face checkpoint run as it is, in a binary
//     built with -tags xla) are built in; another backend is added by name
//     through Options.Backends; ModelOptions.Provider chooses.
//
// What is not here: prompts, truncation and calibration (package rerank),
// pooling and normalisation (package embed), tokenizing (package
// tokenizer).
package inference
