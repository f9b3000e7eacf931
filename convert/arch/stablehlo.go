package arch

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/go-xla/pkg/stablehlo"
	"github.com/gomlx/go-xla/pkg/types"
	"github.com/gomlx/go-xla/pkg/types/dtypes"
	"github.com/gomlx/go-xla/pkg/types/shapes"

	"twostage/errdefs"
	"twostage/modeldir"
)

// Param is one weight parameter of a StableHLO program, in the order of the
// program's parameters after the integer inputs.
type Param struct {
	// Name is the canonical tensor name.
	Name string
	// Dims are the parameter's dimensions; Dtype its type (F32, F16, BF16).
	Dims  []int
	Dtype string
	// Rows, when set, selects rows of the tensor (an LM head's score rows).
	Rows []int
}

// Program is a StableHLO module for one bucket shape.
type Program struct {
	// Text is the MLIR text of the module.
	Text []byte
	// B and S are the batch and sequence sizes it was built for.
	B, S int
	// Inputs is the number of int32 [B, S] inputs first in the parameter
	// list: input ids, attention mask and, for BERT, token type ids.
	Inputs int
	// Params are the weights, after the inputs.
	Params []Param
	// Hidden is the output's width for an embedding model ([B, S, Hidden]);
	// 0 for a cross-encoder, whose output is the raw scores [B].
	Hidden int
	// Presents, for a prefix program (StableHLOPrefix), is the number of
	// layers whose keys and values are its outputs: 2*Presents float32
	// [B, S, nK, D] tensors, layer by layer, keys then values (keys after
	// k_norm, before the rotary embedding), instead of scores.
	Presents int
	// N, P and Past, for a continuation program (StableHLOPast): its rows
	// continue N prefixes right-padded to P tokens, and after the Inputs
	// come past_lengths int32 [N] (each prefix's real tokens),
	// prefix_index int32 [B] (each row's prefix) and, for each of the Past
	// layers, the past keys and values float32 [N, P, nK, D] (a prefix
	// program's outputs, in their order); then the Params.
	N, P, Past int
}

// StableHLO emits m as a StableHLO program for a [B, S] batch with matrix
// products (and rank-2 weights) in compute (F32, F16 or BF16).
func StableHLO(m *Model, B, S int, compute string) (*Program, error) {
	return emit(m, B, S, 0, 0, modeWhole, compute)
}

// emit builds the program of mode for a [B, S] batch (and, for a
// continuation program, N prefixes right-padded to P).
func emit(m *Model, B, S, N, P int, mode programMode, compute string) (*Program, error) {
	dt, err := DType(compute)
	if err != nil {
		return nil, err
	}
	if B < 1 || S < 1 || (mode == modePast && (N < 1 || P < 1)) {
		return nil, fmt.Errorf("arch: program shape [%d %d] past [%d %d]: %w", B, S, N, P, errdefs.ErrInvalidInput)
	}
	if mode != modeWhole && !m.decoder() {
		return nil, fmt.Errorf("arch: family %s has no prefix: %w", m.Family, errdefs.ErrUnsupported)
	}
	b := stablehlo.New("twostage_" + strings.ReplaceAll(m.Family, "-", "_"))
	h := &hlo{fn: b.Main(), B: B, S: S, compute: dt, computeName: compute, params: map[string]*stablehlo.Value{}, mode: mode}
	i32 := shapes.Make(dtypes.Int32, B, S)
	h.ids, err = h.fn.NamedInput("input_ids", i32)
	h.keep(err)
	h.mask, err = h.fn.NamedInput("attention_mask", i32)
	h.keep(err)
	p := &Program{B: B, S: S, Inputs: 2}
	if !modeldir.IsDecoder(m.Family) {
		h.types, err = h.fn.NamedInput("token_type_ids", i32)
		h.keep(err)
		p.Inputs = 3
	}
	switch mode {
	case modePrefix:
		p.Presents = m.Config.NumHiddenLayers
	case modePast:
		p.N, p.P, p.Past = N, P, m.Config.NumHiddenLayers
		h.pastInputs(m, N, P)
	}
	out := Output[*stablehlo.Value](h, m)
	if h.err == nil {
		switch {
		case mode == modePrefix:
			if len(h.presents) != 2*p.Presents {
				h.keep(fmt.Errorf("%d present tensors, want %d: %w", len(h.presents), 2*p.Presents, errdefs.ErrInvalidInput))
			} else {
				h.keep(h.fn.Return(h.presents...))
			}
		case m.Family == modeldir.FamilyBertEmbedding:
			p.Hidden = m.Config.HiddenSize
			h.keep(h.fn.Return(out))
		default:
			h.keep(h.fn.Return(h.reshape(out, B)))
		}
	}
	if h.err != nil {
		return nil, fmt.Errorf("arch: stablehlo for %s [%d %d]: %w", m.Family, B, S, h.err)
	}
	if p.Text, err = b.Build(); err != nil {
		return nil, fmt.Errorf("arch: stablehlo: %w", err)
	}
	p.Params = h.order
	return p, nil
}

