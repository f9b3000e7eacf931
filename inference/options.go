package inference

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"twostage/errdefs"
	"twostage/internal/batcher"
)

// Providers of the built-in ONNX Runtime backend, for ModelOptions.Provider.
const (
	// ProviderCPU is ONNX Runtime's CPU provider, the default.
	ProviderCPU = "cpu"
	// ProviderCUDA needs a GPU build of ONNX Runtime (ONNXRUNTIME_LIB) with
	// matching CUDA and cuDNN; see the README.
	ProviderCUDA = "cuda"
	// ProviderTensorRT needs a GPU build of ONNX Runtime with TensorRT.
	ProviderTensorRT = "tensorrt"
	// ProviderXLA is OpenXLA's PJRT runtime (the XLA backend, a binary
	// built with -tags xla): it runs a Hugging Face checkpoint directory as
	// it is, on ModelOptions.Platform, in ModelOptions.Compute.
	ProviderXLA = "xla"
)

// Defaults of ModelOptions' zero fields, the same for every front end.
const (
	DefaultMaxBatchSize   = 32
	DefaultMaxBatchTokens = 16384
	DefaultMaxWait        = 2 * time.Millisecond
	DefaultMaxQueue       = 16384
	DefaultMinFill        = 0.95
)

// ModelOptions configure one model: where it runs and how its calls are
// batched. Zero fields take the runtime's Options.Defaults, then the
// Default* constants; a nil *ModelOptions means all zero.
//
// The backend fields (Provider to SessionConfig) pick the model: two Opens
// of the same file in one runtime share one loaded model when they agree
// on them. The batching fields are the shared model's: the first Open sets
// them, and a later Open that asks for a different non-zero value fails
// with an error wrapping errdefs.ErrInvalidInput instead of being ignored.
type ModelOptions struct {
	// Provider names the backend: ProviderCPU (""), ProviderCUDA or
	// ProviderTensorRT for ONNX Runtime, ProviderXLA for OpenXLA's PJRT
	// (see XLA), or a name from Options.Backends. A provider the loaded
	// library lacks fails Open with an error wrapping
	// errdefs.ErrUnsupported: never a silent CPU fallback.
	Provider string
	// DeviceID is the GPU ordinal.
	DeviceID int
	// IntraOpThreads and InterOpThreads size ONNX Runtime's thread pools
	// (0: its defaults, one intra-op thread per physical core).
	IntraOpThreads, InterOpThreads int
	// ProviderOptions are passed verbatim to the provider (for example
	// "gpu_mem_limit", "cudnn_conv_algo_search", "trt_fp16_enable");
	// device_id comes from DeviceID.
	ProviderOptions map[string]string
	// SessionConfig holds ONNX Runtime session configuration entries,
	// passed verbatim. On the CPU provider the runtime sets
	// "session.intra_op.allow_spinning" to "0" unless given here: idle
	// thread-pool threads then sleep instead of spinning, which leaves the
	// cores to the goroutines tokenizing the next batch. Set it to "1" for
	// ONNX Runtime's default.
	SessionConfig map[string]string
	// Platform is ProviderXLA's PJRT device: "cpu" ("") or "cuda". Its
	// plugin is found through PJRT_PLUGIN_LIBRARY_PATH, $TWOSTAGE_DEPS/pjrt, .deps/pjrt, then
	// go-xla's directories; a missing one fails Open (never a fallback).
	Platform string
	// Compute is ProviderXLA's weight and matrix-product type: "fp32" (""),
	// "bf16" or "fp16"; norms, softmax and the residual stream stay float32.
	Compute string
	// Family is the model family of a ProviderXLA checkpoint when its
	// config.json cannot tell ("": a Qwen3 checkpoint is zerank); zerank
	// and qwen3-reranker share an architecture. Platform, Compute and
	// Family are for ProviderXLA: ONNX Runtime's providers refuse them.
	Family string

	// MaxBatchSize caps the inputs of one batch (DefaultMaxBatchSize).
	MaxBatchSize int
	// MaxBatchTokens caps a batch's padded tokens, inputs times the longest
	// input (DefaultMaxBatchTokens). An input that continues a shared
	// prefix (Input.Prefix) counts its tokens after the prefix, and a
	// batch's distinct prefixes run in groups that keep within it too
	// (prefixes times the longest).
	MaxBatchTokens int
	// MaxWait is how long a queued input may wait for its batch to fill
	// (DefaultMaxWait; negative: never wait).
	MaxWait time.Duration
	// MaxQueue caps the inputs waiting for a batch; calls that would exceed
	// it fail with errdefs.ErrOverloaded (DefaultMaxQueue).
	MaxQueue int
	// NoLengthGrouping batches inputs in arrival order instead of grouping
	// inputs of similar length (which cuts padding).
	NoLengthGrouping bool
	// MinFill is the least fill (real over padded tokens) length grouping
	// accepts in a batch (DefaultMinFill; negative: any). Grouping cuts the
	// oldest queued inputs into the fewest batches at that fill.
	MinFill float64
}

