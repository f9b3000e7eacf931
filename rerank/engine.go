package rerank

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage"
	"twostage/internal/batcher"
	"twostage/internal/ort"
	"twostage/internal/par"
	"twostage/modeldir"
	"twostage/tokenizer"
)

// Execution providers for EngineOptions.Provider.
const (
	// ProviderCPU is ONNX Runtime's CPU provider (the default).
	ProviderCPU = "cpu"
	// ProviderCUDA needs a GPU build of ONNX Runtime (ONNXRUNTIME_LIB) with
	// matching CUDA and cuDNN; see the README.
	ProviderCUDA = "cuda"
	// ProviderTensorRT needs a GPU build of ONNX Runtime with TensorRT.
	ProviderTensorRT = "tensorrt"
	// ProviderXLA runs a Hugging Face checkpoint directory as it is on
	// OpenXLA's PJRT runtime (a binary built with -tags xla), on
	// EngineOptions.Platform, in EngineOptions.Compute.
	ProviderXLA = "xla"
)

// EngineOptions configures Open. Nil or zero fields mean the documented
// defaults.
type EngineOptions struct {
	// Provider is ProviderCPU (""), ProviderCUDA or ProviderTensorRT. A
	// provider the loaded ONNX Runtime library lacks fails Open with an
	// error wrapping twostage.ErrUnsupported: never a silent CPU fallback.
	Provider string
	// DeviceID is the GPU ordinal for CUDA and TensorRT.
	DeviceID int
	// IntraOpThreads and InterOpThreads size ONNX Runtime's thread pools
	// (0: its defaults, one intra-op thread per physical core).
	IntraOpThreads, InterOpThreads int
	// ProviderOptions are passed verbatim to the CUDA or TensorRT provider
	// (for example "gpu_mem_limit", "cudnn_conv_algo_search",
	// "trt_fp16_enable"); device_id comes from DeviceID.
	ProviderOptions map[string]string
	// SessionConfig holds ONNX Runtime session configuration entries,
	// passed verbatim. On the CPU provider the engine sets
	// "session.intra_op.allow_spinning" to "0" unless given here: idle
	// thread-pool threads then sleep instead of spinning, which leaves the
	// cores to the goroutines tokenizing the next batch (on this project's
	// 2-core machine it raised the engine's real tokens per CPU second from
	// 0.85 to 0.94 of the raw session's). Set it to "1" for ONNX Runtime's
	// default.
	SessionConfig map[string]string

	// MaxLength caps the tokens of one (query, document) input; 0 means the
	// model's max_length (twostage.json). It may only lower it.
	MaxLength int
	// Instruction is Qwen3-Reranker's task instruction ("": its default).
	// Other families ignore it.
	Instruction string

	// Platform is the PJRT device of ProviderXLA: "cpu" ("") or "cuda".
	// Its plugin is found through PJRT_PLUGIN_LIBRARY_PATH, .deps/pjrt, then
	// go-xla's directories; a missing one fails Open (never a fallback).
	Platform string
	// Compute is ProviderXLA's weight and matrix-product type: "fp32" (""),
	// "bf16" or "fp16"; norms, softmax and the residual stream stay float32.
	Compute string
	// Family is the model family of a ProviderXLA checkpoint when its
	// config.json cannot tell ("": a Qwen3 checkpoint is zerank); zerank
	// and qwen3-reranker share an architecture.
	Family string

	// MaxBatchSize caps pairs per batch (default 32).
	MaxBatchSize int
	// MaxBatchTokens caps a batch's padded tokens, pairs times the longest
	// pair (default 16384).
	MaxBatchTokens int
	// MaxWait is how long a queued pair may wait for its batch to fill
	// (default 2ms).
	MaxWait time.Duration
	// MaxQueue caps the pairs waiting for a batch; calls that would exceed
	// it fail with twostage.ErrOverloaded (default 16384).
	MaxQueue int
	// NoLengthGrouping batches pairs in arrival order instead of grouping
	// pairs of similar length (which cuts padding).
	NoLengthGrouping bool
	// MinFill is the least fill (real over padded tokens) length grouping
	// accepts when growing a batch (default 0.9; negative: any).
	MinFill float64
}