// DType is the XLA element type of a compute or weight type name (F32,
// F16 or BF16); another name wraps errdefs.ErrInvalidInput.
func DType(name string) (dtypes.DType, error) {
	switch name {
	case F32:
		return dtypes.Float32, nil
	case F16:
		return dtypes.Float16, nil
	case BF16:
		return dtypes.BFloat16, nil
	}
	return dtypes.InvalidDType, fmt.Errorf("arch: compute type %q (want F32, F16 or BF16): %w", name, errdefs.ErrInvalidInput)
}

// hlo implements Ops by emitting StableHLO.
type hlo struct {
	fn                *stablehlo.Function
	ids, mask, types  *stablehlo.Value
	B, S              int
	compute           dtypes.DType
	computeName       string
	params            map[string]*stablehlo.Value
	order             []Param
	err               error
	sumFn, maxFn      *stablehlo.Function
	sumFnI            *stablehlo.Function
	posF, posI, zeroF *stablehlo.Value

	mode            programMode
	presents        []*stablehlo.Value // a prefix program's outputs
	pastLens, index *stablehlo.Value   // a continuation program's inputs
	pastK, pastV    []*stablehlo.Value
	P               int
	rowPast         *stablehlo.Value // [B] int32: each row's prefix length
}

// keep records the first error.
func (h *hlo) keep(err error) {
	if err != nil && h.err == nil {
		h.err = err
	}
}

// v returns the value, or a placeholder after an error (Ops go on, the
// program is discarded).
func (h *hlo) v(x *stablehlo.Value, err error) *stablehlo.Value {
	h.keep(err)
	if h.err != nil {
		return h.ids // any valid value: nothing built after an error is used
	}
	return x
}

func (h *hlo) IDs() *stablehlo.Value  { return h.ids }
func (h *hlo) Mask() *stablehlo.Value { return h.mask }
func (h *hlo) TypeIDs() *stablehlo.Value {
	if h.types == nil {
		h.keep(fmt.Errorf("token type ids of a decoder: %w", errdefs.ErrInvalidInput))
		return h.ids
	}
	return h.types
}

func (h *hlo) param(p Param, dt dtypes.DType) *stablehlo.Value {
	key := p.Name + fmt.Sprint(p.Rows)
	if v := h.params[key]; v != nil {
		return v
	}
	name := fmt.Sprintf("w%d", len(h.order))
	v, err := h.fn.NamedInput(name, shapes.Make(dt, p.Dims...))
	v = h.v(v, err)
	h.params[key] = v
	h.order = append(h.order, p)
	return v
}

func (h *hlo) Weight(name string, dims ...int) *stablehlo.Value {
	if len(dims) == 2 {
		return h.param(Param{Name: name, Dims: dims, Dtype: h.computeName}, h.compute)
	}
	return h.param(Param{Name: name, Dims: dims, Dtype: F32}, dtypes.Float32)
}

func (h *hlo) Rows(name string, rows []int, dim int) *stablehlo.Value {
	return h.param(Param{Name: name, Dims: []int{len(rows), dim}, Dtype: F32, Rows: slices.Clone(rows)}, dtypes.Float32)
}

