package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage"
	"twostage/internal/batcher"
	"twostage/internal/ort"
	"twostage/internal/stconfig"
	"twostage/modeldir"
	"twostage/tokenizer"
)

// ONNXOptions configures NewONNX. Nil means every default.
type ONNXOptions struct {
	// Pooling overrides the model's pooling of last_hidden_state:
	// modeldir.PoolingMean (mean over real tokens), PoolingCLS (the first
	// token) or PoolingLast (the last real token). "" keeps the model's
	// (twostage.json, or a published model's 1_Pooling/config.json; mean
	// when neither says). Ignored for models whose output is already pooled.
	Pooling string
	// Normalize overrides whether vectors are L2-normalized; nil keeps the
	// model's setting (twostage.json, or a Normalize module in a published
	// model's modules.json).
	Normalize *bool
	// QueryPrefix is prepended to queries and PassagePrefix to documents
	// before tokenizing: "query: " and "passage: " for e5 models,
	// "Represent this sentence for searching relevant passages: " as the
	// query prefix of bge-en v1.5.
	QueryPrefix, PassagePrefix string
	// MaxLength is the longest input in tokens, special tokens included;
	// longer texts are truncated on the right. 0 means the model's maximum
	// (twostage.json max_length, or a published model's max_seq_length).
	MaxLength int
	// MaxBatchSize caps the texts per model run (default 32).
	MaxBatchSize int
	// MaxBatchTokens caps a run's padded size, texts times the longest text's
	// tokens (default 16384). Texts are grouped by length to cut padding.
	MaxBatchTokens int
	// MaxWait is how long a lone query waits for others to share its batch
	// (default 1ms; negative: never wait).
	MaxWait time.Duration
	// MaxQueue caps the texts waiting for a run across all concurrent calls
	// (default 65536); beyond it calls fail with twostage.ErrOverloaded.
	MaxQueue int
	// Provider is the ONNX Runtime execution provider: "cpu" (default),
	// "cuda" or "tensorrt" (these need a GPU build of ONNX Runtime, see
	// ONNXRUNTIME_LIB). There is no silent fallback to the CPU.
	Provider string
	// DeviceID is the GPU ordinal for cuda and tensorrt.
	DeviceID int
	// Threads sets ONNX Runtime's intra-op threads (0: its default, one per
	// core).
	Threads int
	// SessionConfig holds ONNX Runtime session configuration entries,
	// passed verbatim. On the CPU provider "session.intra_op.allow_spinning"
	// is set to "0" unless given here, as in the rerank engine: idle
	// thread-pool threads sleep instead of spinning, leaving the cores to the
	// goroutines tokenizing the next batch. Set it to "1" for ONNX Runtime's
	// default.
	SessionConfig map[string]string
}

// spinKey is ONNX Runtime's session entry for thread-pool spinning.
const spinKey = "session.intra_op.allow_spinning"

// sessionConfig returns o's session entries with the CPU default filled in.
func (o *ONNXOptions) sessionConfig() map[string]string {
	cfg := map[string]string{}
	for k, v := range o.SessionConfig {
		cfg[k] = v
	}
	if _, ok := cfg[spinKey]; !ok && (o.Provider == "" || o.Provider == string(ort.CPU)) {
		cfg[spinKey] = "0"
	}
	return cfg
}

// ONNX is a bi-encoder embedder running a BERT-family ONNX model (for
// example all-MiniLM-L6-v2, bge-small-en-v1.5, e5-small-v2) with ONNX
// Runtime. Concurrent calls share dynamic batches: texts are tokenized by
// the caller, queued, grouped by length under a token budget, run, pooled
// and normalized. It is safe for concurrent use; Close releases the model.
type ONNX struct {
	dir       string
	tok       *tokenizer.Tokenizer
	sess      *ort.Session
	b         *batcher.Batcher[*encoded, []float32]
	opts      ONNXOptions
	pooling   string // "" when the output is already pooled
	normalize bool
	maxLength int
	padID     int64
	dim       int
	out       int  // index of the used output
	typeIDs   bool // the model takes token_type_ids

	closeMu sync.Mutex
	closed  bool

	// onBatch, when set (tests, benchmarks), sees every batch's padded
	// inputs before it runs.
	onBatch func(ids, mask []int64, rows, seq int)
}

// encoded is one tokenized text.
type encoded struct {
	ids, typeIDs []int64
}

