package ort

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage/errdefs"
)

// Provider names an ONNX Runtime execution provider.
type Provider string

// Execution providers. CPU is always present; CUDA and TensorRT need a GPU
// build of ONNX Runtime (point ONNXRUNTIME_LIB at it).
const (
	CPU      Provider = "cpu"
	CUDA     Provider = "cuda"
	TensorRT Provider = "tensorrt"
)

// SessionOptions configures NewSession. The zero value (and nil) means the CPU
// provider with ONNX Runtime's default thread counts and full graph
// optimization.
type SessionOptions struct {
	// Provider selects the execution provider; "" means CPU. Asking for one
	// that the loaded library lacks fails NewSession with an error wrapping
	// errdefs.ErrUnsupported: there is never a silent fallback to CPU.
	Provider Provider
	// DeviceID is the GPU ordinal for CUDA and TensorRT.
	DeviceID int
	// IntraOpThreads and InterOpThreads set ONNX Runtime's thread pools;
	// 0 keeps its defaults.
	IntraOpThreads int
	InterOpThreads int
	// ProviderOptions are extra provider options passed verbatim to
	// ONNX Runtime (for example "gpu_mem_limit" for CUDA, "trt_fp16_enable"
	// for TensorRT). device_id is set from DeviceID.
	ProviderOptions map[string]string
	// ConfigEntries are session configuration entries passed verbatim to
	// ONNX Runtime's AddSessionConfigEntry, for example
	// "session.intra_op.allow_spinning": "0" (thread-pool threads sleep
	// instead of spinning between runs, which frees the CPU for other work
	// on a busy machine). An unknown key is ignored by ONNX Runtime; a bad
	// value fails NewSession with an error wrapping errdefs.ErrInvalidInput.
	ConfigEntries map[string]string
}

// IOInfo describes one model input or output.
type IOInfo struct {
	// Name is the tensor's name in the graph.
	Name string
	// Type is the element type (ONNX TensorProto.DataType numbering, the same
	// as onnxruntime_go.TensorElementDataType).
	Type ortgo.TensorElementDataType
	// Shape holds the dimensions; -1 marks a symbolic (dynamic) dimension.
	Shape []int64
}

// Session is an ONNX Runtime inference session over one model file, with its
// inputs and outputs discovered. It is safe for concurrent Run calls (ONNX
// Runtime sessions are); Close must not race with Run.
type Session struct {
	path    string
	inputs  []IOInfo
	outputs []IOInfo

	mu      sync.RWMutex
	s       *ortgo.DynamicAdvancedSession
	release func() error
}

// NewSession loads the ONNX model at modelPath (external weight data is found
// next to it) with opts (nil means CPU defaults). Every declared graph input
// and output is bound, in graph order.
func NewSession(modelPath string, opts *SessionOptions) (*Session, error) {
	if opts == nil {
		opts = &SessionOptions{}
	}
	if _, err := os.Stat(modelPath); err != nil {
		return nil, fmt.Errorf("ort: model: %w: %w", err, errdefs.ErrNotFound)
	}
	inputs, outputs, err := ReadModelIO(modelPath)
	if err != nil {
		return nil, err
	}
	release, err := Acquire()
	if err != nil {
		return nil, err
	}
	so, err := sessionOptions(opts)
	if err != nil {
		return nil, errors.Join(err, release())
	}
	defer so.Destroy()
	in := make([]string, len(inputs))
	for i, x := range inputs {
		in[i] = x.Name
	}
	out := make([]string, len(outputs))
	for i, x := range outputs {
		out[i] = x.Name
	}
	s, err := ortgo.NewDynamicAdvancedSession(modelPath, in, out, so)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("ort: create session for %s: %w", modelPath, err), release())
	}
	return &Session{path: modelPath, inputs: inputs, outputs: outputs, s: s, release: release}, nil
}