// Stats counts what an engine has done since it was opened. It covers every
// holder of the shared engine.
type Stats struct {
	// Calls is the number of Rerank calls that queued work.
	Calls int64
	// Batches and Pairs run.
	Batches, Pairs int64
	// Tokens is the real tokens run; PaddedTokens the tokens computed,
	// padding included. Fill returns their ratio.
	Tokens, PaddedTokens int64
	// QueueWait is the time pairs waited for a batch, summed over pairs.
	QueueWait time.Duration
	// PrepareTime is the time spent building the padded inputs and RunTime
	// the time in the backend (ONNX Runtime or XLA), summed over batches.
	PrepareTime, RunTime time.Duration
	// Overloaded counts pairs refused with ErrOverloaded; Cancelled queued
	// pairs dropped by cancelled calls.
	Overloaded, Cancelled int64
}

// Fill is the padding efficiency: real tokens over computed tokens.
func (s Stats) Fill() float64 {
	if s.PaddedTokens == 0 {
		return 1
	}
	return float64(s.Tokens) / float64(s.PaddedTokens)
}

// Engine reranks with a cross-encoder model directory (zerank, Qwen3-Reranker
// or a BERT cross-encoder, as `twostage convert` writes them) on ONNX
// Runtime, or, with ProviderXLA, with a Hugging Face checkpoint directory on
// OpenXLA's PJRT runtime. It implements twostage.Reranker and is safe for
// concurrent use.
//
// Engines are shared: every Open of the same model directory with the same
// provider configuration, max length and instruction in one process returns
// a handle on the same engine (one session, one batch scheduler), so every
// Store and Pipeline feeds the same batches. Each handle must be closed;
// the engine stops with the last Close.
type Engine struct {
	c      *core
	closed atomic.Bool
}

// core is the shared engine behind the handles.
type core struct {
	key    string
	refs   int // guarded by registry.mu
	dir    string
	cfg    *modeldir.Config
	maxLen int
	prompt *prompter
	be     backend
	b      *batcher.Batcher[pair, float64]
	chunk  int
	calls  atomic.Int64
}

// spinKey is ONNX Runtime's session entry for thread-pool spinning.
const spinKey = "session.intra_op.allow_spinning"

type inputKind int

const (
	inIDs inputKind = iota
	inMask
	inTypes
)

var registry struct {
	mu    sync.Mutex
	cores map[string]*core
}