// Model inputs and outputs the embedder knows.
const (
	inputIDs           = "input_ids"
	inputMask          = "attention_mask"
	inputTypeIDs       = "token_type_ids"
	outSentence        = "sentence_embedding"
	outTokenEmbeddings = "token_embeddings"
)

// NewONNX loads the bi-encoder in dir. dir is either a model directory
// written by `twostage convert --family bert-embedding` (model.onnx,
// tokenizer.json, twostage.json), or a published ONNX export in Hugging
// Face layout: tokenizer.json with model.onnx or onnx/model.onnx, and the
// sentence-transformers files (1_Pooling/config.json, modules.json,
// sentence_bert_config.json) when present, which give pooling,
// normalization and maximum length.
//
// A model whose output is last_hidden_state (or token_embeddings)
// [batch, seq, hidden] is pooled; one whose output is sentence_embedding,
// or whose only output is [batch, hidden], is already pooled and used as
// it is (then only normalized when asked). Errors: twostage.ErrNotFound for
// missing files, twostage.ErrUnsupported for a cross-encoder directory or
// an unknown input, twostage.ErrInvalidInput for bad options,
// twostage.ErrUnavailable when ONNX Runtime cannot be loaded.
func NewONNX(dir string, opts *ONNXOptions) (*ONNX, error) {
	var o ONNXOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxLength < 0 || o.MaxBatchSize < 0 || o.MaxBatchTokens < 0 || o.MaxQueue < 0 || o.Threads < 0 || o.DeviceID < 0 {
		return nil, fmt.Errorf("embed: onnx: negative option: %w", twostage.ErrInvalidInput)
	}
	switch o.Pooling {
	case "", modeldir.PoolingMean, modeldir.PoolingCLS, modeldir.PoolingLast:
	default:
		return nil, fmt.Errorf("embed: onnx: pooling %q (want mean, cls or last): %w", o.Pooling, twostage.ErrInvalidInput)
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = 32
	}
	if o.MaxBatchTokens == 0 {
		o.MaxBatchTokens = 16384
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Millisecond
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = 65536
	}
	m, err := describe(dir)
	if err != nil {
		return nil, err
	}
	e := &ONNX{dir: dir, opts: o, pooling: m.pooling, normalize: m.normalize, maxLength: m.maxLength, padID: int64(m.padID)}
	if o.Pooling != "" {
		e.pooling = o.Pooling
	}
	if o.Normalize != nil {
		e.normalize = *o.Normalize
	}
	if o.MaxLength > 0 {
		e.maxLength = o.MaxLength
	}
	if e.tok, err = tokenizer.FromFile(m.tokenizer); err != nil {
		return nil, fmt.Errorf("embed: onnx: %s: %w", m.tokenizer, err)
	}
	if e.maxLength < e.tok.NumSpecialTokens(false)+1 {
		return nil, fmt.Errorf("embed: onnx: max length %d leaves no room for text: %w", e.maxLength, twostage.ErrInvalidInput)
	}
	if m.padFromTokenizer {
		if id, ok := e.tok.TokenToID("[PAD]"); ok {
			e.padID = int64(id)
		} else if id, ok := e.tok.TokenToID("<pad>"); ok {
			e.padID = int64(id)
		}
	}
	e.sess, err = ort.NewSession(m.model, &ort.SessionOptions{Provider: ort.Provider(o.Provider), DeviceID: o.DeviceID,
		IntraOpThreads: o.Threads, ConfigEntries: o.sessionConfig()})
	if err != nil {
		return nil, fmt.Errorf("embed: onnx: %w", err)
	}
	if err := e.bindIO(m.hidden); err != nil {
		return nil, errors.Join(err, e.sess.Close())
	}
	e.b = batcher.New(func(x *encoded) int { return len(x.ids) }, e.prepare, &batcher.Options{
		MaxBatchSize:   o.MaxBatchSize,
		MaxBatchTokens: o.MaxBatchTokens,
		MaxWait:        o.MaxWait,
		MaxQueue:       o.MaxQueue,
	})
	if e.dim <= 0 { // symbolic hidden size: learn it from one run
		v, err := e.EmbedQuery(context.Background(), "dimension probe")
		if err != nil {
			return nil, errors.Join(err, e.Close())
		}
		e.dim = len(v)
	}
	return e, nil
}

