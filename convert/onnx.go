package convert

import (
	"fmt"
	"math"

	"twostage/convert/arch"
	"twostage/convert/hf"
	og "twostage/convert/onnxgraph"
	"twostage/modeldir"
)

// buildArch emits family's architecture (convert/arch's one definition) as
// an ONNX graph under the cross-encoder contract: inputs input_ids,
// attention_mask (and token_type_ids for BERT), int64 [batch, sequence];
// output logits [batch, 1] (a decoder's only from its score rows of the LM
// head, at the last real token), or last_hidden_state for an embedding
// model. With fused, the graph uses ONNX Runtime's fused kernels
// (fusedOps).
func buildArch(l *loader, c *hf.Config, family string, scoreTokens []int, fused bool) error {
	src := arch.NewCheckpoint(l.ck)
	if modeldir.IsDecoder(family) {
		for _, t := range scoreTokens {
			if t >= c.VocabSize {
				return fmt.Errorf("convert: score token %d outside vocab_size %d: %w", t, c.VocabSize, ErrConfig)
			}
		}
		switch name, ok := src.Name("lm_head.weight"); {
		case ok:
			info, _ := l.ck.Info(name)
			if len(info.Shape) != 2 || info.Shape[0] != int64(c.VocabSize) || info.Shape[1] != int64(c.HiddenSize) {
				return fmt.Errorf("convert: tensor lm_head.weight has shape %v, config.json implies [%d %d]: %w", info.Shape, c.VocabSize, c.HiddenSize, ErrShape)
			}
			l.advance(info.Bytes())
		case !c.Tied():
			return fmt.Errorf("convert: checkpoint has no tensor \"lm_head.weight\" and tie_word_embeddings is false: %w", ErrMissingTensor)
		}
	}
	m, err := arch.NewModel(family, c, src.Has("lm_head.weight"))
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	o := &onnxOps{l: l, src: src, cfg: c, pending: map[string]pending{}, done: map[string]string{}}
	o.ids = l.g.Input("input_ids", og.Int64, "batch", "sequence")
	o.mask = l.g.Input("attention_mask", og.Int64, "batch", "sequence")
	if !modeldir.IsDecoder(family) {
		o.types = l.g.Input("token_type_ids", og.Int64, "batch", "sequence")
	} else {
		o.prefixInputs(c.NumHiddenLayers)
	}
	var ops arch.Ops[string] = o
	if fused {
		ops = &fusedOps{onnxOps: o}
	}
	out := arch.Output(ops, m)
	if o.err != nil {
		return o.err
	}
	if family == modeldir.FamilyBertEmbedding {
		l.g.Output(out, modeldir.OutputLastHiddenState, og.Float, "batch", "sequence", int64(c.HiddenSize))
	} else {
		l.g.Output(out, modeldir.OutputLogits, og.Float, "batch", 1)
	}
	_, nK, D := o.heads()
	for _, p := range o.presents { // after logits, the first output
		l.g.Output(p[0], p[1], og.Float, "present", "sequence", nK*D)
	}
	return nil
}

// pending is a weight named by the definition, read when its use says how
// to store it: an embedding table (Embed), a matrix product's weight
// (Linear) or a float32 vector (anything else).
type pending struct {
	name string
	dims []int
	rows []int // score rows of an LM head
}

// onnxOps implements arch.Ops by emitting ONNX nodes. Values are graph
// value names; weights are marked "\x00w<n>" until used.
type onnxOps struct {
	l                *loader
	src              *arch.Checkpoint
	cfg              *hf.Config
	ids, mask, types string
	pending          map[string]pending
	done             map[string]string // pending key -> graph value
	err              error
	seqLen           string // [1] int64, the sequence length

	// Shared prefixes (decoders; see modeldir): the inputs, and the
	// derived per-row past lengths [B] and past length P [1], int64.
	prefixed                           bool
	pastLens, prefixIndex, presentRows string
	pastKeys, pastValues               []string
	rowPast, pastSeq                   string
	presents                           [][2]string // value, output name
}