// Open returns a handle on the shared engine for the model directory dir,
// loading it when this process has no engine for (dir, provider
// configuration, max length, instruction) yet. Batching options take effect
// only when the engine is created; later Opens share its batching.
//
// Errors wrap twostage.ErrNotFound (no such model directory),
// twostage.ErrInvalidInput (bad options, a model whose inputs or outputs
// break the contract), twostage.ErrUnsupported (an embedding model, a
// provider the ONNX Runtime library lacks; for ProviderXLA: no loadable PJRT
// plugin for the platform, a converted directory instead of a checkpoint, a
// build without -tags xla) or twostage.ErrUnavailable (no ONNX Runtime
// library).
func Open(dir string, opts *EngineOptions) (*Engine, error) {
	var o EngineOptions
	if opts != nil {
		o = *opts
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rerank: model directory %q: %w", dir, err)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	key := o.key(abs)
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if c := registry.cores[key]; c != nil {
		c.refs++
		return &Engine{c: c}, nil
	}
	c, err := loadCore(abs, &o)
	if err != nil {
		return nil, err
	}
	c.start(&o)
	c.key, c.refs = key, 1
	if registry.cores == nil {
		registry.cores = map[string]*core{}
	}
	registry.cores[key] = c
	return &Engine{c: c}, nil
}

func (o *EngineOptions) validate() error {
	bad := func(what string, v any) error {
		return fmt.Errorf("rerank: engine option %s = %v must not be negative: %w", what, v, twostage.ErrInvalidInput)
	}
	switch {
	case o.DeviceID < 0:
		return bad("DeviceID", o.DeviceID)
	case o.IntraOpThreads < 0:
		return bad("IntraOpThreads", o.IntraOpThreads)
	case o.InterOpThreads < 0:
		return bad("InterOpThreads", o.InterOpThreads)
	case o.MaxLength < 0:
		return bad("MaxLength", o.MaxLength)
	case o.MaxBatchSize < 0:
		return bad("MaxBatchSize", o.MaxBatchSize)
	case o.MaxBatchTokens < 0:
		return bad("MaxBatchTokens", o.MaxBatchTokens)
	case o.MaxQueue < 0:
		return bad("MaxQueue", o.MaxQueue)
	case o.MaxWait < 0:
		return bad("MaxWait", o.MaxWait)
	}
	switch strings.ToLower(o.Provider) {
	case "", ProviderCPU, ProviderCUDA, ProviderTensorRT:
		if o.Platform != "" || o.Compute != "" || o.Family != "" {
			return fmt.Errorf("rerank: engine options Platform, Compute and Family are for provider xla: %w", twostage.ErrInvalidInput)
		}
	case ProviderXLA:
	default:
		return fmt.Errorf("rerank: unknown execution provider %q (want cpu, cuda, tensorrt or xla): %w", o.Provider, twostage.ErrInvalidInput)
	}
	if err := checkText("instruction", o.Instruction); err != nil {
		return err
	}
	return nil
}

// key identifies an engine: everything that changes the session or the scores.
func (o *EngineOptions) key(abs string) string {
	p := strings.ToLower(o.Provider)
	if p == "" {
		p = ProviderCPU
	}
	kv := func(m map[string]string) string {
		out := make([]string, 0, len(m))
		for k, v := range m {
			out = append(out, k+"="+v)
		}
		sort.Strings(out)
		return strings.Join(out, "\x01")
	}
	return fmt.Sprintf("%s\x00%s/%d/%d/%d\x00%s\x00%s\x00%d\x00%s\x00%s/%s/%s", abs, p, o.DeviceID, o.IntraOpThreads, o.InterOpThreads,
		kv(o.ProviderOptions), kv(o.SessionConfig), o.MaxLength, o.Instruction, strings.ToLower(o.Platform), strings.ToLower(o.Compute), o.Family)
}

// loadCore loads the model and its session, without starting the scheduler.
func loadCore(dir string, o *EngineOptions) (c *core, err error) {
	var (
		cfg *modeldir.Config
		be  backend
	)
	if strings.ToLower(o.Provider) == ProviderXLA {
		if be, cfg, err = loadXLA(dir, o); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				be.close()
			}
		}()
	} else if cfg, err = modeldir.Load(dir); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if !modeldir.IsCrossEncoder(cfg.Family) {
		return nil, fmt.Errorf("rerank: %s holds a %s model, not a cross-encoder: %w", dir, cfg.Family, twostage.ErrUnsupported)
	}
	maxLen := cfg.MaxLength
	if o.MaxLength > 0 {
		if o.MaxLength > cfg.MaxLength {
			return nil, fmt.Errorf("rerank: max length %d above the model's %d: %w", o.MaxLength, cfg.MaxLength, twostage.ErrInvalidInput)
		}
		maxLen = o.MaxLength
	}
	tok, err := loadTokenizer(modeldir.TokenizerPath(dir))
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	prompt, err := newPrompter(cfg.Family, tok, maxLen, o.Instruction)
	if err != nil {
		return nil, err
	}
	c = &core{dir: dir, cfg: cfg, maxLen: maxLen, prompt: prompt, be: be}
	if be != nil {
		return c, nil
	}
	inputs, outputs, err := ort.ReadModelIO(modeldir.ModelPath(dir))
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	ob := &ortBackend{}
	if err := c.bindIO(ob, inputs, outputs); err != nil {
		return nil, err
	}
	sessConfig := o.SessionConfig
	if p := strings.ToLower(o.Provider); (p == "" || p == ProviderCPU) && sessConfig[spinKey] == "" {
		sessConfig = map[string]string{spinKey: "0"}
		for k, v := range o.SessionConfig {
			sessConfig[k] = v
		}
	}
	ob.sess, err = ort.NewSession(modeldir.ModelPath(dir), &ort.SessionOptions{
		Provider:        ort.Provider(strings.ToLower(o.Provider)),
		DeviceID:        o.DeviceID,
		IntraOpThreads:  o.IntraOpThreads,
		InterOpThreads:  o.InterOpThreads,
		ProviderOptions: o.ProviderOptions,
		ConfigEntries:   sessConfig,
	})
	if err != nil {
		return nil, fmt.Errorf("rerank: open %s: %w", dir, err)
	}
	c.be = ob
	return c, nil
}

