// Package convert turns Hugging Face checkpoints (config.json plus
// model.safetensors or sharded *.safetensors; bf16, fp16 or fp32) into
// twostage model directories (see package modeldir): an ONNX graph that
// meets the project's cross-encoder / embedding contract, the tokenizer, and
// twostage.json.
//
// Supported architectures:
//
//   - Qwen3ForCausalLM as a reranker: family zerank (zerank-2, zerank-1,
//     zerank-1-small; raw score = the "Yes" logit, token 9454) or
//     qwen3-reranker (Qwen3-Reranker; raw score = logit("yes") - logit("no"),
//     tokens 9693 and 2152). The graph computes only those LM-head rows, at
//     the last real token of each right-padded row.
//   - BertForSequenceClassification with one label: family bert-cross-encoder
//     (the classifier logit).
//   - BertModel: family bert-embedding (last_hidden_state). A published
//     bi-encoder's sentence-transformers files (modules.json,
//     sentence_bert_config.json, the Pooling module's config) set the
//     maximum length, pooling and normalization recorded in twostage.json;
//     modules the graph cannot reproduce (Dense, max pooling) are an error.
//
// Each architecture is defined once, in package convert/arch; this package
// emits that definition as ONNX (onnx.go), as package internal/xla emits it
// as StableHLO.
//
// By default the graph is fused (Options.Graph, GraphFused): attention,
// norms and GELU are ONNX Runtime's com.microsoft kernels
// (GroupQueryAttention with the rotary embedding inside and per-row lengths
// for right padding, Attention with packed projections and the key mask,
// SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization, Gelu), so
// the decoder's attention memory grows linearly with the sequence length.
// GraphPlain emits standard opset-17 operators only, with attention as
// explicit products over an [S, S] bias: the reference, and the graph for
// runtimes other than ONNX Runtime. Both are checked against package
// refmodel's float64 scores. README.md compares them with Microsoft's own
// exporters.
//
// Weights are streamed: one checkpoint tensor is in memory at a time, and
// converted weights go straight to disk. With Dtype fp16 the weights are
// stored as float16 and widened to float32 inside the graph (ONNX Runtime
// folds the casts at load), so the graph computes in float32: right for
// CPUs. With Compute fp16 as well, the matrix products run in float16
// (tensor cores on GPUs) while norms, softmax and the residual stream stay
// float32. Outputs are float32 in every mode.
package convert

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"twostage/convert/hf"
	"twostage/convert/onnxgraph"
	"twostage/convert/safetensors"
	"twostage/errdefs"
	"twostage/internal/half"
	"twostage/internal/stconfig"
	"twostage/modeldir"
)

// Sentinel errors, matched with errors.Is (each also wraps a twostage
// sentinel).
var (
	// ErrArchitecture: the checkpoint's architecture or configuration is not
	// supported (wraps errdefs.ErrUnsupported).
	ErrArchitecture = hf.ErrArchitecture
	// ErrConfig: config.json is malformed or inconsistent (wraps
	// errdefs.ErrInvalidInput).
	ErrConfig = hf.ErrConfig
	// ErrMissingTensor: a tensor the architecture needs is absent (wraps
	// errdefs.ErrNotFound).
	ErrMissingTensor = safetensors.ErrMissing
	// ErrShape: a tensor's shape disagrees with config.json (wraps
	// errdefs.ErrDimension).
	ErrShape = errdefs.New("convert: tensor shape mismatch", errdefs.ErrDimension)
	// ErrDtype: a tensor has a dtype that cannot be converted, or the
	// requested output dtype is unknown (wraps errdefs.ErrUnsupported).
	ErrDtype = safetensors.ErrDtype
	// ErrMalformed: a safetensors file is corrupt (wraps
	// errdefs.ErrInvalidInput).
	ErrMalformed = safetensors.ErrMalformed
)

