package rerank

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage"
	"twostage/internal/ort"
	"twostage/internal/xla"
	"twostage/modeldir"
)

// backend runs the engine's batches. The batcher, length grouping, token
// budget and stats sit above it and are the same for every backend.
type backend interface {
	// shape is the [B, S] that really runs b rows of at most s tokens (a
	// backend with compiled shapes rounds up to its buckets); B >= b, S >= s.
	shape(b, s int) (int, int)
	// run scores a right-padded batch: ids, mask and types (nil when the
	// model takes none) are [b, s] row-major. It returns b raw scores.
	run(ids, mask, types []int64, b, s int) ([]float64, error)
	// close releases the backend; no run is in flight when it is called.
	close() error
}

// ortBackend is an ONNX Runtime session.
type ortBackend struct {
	sess   *ort.Session
	inputs []inputKind // per session input, in order
	out    int         // index of the score output
}

func (o *ortBackend) shape(b, s int) (int, int) { return b, s }

func (o *ortBackend) run(ids, mask, types []int64, b, s int) ([]float64, error) {
	shape := ortgo.NewShape(int64(b), int64(s))
	in := make([]ortgo.Value, 0, len(o.inputs))
	defer func() {
		for _, v := range in {
			v.Destroy()
		}
	}()
	for _, k := range o.inputs {
		data := map[inputKind][]int64{inIDs: ids, inMask: mask, inTypes: types}[k]
		v, err := ortgo.NewTensor(shape, data)
		if err != nil {
			return nil, fmt.Errorf("rerank: input tensor: %w", err)
		}
		in = append(in, v)
	}
	out := make([]ortgo.Value, len(o.sess.Outputs()))
	err := o.sess.Run(in, out)
	defer func() {
		for _, v := range out {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	return scores(out[o.out], b)
}

func (o *ortBackend) close() error { return o.sess.Close() }

// xlaBackend is a PJRT executor (package internal/xla).
type xlaBackend struct {
	e *xla.Executor
}

func (x *xlaBackend) shape(b, s int) (int, int) { return x.e.Shape(b, s) }

func (x *xlaBackend) run(ids, mask, types []int64, b, s int) ([]float64, error) {
	return x.e.Run(context.Background(), ids, mask, types, b, s)
}

func (x *xlaBackend) close() error { return x.e.Close() }

// loadXLA opens the xla backend on a Hugging Face checkpoint directory
// (config.json, safetensors, tokenizer.json) and describes the model.
func loadXLA(dir string, o *EngineOptions) (backend, *modeldir.Config, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		if _, err := os.Stat(modeldir.ConfigPath(dir)); err == nil {
			return nil, nil, fmt.Errorf("rerank: provider xla runs a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json); %s is a converted ONNX model: %w", dir, twostage.ErrUnsupported)
		}
		return nil, nil, fmt.Errorf("rerank: %s has no config.json: %w", dir, twostage.ErrNotFound)
	}
	e, err := xla.Open(dir, &xla.Options{Platform: strings.ToLower(o.Platform), DeviceID: o.DeviceID,
		Compute: strings.ToLower(o.Compute), Family: o.Family, MaxLength: o.MaxLength})
	if err != nil {
		return nil, nil, fmt.Errorf("rerank: %w", err)
	}
	cfg := *e.Describe() // the model's max length: Open checks MaxLength against it
	if !modeldir.IsCrossEncoder(cfg.Family) {
		e.Close()
		return nil, nil, fmt.Errorf("rerank: %s holds a %s model, not a cross-encoder: %w", dir, cfg.Family, twostage.ErrUnsupported)
	}
	return &xlaBackend{e: e}, &cfg, nil
}