// prefixInputs declares the shared-prefix inputs of a decoder graph, each
// with a default (no past, no present rows: whole pairs), so that a caller
// that feeds only input_ids and attention_mask runs the graph as before.
func (o *onnxOps) prefixInputs(layers int) {
	g := o.l.g
	_, nK, D := o.heads()
	o.prefixed = true
	zero := make([]byte, 8)
	input := func(name string, typ og.DataType, shape []int64, data []byte, dims ...any) string {
		v, err := g.InputDefault(name, typ, shape, data, dims...)
		o.keep(err)
		return v
	}
	o.pastLens = input(modeldir.InputPastLengths, og.Int64, []int64{1}, zero, "prefixes")
	o.prefixIndex = input(modeldir.InputPrefixIndex, og.Int64, []int64{1}, zero, "batch")
	o.presentRows = input(modeldir.InputPresentRows, og.Int64, []int64{0}, nil, "present")
	for l := range layers {
		o.pastKeys = append(o.pastKeys, input(fmt.Sprintf("%s%d", modeldir.InputPastKey, l), og.Float, []int64{1, 0, nK * D}, nil, "prefixes", "past_sequence", nK*D))
		o.pastValues = append(o.pastValues, input(fmt.Sprintf("%s%d", modeldir.InputPastValue, l), og.Float, []int64{1, 0, nK * D}, nil, "prefixes", "past_sequence", nK*D))
	}
	// The default prefix_index [0] stands for every row: broadcast to [B].
	batch := o.op("Slice", o.op("Shape", o.ids), o.l.i64(0), o.l.i64(1), o.l.i64(0))
	o.prefixIndex = o.op("Expand", o.prefixIndex, batch)
	o.rowPast = o.op("Gather", o.pastLens, o.prefixIndex)                                       // [B]
	o.pastSeq = o.op("Slice", o.op("Shape", o.pastKeys[0]), o.l.i64(1), o.l.i64(2), o.l.i64(0)) // [1]
}

// Past implements arch.Prefixed: the rows' prefixes, gathered by
// prefix_index.
func (o *onnxOps) Past(layer int) (k, v string, ok bool) {
	if !o.prefixed {
		return "", "", false
	}
	_, nK, D := o.heads()
	rows := func(x string) string {
		return o.op("Reshape", o.op("Gather", x, o.prefixIndex), o.l.i64(0, 0, nK, D))
	}
	return rows(o.pastKeys[layer]), rows(o.pastValues[layer]), true
}

// PastPositions implements arch.Prefixed.
func (o *onnxOps) PastPositions() string {
	r := o.op("Range", o.l.scalarI64(0), o.op("Squeeze", o.pastSeq, o.l.i64(0)), o.l.scalarI64(1))
	return o.op("Reshape", o.opA("Cast", []string{r}, og.Int("to", int64(og.Float))), o.l.i64(1, -1, 1, 1))
}

// ConcatSeq implements arch.Prefixed.
func (o *onnxOps) ConcatSeq(a, b string) string {
	return o.opA("Concat", []string{a, b}, og.Int("axis", 1))
}

// Present implements arch.Prefixed: outputs of the rows present_rows names.
func (o *onnxOps) Present(layer int, k, v string) {
	if !o.prefixed {
		return
	}
	for i, x := range []string{k, v} {
		name := modeldir.OutputPresentKey
		if i == 1 {
			name = modeldir.OutputPresentValue
		}
		_, nK, D := o.heads()
		y := o.op("Gather", o.op("Reshape", x, o.l.i64(0, 0, nK*D)), o.presentRows)
		o.presents = append(o.presents, [2]string{y, fmt.Sprintf("%s%d", name, layer)})
	}
}

var _ arch.Prefixed[string] = (*onnxOps)(nil)

func (o *onnxOps) keep(err error) {
	if err != nil && o.err == nil {
		o.err = err
	}
}

func (o *onnxOps) IDs() string     { return o.ids }
func (o *onnxOps) Mask() string    { return o.mask }
func (o *onnxOps) TypeIDs() string { return o.types }

