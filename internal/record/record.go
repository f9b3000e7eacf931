// Package record is an inference.Backend for benchmarks and tests: it runs
// models on a built-in backend (ONNX Runtime, or XLA) and shows every batch to a
// callback before running it, so a harness can replay or take apart what
// an engine ran (the rerank benchmark's pairs, the embedder benchmark's
// padded batches) through the public seam alone.
package record

import (
	"context"
	"strings"

	"twostage/inference"
)

// Backend returns a backend that opens models with inference.ORT() on
// provider ("" or "cpu", "cuda", "tensorrt"), or with inference.XLA() for
// "xla", whatever provider name the runtime knows it by, and calls see with every batch before it runs. see
// is called from the model's runner goroutine, one batch at a time; b and
// its slices are valid only during the call.
func Backend(provider string, see func(b *inference.Batch)) inference.Backend {
	return backend{provider, see}
}

type backend struct {
	provider string
	see      func(*inference.Batch)
}

func (r backend) Open(path string, task inference.Task, o *inference.ModelOptions) (inference.Executor, error) {
	oo := *o
	oo.Provider = r.provider
	b := inference.ORT()
	if strings.EqualFold(r.provider, inference.ProviderXLA) {
		b = inference.XLA()
	}
	x, err := b.Open(path, task, &oo)
	if err != nil {
		return nil, err
	}
	return executor{x, r.see}, nil
}

type executor struct {
	inference.Executor
	see func(*inference.Batch)
}

func (x executor) Run(ctx context.Context, b *inference.Batch) (*inference.Output, error) {
	x.see(b)
	return x.Executor.Run(ctx, b)
}
