//go:build xla

package xla

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gomlx/go-xla/pkg/pjrt"

	"twostage"
	"twostage/convert"
	"twostage/convert/arch"
	"twostage/convert/hf"
	"twostage/convert/safetensors"
	"twostage/internal/once"
	"twostage/modeldir"
)

// Available reports whether this build has the PJRT runtime (build tag xla).
const Available = true

// client is one PJRT client on one device, shared by every Executor of
// that plugin and device, with the executables compiled on it.
type client struct {
	key    string
	refs   int // guarded by clients.mu
	c      *pjrt.Client
	device *pjrt.Device
	execs  once.Map[[32]byte, *pjrt.LoadedExecutable] // by the program text's sha256
}

// clients holds the live clients by plugin path and device: PJRT plugins are
// process-wide (go-xla loads each once), so their clients are too.
var clients struct {
	mu sync.Mutex
	m  map[string]*client
}

// openClient returns a reference on the client of plugin path and device.
func openClient(path string, device int) (*client, error) {
	key := fmt.Sprintf("%s\x00%d", path, device)
	clients.mu.Lock()
	defer clients.mu.Unlock()
	if c := clients.m[key]; c != nil {
		c.refs++
		return c, nil
	}
	plugin, err := pjrt.GetPlugin(path)
	if err != nil {
		return nil, fmt.Errorf("xla: plugin %s did not load: %v: %w", path, err, ErrNoPlugin)
	}
	pc, err := plugin.NewClient(nil)
	if err != nil {
		return nil, fmt.Errorf("xla: plugin %s: no client: %v: %w", path, err, ErrNoPlugin)
	}
	devs := pc.AddressableDevices()
	if device < 0 || device >= len(devs) {
		pc.Destroy()
		return nil, fmt.Errorf("xla: device %d of %s: it has %d: %w", device, path, len(devs), twostage.ErrInvalidInput)
	}
	c := &client{key: key, refs: 1, c: pc, device: devs[device]}
	if clients.m == nil {
		clients.m = map[string]*client{}
	}
	clients.m[key] = c
	return c, nil
}

// release drops a reference; the last destroys the executables and the client.
func (c *client) release() error {
	clients.mu.Lock()
	defer clients.mu.Unlock()
	c.refs--
	if c.refs > 0 {
		return nil
	}
	delete(clients.m, c.key)
	var errs []error
	for _, x := range c.execs.Values() {
		errs = append(errs, x.Destroy())
	}
	errs = append(errs, c.c.Destroy())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xla: %w", err)
	}
	return nil
}

// compile returns the executable of program text, compiling it once per client.
func (c *client) compile(text []byte) (*pjrt.LoadedExecutable, error) {
	return c.execs.Do(sha256.Sum256(text), func() (*pjrt.LoadedExecutable, error) {
		x, err := c.c.Compile().WithStableHLO(text).Done()
		if err != nil {
			return nil, fmt.Errorf("xla: compile: %v: %w", err, twostage.ErrUnsupported)
		}
		return x, nil
	})
}

// Executor runs one checkpoint's model on one PJRT device. It is safe for
// concurrent use.
type Executor struct {
	c       *client
	model   *arch.Model
	desc    *modeldir.Config
	compute string
	maxLen  int
	shape   func(b, s int) (int, int)

	mu      sync.RWMutex // Run holds it shared, Close exclusive
	closed  bool
	weights map[string]*pjrt.Buffer // by Param key
	progs   once.Map[progKey, *program]
	prefix  func(n, p int) (int, int)

	pastMu     sync.Mutex
	pasts      map[*Past]struct{} // held prefix keys and values; Close frees them
	prefixRuns atomic.Int64
}

// progKey names a compiled program: its kind and shape.
type progKey struct {
	mode       int // 0 whole rows, progPrefix, progPast
	B, S, N, P int
}

const (
	progPrefix = 1 + iota // a prefix program: [B, S] are the prefixes
	progPast              // a continuation program of [N, P] prefixes
)

// program is one bucket's compiled program with its weight arguments.
type program struct {
	exec   *pjrt.LoadedExecutable
	params []*pjrt.Buffer
	inputs int
	hidden int
	outs   int // outputs: 1, or a prefix program's 2 per layer
}