func (o *onnxOps) mark(p pending) string {
	key := fmt.Sprintf("\x00w%d", len(o.pending))
	o.pending[key] = p
	return key
}

func (o *onnxOps) Weight(name string, dims ...int) string {
	return o.mark(pending{name: name, dims: dims})
}

func (o *onnxOps) Rows(name string, rows []int, dim int) string {
	return o.mark(pending{name: name, dims: []int{len(rows), dim}, rows: rows})
}

// stored is the checkpoint's name for canonical name (prefixed as stored;
// old BERT checkpoints' LayerNorm gamma/beta as such).
func (o *onnxOps) stored(name string) string {
	n, _ := o.src.Name(name)
	return n
}

// resolve turns a pending weight used as a plain value into a float32
// vector; other values pass through.
func (o *onnxOps) resolve(x string) string {
	p, ok := o.pending[x]
	if !ok {
		return x
	}
	return o.once(x, func() (string, error) {
		if len(p.dims) != 1 {
			return "", fmt.Errorf("convert: weight %s of rank %d used as a vector: %w", p.name, len(p.dims), ErrShape)
		}
		return o.l.vector(o.stored(p.name), p.dims[0])
	})
}

// once returns the graph value of pending weight key, built on its first
// use (a build error is kept).
func (o *onnxOps) once(key string, build func() (string, error)) string {
	v, ok := o.done[key]
	if !ok {
		var err error
		v, err = build()
		o.keep(err)
		o.done[key] = v
	}
	return v
}

func (o *onnxOps) op(op string, in ...string) string { return o.opA(op, in) }

func (o *onnxOps) opA(op string, in []string, attrs ...og.Attr) string {
	for i := range in {
		in[i] = o.resolve(in[i])
	}
	return o.l.g.Op(op, in, attrs...)
}

func (o *onnxOps) Const(v float64) string { return o.l.f32(float32(v)) }

func (o *onnxOps) Vector(v []float64) string {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return o.l.g.ConstFloat(og.Float, f, int64(len(f)))
}

// sequence is the sequence length as int64 [1].
func (o *onnxOps) sequence() string {
	if o.seqLen == "" {
		o.seqLen = o.op("Slice", o.op("Shape", o.ids), o.l.i64(1), o.l.i64(2), o.l.i64(0))
	}
	return o.seqLen
}

func (o *onnxOps) Positions() string {
	if o.prefixed { // [B, S, 1, 1]: past length + s
		pos := o.op("Add", o.op("Unsqueeze", o.rowPast, o.l.i64(1)), o.l.seqPositions(o.ids)) // [B, S]
		f := o.opA("Cast", []string{pos}, og.Int("to", int64(og.Float)))
		return o.op("Unsqueeze", f, o.l.i64(2, 3))
	}
	f := o.opA("Cast", []string{o.l.seqPositions(o.ids)}, og.Int("to", int64(og.Float)))
	return o.op("Reshape", f, o.l.i64(1, -1, 1, 1))
}

// PositionIDs is [S], which broadcasts against [B, S].
func (o *onnxOps) PositionIDs() string { return o.l.seqPositions(o.ids) }

func (o *onnxOps) Embed(table, ids string) string {
	p, ok := o.pending[table]
	if !ok || len(p.dims) != 2 {
		o.keep(fmt.Errorf("convert: embedding of a value that is not a weight table: %w", ErrShape))
		return ""
	}
	t := o.once(table, func() (string, error) { return o.l.table(o.stored(p.name), p.dims[0], p.dims[1]) })
	return o.l.widen(o.op("Gather", t, ids))
}

func (o *onnxOps) Linear(x, w string) string {
	p, ok := o.pending[w]
	if !ok || len(p.dims) != 2 {
		o.keep(fmt.Errorf("convert: matrix product with a value that is not a weight matrix: %w", ErrShape))
		return ""
	}
	x = o.resolve(x)
	if p.rows != nil { // LM-head rows: float32, transposed to [H, k]
		v := o.once(w, func() (string, error) { return o.headRows(p), nil })
		return o.op("MatMul", x, v)
	}
	return o.l.mm(x, o.once(w, func() (string, error) { return o.l.linear(o.stored(p.name), p.dims[0], p.dims[1]) }))
}