// bindIO checks the model's inputs and picks its output.
func (e *ONNX) bindIO(hidden int) error {
	have := map[string]bool{}
	for _, in := range e.sess.Inputs() {
		switch in.Name {
		case inputIDs, inputMask, inputTypeIDs:
			if in.Type != ortgo.TensorElementDataTypeInt64 {
				return fmt.Errorf("embed: onnx: input %s has element type %v, want int64: %w", in.Name, in.Type, twostage.ErrUnsupported)
			}
			have[in.Name] = true
		default:
			return fmt.Errorf("embed: onnx: model input %q is not one of input_ids, attention_mask, token_type_ids: %w", in.Name, twostage.ErrUnsupported)
		}
	}
	if !have[inputIDs] {
		return fmt.Errorf("embed: onnx: model has no input_ids input: %w", twostage.ErrUnsupported)
	}
	e.typeIDs = have[inputTypeIDs]
	outs := e.sess.Outputs()
	pick := -1
	for _, want := range []string{outSentence, modeldir.OutputLastHiddenState, outTokenEmbeddings} {
		for i, x := range outs {
			if x.Name == want && pick < 0 {
				pick = i
			}
		}
	}
	if pick < 0 {
		pick = 0
	}
	x := outs[pick]
	if x.Type != ortgo.TensorElementDataTypeFloat {
		return fmt.Errorf("embed: onnx: output %s has element type %v, want float32: %w", x.Name, x.Type, twostage.ErrUnsupported)
	}
	switch {
	case x.Name == outSentence || len(x.Shape) == 2:
		e.pooling = "" // already pooled
	case len(x.Shape) == 3:
		if e.pooling == "" {
			e.pooling = modeldir.PoolingMean
		}
		if !have[inputMask] && e.pooling != modeldir.PoolingCLS {
			return fmt.Errorf("embed: onnx: %s pooling needs an attention_mask input: %w", e.pooling, twostage.ErrUnsupported)
		}
	default:
		return fmt.Errorf("embed: onnx: output %s has shape %v, want [batch, seq, hidden] or [batch, hidden]: %w", x.Name, x.Shape, twostage.ErrUnsupported)
	}
	e.out = pick
	e.dim = int(x.Shape[len(x.Shape)-1])
	if e.dim <= 0 {
		e.dim = hidden
	}
	return nil
}

// Dim implements twostage.Embedder.
func (e *ONNX) Dim() int { return e.dim }

// MaxLength is the longest input in tokens; longer texts are truncated.
func (e *ONNX) MaxLength() int { return e.maxLength }

// Pooling is the pooling applied to the model's output: mean, cls, last, or
// "" for a model whose output is already pooled.
func (e *ONNX) Pooling() string { return e.pooling }

// Normalized reports whether vectors are L2-normalized.
func (e *ONNX) Normalized() bool { return e.normalize }

// EmbedQuery implements twostage.Embedder: the query, with QueryPrefix.
func (e *ONNX) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	if err := twostage.CheckText("query", text); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	x, err := e.encode(e.opts.QueryPrefix + text)
	if err != nil {
		return nil, err
	}
	out, err := e.run(ctx, []*encoded{x})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// EmbedDocuments implements twostage.Embedder: each text, with