// Options tunes Convert. Nil means: family guessed from config.json, fp32
// weights, max length from config.json, no progress reports.
type Options struct {
	// Family is one of modeldir's Family constants, or "" to guess it from
	// config.json (Qwen3ForCausalLM -> zerank, BertForSequenceClassification
	// -> bert-cross-encoder, BertModel -> bert-embedding).
	Family string
	// Dtype is the stored weight type: modeldir.DtypeFP32 (default) or
	// modeldir.DtypeFP16.
	Dtype string
	// Compute is the matrix-product type: modeldir.DtypeFP32 (default) or
	// modeldir.DtypeFP16 (for GPUs; implies Dtype fp16). Norms, softmax, the
	// residual stream and the outputs stay float32.
	Compute string
	// MaxLength overrides the maximum input length recorded in twostage.json.
	// The default is max_position_embeddings, capped at 8192 for decoders,
	// or a bi-encoder's max_seq_length (sentence_bert_config.json) when smaller.
	MaxLength int
	// ExternalDataThreshold is the weight size in bytes above which weights
	// go to model.onnx.data instead of model.onnx; 0 means 1.8 GB (under
	// protobuf's 2 GB limit).
	ExternalDataThreshold int64
	// Progress, when set, is called after each tensor with the checkpoint
	// bytes processed so far and the total.
	Progress func(done, total int64)
	// Source is recorded as twostage.json's source_model (default: the
	// checkpoint directory).
	Source string
	// Graph is GraphFused (default) or GraphPlain.
	Graph string
}

// Graph kinds (Options.Graph).
const (
	// GraphFused uses ONNX Runtime's fused kernels (com.microsoft
	// GroupQueryAttention with the rotary embedding inside, or
	// MultiHeadAttention; SimplifiedLayerNormalization,
	// SkipSimplifiedLayerNormalization, SkipLayerNormalization, Gelu):
	// fewer nodes, and attention memory linear in the sequence length. It
	// needs ONNX Runtime (any provider with those kernels).
	GraphFused = "fused"
	// GraphPlain uses standard opset-17 operators only, attention as
	// explicit matrix products with an [S, S] bias: the reference graph,
	// for any ONNX runtime.
	GraphPlain = "plain"
)

// DefaultExternalDataThreshold is the default Options.ExternalDataThreshold.
const DefaultExternalDataThreshold = 1800 << 20

// decoderMaxLength caps the default max length of decoder families.
const decoderMaxLength = 8192

// Describe returns the model description (twostage.json's fields but Dtype
// and Compute) of the checkpoint in dir with config cfg, run as family (""
// guesses it): what Convert records, and what a runtime that reads the
// checkpoint as it is (the xla backend) needs. Errors wrap ErrArchitecture
// when the family does not fit the checkpoint.
func Describe(dir string, cfg *hf.Config, family string) (*modeldir.Config, error) {
	var err error
	if family == "" {
		if family, err = GuessFamily(cfg); err != nil {
			return nil, err
		}
	}
	mc, err := modeldir.Defaults(family)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	wantKind := hf.KindBert
	if modeldir.IsDecoder(family) {
		wantKind = hf.KindQwen3
	}
	if cfg.Kind() != wantKind {
		return nil, fmt.Errorf("convert: family %s needs a %s checkpoint, %s is %s (%s): %w", family, wantKind, dir, cfg.ModelType, cfg.Architecture(), ErrArchitecture)
	}
	if family == modeldir.FamilyBertCrossEncoder && cfg.Architecture() == "BertModel" {
		return nil, fmt.Errorf("convert: family %s needs BertForSequenceClassification, %s is BertModel (no classifier): %w", family, dir, ErrArchitecture)
	}
	mc.HiddenSize = cfg.HiddenSize
	if modeldir.IsDecoder(family) {
		mc.PadTokenID = cfg.Pad(151643) // <|endoftext|>
		mc.MaxLength = min(cfg.MaxPositionEmbeddings, decoderMaxLength)
		if mc.MaxLength <= 0 {
			mc.MaxLength = decoderMaxLength
		}
	} else {
		mc.PadTokenID = cfg.Pad(0)
		mc.MaxLength = cfg.MaxPositionEmbeddings
	}
	if family == modeldir.FamilyBertEmbedding {
		// sentence-transformers' own settings (max_seq_length, pooling,
		// normalisation) are what its users get from this checkpoint.
		st, _, err := stconfig.Read(dir)
		if err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		applySentenceTransformers(&mc, st)
	}
	return &mc, nil
}

// GuessFamily returns the family for an unlabeled checkpoint.
func GuessFamily(c *hf.Config) (string, error) {
	switch c.Kind() {
	case hf.KindQwen3:
		return modeldir.FamilyZerank, nil
	case hf.KindBert:
		if c.Architecture() == "BertModel" {
			return modeldir.FamilyBertEmbedding, nil
		}
		if c.Architecture() == "BertForSequenceClassification" {
			return modeldir.FamilyBertCrossEncoder, nil
		}
	}
	return "", fmt.Errorf("convert: cannot guess the family of architecture %q; pass one of %v: %w", c.Architecture(), modeldir.Families, ErrArchitecture)
}