// headRows reads the score rows of an LM head as a float32 [H, k] value.
func (o *onnxOps) headRows(p pending) string {
	if o.l.dry {
		return ""
	}
	rows, _, err := o.l.ck.ReadRows(o.stored(p.name), p.rows)
	if err != nil {
		o.keep(fmt.Errorf("convert: %w", err))
		return ""
	}
	k, H := len(p.rows), p.dims[1]
	t := make([]float32, H*k)
	for r, row := range rows {
		for i, x := range row {
			t[i*k+r] = x
		}
	}
	v, err := o.l.param("score_head", t, int64(H), int64(k))
	o.keep(err)
	return v
}

func (o *onnxOps) Add(a, b string) string { return o.op("Add", a, b) }
func (o *onnxOps) Sub(a, b string) string { return o.op("Sub", a, b) }
func (o *onnxOps) Mul(a, b string) string { return o.op("Mul", a, b) }
func (o *onnxOps) Div(a, b string) string { return o.op("Div", a, b) }
func (o *onnxOps) Neg(x string) string    { return o.op("Neg", x) }
func (o *onnxOps) Rsqrt(x string) string  { return o.op("Reciprocal", o.op("Sqrt", x)) }
func (o *onnxOps) Cos(x string) string    { return o.op("Cos", x) }
func (o *onnxOps) Sin(x string) string    { return o.op("Sin", x) }
func (o *onnxOps) Sigmoid(x string) string {
	return o.op("Sigmoid", x)
}
func (o *onnxOps) Tanh(x string) string { return o.op("Tanh", x) }
func (o *onnxOps) Erf(x string) string  { return o.op("Erf", x) }

func (o *onnxOps) Mean(x string) string {
	return o.opA("ReduceMean", []string{x}, og.Ints("axes", -1), og.Int("keepdims", 1))
}

func (o *onnxOps) Softmax(x string) string {
	return o.opA("Softmax", []string{x}, og.Int("axis", -1))
}

func (o *onnxOps) Slice(x string, from, to int) string {
	return o.op("Slice", x, o.l.i64(int64(from)), o.l.i64(int64(to)), o.l.i64(-1))
}

func (o *onnxOps) Concat(a, b string) string {
	return o.opA("Concat", []string{a, b}, og.Int("axis", -1))
}

func (o *onnxOps) SplitHeads(x string, n int) string {
	return o.op("Reshape", x, o.l.i64(0, 0, int64(n), -1))
}

func (o *onnxOps) MergeHeads(x string) string { return o.op("Reshape", x, o.l.i64(0, 0, -1)) }

// heads are the query and key heads and the head size.
func (o *onnxOps) heads() (nQ, nK, D int64) {
	c := o.cfg
	nQ, nK = int64(c.NumAttentionHeads), int64(c.NumKeyValueHeads)
	if nK == 0 || c.Kind() == hf.KindBert {
		nK = nQ
	}
	D = int64(c.HeadDim)
	if D == 0 || c.Kind() == hf.KindBert {
		D = int64(c.HiddenSize) / nQ
	}
	return
}

// square is the int64 shape [lead..., S, S].
func (o *onnxOps) square(lead ...int64) string {
	s := o.sequence()
	return o.opA("Concat", []string{o.l.i64(lead...), s, s}, og.Int("axis", 0))
}

