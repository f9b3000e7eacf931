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
	"slices"
	"strings"
	"sync/atomic"

	"twostage"
	"twostage/convert"
	"twostage/convert/hf"
	"twostage/driver"
	"twostage/inference"
	"twostage/internal/par"
	"twostage/internal/stconfig"
	"twostage/modeldir"
	"twostage/tokenizer"
)

// ONNXOptions configures NewONNX. Nil means every default.
type ONNXOptions struct {
	// Runtime is the model runtime the model is loaded in and shared
	// through; nil means inference.Default().
	Runtime *inference.Runtime
	// ModelOptions pick the backend (provider, device, threads) and the
	// shared model's batching; see inference.ModelOptions for the fields
	// and their defaults. Texts are grouped by length to cut padding.
	inference.ModelOptions

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
}

// ONNX is a bi-encoder embedder running a BERT-family ONNX model (for
// example all-MiniLM-L6-v2, bge-small-en-v1.5, e5-small-v2). It is the
// embedding front end of package inference: it owns tokenizing with the
// prefixes, pooling and normalisation, and leaves batching, padding and
// running to the shared inference.Model, so concurrent calls (and other
// embedders on the same model in the runtime) share dynamic batches. It is
// safe for concurrent use; Close releases the model.
type ONNX struct {
	tok       *tokenizer.Tokenizer
	model     *inference.Model
	opts      ONNXOptions
	pooling   string // "" when the output is already pooled
	normalize bool
	maxLength int
	dim       int
	typeIDs   bool // the model takes token_type_ids

	closed atomic.Bool
}

// NewONNX loads the bi-encoder in dir. dir is either a model directory
// written by `twostage convert --family bert-embedding` (model.onnx,
// tokenizer.json, twostage.json), or a published ONNX export in Hugging
// Face layout: tokenizer.json with model.onnx or onnx/model.onnx, and the
// sentence-transformers files (1_Pooling/config.json, modules.json,
// sentence_bert_config.json) when present, which give pooling,
// normalization and maximum length. With provider inference.ProviderXLA,
// dir is a Hugging Face checkpoint (config.json, safetensors,
// tokenizer.json) run as it is, described as `twostage convert` would
// describe it, the sentence-transformers files overriding that.
//
// A model whose output is last_hidden_state (or token_embeddings)
// [batch, seq, hidden] is pooled; one whose output is sentence_embedding,
// or whose only output is [batch, hidden], is already pooled and used as
// it is (then only normalized when asked). Errors: twostage.ErrNotFound for
// missing files, twostage.ErrUnsupported for a cross-encoder directory or
// a provider the library lacks, twostage.ErrInvalidInput for bad options
// and (inference.ErrModel) a model that breaks the input and output
// contract, twostage.ErrUnavailable when ONNX Runtime cannot be loaded.
func NewONNX(dir string, opts *ONNXOptions) (*ONNX, error) {
	var o ONNXOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxLength < 0 {
		return nil, fmt.Errorf("embed: onnx: negative MaxLength: %w", twostage.ErrInvalidInput)
	}
	switch o.Pooling {
	case "", modeldir.PoolingMean, modeldir.PoolingCLS, modeldir.PoolingLast:
	default:
		return nil, fmt.Errorf("embed: onnx: pooling %q (want mean, cls or last): %w", o.Pooling, twostage.ErrInvalidInput)
	}
	rt := o.Runtime // nil: inference.Default()
	m, err := describe(dir, &o.ModelOptions)
	if err != nil {
		return nil, err
	}
	e := &ONNX{opts: o, pooling: m.pooling, normalize: m.normalize, maxLength: m.maxLength}
	if o.Pooling != "" {
		e.pooling = o.Pooling
	}
	if o.Normalize != nil {
		e.normalize = *o.Normalize
	}
	if o.MaxLength > 0 {
		e.maxLength = o.MaxLength
	}
	if e.tok, err = rt.Tokenizer(m.tokenizer); err != nil {
		return nil, fmt.Errorf("embed: onnx: %s: %w", m.tokenizer, err)
	}
	if e.maxLength < e.tok.NumSpecialTokens(false)+1 {
		return nil, fmt.Errorf("embed: onnx: max length %d leaves no room for text: %w", e.maxLength, twostage.ErrInvalidInput)
	}
	padID := int64(m.padID)
	if m.padFromTokenizer {
		if id, ok := e.tok.TokenToID("[PAD]"); ok {
			padID = int64(id)
		} else if id, ok := e.tok.TokenToID("<pad>"); ok {
			padID = int64(id)
		}
	}
	e.model, err = rt.Open(m.model, inference.Embed, padID, &o.ModelOptions)
	if err != nil {
		return nil, fmt.Errorf("embed: onnx: %w", err)
	}
	if err := e.bind(m.hidden); err != nil {
		return nil, errors.Join(err, e.model.Close())
	}
	if e.dim <= 0 { // symbolic hidden size: learn it from one run
		v, err := e.EmbedQuery(context.Background(), "dimension probe")
		if err != nil {
			return nil, errors.Join(err, e.Close())
		}
		e.dim = len(v)
	}
	return e, nil
}

