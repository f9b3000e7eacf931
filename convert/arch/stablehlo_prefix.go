package arch

import (
	"fmt"

	"github.com/gomlx/go-xla/pkg/stablehlo"
	"github.com/gomlx/go-xla/pkg/types"
	"github.com/gomlx/go-xla/pkg/types/dtypes"
	"github.com/gomlx/go-xla/pkg/types/shapes"
)

// programMode says which of the three StableHLO programs is built.
type programMode int

const (
	modeWhole  programMode = iota // whole rows: scores
	modePrefix                    // prefixes as rows: their keys and values
	modePast                      // rows continuing prefixes: scores
)

// StableHLOPrefix emits a decoder's prefix program: its N rows are the
// distinct prefixes of a batch, right-padded to P tokens (inputs
// input_ids and attention_mask int32 [N, P], then the Params), and its
// outputs are, layer by layer, the keys (after k_norm, before the rotary
// embedding) and values float32 [N, P, nK, D] that StableHLOPast takes
// as its past (Program.Presents). Only the layers' attention inputs are
// computed: the rest of the definition is dead code to the compiler.
//
// A family that is not a decoder wraps errdefs.ErrUnsupported.
func StableHLOPrefix(m *Model, N, P int, compute string) (*Program, error) {
	return emit(m, N, P, 0, 0, modePrefix, compute)
}

// StableHLOPast emits a decoder's continuation program: B rows of S own
// tokens (right-padded) that continue N prefixes right-padded to P tokens.
// Row b continues prefix prefix_index[b], of past_lengths[prefix_index[b]]
// real tokens; its own tokens sit at the positions after them and attend
// to the prefix's real keys and to their own, causally (the Prefixed
// contract). Its inputs are in Program's order (N, P and Past); its
// output is the raw scores [B], equal to those of the whole rows.
//
// A family that is not a decoder wraps errdefs.ErrUnsupported; a shape
// below 1 errdefs.ErrInvalidInput.
func StableHLOPast(m *Model, B, S, N, P int, compute string) (*Program, error) {
	return emit(m, B, S, N, P, modePast, compute)
}

var _ Prefixed[*stablehlo.Value] = (*hlo)(nil)

// pastInputs declares a continuation program's inputs after the ids and
// mask: past_lengths, prefix_index and each layer's past keys and values.
func (h *hlo) pastInputs(m *Model, N, P int) {
	c := m.Config
	h.P = P
	var err error
	h.pastLens, err = h.fn.NamedInput("past_lengths", shapes.Make(dtypes.Int32, N))
	h.keep(err)
	h.index, err = h.fn.NamedInput("prefix_index", shapes.Make(dtypes.Int32, h.B))
	h.keep(err)
	kv := shapes.Make(dtypes.Float32, N, P, c.NumKeyValueHeads, c.HeadDim)
	for l := 0; l < c.NumHiddenLayers; l++ {
		k, err := h.fn.NamedInput(fmt.Sprintf("past_key_%d", l), kv)
		h.keep(err)
		v, err := h.fn.NamedInput(fmt.Sprintf("past_value_%d", l), kv)
		h.keep(err)
		h.pastK, h.pastV = append(h.pastK, k), append(h.pastV, v)
	}
}

// rows gathers x's rows [N, ...] by prefix_index: [B, ...].
func (h *hlo) rows(x *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return x
	}
	d := x.Shape().Dimensions
	idx := h.reshape(h.index, h.B, 1)
	offset := make([]int, len(d)-1)
	for i := range offset {
		offset[i] = i + 1
	}
	sizes := append([]int{1}, d[1:]...)
	return h.v(stablehlo.Gather(x, idx, 1, offset, []int{0}, nil, nil, []int{0}, sizes, false))
}

// lengths is each row's prefix length, int32 [B].
func (h *hlo) lengths() *stablehlo.Value {
	if h.rowPast == nil && h.err == nil {
		h.rowPast = h.rows(h.pastLens)
	}
	if h.err != nil {
		return h.ids
	}
	return h.rowPast
}

// pastPositions is the positions P_b + s of a continuation program's own
// tokens, float32 [B, S, 1, 1].
func (h *hlo) pastPositions() *stablehlo.Value {
	pb := h.lengths()
	if h.err != nil {
		return pb
	}
	B, S := h.B, h.S
	start := h.v(stablehlo.BroadcastInDim(pb, shapes.Make(dtypes.Int32, B, S), []int{0}))
	s := h.v(h.fn.Iota(shapes.Make(dtypes.Int32, B, S), 1))
	pos := h.convert(h.v(stablehlo.Add(start, s)), dtypes.Float32)
	return h.reshape(pos, B, S, 1, 1)
}

// pastVisible is which past keys each row's tokens see, bool [B, 1, S, P]:
// key t where t < P_b.
func (h *hlo) pastVisible() *stablehlo.Value {
	pb := h.lengths()
	if h.err != nil {
		return pb
	}
	dims := []int{h.B, 1, h.S, h.P}
	t := h.v(h.fn.Iota(shapes.Make(dtypes.Int32, dims...), 3))
	n := h.v(stablehlo.BroadcastInDim(pb, shapes.Make(dtypes.Int32, dims...), []int{0}))
	return h.compare(t, n, types.CompareLT)
}

// concatAxis joins a and b on axis.
func (h *hlo) concatAxis(axis int, a, b *stablehlo.Value) *stablehlo.Value {
	if h.err != nil {
		return a
	}
	return h.v(stablehlo.Concatenate(axis, a, b))
}

// Past implements Prefixed: a continuation program's past keys and values
// of layer, gathered for each row.
func (h *hlo) Past(layer int) (k, v *stablehlo.Value, ok bool) {
	if h.mode != modePast {
		return nil, nil, false
	}
	if layer < 0 || layer >= len(h.pastK) {
		h.keep(fmt.Errorf("past of layer %d, program has %d", layer, len(h.pastK)))
		return h.ids, h.ids, true
	}
	return h.rows(h.pastK[layer]), h.rows(h.pastV[layer]), true
}

// PastPositions implements Prefixed.
func (h *hlo) PastPositions() *stablehlo.Value {
	return h.v(h.fn.Iota(shapes.Make(dtypes.Float32, 1, h.P, 1, 1), 1))
}

// ConcatSeq implements Prefixed.
func (h *hlo) ConcatSeq(a, b *stablehlo.Value) *stablehlo.Value { return h.concatAxis(1, a, b) }

// Present implements Prefixed: a prefix program's outputs.
func (h *hlo) Present(layer int, k, v *stablehlo.Value) {
	if h.mode != modePrefix || h.err != nil {
		return
	}
	if layer != len(h.presents)/2 {
		h.keep(fmt.Errorf("present of layer %d after %d layers", layer, len(h.presents)/2))
		return
	}
	h.presents = append(h.presents, h.convert(k, dtypes.Float32), h.convert(v, dtypes.Float32))
}