// Open loads the Hugging Face checkpoint in dir (config.json, safetensors,
// sharded or not, in F32, F16 or BF16) onto the platform's device: it
// finds and loads the plugin, and uploads every weight once, in the compute
// type. Programs are compiled on first use of each bucket shape.
//
// Errors wrap twostage.ErrUnsupported (no loadable plugin, see ErrNoPlugin;
// an architecture or family it cannot run), twostage.ErrNotFound (no
// config.json) or twostage.ErrInvalidInput (bad options, a checkpoint that
// does not match its config).
func Open(dir string, opts *Options) (*Executor, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	compute, err := o.computeType()
	if err != nil {
		return nil, err
	}
	if o.MaxLength < 0 || o.DeviceID < 0 {
		return nil, fmt.Errorf("xla: negative max length or device: %w", twostage.ErrInvalidInput)
	}
	cfg, err := hf.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}
	desc, err := convert.Describe(dir, cfg, o.Family)
	if err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}
	maxLen := desc.MaxLength
	if o.MaxLength > 0 {
		maxLen = min(maxLen, o.MaxLength)
	}
	platform := o.Platform
	if platform == "" {
		platform = PlatformCPU
	}
	env := os.Getenv(PluginEnv)
	if o.PluginEnv != nil {
		env = *o.PluginEnv
	}
	wd := o.WorkDir
	if wd == "" {
		wd, _ = os.Getwd()
	}
	path, err := FindPlugin(platform, env, wd)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	ck, err := safetensors.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}
	defer ck.Close()
	src := arch.NewCheckpoint(ck)
	model, err := arch.NewModel(desc.Family, cfg, src.Has("lm_head.weight"))
	if err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}
	// The parameter list is the same for every bucket: take it from a small one.
	probe, err := arch.StableHLO(model, 1, 1, compute)
	if err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}
	c, err := openClient(path, o.DeviceID)
	if err != nil {
		return nil, err
	}
	e := &Executor{c: c, model: model, desc: desc, compute: compute, maxLen: maxLen, shape: o.Shape,
		weights: map[string]*pjrt.Buffer{}, prefix: o.PrefixShape,
		pasts: map[*Past]struct{}{}}
	if e.shape == nil {
		e.shape = func(b, s int) (int, int) { return Buckets(b, s, maxLen) }
	}
	if e.prefix == nil {
		e.prefix = func(n, p int) (int, int) { return Buckets(n, p, maxLen) }
	}
	for _, p := range probe.Params {
		if err := e.upload(src, p); err != nil {
			return nil, errors.Join(err, e.free())
		}
	}
	return e, nil
}

func paramKey(p arch.Param) string { return fmt.Sprintf("%s%v", p.Name, p.Rows) }

// upload puts one weight on the device, in its program type.
func (e *Executor) upload(src *arch.Checkpoint, p arch.Param) error {
	var raw []byte
	if p.Rows != nil {
		rows, err := src.Rows(p.Name, p.Rows)
		if err != nil {
			return fmt.Errorf("xla: %w", err)
		}
		var flat []float32
		for _, r := range rows {
			flat = append(flat, r...)
		}
		raw = arch.Encode(flat, p.Dtype)
	} else {
		var err error
		if raw, err = src.Bytes(p.Name, p.Dtype, p.Dims); err != nil {
			return fmt.Errorf("xla: %w", err)
		}
	}
	dt, err := arch.DType(p.Dtype)
	if err != nil {
		return fmt.Errorf("xla: upload %s: %w", p.Name, err)
	}
	buf, err := e.c.c.BufferFromHost().FromRawData(raw, dt, p.Dims).ToDevice(e.c.device).Done()
	if err != nil {
		return fmt.Errorf("xla: upload %s: %w", p.Name, err)
	}
	e.weights[paramKey(p)] = buf
	return nil
}

// free destroys the weights and drops the client.
func (e *Executor) free() error {
	var errs []error
	for _, b := range e.weights {
		errs = append(errs, b.Destroy())
	}
	e.weights = nil
	errs = append(errs, e.c.release())
	return errors.Join(errs...)
}