// spinKey is ONNX Runtime's session entry for thread-pool spinning.
const spinKey = "session.intra_op.allow_spinning"

func (o *ModelOptions) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"DeviceID", o.DeviceID}, {"IntraOpThreads", o.IntraOpThreads}, {"InterOpThreads", o.InterOpThreads},
		{"MaxBatchSize", o.MaxBatchSize}, {"MaxBatchTokens", o.MaxBatchTokens}, {"MaxQueue", o.MaxQueue},
	} {
		if f.v < 0 {
			return fmt.Errorf("inference: option %s = %d must not be negative: %w", f.name, f.v, errdefs.ErrInvalidInput)
		}
	}
	return nil
}

// provider returns the provider name, lower case, "" as ProviderCPU.
func (o *ModelOptions) provider() string {
	p := strings.ToLower(o.Provider)
	if p == "" {
		p = ProviderCPU
	}
	return p
}

// inherit fills o's zero fields from d.
func (o *ModelOptions) inherit(d *ModelOptions) {
	orZero(&o.Provider, d.Provider)
	orZero(&o.DeviceID, d.DeviceID)
	orZero(&o.IntraOpThreads, d.IntraOpThreads)
	orZero(&o.InterOpThreads, d.InterOpThreads)
	if o.ProviderOptions == nil {
		o.ProviderOptions = d.ProviderOptions
	}
	if o.SessionConfig == nil {
		o.SessionConfig = d.SessionConfig
	}
	orZero(&o.Platform, d.Platform)
	orZero(&o.Compute, d.Compute)
	orZero(&o.Family, d.Family)
	orZero(&o.MaxBatchSize, d.MaxBatchSize)
	orZero(&o.MaxBatchTokens, d.MaxBatchTokens)
	orZero(&o.MaxWait, d.MaxWait)
	orZero(&o.MaxQueue, d.MaxQueue)
	orZero(&o.NoLengthGrouping, d.NoLengthGrouping)
	orZero(&o.MinFill, d.MinFill)
}

// orZero sets *p to d when *p is the zero value.
func orZero[T comparable](p *T, d T) {
	var zero T
	if *p == zero {
		*p = d
	}
}

// withDefaults fills the batching fields' zero values with the Default*
// constants.
func (o ModelOptions) withDefaults() ModelOptions {
	o.inherit(&ModelOptions{
		MaxBatchSize: DefaultMaxBatchSize, MaxBatchTokens: DefaultMaxBatchTokens,
		MaxWait: DefaultMaxWait, MaxQueue: DefaultMaxQueue, MinFill: DefaultMinFill,
	})
	return o
}

// key identifies a loaded model: everything that changes the executor.
func (o *ModelOptions) key(path string, task Task, pad int64) string {
	kv := func(m map[string]string) string {
		out := make([]string, 0, len(m))
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		sort.Strings(out)
		return strings.Join(out, "\x01")
	}
	return fmt.Sprintf("%s\x00%v/%d\x00%s/%d/%d/%d\x00%s\x00%s\x00%s/%s/%s", path, task, pad, o.provider(), o.DeviceID,
		o.IntraOpThreads, o.InterOpThreads, kv(o.ProviderOptions), kv(o.SessionConfig),
		strings.ToLower(o.Platform), strings.ToLower(o.Compute), o.Family)
}

// batching checks that want (zero fields: any) agrees with the batching of
// o, a loaded model's options.
func (o *ModelOptions) batching(want *ModelOptions, path string) error {
	have := o
	differ := func(name string, h, w any) error {
		return fmt.Errorf("inference: %s is already open in this runtime with %s %v, not %v (the first Open sets a shared model's batching; ask for the same or leave it zero): %w",
			path, name, h, w, errdefs.ErrInvalidInput)
	}
	for _, f := range []struct {
		name       string
		have, want any
		set        bool
	}{
		{"MaxBatchSize", have.MaxBatchSize, want.MaxBatchSize, want.MaxBatchSize != 0},
		{"MaxBatchTokens", have.MaxBatchTokens, want.MaxBatchTokens, want.MaxBatchTokens != 0},
		{"MaxWait", have.MaxWait, want.MaxWait, want.MaxWait != 0},
		{"MaxQueue", have.MaxQueue, want.MaxQueue, want.MaxQueue != 0},
		{"NoLengthGrouping", have.NoLengthGrouping, want.NoLengthGrouping, want.NoLengthGrouping},
		{"MinFill", have.MinFill, want.MinFill, want.MinFill != 0},
	} {
		if f.set && f.have != f.want {
			return differ(f.name, f.have, f.want)
		}
	}
	return nil
}

// batcherOptions maps the batching fields (defaults filled in).
func (o *ModelOptions) batcherOptions() batcher.Options {
	return batcher.Options{
		MaxBatchSize:   o.MaxBatchSize,
		MaxBatchTokens: o.MaxBatchTokens,
		MaxWait:        o.MaxWait,
		MaxQueue:       o.MaxQueue,
		NoGrouping:     o.NoLengthGrouping,
		MinFill:        o.MinFill,
	}
}