func (h *hlo) Const(v float64) *stablehlo.Value {
	return h.v(h.fn.ConstantFromScalar(float32(v)))
}

func (h *hlo) Vector(v []float64) *stablehlo.Value {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return h.v(h.fn.ConstantFromFlatAndDimensions(f, len(f)))
}

func (h *hlo) Positions() *stablehlo.Value {
	if h.mode == modePast {
		return h.pastPositions()
	}
	return h.v(h.fn.Iota(shapes.Make(dtypes.Float32, 1, h.S, 1, 1), 1))
}

func (h *hlo) PositionIDs() *stablehlo.Value {
	return h.v(h.fn.Iota(shapes.Make(dtypes.Int32, h.B, h.S), 1))
}

func (h *hlo) reshape(x *stablehlo.Value, dims ...int) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	return h.v(stablehlo.Reshape(x, shapes.Make(x.Shape().DType, dims...)))
}

func (h *hlo) convert(x *stablehlo.Value, dt dtypes.DType) *stablehlo.Value {
	if h.err != nil || x.Shape().DType == dt {
		return x
	}
	return h.v(stablehlo.Convert(x, dt))
}

func (h *hlo) Embed(table, ids *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return table
	}
	d := ids.Shape().Dimensions
	H := table.Shape().Dimensions[1]
	idx := h.reshape(ids, append(slices.Clone(d), 1)...)
	g := h.v(stablehlo.Gather(table, idx, len(d), []int{len(d)}, []int{0}, nil, nil, []int{0}, []int{1, H}, false))
	return h.convert(g, dtypes.Float32)
}

// dot is DotGeneral with a float32 result, at the highest precision when
// the inputs are float32 (no TF32 shortcuts on GPUs).
func (h *hlo) dot(a *stablehlo.Value, ac, ab []int, b *stablehlo.Value, bc, bb []int) *stablehlo.Value {
	if h.err != nil {
		return a
	}
	g := stablehlo.DotGeneral(a, ac, ab, b, bc, bb).OutputDType(dtypes.Float32)
	if a.Shape().DType == dtypes.Float32 {
		g = g.Precision(types.DotGeneralPrecisionHighest, types.DotGeneralPrecisionHighest)
	}
	return h.v(g.Done())
}

func (h *hlo) Linear(x, w *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	x = h.convert(x, w.Shape().DType)
	return h.dot(x, []int{x.Shape().Rank() - 1}, nil, w, []int{1}, nil)
}

// binary broadcasts a and b numpy-style and applies op.
func (h *hlo) binary(op func(a, b *stablehlo.Value) (*stablehlo.Value, error), a, b *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return a
	}
	da, db := a.Shape().Dimensions, b.Shape().Dimensions
	dims, _, _, ok := broadcastDims(da, db)
	if !ok {
		h.keep(fmt.Errorf("cannot broadcast %v with %v: %w", da, db, errdefs.ErrInvalidInput))
		return a
	}
	a, b = h.broadcast(a, dims), h.broadcast(b, dims)
	return h.v(op(a, b))
}

// broadcast stretches x to dims, trailing axes aligned.
func (h *hlo) broadcast(x *stablehlo.Value, dims []int) *stablehlo.Value {
	d := x.Shape().Dimensions
	if slices.Equal(d, dims) || h.err != nil {
		return x
	}
	axes := make([]int, len(d))
	for i := range axes {
		axes[i] = len(dims) - len(d) + i
	}
	return h.v(stablehlo.BroadcastInDim(x, shapes.Make(x.Shape().DType, dims...), axes))
}

func (h *hlo) Add(a, b *stablehlo.Value) *stablehlo.Value { return h.binary(stablehlo.Add, a, b) }
func (h *hlo) Sub(a, b *stablehlo.Value) *stablehlo.Value { return h.binary(stablehlo.Subtract, a, b) }
func (h *hlo) Mul(a, b *stablehlo.Value) *stablehlo.Value { return h.binary(stablehlo.Multiply, a, b) }
func (h *hlo) Div(a, b *stablehlo.Value) *stablehlo.Value { return h.binary(stablehlo.Divide, a, b) }