// Convert converts the checkpoint in from into a model directory at to (which
// must not exist or be empty; missing parent directories are created), and
// returns the written twostage.json config.
// Work happens in a sibling temporary directory renamed into place at the
// end, so a failed or cancelled conversion leaves nothing at to.
func Convert(ctx context.Context, from, to string, opts *Options) (*modeldir.Config, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Compute == "" {
		o.Compute = modeldir.DtypeFP32
	}
	if o.Compute != modeldir.DtypeFP32 && o.Compute != modeldir.DtypeFP16 {
		return nil, fmt.Errorf("convert: compute type %q (want fp32 or fp16): %w", o.Compute, ErrDtype)
	}
	if o.Dtype == "" {
		o.Dtype = o.Compute
	}
	if o.Compute == modeldir.DtypeFP16 && o.Dtype != modeldir.DtypeFP16 {
		return nil, fmt.Errorf("convert: fp16 compute needs fp16 weights, not %s: %w", o.Dtype, errdefs.ErrInvalidInput)
	}
	if o.Dtype != modeldir.DtypeFP32 && o.Dtype != modeldir.DtypeFP16 {
		return nil, fmt.Errorf("convert: output dtype %q (want fp32 or fp16): %w", o.Dtype, ErrDtype)
	}
	if o.Graph == "" {
		o.Graph = GraphFused
	}
	if o.Graph != GraphFused && o.Graph != GraphPlain {
		return nil, fmt.Errorf("convert: graph %q (want fused or plain): %w", o.Graph, errdefs.ErrInvalidInput)
	}
	if o.ExternalDataThreshold <= 0 {
		o.ExternalDataThreshold = DefaultExternalDataThreshold
	}
	if o.MaxLength < 0 {
		return nil, fmt.Errorf("convert: negative max length: %w", errdefs.ErrInvalidInput)
	}
	cfg, err := hf.Read(from)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	mcp, err := Describe(from, cfg, o.Family)
	if err != nil {
		return nil, err
	}
	mc, family := *mcp, mcp.Family
	tokSrc := filepath.Join(from, modeldir.TokenizerFile)
	if _, err := os.Stat(tokSrc); err != nil {
		return nil, fmt.Errorf("convert: %s has no %s: %w", from, modeldir.TokenizerFile, errdefs.ErrNotFound)
	}
	if st, err := os.Stat(to); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("convert: output %s exists and is not a directory: %w", to, errdefs.ErrInvalidInput)
	}
	if ents, err := os.ReadDir(to); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("convert: output directory %s is not empty: %w", to, errdefs.ErrInvalidInput)
	}
	ck, err := safetensors.Open(from)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	defer ck.Close()

	parent := filepath.Dir(filepath.Clean(to))
	if err := os.MkdirAll(parent, 0o755); err != nil { // --to models/zerank-2 with no models/ yet
		return nil, fmt.Errorf("convert: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(to)+".partial-")
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()

	dtype := onnxgraph.Float
	if o.Dtype == modeldir.DtypeFP16 {
		dtype = onnxgraph.Float16
	}
	build := func(l *loader) error { return buildArch(l, cfg, family, mc.ScoreTokens, o.Graph == GraphFused) }
	// A dry run first checks every tensor's presence, shape and dtype, so a
	// bad checkpoint fails in milliseconds, not after gigabytes of work.
	dry, err := onnxgraph.New(family, filepath.Join(tmp, "dry-run.partial"))
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	half := o.Compute == modeldir.DtypeFP16
	err = build(&loader{dry: true, ctx: ctx, ck: ck, g: dry, dtype: dtype, half: half})
	dry.Close()
	if err != nil {
		return nil, err
	}
	g, err := onnxgraph.New(family, filepath.Join(tmp, modeldir.DataFile+".partial"))
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	defer g.Close()
	l := &loader{ctx: ctx, ck: ck, g: g, total: ck.TotalBytes(), progress: o.Progress, dtype: dtype, half: half}
	mc.Dtype = o.Dtype
	if half {
		mc.Compute = modeldir.DtypeFP16
	}
	mc.SourceModel = o.Source
	if mc.SourceModel == "" {
		mc.SourceModel = from
	}
	if err := build(l); err != nil {
		return nil, err
	}
	if o.MaxLength > 0 {
		mc.MaxLength = o.MaxLength
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if o.Progress != nil && l.done < l.total {
		o.Progress(l.total, l.total) // tensors the architecture does not use
	}
	external := g.WeightBytes() > o.ExternalDataThreshold
	if err := g.Save(modeldir.ModelPath(tmp), modeldir.DataPath(tmp), external); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if err := copyFile(tokSrc, modeldir.TokenizerPath(tmp)); err != nil {
		return nil, err
	}
	if err := modeldir.Save(tmp, &mc); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if err := os.Remove(to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("convert: replace %s: %w", to, err)
	}
	if err := os.Rename(tmp, to); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	ok = true
	return &mc, nil
}

// applySentenceTransformers takes a bi-encoder's maximum length (capped at
// the position table), pooling and normalization from its
// sentence-transformers files when it has them (st != nil): sentence-
// transformers embeds with those, not with config.json's
// max_position_embeddings (all-MiniLM-L6-v2: 256 tokens, not 512).
func applySentenceTransformers(mc *modeldir.Config, st *stconfig.Config) {
	if st == nil {
		return
	}
	if st.MaxSeqLength > 0 {
		mc.MaxLength = min(mc.MaxLength, st.MaxSeqLength)
	}
	if st.Pooling != "" {
		mc.Pooling = st.Pooling
	}
	mc.Normalize = st.Normalize
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("convert: copy %s: %w", src, err)
	}
	return nil
}

// loader moves checkpoint tensors into the graph one at a time.
type loader struct {
	dry      bool // check names, shapes and dtypes only: no data is read or written
	ctx      context.Context
	ck       *safetensors.Checkpoint
	g        *onnxgraph.Graph
	dtype    onnxgraph.DataType // storage type of weights
	half     bool               // matrix products in float16 (needs float16 storage)
	done     int64
	total    int64
	progress func(done, total int64)
}

// read returns the named tensor as float32, checking its shape.
func (l *loader) read(name string, shape ...int64) ([]float32, error) {
	info, err := l.check(name, shape...)
	if err != nil || l.dry {
		return nil, err
	}
	v, _, err := l.ck.ReadFloat32(name)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	l.advance(info.Bytes())
	return v, nil
}

// check verifies that the named tensor exists with the given shape and a
// float dtype.
func (l *loader) check(name string, shape ...int64) (*safetensors.Info, error) {
	if err := l.ctx.Err(); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	info, ok := l.ck.Info(name)
	if !ok {
		return nil, fmt.Errorf("convert: checkpoint has no tensor %q: %w", name, ErrMissingTensor)
	}
	if !slices.Equal(info.Shape, shape) {
		return nil, fmt.Errorf("convert: tensor %s has shape %v, config.json implies %v: %w", name, info.Shape, shape, ErrShape)
	}
	switch info.Dtype {
	case safetensors.F32, safetensors.F16, safetensors.BF16:
	default:
		return nil, fmt.Errorf("convert: tensor %s is %s, want F32, F16 or BF16: %w", name, info.Dtype, ErrDtype)
	}
	return info, nil
}

func (l *loader) advance(n int64) {
	l.done += n
	if l.progress != nil {
		l.progress(l.done, l.total)
	}
}

// table streams a 2-D tensor [rows, cols] (an embedding table) into the
// graph in the storage dtype, chunk by chunk, and returns its name (not
// widened).
func (l *loader) table(name string, rows, cols int) (string, error) {
	shape := []int64{int64(rows), int64(cols)}
	info, err := l.check(name, shape...)
	if err != nil || l.dry {
		return "", err
	}
	out, err := l.g.WeightFrom(name, l.dtype, shape, func(w io.Writer) error {
		var buf []byte
		return l.ck.ReadRawChunks(name, 4<<20, func(b []byte) error {
			var ok bool
			if buf, ok = transcode(info.Dtype, b, l.dtype, buf[:0]); !ok {
				return fmt.Errorf("convert: tensor %s holds NaN or Inf: %w", name, errdefs.ErrInvalidInput)
			}
			_, err := w.Write(buf)
			return err
		})
	})
	if err != nil {
		return "", fmt.Errorf("convert: %w", err)
	}
	l.advance(info.Bytes())
	return out, nil
}

// store adds v as a weight in the storage dtype and returns its name (not
// widened: see widen).
func (l *loader) store(name string, v []float32, dims ...int64) (string, error) {
	if l.dry {
		return "", nil
	}
	if err := checkFinite(name, v); err != nil {
		return "", err
	}
	n, err := l.g.Weight(name, l.dtype, dims, onnxgraph.EncodeFloats(l.dtype, v))
	if err != nil {
		return "", fmt.Errorf("convert: %w", err)
	}
	return n, nil
}

// widen casts a stored-dtype value to float32 (no-op for fp32 storage).
func (l *loader) widen(v string) string {
	if l.dtype == onnxgraph.Float {
		return v
	}
	return l.g.Op("Cast", []string{v}, onnxgraph.Int("to", int64(onnxgraph.Float)))
}

// param stores v and returns a float32 value for it.
func (l *loader) param(name string, v []float32, dims ...int64) (string, error) {
	n, err := l.store(name, v, dims...)
	if err != nil {
		return "", err
	}
	return l.widen(n), nil
}

// vector reads a 1-D tensor of length n and returns its float32 value.
func (l *loader) vector(name string, n int) (string, error) {
	v, err := l.read(name, int64(n))
	if err != nil {
		return "", err
	}
	return l.param(name, v, int64(n))
}

// linear reads a torch Linear weight [out, in] and returns the value of its
// transpose [in, out], ready for mm: float16 when products run in float16,
// else float32.
func (l *loader) linear(name string, out, in int) (string, error) {
	w, err := l.read(name, int64(out), int64(in))
	if err != nil || l.dry {
		return "", err
	}
	t := make([]float32, len(w))
	for o := 0; o < out; o++ {
		row := w[o*in : (o+1)*in]
		for i, x := range row {
			t[i*out+o] = x
		}
	}
	if l.half {
		return l.store(name, t, int64(in), int64(out))
	}
	return l.param(name, t, int64(in), int64(out))
}

func checkFinite(name string, v []float32) error {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("convert: tensor %s holds NaN or Inf: %w", name, errdefs.ErrInvalidInput)
		}
	}
	return nil
}