func sessionOptions(o *SessionOptions) (*ortgo.SessionOptions, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	fail := func(err error) (*ortgo.SessionOptions, error) {
		so.Destroy()
		return nil, err
	}
	if o.IntraOpThreads < 0 || o.InterOpThreads < 0 {
		return fail(fmt.Errorf("ort: negative thread count: %w", errdefs.ErrInvalidInput))
	}
	if o.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(o.IntraOpThreads); err != nil {
			return fail(fmt.Errorf("ort: intra-op threads: %w", err))
		}
	}
	if o.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(o.InterOpThreads); err != nil {
			return fail(fmt.Errorf("ort: inter-op threads: %w", err))
		}
	}
	for k, v := range o.ConfigEntries {
		if err := so.AddSessionConfigEntry(k, v); err != nil {
			return fail(fmt.Errorf("ort: session config entry %s=%s: %v: %w", k, v, err, errdefs.ErrInvalidInput))
		}
	}
	popts := map[string]string{}
	for k, v := range o.ProviderOptions {
		popts[k] = v
	}
	switch o.Provider {
	case "", CPU:
		if len(o.ProviderOptions) > 0 {
			return fail(fmt.Errorf("ort: provider options given for the cpu provider: %w", errdefs.ErrInvalidInput))
		}
	case CUDA:
		popts["device_id"] = strconv.Itoa(o.DeviceID)
		if err := appendProvider(ortgo.NewCUDAProviderOptions, so.AppendExecutionProviderCUDA, popts); err != nil {
			return fail(providerErr(o.Provider, err))
		}
	case TensorRT:
		popts["device_id"] = strconv.Itoa(o.DeviceID)
		if err := appendProvider(ortgo.NewTensorRTProviderOptions, so.AppendExecutionProviderTensorRT, popts); err != nil {
			return fail(providerErr(o.Provider, err))
		}
	default:
		return fail(fmt.Errorf("ort: unknown execution provider %q (want cpu, cuda or tensorrt): %w", o.Provider, errdefs.ErrInvalidInput))
	}
	return so, nil
}

// providerOptions is what onnxruntime_go's CUDA and TensorRT provider
// options have in common.
type providerOptions interface {
	Update(map[string]string) error
	Destroy() error
}

// appendProvider creates a provider's options with newOptions, sets popts
// on them and appends the provider with appendTo; the options are destroyed
// before it returns.
func appendProvider[P providerOptions](newOptions func() (P, error), appendTo func(P) error, popts map[string]string) error {
	po, err := newOptions()
	if err != nil {
		return err
	}
	defer po.Destroy()
	if err := po.Update(popts); err != nil {
		return err
	}
	return appendTo(po)
}

func providerErr(p Provider, err error) error {
	return fmt.Errorf("ort: %s %s (library %s: %v): %w", p, errProvider, LibraryPath(), err, errdefs.ErrUnsupported)
}

// Path returns the model file the session was created from.
func (s *Session) Path() string { return s.path }

// Inputs returns the model's inputs in graph order.
func (s *Session) Inputs() []IOInfo { return cloneIO(s.inputs) }

// Outputs returns the model's outputs in graph order.
func (s *Session) Outputs() []IOInfo { return cloneIO(s.outputs) }

// HasInput reports whether the model declares an input called name.
func (s *Session) HasInput(name string) bool {
	for _, x := range s.inputs {
		if x.Name == name {
			return true
		}
	}
	return false
}

func cloneIO(in []IOInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, x := range in {
		out[i] = IOInfo{Name: x.Name, Type: x.Type, Shape: append([]int64(nil), x.Shape...)}
	}
	return out
}

// Run runs the model. inputs follow Inputs() order; outputs follow Outputs()
// order, and a nil entry is allocated by ONNX Runtime (the caller then
// destroys it). Safe for concurrent use.
func (s *Session) Run(inputs, outputs []ortgo.Value) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.s == nil {
		return fmt.Errorf("ort: run: %w", errdefs.ErrClosed)
	}
	if len(inputs) != len(s.inputs) || len(outputs) != len(s.outputs) {
		return fmt.Errorf("ort: run with %d inputs and %d outputs, model has %d and %d: %w",
			len(inputs), len(outputs), len(s.inputs), len(s.outputs), errdefs.ErrInvalidInput)
	}
	if err := s.s.Run(inputs, outputs); err != nil {
		return fmt.Errorf("ort: run %s: %w", s.path, err)
	}
	return nil
}

// Close destroys the session and releases its environment reference. Later
// calls return errdefs.ErrClosed.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return fmt.Errorf("ort: session: %w", errdefs.ErrClosed)
	}
	err := s.s.Destroy()
	s.s = nil
	if err != nil {
		err = fmt.Errorf("ort: destroy session: %w", err)
	}
	return errors.Join(err, s.release())
}