// Family is the model family run.
func (e *Executor) Family() string { return e.desc.Family }

// Describe is the model's description (family, calibration, padding id,
// max length), as twostage.json would hold it.
func (e *Executor) Describe() *modeldir.Config { return e.desc }

// MaxLength is the longest sequence it runs.
func (e *Executor) MaxLength() int { return e.maxLen }

// Shape is the compiled shape that runs b rows of at most s tokens.
func (e *Executor) Shape(b, s int) (int, int) {
	B, S := e.shape(b, s)
	return max(B, b), max(S, s)
}

// get returns the compiled program k, compiling it on first use.
func (e *Executor) get(k progKey) (*program, error) {
	return e.progs.Do(k, func() (*program, error) {
		var prog *arch.Program
		var err error
		switch k.mode {
		case progPrefix:
			prog, err = arch.StableHLOPrefix(e.model, k.B, k.S, e.compute)
		case progPast:
			prog, err = arch.StableHLOPast(e.model, k.B, k.S, k.N, k.P, e.compute)
		default:
			prog, err = arch.StableHLO(e.model, k.B, k.S, e.compute)
		}
		if err != nil {
			return nil, fmt.Errorf("xla: %w", err)
		}
		exec, err := e.c.compile(prog.Text)
		if err != nil {
			return nil, err
		}
		p := &program{exec: exec, inputs: prog.Inputs, hidden: prog.Hidden, outs: max(1, 2*prog.Presents)}
		for _, w := range prog.Params {
			buf := e.weights[paramKey(w)]
			if buf == nil {
				return nil, fmt.Errorf("xla: program [%d %d] wants weight %s, not uploaded: %w", k.B, k.S, w.Name, twostage.ErrInvalidInput)
			}
			p.params = append(p.params, buf)
		}
		return p, nil
	})
}

// Run scores a right-padded batch: ids, mask and types (nil: zeros; used by
// BERT) are [b, s] row-major, each row's real tokens first. It rounds the
// batch up to its compiled shape and returns one raw score per row (the
// model's logit: the "Yes" logit, yes minus no, or the classifier logit).
//
// Errors: a token id outside the vocabulary, a row without a real token or
// inputs of the wrong size wrap twostage.ErrInvalidInput; an embedding
// model twostage.ErrUnsupported; a closed Executor twostage.ErrClosed; an
// ended ctx its error (checked before the device runs).
func (e *Executor) Run(ctx context.Context, ids, mask, types []int64, b, s int) ([]float64, error) {
	out, err := e.run(ctx, ids, mask, types, b, s, false)
	if err != nil {
		return nil, err
	}
	res := make([]float64, b)
	for i := range res {
		res[i] = float64(out[i])
	}
	return res, nil
}

// Hidden is Run for an embedding model: the last hidden state [b, s, H]
// row-major, padding positions included.
func (e *Executor) Hidden(ctx context.Context, ids, mask, types []int64, b, s int) ([]float32, error) {
	return e.run(ctx, ids, mask, types, b, s, true)
}

func (e *Executor) run(ctx context.Context, ids, mask, types []int64, b, s int, hidden bool) ([]float32, error) {
	if (e.desc.Family == modeldir.FamilyBertEmbedding) != hidden {
		return nil, fmt.Errorf("xla: family %s: %w", e.desc.Family, twostage.ErrUnsupported)
	}
	if err := e.check(ids, mask, types, b, s); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, fmt.Errorf("xla: executor: %w", twostage.ErrClosed)
	}
	B, S := e.Shape(b, s)
	p, err := e.get(progKey{B: B, S: S})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("xla: %w", err)
	}
	in, err := e.inputs(ids, mask, types, b, s, B, S, p.inputs)
	defer destroy(in)
	if err != nil {
		return nil, err
	}
	args := append(slices.Clip(in), p.params...)
	outs, err := p.exec.Execute(args...).OnDevice(e.c.device).Done()
	if err != nil {
		return nil, fmt.Errorf("xla: execute: %w", err)
	}
	defer destroy(outs)
	flat, _, err := pjrt.BufferToArray[float32](outs[0])
	if err != nil {
		return nil, fmt.Errorf("xla: read scores: %w", err)
	}
	if hidden { // [B, S, H] -> [b, s, H]
		H := p.hidden
		res := make([]float32, 0, b*s*H)
		for r := 0; r < b; r++ {
			res = append(res, flat[r*S*H:r*S*H+s*H]...)
		}
		return res, nil
	}
	return flat[:b], nil
}