// Graph helpers shared by the architectures.

func (l *loader) i64(vals ...int64) string { return l.g.ConstInt64(vals, int64(len(vals))) }

func (l *loader) scalarI64(v int64) string { return l.g.ConstInt64([]int64{v}) }

func (l *loader) f32(v float32) string { return l.g.ConstFloat(onnxgraph.Float, []float32{v}) }

func (l *loader) op(op string, in ...string) string { return l.g.Op(op, in) }

// toCompute casts a float32 activation to the matrix-product type.
func (l *loader) toCompute(x string) string {
	if !l.half {
		return x
	}
	return l.g.Op("Cast", []string{x}, onnxgraph.Int("to", int64(onnxgraph.Float16)))
}

// toFloat casts a matrix-product result back to float32.
func (l *loader) toFloat(x string) string {
	if !l.half {
		return x
	}
	return l.g.Op("Cast", []string{x}, onnxgraph.Int("to", int64(onnxgraph.Float)))
}

// mm is the float32 result of float32 activation x times weight w (from
// linear), computed in the product type.
func (l *loader) mm(x, w string) string {
	return l.toFloat(l.op("MatMul", l.toCompute(x), w))
}

// mmAct is a @ b for two float32 activations, computed in the product type.
func (l *loader) mmAct(a, b string) string {
	return l.toFloat(l.op("MatMul", l.toCompute(a), l.toCompute(b)))
}