func (h *hlo) unary(op func(*stablehlo.Value) (*stablehlo.Value, error), x *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	return h.v(op(x))
}

func (h *hlo) Neg(x *stablehlo.Value) *stablehlo.Value     { return h.unary(stablehlo.Negate, x) }
func (h *hlo) Rsqrt(x *stablehlo.Value) *stablehlo.Value   { return h.unary(stablehlo.Rsqrt, x) }
func (h *hlo) Cos(x *stablehlo.Value) *stablehlo.Value     { return h.unary(stablehlo.Cosine, x) }
func (h *hlo) Sin(x *stablehlo.Value) *stablehlo.Value     { return h.unary(stablehlo.Sine, x) }
func (h *hlo) Sigmoid(x *stablehlo.Value) *stablehlo.Value { return h.unary(stablehlo.Logistic, x) }
func (h *hlo) Tanh(x *stablehlo.Value) *stablehlo.Value    { return h.unary(stablehlo.Tanh, x) }
func (h *hlo) Erf(x *stablehlo.Value) *stablehlo.Value     { return h.unary(stablehlo.Erf, x) }

// reducer returns (once) the scalar closure a, b -> op(a, b) of dt.
func (h *hlo) reducer(slot **stablehlo.Function, dt dtypes.DType, op func(a, b *stablehlo.Value) (*stablehlo.Value, error)) *stablehlo.Function {
	if *slot != nil {
		return *slot
	}
	f := h.fn.Closure()
	a, err := f.NamedInput("lhs", shapes.Make(dt))
	h.keep(err)
	b, err := f.NamedInput("rhs", shapes.Make(dt))
	h.keep(err)
	if h.err == nil {
		r, err := op(a, b)
		h.keep(err)
		if h.err == nil {
			h.keep(f.Return(r))
		}
	}
	*slot = f
	return f
}

// reduceLast reduces the last axis with op from init, keeping it as size 1.
func (h *hlo) reduceLast(x *stablehlo.Value, slot **stablehlo.Function, op func(a, b *stablehlo.Value) (*stablehlo.Value, error), init float64) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	dt := x.Shape().DType
	f := h.reducer(slot, dt, op)
	var iv *stablehlo.Value
	if dt == dtypes.Int32 {
		iv = h.v(h.fn.ConstantFromScalar(int32(init)))
	} else {
		iv = h.Const(init)
	}
	d := x.Shape().Dimensions
	r := h.v(stablehlo.Reduce(x, iv, f, len(d)-1))
	return h.reshape(r, append(slices.Clone(d[:len(d)-1]), 1)...)
}

func (h *hlo) Mean(x *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	n := x.Shape().Dimensions[x.Shape().Rank()-1]
	return h.Div(h.reduceLast(x, &h.sumFn, stablehlo.Add, 0), h.Const(float64(n)))
}

func (h *hlo) Softmax(x *stablehlo.Value) *stablehlo.Value {
	e := h.unary(stablehlo.Exponential, h.Sub(x, h.reduceLast(x, &h.maxFn, stablehlo.Maximum, math.Inf(-1))))
	return h.Div(e, h.reduceLast(e, &h.sumFn, stablehlo.Add, 0))
}

func (h *hlo) Slice(x *stablehlo.Value, from, to int) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	d := x.Shape().Dimensions
	starts, limits := make([]int, len(d)), slices.Clone(d)
	starts[len(d)-1], limits[len(d)-1] = from, to
	return h.v(stablehlo.Slice(x, starts, limits, nil))
}

func (h *hlo) Concat(a, b *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return a
	}
	return h.v(stablehlo.Concatenate(a.Shape().Rank()-1, a, b))
}

func (h *hlo) SplitHeads(x *stablehlo.Value, n int) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	d := x.Shape().Dimensions
	return h.reshape(x, append(slices.Clone(d[:len(d)-1]), n, d[len(d)-1]/n)...)
}

func (h *hlo) MergeHeads(x *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	d := x.Shape().Dimensions
	r := len(d)
	return h.reshape(x, append(slices.Clone(d[:r-2]), d[r-2]*d[r-1])...)
}