func (o *onnxOps) Scores(q, k string) string {
	nQ, nK, D := o.heads()
	g := o.l.g
	// Grouped-query attention by broadcasting: query head h uses key head h / rep.
	q5 := g.Op("Transpose", []string{o.op("Reshape", q, o.l.i64(0, 0, nK, nQ/nK, D))}, og.Ints("perm", 0, 2, 3, 1, 4)) // [B,nK,rep,S,D]
	kt := o.op("Unsqueeze", g.Op("Transpose", []string{o.resolve(k)}, og.Ints("perm", 0, 2, 3, 1)), o.l.i64(2))        // [B,nK,1,D,T]
	s := o.l.mmAct(q5, kt)                                                                                             // [B,nK,rep,S,T]
	if o.prefixed {                                                                                                    // T = P + S
		st := o.op("Slice", o.op("Shape", s), o.l.i64(3), o.l.i64(5), o.l.i64(0))
		return o.op("Reshape", s, o.opA("Concat", []string{o.l.i64(0, nQ), st}, og.Int("axis", 0)))
	}
	return o.op("Reshape", s, o.square(0, nQ)) // [B,nQ,S,T]
}

func (o *onnxOps) Context(p, v string) string {
	nQ, nK, D := o.heads()
	g := o.l.g
	shape := o.square(0, nK, nQ/nK)
	if o.prefixed { // T = P + S
		st := o.op("Slice", o.op("Shape", p), o.l.i64(2), o.l.i64(4), o.l.i64(0))
		shape = o.opA("Concat", []string{o.l.i64(0, nK, nQ/nK), st}, og.Int("axis", 0))
	}
	p5 := o.op("Reshape", p, shape)                                                                             // [B,nK,rep,S,T]
	vt := o.op("Unsqueeze", g.Op("Transpose", []string{o.resolve(v)}, og.Ints("perm", 0, 2, 1, 3)), o.l.i64(2)) // [B,nK,1,T,D]
	c := g.Op("Transpose", []string{o.l.mmAct(p5, vt)}, og.Ints("perm", 0, 3, 1, 2, 4))                         // [B,S,nK,rep,D]
	return o.op("Reshape", c, o.l.i64(0, 0, nQ, D))
}

func (o *onnxOps) AttentionBias(causal bool) string {
	keyOK := o.op("Unsqueeze", o.opA("Cast", []string{o.mask}, og.Int("to", int64(og.Bool))), o.l.i64(1, 2)) // [B,1,1,T]
	if causal {
		pos := o.l.seqPositions(o.ids)
		c := o.op("LessOrEqual", o.op("Unsqueeze", pos, o.l.i64(0)), o.op("Unsqueeze", pos, o.l.i64(1))) // [S,T]: t <= s
		keyOK = o.op("And", c, keyOK)                                                                    // [B,1,S,S]
		if o.prefixed {                                                                                  // past key t visible where t < the row's past length
			P := o.op("Squeeze", o.pastSeq, o.l.i64(0))
			t := o.op("Range", o.l.scalarI64(0), P, o.l.scalarI64(1))
			past := o.op("Less", t, o.op("Unsqueeze", o.rowPast, o.l.i64(1))) // [B,P]
			past = o.op("Unsqueeze", past, o.l.i64(1, 2))                     // [B,1,1,P]
			shape := o.opA("Concat", []string{o.op("Slice", o.op("Shape", o.ids), o.l.i64(0), o.l.i64(1), o.l.i64(0)), o.l.i64(1), o.sequence(), o.pastSeq}, og.Int("axis", 0))
			keyOK = o.opA("Concat", []string{o.op("Expand", past, shape), keyOK}, og.Int("axis", -1)) // [B,1,S,P+S]
		}
	}
	return o.op("Where", keyOK, o.l.f32(0), o.l.f32(-1e9))
}

func (o *onnxOps) Last(x string) string {
	last := o.op("Sub", o.opA("ReduceSum", []string{o.mask, o.l.i64(1)}, og.Int("keepdims", 1)), o.l.i64(1)) // [B,1]
	return o.opA("GatherND", []string{x, last}, og.Int("batch_dims", 1))                                     // [B,H]
}

func (o *onnxOps) First(x string) string {
	return o.opA("Gather", []string{x, o.l.scalarI64(0)}, og.Int("axis", 1))
}

var _ arch.Ops[string] = (*onnxOps)(nil)