// inputs uploads the first n of a [b, s] batch's ids, mask and types
// (nil: zeros), padded to [B, S]: padding rows get one real token (the pad
// id), so that no row is all padding. The caller destroys the buffers,
// also after an error.
func (e *Executor) inputs(ids, mask, types []int64, b, s, B, S, n int) ([]*pjrt.Buffer, error) {
	in := [3][]int32{make([]int32, B*S), make([]int32, B*S), make([]int32, B*S)}
	pad := int32(e.desc.PadTokenID)
	for r := 0; r < B; r++ {
		for c := 0; c < S; c++ {
			i, k := r*S+c, r*s+c
			switch {
			case r < b && c < s:
				in[0][i], in[1][i] = int32(ids[k]), int32(mask[k])
				if types != nil {
					in[2][i] = int32(types[k])
				}
			case r >= b && c == 0: // a whole padding row: one real token
				in[0][i], in[1][i] = pad, 1
			default:
				in[0][i] = pad
			}
		}
	}
	bufs := make([]*pjrt.Buffer, 0, n)
	for _, v := range in[:n] {
		buf, err := e.upload32(v, B, S)
		if err != nil {
			return bufs, err
		}
		bufs = append(bufs, buf)
	}
	return bufs, nil
}

// upload32 puts int32 values of dims on the device.
func (e *Executor) upload32(v []int32, dims ...int) (*pjrt.Buffer, error) {
	buf, err := e.c.c.BufferFromHost().FromFlatDataWithDimensions(v, dims).ToDevice(e.c.device).Done()
	if err != nil {
		return nil, fmt.Errorf("xla: input upload: %w", err)
	}
	return buf, nil
}

// destroy frees device buffers (nil entries skipped).
func destroy(bufs []*pjrt.Buffer) {
	for _, b := range bufs {
		if b != nil {
			b.Destroy()
		}
	}
}

// check validates a batch's inputs.
func (e *Executor) check(ids, mask, types []int64, b, s int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("xla: %s: %w", fmt.Sprintf(format, args...), twostage.ErrInvalidInput)
	}
	if b < 1 || s < 1 || len(ids) != b*s || len(mask) != b*s || (types != nil && len(types) != b*s) {
		return bad("inputs of %d ids, %d mask for a [%d %d] batch", len(ids), len(mask), b, s)
	}
	if s > e.maxLen {
		return bad("sequence of %d tokens, above the max length %d", s, e.maxLen)
	}
	V := e.model.Config.VocabSize
	for r := 0; r < b; r++ {
		if mask[r*s] != 1 {
			return bad("row %d has no real token first", r)
		}
		for c := 0; c < s; c++ {
			if id := ids[r*s+c]; id < 0 || id >= int64(V) {
				return bad("token id %d outside the vocabulary of %d", id, V)
			}
			if m := mask[r*s+c]; m != 0 && m != 1 {
				return bad("attention mask value %d", m)
			}
			if types != nil {
				if t := types[r*s+c]; t < 0 || t >= int64(max(e.model.Config.TypeVocabSize, 1)) {
					return bad("token type id %d outside %d types", t, e.model.Config.TypeVocabSize)
				}
			}
		}
	}
	return nil
}

// Close waits for the runs in flight, then frees the weights and the
// prefix keys and values still held (Past), and drops the client (the
// last Executor on a device destroys it and its executables).
// Later calls return twostage.ErrClosed.
func (e *Executor) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("xla: executor: %w", twostage.ErrClosed)
	}
	e.closed = true
	var errs []error
	e.pastMu.Lock()
	for p := range e.pasts {
		errs = append(errs, p.free())
	}
	clear(e.pasts)
	e.pastMu.Unlock()
	if err := errors.Join(append(errs, e.free())...); err != nil {
		return fmt.Errorf("xla: close: %w", err)
	}
	return nil
}