// seqPositions returns int64 [S] = 0..S-1 for the sequence length of ids.
func (l *loader) seqPositions(ids string) string {
	shape := l.op("Shape", ids)
	s := l.g.Op("Gather", []string{shape, l.scalarI64(1)}, onnxgraph.Int("axis", 0))
	return l.op("Range", l.scalarI64(0), s, l.scalarI64(1))
}

// transcode converts little-endian src elements of safetensors dtype
// srcDtype (F32, F16 or BF16) to dst type (Float or Float16) in one pass,
// appending to out; ok is false when a value is NaN or infinite.
func transcode(srcDtype string, src []byte, dst onnxgraph.DataType, out []byte) ([]byte, bool) {
	size := safetensors.DtypeSize(srcDtype)
	n := len(src) / size
	need := n * dst.Size()
	if cap(out) < need {
		out = make([]byte, need)
	}
	out = out[:need]
	bad := false
	for i := 0; i < n; i++ {
		var bits uint32
		switch srcDtype {
		case safetensors.BF16:
			bits = uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16
		case safetensors.F16:
			bits = math.Float32bits(half.F16ToF32(binary.LittleEndian.Uint16(src[2*i:])))
		default:
			bits = binary.LittleEndian.Uint32(src[4*i:])
		}
		if bits&0x7f800000 == 0x7f800000 {
			bad = true
		}
		if dst == onnxgraph.Float16 {
			binary.LittleEndian.PutUint16(out[2*i:], half.F32ToF16(math.Float32frombits(bits)))
		} else {
			binary.LittleEndian.PutUint32(out[4*i:], bits)
		}
	}
	return out, !bad
}