// fusedOps is onnxOps with ONNX Runtime's fused kernels (arch.Fused):
// SimplifiedLayerNormalization and com.microsoft's
// SkipSimplifiedLayerNormalization, GroupQueryAttention (rotary embedding
// inside, seqlens_k from the mask for right-padded rows),
// Attention (packed q, k and v projections, key padding mask), Gelu, and
// ONNX's LayerNormalization after the residual Add (ORT 1.30's CPU
// SkipLayerNormalization kernel profiled slower than the two; convert's
// README.md has the figures).
// No [S, S] tensor is ever materialised: attention memory is linear in S.
type fusedOps struct {
	*onnxOps
	seqlensK, total string                // int32 [B] real length - 1; int32 scalar S
	keyMask         string                // int32 [B, S]
	rotary          map[float64][2]string // cos, sin caches [S, D/2] by base
	pastRotary      map[float64][2]string // the same over [past ; own], [P+S, D/2]
}

var _ arch.Fused[string] = (*fusedOps)(nil)

func (o *fusedOps) ms(op string, in []string, n int, attrs ...og.Attr) []string {
	for i := range in {
		in[i] = o.resolve(in[i])
	}
	return o.l.g.OpDomain(og.MSDomain, op, in, n, attrs...)
}

func (o *fusedOps) RMSNorm(x, w string, eps float64) string {
	return o.opA("SimplifiedLayerNormalization", []string{x, w},
		og.Int("axis", -1), og.Float32("epsilon", float32(eps)), og.Int("stash_type", 1))
}

func (o *fusedOps) AddRMSNorm(x, y, w string, eps float64) (sum, norm string) {
	out := o.ms("SkipSimplifiedLayerNormalization", []string{y, x, w}, 4, og.Float32("epsilon", float32(eps)))
	return out[3], out[0]
}

func (o *fusedOps) AddLayerNorm(x, y, w, b string, eps float64) string {
	return o.opA("LayerNormalization", []string{o.op("Add", x, y), w, b}, og.Int("axis", -1), og.Float32("epsilon", float32(eps)))
}

func (o *fusedOps) Projections(x string, ws ...string) []string {
	// One product with the weights side by side (ONNX Runtime folds the
	// Concat of initializers at load), then a Split.
	var vs []string
	sizes := make([]int64, len(ws))
	for i, w := range ws {
		p, ok := o.pending[w]
		if !ok || len(p.dims) != 2 || p.rows != nil {
			o.keep(fmt.Errorf("convert: projection with a value that is not a weight matrix: %w", ErrShape))
			return make([]string, len(ws))
		}
		v, err := o.l.linear(o.stored(p.name), p.dims[0], p.dims[1])
		o.keep(err)
		vs = append(vs, v)
		sizes[i] = int64(p.dims[0])
	}
	y := o.l.mm(o.resolve(x), o.opA("Concat", vs, og.Int("axis", 1)))
	return o.l.g.OpN("Split", []string{y, o.l.i64(sizes...)}, len(ws), og.Int("axis", -1))
}

func (o *fusedOps) Gelu(x string) string { return o.ms("Gelu", []string{x}, 1)[0] }

// lengths sets the per-row inputs the attention kernels take from the mask.
func (o *fusedOps) lengths() {
	if o.seqlensK != "" {
		return
	}
	g := o.l.g
	real := o.opA("ReduceSum", []string{o.mask, o.l.i64(1)}, og.Int("keepdims", 0)) // [B]
	o.seqlensK = g.Op("Cast", []string{o.op("Sub", real, o.l.scalarI64(1))}, og.Int("to", int64(og.Int32)))
	s := g.Op("Gather", []string{o.op("Shape", o.ids), o.l.scalarI64(1)}, og.Int("axis", 0))
	o.total = g.Op("Cast", []string{s}, og.Int("to", int64(og.Int32)))
	o.keyMask = g.Op("Cast", []string{o.mask}, og.Int("to", int64(og.Int32)))
}