// batcherOptions maps the engine's batching options, defaults filled in.
func (o *EngineOptions) batcherOptions() batcher.Options {
	bo := batcher.Options{
		MaxBatchSize:   o.MaxBatchSize,
		MaxBatchTokens: o.MaxBatchTokens,
		MaxWait:        o.MaxWait,
		MaxQueue:       o.MaxQueue,
		NoGrouping:     o.NoLengthGrouping,
		MinFill:        o.MinFill,
	}
	if bo.MaxBatchSize == 0 {
		bo.MaxBatchSize = 32
	}
	if bo.MaxBatchTokens == 0 {
		bo.MaxBatchTokens = 16384
	}
	if bo.MinFill == 0 {
		bo.MinFill = 0.9
	}
	return bo
}

// start starts the batch scheduler of a loaded core.
func (c *core) start(o *EngineOptions) {
	bo := o.batcherOptions()
	bo.Shape = c.be.shape
	c.b = batcher.New(func(p pair) int { return len(p.ids) }, c.prepare, &bo)
	c.chunk = max(4*c.b.Options().MaxBatchSize, 128)
}

// bindIO checks the model's inputs and outputs against the cross-encoder
// contract (modeldir) and records how to feed them.
func (c *core) bindIO(ob *ortBackend, inputs, outputs []ort.IOInfo) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("rerank: %s: %s: %w", modeldir.ModelPath(c.dir), fmt.Sprintf(format, args...), twostage.ErrInvalidInput)
	}
	seen := map[inputKind]bool{}
	for _, in := range inputs {
		var k inputKind
		switch in.Name {
		case "input_ids":
			k = inIDs
		case "attention_mask":
			k = inMask
		case "token_type_ids":
			k = inTypes
			if !c.cfg.HasTokenTypeIDs {
				return bad("the model takes token_type_ids but %s says it does not", modeldir.ConfigFile)
			}
		default:
			return bad("unexpected model input %q (a cross-encoder takes input_ids, attention_mask and optionally token_type_ids)", in.Name)
		}
		if in.Type != ortgo.TensorElementDataTypeInt64 {
			return bad("input %s has element type %v, want int64", in.Name, in.Type)
		}
		seen[k] = true
		ob.inputs = append(ob.inputs, k)
	}
	for k, name := range map[inputKind]string{inIDs: "input_ids", inMask: "attention_mask"} {
		if !seen[k] {
			return bad("the model lacks the %s input", name)
		}
	}
	if c.cfg.HasTokenTypeIDs && !seen[inTypes] {
		return bad("%s says the model takes token_type_ids, but it lacks that input", modeldir.ConfigFile)
	}
	ob.out = 0
	for i, out := range outputs {
		if out.Name == modeldir.OutputLogits {
			ob.out = i
		}
	}
	switch t := outputs[ob.out].Type; t {
	case ortgo.TensorElementDataTypeFloat, ortgo.TensorElementDataTypeFloat16:
	default:
		return bad("score output %s has element type %v, want float32 or float16", outputs[ob.out].Name, t)
	}
	return nil
}