func (h *hlo) transpose(x *stablehlo.Value, perm ...int) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	return h.v(stablehlo.Transpose(x, perm...))
}

func (h *hlo) Scores(q, k *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return q
	}
	qd, kd := q.Shape().Dimensions, k.Shape().Dimensions
	B, S, nQ, D, T, nK := qd[0], qd[1], qd[2], qd[3], kd[1], kd[2]
	// Heads to the front on q (S x D per head), not on the scores (S x T
	// per head, the larger tensor): the product comes out in its final order.
	q = h.transpose(h.reshape(h.convert(q, h.compute), B, S, nK, nQ/nK, D), 0, 2, 3, 1, 4) // [B, nK, rep, S, D]
	k = h.convert(k, h.compute)
	s := h.dot(q, []int{4}, []int{0, 1}, k, []int{3}, []int{0, 2}) // [B, nK, rep, S, T]
	return h.reshape(s, B, nQ, S, T)
}

func (h *hlo) Context(p, v *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return p
	}
	pd, vd := p.Shape().Dimensions, v.Shape().Dimensions
	B, nQ, S, T, nK, D := pd[0], pd[1], pd[2], pd[3], vd[2], vd[3]
	p = h.reshape(h.convert(p, h.compute), B, nK, nQ/nK, S, T)
	v = h.convert(v, h.compute)
	c := h.dot(p, []int{4}, []int{0, 1}, v, []int{1}, []int{0, 2}) // [B, nK, rep, S, D]
	return h.reshape(h.transpose(c, 0, 3, 1, 2, 4), B, S, nQ, D)
}

func (h *hlo) compare(a, b *stablehlo.Value, dir types.ComparisonDirection) *stablehlo.Value {
	if h.err != nil {
		return a
	}
	return h.v(stablehlo.Compare(a, b, dir, types.CompareSigned))
}

func (h *hlo) AttentionBias(causal bool) *stablehlo.Value {
	B, S := h.B, h.S
	full := []int{B, 1, S, S}
	zero := h.v(h.fn.ConstantFromScalar(int32(0)))
	keyOK := h.compare(h.mask, h.broadcast(zero, []int{B, S}), types.CompareNE) // [B, T]
	ok := h.v(stablehlo.BroadcastInDim(keyOK, shapes.Make(dtypes.Bool, full...), []int{0, 3}))
	if causal {
		s := h.v(h.fn.Iota(shapes.Make(dtypes.Int32, S, S), 0))
		t := h.v(h.fn.Iota(shapes.Make(dtypes.Int32, S, S), 1))
		c := h.v(stablehlo.BroadcastInDim(h.compare(t, s, types.CompareLE), shapes.Make(dtypes.Bool, full...), []int{2, 3}))
		ok = h.v(stablehlo.And(ok, c))
	}
	if h.mode == modePast { // keys [past ; own]
		ok = h.concatAxis(3, h.pastVisible(), ok)
		full = []int{B, 1, S, h.P + S}
	}
	if h.err != nil {
		return ok
	}
	return h.v(stablehlo.Select(ok, h.broadcast(h.Const(0), full), h.broadcast(h.Const(-1e9), full)))
}

func (h *hlo) Last(x *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	B, S := h.B, h.S
	n := h.reduceLast(h.mask, &h.sumFnI, stablehlo.Add, 0) // [B, 1]
	one := h.v(h.fn.ConstantFromScalar(int32(1)))
	last := h.v(stablehlo.Subtract(n, h.broadcast(one, []int{B, 1})))
	pos := h.v(h.fn.Iota(shapes.Make(dtypes.Int32, B, S), 1))
	sel := h.convert(h.compare(pos, h.broadcast(last, []int{B, S}), types.CompareEQ), dtypes.Float32)
	return h.dot(sel, []int{1}, []int{0}, x, []int{1}, []int{0}) // [B, H]
}

func (h *hlo) First(x *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	d := x.Shape().Dimensions
	f := h.v(stablehlo.Slice(x, []int{0, 0, 0}, []int{d[0], 1, d[2]}, nil))
	return h.reshape(f, d[0], d[2])
}