// caches are GroupQueryAttention's cos and sin caches [S, D/2] for base
// theta, computed from the sequence length (no max-length table stored).
func (o *fusedOps) caches(theta float64, D int) (string, string) {
	return o.cosSin(&o.rotary, theta, D, func() string { return o.l.seqPositions(o.ids) })
}

// cosSin returns the cos and sin caches [len(positions), D/2] for base
// theta, kept in *kept by theta: positions (an int64 vector) is called once
// per theta, on the first call.
func (o *fusedOps) cosSin(kept *map[float64][2]string, theta float64, D int, positions func() string) (string, string) {
	if c, ok := (*kept)[theta]; ok {
		return c[0], c[1]
	}
	inv := make([]float64, D/2)
	for i := range inv {
		inv[i] = math.Pow(theta, -2*float64(i)/float64(D))
	}
	pos := o.opA("Cast", []string{positions()}, og.Int("to", int64(og.Float)))
	angles := o.op("Mul", o.op("Unsqueeze", pos, o.l.i64(1)), o.Vector(inv))
	c := [2]string{o.op("Cos", angles), o.op("Sin", angles)}
	if *kept == nil {
		*kept = map[float64][2]string{}
	}
	(*kept)[theta] = c
	return c[0], c[1]
}

func (o *fusedOps) RotaryAttention(q, k, v string, theta float64) string {
	nQ, nK, D := o.heads()
	o.lengths()
	cos, sin := o.caches(theta, int(D))
	merge := func(x string) string { return o.l.toCompute(o.op("Reshape", x, o.l.i64(0, 0, -1))) }
	out := o.ms("GroupQueryAttention",
		[]string{merge(q), merge(k), merge(v), "", "", o.seqlensK, o.total, o.l.toCompute(cos), o.l.toCompute(sin)}, 3,
		og.Int("num_heads", nQ), og.Int("kv_num_heads", nK), og.Int("do_rotary", 1),
		og.Int("rotary_interleaved", 0), og.Float32("scale", float32(1/math.Sqrt(float64(D)))))
	return o.l.toFloat(out[0])
}

var _ arch.PrefixedFused[string] = (*fusedOps)(nil)