// bind reads the model's signature: pooling and dimension.
func (e *ONNX) bind(hidden int) error {
	sig := e.model.Signature()
	e.typeIDs = sig.TypeIDs
	if sig.Pooled {
		e.pooling = "" // already pooled
	} else {
		if e.pooling == "" {
			e.pooling = modeldir.PoolingMean
		}
		if !sig.Mask && e.pooling != modeldir.PoolingCLS {
			return fmt.Errorf("embed: onnx: %s pooling needs an attention_mask input: %w", e.pooling, inference.ErrModel)
		}
	}
	e.dim = sig.Width
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
	if err := driver.CheckText("query", text); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	x, err := e.encode(e.opts.QueryPrefix + text)
	if err != nil {
		return nil, err
	}
	out, err := e.run(ctx, []inference.Input{x})
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
		if err := driver.CheckText(fmt.Sprintf("text %d", i), t); err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
	}
	out := make([][]float32, 0, len(texts))
	// Chunks keep memory and the shared queue bounded for huge calls.
	const chunk = 4096
	for start := 0; start < len(texts); start += chunk {
		part := texts[start:min(start+chunk, len(texts))]
		encs := make([]inference.Input, len(part))
		workers := min(runtime.GOMAXPROCS(0), len(part)/16+1)
		if err := par.For(len(part), workers, func(i int) (err error) {
			encs[i], err = e.encode(e.opts.PassagePrefix + part[i])
			return err
		}); err != nil {
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

// run embeds encoded texts: the model's raw rows, pooled and normalized.
func (e *ONNX) run(ctx context.Context, encs []inference.Input) ([][]float32, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("embed: onnx: %w", twostage.ErrClosed)
	}
	rows, err := e.model.Run(ctx, encs)
	if err != nil {
		return nil, fmt.Errorf("embed: onnx: %w", err)
	}
	out := make([][]float32, len(rows))
	for i, r := range rows {
		if e.pooling == "" {
			if e.dim > 0 && len(r) != e.dim {
				return nil, fmt.Errorf("embed: onnx: output of %d values, want %d: %w", len(r), e.dim, twostage.ErrDimension)
			}
			out[i] = e.finish(slices.Clone(r))
			continue
		}
		n := len(encs[i].IDs)
		h := len(r) / n
		if e.dim > 0 && h != e.dim {
			return nil, fmt.Errorf("embed: onnx: hidden states of width %d, want %d: %w", h, e.dim, twostage.ErrDimension)
		}
		out[i] = e.finish(pool(e.pooling, r, n, h))
	}
	return out, nil
}

// encode tokenizes one text with special tokens, truncated to maxLength.
func (e *ONNX) encode(text string) (inference.Input, error) {
	enc, err := e.tok.EncodeTruncated(tokenizer.Input{Text: text}, true, e.maxLength, tokenizer.LongestFirst)
	if err != nil {
		return inference.Input{}, fmt.Errorf("embed: onnx: tokenize: %w", err)
	}
	if enc.Len() == 0 {
		return inference.Input{}, fmt.Errorf("embed: onnx: text %q has no tokens (the tokenizer adds no special tokens): %w", text, twostage.ErrInvalidInput)
	}
	x := inference.Input{IDs: make([]int64, enc.Len())}
	for i, id := range enc.IDs {
		x.IDs[i] = int64(id)
	}
	if e.typeIDs {
		x.TypeIDs = make([]int64, enc.Len())
		for i, t := range enc.TypeIDs {
			x.TypeIDs[i] = int64(t)
		}
	}
	return x, nil
}

// pool reduces one row's hidden states of its n real tokens, [n, h], to
// [h].
func pool(mode string, hs []float32, n, h int) []float32 {
	out := make([]float32, h)
	switch mode {
	case modeldir.PoolingCLS:
		copy(out, hs[:h])
	case modeldir.PoolingLast:
		copy(out, hs[(n-1)*h:n*h])
	default: // mean over real tokens, accumulated in float64
		acc := make([]float64, h)
		for j := 0; j < n; j++ {
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

// Close waits for queued texts to be embedded, then releases the model (the
// model stops with its last holder in the runtime). Later calls return
// twostage.ErrClosed.
func (e *ONNX) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("embed: onnx: %w", twostage.ErrClosed)
	}
	if err := e.model.Close(); err != nil {
		return fmt.Errorf("embed: onnx: %w", err)
	}
	return nil
}

// Stats reports the shared model's counters (batches, padding efficiency,
// time spent queued and running; Items are texts).
func (e *ONNX) Stats() inference.Stats { return e.model.Stats() }

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
func describe(dir string, o *inference.ModelOptions) (*modelFiles, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("embed: onnx: model directory %s not found: %w", dir, twostage.ErrNotFound)
	}
	m := &modelFiles{tokenizer: modeldir.TokenizerPath(dir)}
	if strings.EqualFold(o.Provider, inference.ProviderXLA) {
		if err := describeCheckpoint(dir, o.Family, m); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(modeldir.ConfigPath(dir)); err == nil {
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

// describeCheckpoint describes a Hugging Face checkpoint directory for
// provider xla, which runs it as it is: as `twostage convert` would
// (convert.Describe, family "" guessed), then the sentence-transformers
// files where present, as for a published export.
func describeCheckpoint(dir, family string, m *modelFiles) error {
	m.model = filepath.Join(dir, "config.json")
	if _, err := os.Stat(m.model); err != nil {
		if _, err := os.Stat(modeldir.ConfigPath(dir)); err == nil {
			return fmt.Errorf("embed: onnx: provider xla runs a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json); %s is a converted ONNX model: %w", dir, twostage.ErrUnsupported)
		}
		return fmt.Errorf("embed: onnx: %s has no config.json: %w", dir, twostage.ErrNotFound)
	}
	hc, err := hf.Read(dir)
	if err != nil {
		return fmt.Errorf("embed: onnx: %w", err)
	}
	c, err := convert.Describe(dir, hc, family)
	if err != nil {
		return fmt.Errorf("embed: onnx: %w", err)
	}
	if c.Family != modeldir.FamilyBertEmbedding {
		return fmt.Errorf("embed: onnx: %s holds a %s model, not a bi-encoder (use it as a reranker): %w", dir, c.Family, twostage.ErrUnsupported)
	}
	m.pooling, m.normalize, m.maxLength, m.hidden, m.padID = c.Pooling, c.Normalize, c.MaxLength, c.HiddenSize, c.PadTokenID
	var st modelFiles
	readST(dir, &st)
	if st.pooling != "" {
		m.pooling = st.pooling
	}
	if _, err := os.Stat(filepath.Join(dir, stconfig.ModulesFile)); err == nil {
		m.normalize = st.normalize
	}
	if _, err := os.Stat(filepath.Join(dir, stconfig.SBERTFile)); err == nil && st.maxLength > 0 {
		m.maxLength = min(m.maxLength, st.maxLength)
	}
	return nil
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