// prepare builds a batch's right-padded inputs; the returned run function
// runs them on the backend and returns the raw scores.
func (c *core) prepare(batch []pair) (func() ([]float64, error), error) {
	B, S := len(batch), 0
	for _, p := range batch {
		S = max(S, len(p.ids))
	}
	ids := make([]int64, B*S)
	mask := make([]int64, B*S)
	var types []int64
	if c.cfg.HasTokenTypeIDs {
		types = make([]int64, B*S)
	}
	pad := int64(c.cfg.PadTokenID)
	for b, p := range batch {
		row := ids[b*S : (b+1)*S]
		copy(row, p.ids)
		for s := len(p.ids); s < S; s++ {
			row[s] = pad
		}
		m := mask[b*S : b*S+len(p.ids)]
		for s := range m {
			m[s] = 1
		}
		if types != nil {
			copy(types[b*S:], p.types)
		}
	}
	return func() ([]float64, error) { return c.be.run(ids, mask, types, B, S) }, nil
}

// scores reads a [B] or [B, 1] float32 or float16 score tensor.
func scores(v ortgo.Value, B int) ([]float64, error) {
	if n := v.GetShape().FlattenedSize(); n != int64(B) {
		return nil, fmt.Errorf("rerank: score output has shape %v, want [%d] or [%d 1]: %w", v.GetShape(), B, B, twostage.ErrInvalidInput)
	}
	out := make([]float64, B)
	switch t := v.(type) {
	case *ortgo.Tensor[float32]:
		for i, x := range t.GetData() {
			out[i] = float64(x)
		}
	case *ortgo.CustomDataTensor:
		if t.DataType() != ortgo.TensorElementDataTypeFloat16 {
			return nil, fmt.Errorf("rerank: score output of type %v: %w", t.DataType(), twostage.ErrInvalidInput)
		}
		d := t.GetData()
		for i := range out {
			out[i] = float64(halfToFloat(uint16(d[2*i]) | uint16(d[2*i+1])<<8))
		}
	default:
		return nil, fmt.Errorf("rerank: score output of type %T: %w", v, twostage.ErrInvalidInput)
	}
	return out, nil
}

// halfToFloat converts an IEEE 754 half-precision value.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		f := float32(frac) / (1 << 24) // subnormal: frac * 2^-24
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

// Family returns the model family (a modeldir Family constant).
func (e *Engine) Family() string { return e.c.cfg.Family }

// MaxLength returns the token cap of one input.
func (e *Engine) MaxLength() int { return e.c.maxLen }

// Stats returns the shared engine's counters.
func (e *Engine) Stats() Stats {
	s := e.c.b.Stats()
	return Stats{
		Calls: e.c.calls.Load(), Batches: s.Batches, Pairs: s.Items, Tokens: s.Tokens, PaddedTokens: s.PaddedTokens,
		QueueWait: s.QueueWait, PrepareTime: s.PrepareTime, RunTime: s.RunTime, Overloaded: s.Overloaded, Cancelled: s.Cancelled,
	}
}

// Rerank implements twostage.Reranker: one Score per document, aligned with
// docs. Score.Raw is the model's raw score (the "Yes" logit for zerank,
// logit(yes) - logit(no) for Qwen3-Reranker, the classifier logit for BERT);
// Score.Score is the calibrated score in [0, 1] (sigmoid(raw/5) for zerank,
// sigmoid(raw) otherwise).
//
// The documents are tokenized by the calling goroutine in chunks, each chunk
// queued as soon as it is ready, so the model starts on the first while the
// rest are tokenized; a long call is split across many batches, and calls
// from other goroutines share them. A pair's score does not depend on what
// it is batched with.
//
// Errors: an empty or blank query, or a query or document that is not valid
// UTF-8, wraps twostage.ErrInvalidInput; a full queue twostage.ErrOverloaded;
// a closed handle or engine twostage.ErrClosed; when ctx ends the call's
// queued pairs are dropped and ctx's error is returned.
func (e *Engine) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("rerank: engine closed: %w", twostage.ErrClosed)
	}
	if err := checkText("query", query); err != nil {
		return nil, err
	}
	if strings.TrimSpace(query) == "" {
		return nil, fmt.Errorf("rerank: empty query: %w", twostage.ErrInvalidInput)
	}
	for i, d := range docs {
		if err := checkText(fmt.Sprintf("document %d", i), d); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if len(docs) == 0 {
		return []twostage.Score{}, nil
	}
	c := e.c
	c.calls.Add(1)
	q := c.prompt.query(query)
	raw := make([]float64, len(docs))
	if len(docs) <= c.chunk {
		out, err := c.b.Add(ctx, c.pairs(q, docs))
		if err != nil {
			return nil, c.wrap(err)
		}
		copy(raw, out)
	} else if err := c.chunked(ctx, q, docs, raw); err != nil {
		return nil, err
	}
	res := make([]twostage.Score, len(docs))
	for i, r := range raw {
		res[i] = twostage.Score{Score: c.cfg.Calibration.Apply(r), Raw: r}
	}
	return res, nil
}