// RotaryAttentionPast implements arch.PrefixedFused. A graph run without
// a past (past_sequence 0: whole pairs, and prefixes) takes
// RotaryAttention's GroupQueryAttention as it is; with one, an If node
// takes GroupQueryAttention run as a first prompt over each row's
// [past ; own] keys, realigned so that the row's P_b real past keys are
// followed at once by its own tokens (GroupQueryAttention's own past
// inputs cannot serve: its CPU kernel refuses a batch above 1 with more
// than one new token). The past positions' queries are zeros and their
// outputs are dropped; keys after a row's real tokens are hidden by the
// causal mask and seqlens_k. Attention memory stays linear in P + S.
func (o *fusedOps) RotaryAttentionPast(q, k, v, pk, pv string, theta float64) string {
	nQ, nK, D := o.heads()
	g := o.l.g
	// Values memoized across layers are made here, outside the branches.
	o.lengths()
	o.caches(theta, int(D))
	T := o.op("Add", o.pastSeq, o.sequence()) // [1]
	Ts := o.op("Squeeze", T, o.l.i64(0))
	cos, sin := o.pastCaches(theta, int(D), Ts)
	dims := []any{"batch", "sequence", nQ * D}
	whole := g.Branch(og.Float, dims, func() []string { return []string{o.RotaryAttention(q, k, v, theta)} })
	past := g.Branch(og.Float, dims, func() []string {
		merge := func(x string, n int64) string { return o.l.toCompute(o.op("Reshape", x, o.l.i64(0, 0, n*D))) }
		batch := o.op("Slice", o.op("Shape", o.ids), o.l.i64(0), o.l.i64(1), o.l.i64(0))
		zeros := o.op("Expand", o.l.toCompute(o.l.f32(0)), o.opA("Concat", []string{batch, o.pastSeq, o.l.i64(nQ * D)}, og.Int("axis", 0)))
		cat := func(a, b string) string { return o.opA("Concat", []string{a, b}, og.Int("axis", 1)) }
		qc, kc, vc := cat(zeros, merge(q, nQ)), cat(merge(pk, nK), merge(k, nK)), cat(merge(pv, nK), merge(v, nK)) // [B, T, w]
		last := o.op("Sub", T, o.l.i64(1))
		pb := o.op("Unsqueeze", o.rowPast, o.l.i64(1)) // [B, 1]
		// Realign: position j holds past key j while j < P_b, then own
		// token j - P_b (at P + j - P_b of the concatenation).
		j := o.op("Range", o.l.scalarI64(0), Ts, o.l.scalarI64(1))           // [T]
		own := o.op("Min", o.op("Add", o.op("Sub", j, pb), o.pastSeq), last) // [B, T]
		idx := o.op("Unsqueeze", o.op("Where", o.op("Less", j, pb), j, own), o.l.i64(-1))
		gather := func(x string) string { return o.opA("GatherND", []string{x, idx}, og.Int("batch_dims", 1)) }
		real := o.opA("ReduceSum", []string{o.mask, o.l.i64(1)}, og.Int("keepdims", 0)) // [B]
		seqlens := g.Op("Cast", []string{o.op("Sub", o.op("Add", real, o.rowPast), o.l.scalarI64(1))}, og.Int("to", int64(og.Int32)))
		total := g.Op("Cast", []string{Ts}, og.Int("to", int64(og.Int32)))
		out := o.ms("GroupQueryAttention",
			[]string{gather(qc), gather(kc), gather(vc), "", "", seqlens, total, o.l.toCompute(cos), o.l.toCompute(sin)}, 3,
			og.Int("num_heads", nQ), og.Int("kv_num_heads", nK), og.Int("do_rotary", 1),
			og.Int("rotary_interleaved", 0), og.Float32("scale", float32(1/math.Sqrt(float64(D)))))
		// The row's own tokens: positions P_b + s.
		back := o.op("Min", o.op("Add", pb, o.l.seqPositions(o.ids)), last) // [B, S]
		y := o.opA("GatherND", []string{out[0], o.op("Unsqueeze", back, o.l.i64(-1))}, og.Int("batch_dims", 1))
		return []string{o.l.toFloat(y)}
	})
	none := o.op("Squeeze", o.op("Equal", o.pastSeq, o.l.i64(0)), o.l.i64(0))
	return g.Op("If", []string{none}, og.GraphAttr("then_branch", whole), og.GraphAttr("else_branch", past))
}

// pastCaches are GroupQueryAttention's cos and sin caches [T, D/2] for
// base theta over the positions 0..T-1 of a [past ; own] row (T a scalar).
func (o *fusedOps) pastCaches(theta float64, D int, T string) (string, string) {
	return o.cosSin(&o.pastRotary, theta, D, func() string { return o.op("Range", o.l.scalarI64(0), T, o.l.scalarI64(1)) })
}

func (o *fusedOps) SelfAttention(x, wq, bq, wk, bk, wv, bv string, heads int) string {
	o.lengths()
	// One [H, 3H] product for q, k and v: ONNX Runtime folds the Concat of
	// the three weights at load.
	var ws, bs []string
	for _, w := range []string{wq, wk, wv} {
		p, ok := o.pending[w]
		if !ok || len(p.dims) != 2 {
			o.keep(fmt.Errorf("convert: attention projection that is not a weight matrix: %w", ErrShape))
			return ""
		}
		v, err := o.l.linear(o.stored(p.name), p.dims[0], p.dims[1])
		o.keep(err)
		ws = append(ws, v)
	}
	for _, b := range []string{bq, bk, bv} {
		bs = append(bs, o.l.toCompute(o.resolve(b)))
	}
	w := o.opA("Concat", ws, og.Int("axis", 1))
	b := o.opA("Concat", bs, og.Int("axis", 0))
	out := o.ms("Attention", []string{o.l.toCompute(o.resolve(x)), w, b, o.keyMask}, 1, og.Int("num_heads", int64(heads)))[0]
	return o.l.toFloat(out)
}