// PassagePrefix. Texts are tokenized in parallel, then batched with those
// of concurrent calls.
func (e *ONNX) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	for i, t := range texts {
		if err := twostage.CheckText(fmt.Sprintf("text %d", i), t); err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
	}
	out := make([][]float32, 0, len(texts))
	// Chunks keep memory and the shared queue bounded for huge calls.
	const chunk = 4096
	for start := 0; start < len(texts); start += chunk {
		part := texts[start:min(start+chunk, len(texts))]
		encs := make([]*encoded, len(part))
		errs := make([]error, len(part))
		parallel(len(part), func(i int) { encs[i], errs[i] = e.encode(e.opts.PassagePrefix + part[i]) })
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		vs, err := e.run(ctx, encs)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

func (e *ONNX) run(ctx context.Context, encs []*encoded) ([][]float32, error) {
	e.closeMu.Lock()
	closed := e.closed
	e.closeMu.Unlock()
	if closed {
		return nil, fmt.Errorf("embed: onnx: embedder is closed: %w", twostage.ErrClosed)
	}
	out, err := e.b.Add(ctx, encs)
	if err != nil {
		return nil, fmt.Errorf("embed: onnx: %w", err)
	}
	return out, nil
}

// encode tokenizes one text with special tokens, truncated to maxLength.
func (e *ONNX) encode(text string) (*encoded, error) {
	enc, err := e.tok.EncodeTruncated(tokenizer.Input{Text: text}, true, e.maxLength, tokenizer.LongestFirst)
	if err != nil {
		return nil, fmt.Errorf("embed: onnx: tokenize: %w", err)
	}
	if enc.Len() == 0 {
		return nil, fmt.Errorf("embed: onnx: text %q has no tokens (the tokenizer adds no special tokens): %w", text, twostage.ErrInvalidInput)
	}
	x := &encoded{ids: make([]int64, enc.Len())}
	for i, id := range enc.IDs {
		x.ids[i] = int64(id)
	}
	if e.typeIDs {
		x.typeIDs = make([]int64, enc.Len())
		for i, t := range enc.TypeIDs {
			x.typeIDs[i] = int64(t)
		}
	}
	return x, nil
}

// prepare pads a batch into flat input slices (on the batcher's former
// goroutine, overlapping the previous run) and returns its run function.
func (e *ONNX) prepare(batch []*encoded) (func() ([][]float32, error), error) {
	rows, seq := len(batch), 0
	for _, x := range batch {
		seq = max(seq, len(x.ids))
	}
	ids := make([]int64, rows*seq)
	mask := make([]int64, rows*seq)
	var types []int64
	if e.typeIDs {
		types = make([]int64, rows*seq)
	}
	for r, x := range batch {
		row := ids[r*seq : (r+1)*seq]
		copy(row, x.ids)
		for j := len(x.ids); j < seq; j++ {
			row[j] = e.padID
		}
		for j := range x.ids {
			mask[r*seq+j] = 1
		}
		if types != nil {
			copy(types[r*seq:], x.typeIDs)
		}
	}
	if e.onBatch != nil {
		e.onBatch(ids, mask, rows, seq)
	}
	return func() ([][]float32, error) { return e.forward(ids, mask, types, rows, seq) }, nil
}

// forward runs the model on one padded batch and pools its output.
func (e *ONNX) forward(ids, mask, types []int64, rows, seq int) ([][]float32, error) {
	shape := ortgo.NewShape(int64(rows), int64(seq))
	ins := e.sess.Inputs()
	inputs := make([]ortgo.Value, len(ins))
	defer func() {
		for _, v := range inputs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, in := range ins {
		data := ids
		switch in.Name {
		case inputMask:
			data = mask
		case inputTypeIDs:
			data = types
		}
		t, err := ortgo.NewTensor(shape, data)
		if err != nil {
			return nil, fmt.Errorf("embed: onnx: input tensor: %w", err)
		}
		inputs[i] = t
	}
	outputs := make([]ortgo.Value, len(e.sess.Outputs()))
	defer func() {
		for _, v := range outputs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err := e.sess.Run(inputs, outputs); err != nil {
		return nil, fmt.Errorf("embed: onnx: %w", err)
	}
	t, ok := outputs[e.out].(*ortgo.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("embed: onnx: output is %T, want a float32 tensor: %w", outputs[e.out], twostage.ErrUnsupported)
	}
	data, dims := t.GetData(), t.GetShape()
	res := make([][]float32, rows)
	if e.pooling == "" {
		if len(dims) != 2 || dims[0] != int64(rows) || (e.dim > 0 && dims[1] != int64(e.dim)) {
			return nil, fmt.Errorf("embed: onnx: output shape %v, want [%d, %d]: %w", dims, rows, e.dim, twostage.ErrDimension)
		}
		h := int(dims[1])
		for r := range res {
			res[r] = e.finish(slicesClone(data[r*h : (r+1)*h]))
		}
		return res, nil
	}
	if len(dims) != 3 || dims[0] != int64(rows) || dims[1] != int64(seq) || (e.dim > 0 && dims[2] != int64(e.dim)) {
		return nil, fmt.Errorf("embed: onnx: output shape %v, want [%d, %d, %d]: %w", dims, rows, seq, e.dim, twostage.ErrDimension)
	}
	h := int(dims[2])
	for r := range res {
		n := 0
		for j := 0; j < seq; j++ {
			n += int(mask[r*seq+j])
		}
		res[r] = e.finish(pool(e.pooling, data[r*seq*h:(r+1)*seq*h], mask[r*seq:(r+1)*seq], n, h))
	}
	return res, nil
}

// pool reduces one row's hidden states [seq, h] to [h]: n is the number of
// real tokens (attention mask 1), which right padding puts first.
func pool(mode string, hs []float32, mask []int64, n, h int) []float32 {
	out := make([]float32, h)
	switch mode {
	case modeldir.PoolingCLS:
		copy(out, hs[:h])
	case modeldir.PoolingLast:
		copy(out, hs[(n-1)*h:n*h])
	default: // mean over real tokens, accumulated in float64
		acc := make([]float64, h)
		for j := range mask {
			if mask[j] == 0 {
				continue
			}
			for k, x := range hs[j*h : (j+1)*h] {
				acc[k] += float64(x)
			}
		}
		for k := range acc {
			out[k] = float32(acc[k] / float64(max(n, 1)))
		}
	}
	return out
}

// finish L2-normalizes v when asked.
func (e *ONNX) finish(v []float32) []float32 {
	if !e.normalize {
		return v
	}
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return v
	}
	inv := 1 / math.Sqrt(s)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return v
}

func slicesClone(v []float32) []float32 { return append([]float32(nil), v...) }

// Close waits for queued texts to be embedded, then releases the model.
// Later calls return twostage.ErrClosed.
func (e *ONNX) Close() error {
	e.closeMu.Lock()
	if e.closed {
		e.closeMu.Unlock()
		return fmt.Errorf("embed: onnx: already closed: %w", twostage.ErrClosed)
	}
	e.closed = true
	e.closeMu.Unlock()
	e.b.Shutdown()
	return e.sess.Close()
}

// Stats reports the batching counters (batches, padding efficiency, time
// spent queued and running) since NewONNX.
func (e *ONNX) Stats() batcher.Stats { return e.b.Stats() }

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines, all finished when
// it returns.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/16+1)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// modelFiles is what NewONNX learns about a model directory before loading.
type modelFiles struct {
	model, tokenizer string
	pooling          string
	normalize        bool
	maxLength        int
	hidden           int
	padID            int
	padFromTokenizer bool
}

// describe reads a converted (twostage.json) or published model directory.
func describe(dir string) (*modelFiles, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("embed: onnx: model directory %s not found: %w", dir, twostage.ErrNotFound)
	}
	m := &modelFiles{tokenizer: modeldir.TokenizerPath(dir)}
	if _, err := os.Stat(modeldir.ConfigPath(dir)); err == nil {
		c, err := modeldir.Load(dir)
		if err != nil {
			return nil, fmt.Errorf("embed: onnx: %w", err)
		}
		if c.Family != modeldir.FamilyBertEmbedding {
			return nil, fmt.Errorf("embed: onnx: %s holds a %s model, not a bi-encoder (use it as a reranker): %w", dir, c.Family, twostage.ErrUnsupported)
		}
		m.model, m.pooling, m.normalize, m.maxLength = modeldir.ModelPath(dir), c.Pooling, c.Normalize, c.MaxLength
		m.hidden, m.padID = c.HiddenSize, c.PadTokenID
	} else {
		// A published export: sentence-transformers files where present.
		for _, p := range []string{filepath.Join(dir, "model.onnx"), filepath.Join(dir, "onnx", "model.onnx")} {
			if _, err := os.Stat(p); err == nil {
				m.model = p
				break
			}
		}
		if m.model == "" {
			return nil, fmt.Errorf("embed: onnx: %s has neither %s nor model.onnx / onnx/model.onnx: %w", dir, modeldir.ConfigFile, twostage.ErrNotFound)
		}
		m.padFromTokenizer = true
		if err := readST(dir, m); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(m.tokenizer); err != nil {
		return nil, fmt.Errorf("embed: onnx: %s has no %s: %w", dir, modeldir.TokenizerFile, twostage.ErrNotFound)
	}
	return m, nil
}

// readST fills pooling, normalization and maximum length from the
// sentence-transformers and Hugging Face config files of a published model
// (internal/stconfig reads the former; settings the embedder cannot
// reproduce, such as a Dense module or max pooling, are errors).
func readST(dir string, m *modelFiles) error {
	var hf struct {
		MaxPositions int `json:"max_position_embeddings"`
		Hidden       int `json:"hidden_size"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		json.Unmarshal(b, &hf) // optional: sizes are learned from the model otherwise
	}
	m.hidden = hf.Hidden
	m.maxLength = 512
	if hf.MaxPositions > 0 {
		m.maxLength = hf.MaxPositions
	}
	st, found, err := stconfig.Read(dir)
	if err != nil {
		return fmt.Errorf("embed: onnx: %s: %w", dir, err)
	}
	if found {
		m.pooling, m.normalize = st.Pooling, st.Normalize
		if st.MaxSeqLength > 0 {
			m.maxLength = st.MaxSeqLength
		}
	}
	return nil
}