// chunked tokenizes and queues docs chunk by chunk, each chunk's Add running
// in its own goroutine (all finished when it returns); the first failure
// cancels the rest.
func (c *core) chunked(ctx context.Context, q *query, docs []string, raw []float64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	for start := 0; start < len(docs) && ctx.Err() == nil; start += c.chunk {
		end := min(start+c.chunk, len(docs))
		items := c.pairs(q, docs[start:end])
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.b.Add(ctx, items)
			if err != nil {
				fail(err)
				return
			}
			copy(raw[start:], out)
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil { // the parent ended between chunks
		first = ctx.Err()
	}
	if first != nil {
		return c.wrap(first)
	}
	return nil
}

// pairs tokenizes docs, in parallel when there are many.
func (c *core) pairs(q *query, docs []string) []pair {
	out := make([]pair, len(docs))
	workers := min(runtime.GOMAXPROCS(0), (len(docs)+15)/16)
	par.For(len(docs), workers, func(i int) error {
		out[i] = c.prompt.pair(q, docs[i])
		return nil
	})
	return out
}

func (c *core) wrap(err error) error {
	if strings.HasPrefix(err.Error(), "rerank:") {
		return err
	}
	return fmt.Errorf("rerank: %w", err)
}

// Close releases this handle; later calls return twostage.ErrClosed. When it
// is the engine's last handle, the engine stops taking calls, finishes the
// pairs already queued (their callers get their scores), stops its
// goroutines and destroys the ONNX Runtime session; Close returns after all
// of that.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("rerank: engine already closed: %w", twostage.ErrClosed)
	}
	c := e.c
	registry.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last && registry.cores[c.key] == c {
		delete(registry.cores, c.key)
	}
	registry.mu.Unlock()
	if !last {
		return nil
	}
	c.b.Shutdown()
	if err := c.be.close(); err != nil {
		return fmt.Errorf("rerank: %w", err)
	}
	return nil
}

// queued returns the pairs waiting for a batch.
func (c *core) queued() int {
	return c.b.Queued()
}

// Queued returns the number of pairs waiting for a batch now (the queue
// depth, bounded by EngineOptions.MaxQueue), across every holder.
func (e *Engine) Queued() int { return e.c.queued() }

// tokenizers caches loaded tokenizers by file identity (path, size,
// modification time): loading Qwen3's takes seconds, and engines of the same
// model with different options, or different models with the same
// tokenizer file, share one (a Tokenizer is immutable).
var tokenizers sync.Map // string -> *tokenizer.Tokenizer

func loadTokenizer(path string) (*tokenizer.Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w: %w", err, twostage.ErrNotFound)
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", path, st.Size(), st.ModTime().UnixNano())
	if t, ok := tokenizers.Load(key); ok {
		return t.(*tokenizer.Tokenizer), nil
	}
	tok, err := tokenizer.FromFile(path)
	if err != nil {
		return nil, err
	}
	t, _ := tokenizers.LoadOrStore(key, tok)
	return t.(*tokenizer.Tokenizer), nil
}
