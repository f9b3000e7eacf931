package inference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"twostage/errdefs"
	"twostage/tokenizer"
)

// ErrModel is wrapped by the errors of a model that breaks the input and
// output contract (see Backend): an unexpected input, an output of the
// wrong type or shape. It wraps errdefs.ErrInvalidInput, so
// errors.Is(err, errdefs.ErrInvalidInput) holds too.
var ErrModel = errdefs.New("inference: model breaks the input/output contract", errdefs.ErrInvalidInput)

// Options configures New. Nil means every default.
type Options struct {
	// Defaults fill the zero fields of every model's ModelOptions (the
	// Default* constants fill what both leave zero).
	Defaults ModelOptions
	// Backends adds execution backends by provider name, beside the
	// built-in ones (ONNX Runtime's cpu, cuda and tensorrt; xla, OpenXLA's
	// PJRT); a name given here overrides a built-in one.
	Backends map[string]Backend
}

// Runtime owns what models share: the loaded models themselves (one per
// model file and backend configuration, shared by every caller that opens
// it, so their calls fill the same batches), their backends (for ONNX
// Runtime, the process-wide environment, held while any session is open)
// and a cache of loaded tokenizers. It is safe for concurrent use.
//
// A program creates one runtime, opens models on it (usually through the
// front ends, rerank.Open and embed.NewONNX, whose options take it), and
// closes it at the end. A nil *Runtime stands for Default in Open and
// Tokenizer, so front ends given no runtime use the default one.
type Runtime struct {
	defaults ModelOptions
	backends map[string]Backend
	isDef    bool

	mu     sync.Mutex
	models map[string]*model // by key, open ones only
	closed bool

	toks sync.Map // file identity -> *tokenizer.Tokenizer
}

// New returns a runtime. It loads nothing until a model is opened.
func New(opts *Options) (*Runtime, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.Defaults.validate(); err != nil {
		return nil, err
	}
	rt := &Runtime{defaults: o.Defaults, backends: map[string]Backend{}, models: map[string]*model{}}
	for name, b := range o.Backends {
		if name == "" || b == nil {
			return nil, fmt.Errorf("inference: backend %q: empty name or nil backend: %w", name, errdefs.ErrInvalidInput)
		}
		rt.backends[name] = b
	}
	return rt, nil
}

var defaultRuntime = sync.OnceValue(func() *Runtime {
	rt, _ := New(nil) // nil options cannot fail
	rt.isDef = true
	return rt
})

// Default returns the process's default runtime, the one front ends use
// when their options name none. It has the built-in backends only and the
// Default* batching, is created on first use and is never closed (its
// Close fails); each of its models is closed with its last handle, so a
// program that closes every handle leaves nothing loaded.
func Default() *Runtime { return defaultRuntime() }

// backend returns the backend serving provider p (lower case).
func (rt *Runtime) backend(p string) Backend {
	if b, ok := rt.backends[p]; ok {
		return b
	}
	if p == ProviderXLA {
		return XLA()
	}
	return ORT()
}

// Open returns a handle on the model file at path, loaded for task with
// opts (nil: the runtime's defaults), loading it when this runtime has no
// open model for (path, task, padID, backend fields of opts) yet. padID is
// the token id that pads short rows. Each handle must be closed; the model
// stops with its last handle's Close.
//
// Errors: errdefs.ErrClosed after Close; errdefs.ErrInvalidInput for bad
// options, or batching options that differ from the loaded model's (see
// ModelOptions); ErrModel for a model that breaks the contract;
// errdefs.ErrNotFound for a missing file; errdefs.ErrUnsupported for a
// provider the backend cannot run; errdefs.ErrUnavailable when the
// native library cannot be loaded.
func (rt *Runtime) Open(path string, task Task, padID int64, opts *ModelOptions) (*Model, error) {
	if rt == nil {
		rt = Default()
	}
	var o ModelOptions
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if task != Score && task != Embed {
		return nil, fmt.Errorf("inference: unknown task %d: %w", task, errdefs.ErrInvalidInput)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("inference: model %q: %w", path, err)
	}
	o.inherit(&rt.defaults)
	key := o.key(abs, task, padID)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, fmt.Errorf("inference: runtime: %w", errdefs.ErrClosed)
	}
	if m := rt.models[key]; m != nil {
		if err := m.opts.batching(&o, abs); err != nil {
			return nil, err
		}
		m.refs++
		return &Model{m: m}, nil
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("inference: model: %w: %w", err, errdefs.ErrNotFound)
	}
	exec, err := rt.backend(o.provider()).Open(abs, task, &o)
	if err != nil {
		return nil, err
	}
	m := newModel(rt, key, abs, task, padID, exec, o.withDefaults())
	rt.models[key] = m
	return &Model{m: m}, nil
}

// release drops one handle's reference on m; it reports whether that was
// the last one, m then being out of the runtime.
func (rt *Runtime) release(m *model) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return false
	}
	if rt.models[m.key] == m {
		delete(rt.models, m.key)
	}
	return true
}

// Close stops every model still open in the runtime: each finishes the
// inputs already queued (their callers get their results), stops its
// goroutines and releases its backend; later calls on their handles, and
// later Opens, fail with errdefs.ErrClosed. Close returns after all of
// that. A second Close, or a Close of Default, fails with
// errdefs.ErrClosed or errdefs.ErrInvalidInput.
func (rt *Runtime) Close() error {
	if rt.isDef {
		return fmt.Errorf("inference: the default runtime is never closed (close its models' handles instead): %w", errdefs.ErrInvalidInput)
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return fmt.Errorf("inference: runtime: %w", errdefs.ErrClosed)
	}
	rt.closed = true
	models := rt.models
	rt.models = map[string]*model{}
	rt.mu.Unlock()
	var errs []error
	for _, m := range models {
		errs = append(errs, m.stop())
	}
	return errors.Join(errs...)
}

// Tokenizer returns the tokenizer in the tokenizer.json file at path,
// loaded once per runtime and file identity (path, size, modification
// time): loading Qwen3's takes seconds, and front ends of the same model
// with different options, or different models with the same tokenizer
// file, share one (a Tokenizer is immutable). Errors: errdefs.ErrNotFound
// for a missing file, and tokenizer.FromFile's.
func (rt *Runtime) Tokenizer(path string) (*tokenizer.Tokenizer, error) {
	if rt == nil {
		rt = Default()
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w: %w", err, errdefs.ErrNotFound)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, st.Size(), st.ModTime().UnixNano())
	if t, ok := rt.toks.Load(key); ok {
		return t.(*tokenizer.Tokenizer), nil
	}
	tok, err := tokenizer.FromFile(path)
	if err != nil {
		return nil, err
	}
	t, _ := rt.toks.LoadOrStore(key, tok)
	return t.(*tokenizer.Tokenizer), nil
}
