package arch

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"twostage/errdefs"
)

// Source reads checkpoint tensors by canonical name (see Ops.Weight).
type Source interface {
	// Float32 reads a whole tensor widened to float32, with its dimensions.
	Float32(name string) ([]float32, []int, error)
	// Rows reads rows of a rank-2 tensor widened to float32.
	Rows(name string, rows []int) ([][]float32, error)
}

// Tensor is a dense row-major float64 tensor (the float64 backend's
// handle). Integer inputs are held as float64 too.
type Tensor struct {
	Dims []int
	Data []float64
	name string // a weight read on use (vocabulary tables row by row)
}

func (t *Tensor) size() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Reference evaluates a model in float64, on weights read once from src and
// kept (vocabulary-sized tables are read row by row). It is safe for
// concurrent use and meant for tiny checkpoints.
type Reference struct {
	m   *Model
	src Source
	mu  sync.Mutex
	w   map[string]*Tensor
}

// NewReference returns a float64 evaluator of m over src.
func NewReference(m *Model, src Source) *Reference {
	return &Reference{m: m, src: src, w: map[string]*Tensor{}}
}

// Eval runs the model on a right-padded batch: ids, mask and types (nil:
// zeros) are [B, S] row-major. It returns Output's tensor: raw scores [B, 1]
// or hidden states [B, S, H].
func (r *Reference) Eval(ids, mask, types []int64, B, S int) (*Tensor, error) {
	e, err := r.batch(ids, mask, types, B, S)
	if err != nil {
		return nil, err
	}
	return e.run()
}

// batch checks a right-padded [B, S] batch (types nil: zeros) and returns
// its evaluator.
func (r *Reference) batch(ids, mask, types []int64, B, S int) (*f64, error) {
	if len(ids) != B*S || len(mask) != B*S || (types != nil && len(types) != B*S) {
		return nil, fmt.Errorf("arch: inputs of %d, %d tokens for a [%d %d] batch: %w", len(ids), len(mask), B, S, errdefs.ErrInvalidInput)
	}
	in := func(v []int64) *Tensor {
		t := &Tensor{Dims: []int{B, S}, Data: make([]float64, B*S)}
		for i, x := range v {
			t.Data[i] = float64(x)
		}
		return t
	}
	if types == nil {
		types = make([]int64, B*S)
	}
	return &f64{r: r, ids: in(ids), mask: in(mask), types: in(types), B: B, S: S}, nil
}

// Past holds the keys and values of N prefixes, as Prefix returns them:
// per layer, K[l] and V[l] are [N, P, nK, D] (keys after k_norm, before the
// rotary embedding); prefix n has Lens[n] real tokens, right-padded to P.
type Past struct {
	Lens []int
	P    int
	K, V []*Tensor
}

// Prefix evaluates N prefixes (right-padded ids and mask, [N, P] row-major)
// and returns their keys and values (a decoder's only).
func (r *Reference) Prefix(ids, mask []int64, N, P int) (*Past, error) {
	if !r.m.decoder() {
		return nil, fmt.Errorf("arch: family %s has no prefix: %w", r.m.Family, errdefs.ErrUnsupported)
	}
	e, err := r.batch(ids, mask, nil, N, P)
	if err != nil {
		return nil, err
	}
	e.record = true
	if _, err := e.run(); err != nil {
		return nil, err
	}
	past := &Past{P: P, K: e.presentK, V: e.presentV, Lens: make([]int, N)}
	for n := range N {
		for s := range P {
			past.Lens[n] += int(mask[n*P+s])
		}
	}
	return past, nil
}

// EvalPast evaluates rows that continue prefixes: ids and mask [B, S] are
// each row's own tokens (right-padded), which sit after its prefix,
// past's row index[b] (so at positions Lens[index[b]] and on). It returns
// the raw scores [B, 1], which equal Eval's on the whole rows.
func (r *Reference) EvalPast(ids, mask []int64, B, S int, past *Past, index []int) (*Tensor, error) {
	if !r.m.decoder() {
		return nil, fmt.Errorf("arch: family %s continues no prefix: %w", r.m.Family, errdefs.ErrUnsupported)
	}
	if len(index) != B || past == nil || len(past.K) != r.m.Config.NumHiddenLayers || len(past.V) != len(past.K) {
		return nil, fmt.Errorf("arch: past of %d rows for a batch of %d: %w", len(index), B, errdefs.ErrInvalidInput)
	}
	for _, i := range index {
		if i < 0 || i >= len(past.Lens) {
			return nil, fmt.Errorf("arch: prefix index %d outside the past's %d prefixes: %w", i, len(past.Lens), errdefs.ErrInvalidInput)
		}
	}
	e, err := r.batch(ids, mask, nil, B, S)
	if err != nil {
		return nil, err
	}
	e.past, e.index = past, index
	return e.run()
}

// pastLen is row b's prefix length (0 without a past).
func (e *f64) pastLen(b int) int {
	if e.past == nil {
		return 0
	}
	return e.past.Lens[e.index[b]]
}

// Past implements Prefixed: the rows' prefix keys and values.
func (e *f64) Past(layer int) (k, v *Tensor, ok bool) {
	if e.past == nil {
		return nil, nil, false
	}
	gather := func(t *Tensor) *Tensor {
		N := t.Dims[0]
		row := t.size() / max(N, 1)
		out := &Tensor{Dims: append([]int{e.B}, t.Dims[1:]...), Data: make([]float64, 0, e.B*row)}
		for _, i := range e.index {
			out.Data = append(out.Data, t.Data[i*row:(i+1)*row]...)
		}
		return out
	}
	return gather(e.past.K[layer]), gather(e.past.V[layer]), true
}

// PastPositions implements Prefixed.
func (e *f64) PastPositions() *Tensor {
	t := &Tensor{Dims: []int{1, e.past.P, 1, 1}, Data: make([]float64, e.past.P)}
	for i := range t.Data {
		t.Data[i] = float64(i)
	}
	return t
}

// ConcatSeq implements Prefixed.
func (e *f64) ConcatSeq(a, b *Tensor) *Tensor {
	B := a.Dims[0]
	ra, rb := a.size()/B, b.size()/B
	out := &Tensor{Dims: append([]int{B, a.Dims[1] + b.Dims[1]}, a.Dims[2:]...), Data: make([]float64, 0, a.size()+b.size())}
	for i := range B {
		out.Data = append(out.Data, a.Data[i*ra:(i+1)*ra]...)
		out.Data = append(out.Data, b.Data[i*rb:(i+1)*rb]...)
	}
	return out
}

// Present implements Prefixed: a Prefix evaluation keeps the keys and values.
func (e *f64) Present(layer int, k, v *Tensor) {
	if e.record {
		e.presentK = append(e.presentK, k)
		e.presentV = append(e.presentV, v)
	}
}

// run evaluates the model. Ops go on after the first error with empty
// tensors, and may then fail on their shapes: such a panic is dropped for
// the recorded error (a panic without one is a bug and goes on).
func (e *f64) run() (out *Tensor, err error) {
	defer func() {
		if e.err != nil {
			recover()
			out, err = nil, e.err
		}
	}()
	return Output[*Tensor](e, e.r.m), nil
}

// f64 implements Ops in float64.
type f64 struct {
	r                *Reference
	ids, mask, types *Tensor
	B, S             int
	err              error

	record             bool // keep Present's keys and values (Prefix)
	presentK, presentV []*Tensor
	past               *Past // rows continue these prefixes (EvalPast)
	index              []int
}

var _ Prefixed[*Tensor] = (*f64)(nil)

func (e *f64) fail(err error) *Tensor {
	if e.err == nil {
		e.err = err
	}
	return &Tensor{Dims: []int{0}}
}

func (e *f64) IDs() *Tensor     { return e.ids }
func (e *f64) Mask() *Tensor    { return e.mask }
func (e *f64) TypeIDs() *Tensor { return e.types }

func (e *f64) Weight(name string, dims ...int) *Tensor {
	return &Tensor{Dims: dims, name: name}
}

// load materializes a weight tensor (cached on the Reference).
func (e *f64) load(t *Tensor) *Tensor {
	if t.Data != nil || t.name == "" {
		return t
	}
	r := e.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.w[t.name]; w != nil {
		return w
	}
	v, dims, err := r.src.Float32(t.name)
	if err != nil {
		return e.fail(fmt.Errorf("arch: %w", err))
	}
	n := 1
	for _, d := range dims {
		n *= d
	}
	if !slices.Equal(dims, t.Dims) {
		return e.fail(fmt.Errorf("arch: tensor %s has shape %v, config.json implies %v: %w", t.name, dims, t.Dims, errdefs.ErrInvalidInput))
	}
	w := &Tensor{Dims: dims, Data: make([]float64, n)}
	for i, x := range v {
		w.Data[i] = float64(x)
	}
	r.w[t.name] = w
	return w
}

func (e *f64) Rows(name string, rows []int, dim int) *Tensor {
	v, err := e.r.src.Rows(name, rows)
	if err != nil {
		return e.fail(fmt.Errorf("arch: %w", err))
	}
	t := &Tensor{Dims: []int{len(rows), dim}}
	for _, row := range v {
		if len(row) != dim {
			return e.fail(fmt.Errorf("arch: tensor %s has rows of %d, want %d: %w", name, len(row), dim, errdefs.ErrInvalidInput))
		}
		for _, x := range row {
			t.Data = append(t.Data, float64(x))
		}
	}
	return t
}

func (e *f64) Const(v float64) *Tensor { return &Tensor{Dims: nil, Data: []float64{v}} }
func (e *f64) Vector(v []float64) *Tensor {
	return &Tensor{Dims: []int{len(v)}, Data: slices.Clone(v)}
}

func (e *f64) Positions() *Tensor {
	if e.past != nil {
		t := &Tensor{Dims: []int{e.B, e.S, 1, 1}, Data: make([]float64, e.B*e.S)}
		for i := range t.Data {
			t.Data[i] = float64(e.pastLen(i/e.S) + i%e.S)
		}
		return t
	}
	t := &Tensor{Dims: []int{1, e.S, 1, 1}, Data: make([]float64, e.S)}
	for i := range t.Data {
		t.Data[i] = float64(i)
	}
	return t
}

func (e *f64) PositionIDs() *Tensor {
	t := &Tensor{Dims: []int{e.B, e.S}, Data: make([]float64, e.B*e.S)}
	for i := range t.Data {
		t.Data[i] = float64(i % e.S)
	}
	return t
}

func (e *f64) Embed(table, ids *Tensor) *Tensor {
	if len(table.Dims) != 2 {
		return e.fail(fmt.Errorf("arch: embedding table of rank %d: %w", len(table.Dims), errdefs.ErrInvalidInput))
	}
	V, H := table.Dims[0], table.Dims[1]
	out := &Tensor{Dims: append(slices.Clone(ids.Dims), H), Data: make([]float64, len(ids.Data)*H)}
	var rows []int
	for _, id := range ids.Data {
		if id < 0 || int(id) >= V {
			return e.fail(fmt.Errorf("arch: token id %v outside the table's %d rows: %w", id, V, errdefs.ErrInvalidInput))
		}
		rows = append(rows, int(id))
	}
	if table.Data == nil && table.name != "" && V > 4096 { // vocabulary table: only the rows used
		v, err := e.r.src.Rows(table.name, rows)
		if err != nil {
			return e.fail(fmt.Errorf("arch: %w", err))
		}
		for i, row := range v {
			for j, x := range row {
				out.Data[i*H+j] = float64(x)
			}
		}
		return out
	}
	table = e.load(table)
	if e.err != nil {
		return table
	}
	for i, r := range rows {
		copy(out.Data[i*H:(i+1)*H], table.Data[r*H:(r+1)*H])
	}
	return out
}

func (e *f64) Linear(x, w *Tensor) *Tensor {
	w = e.load(w)
	if e.err != nil {
		return w
	}
	N, K := w.Dims[0], w.Dims[1]
	if x.Dims[len(x.Dims)-1] != K {
		return e.fail(fmt.Errorf("arch: linear of %v by %v: %w", x.Dims, w.Dims, errdefs.ErrInvalidInput))
	}
	rows := x.size() / K
	out := &Tensor{Dims: append(slices.Clone(x.Dims[:len(x.Dims)-1]), N), Data: make([]float64, rows*N)}
	for r := 0; r < rows; r++ {
		xr := x.Data[r*K : (r+1)*K]
		for n := 0; n < N; n++ {
			out.Data[r*N+n] = dot(xr, w.Data[n*K:(n+1)*K])
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// binary applies f element-wise with numpy broadcasting.
func (e *f64) binary(a, b *Tensor, f func(x, y float64) float64) *Tensor {
	a, b = e.load(a), e.load(b)
	if e.err != nil {
		return a
	}
	dims, da, db, ok := broadcastDims(a.Dims, b.Dims)
	if !ok {
		return e.fail(fmt.Errorf("arch: cannot broadcast %v with %v: %w", a.Dims, b.Dims, errdefs.ErrInvalidInput))
	}
	rank := len(dims)
	strides := func(d []int) []int {
		s := make([]int, rank)
		acc := 1
		for i := rank - 1; i >= 0; i-- {
			if d[i] != 1 {
				s[i] = acc
			}
			acc *= d[i]
		}
		return s
	}
	sa, sb := strides(da), strides(db)
	out := &Tensor{Dims: dims, Data: make([]float64, 0, max(a.size(), b.size()))}
	idx := make([]int, rank)
	n := 1
	for _, d := range dims {
		n *= d
	}
	for k := 0; k < n; k++ {
		ia, ib := 0, 0
		for i := range idx {
			ia += idx[i] * sa[i]
			ib += idx[i] * sb[i]
		}
		out.Data = append(out.Data, f(a.Data[ia], b.Data[ib]))
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

func (e *f64) unary(x *Tensor, f func(float64) float64) *Tensor {
	x = e.load(x)
	out := &Tensor{Dims: slices.Clone(x.Dims), Data: make([]float64, len(x.Data))}
	for i, v := range x.Data {
		out.Data[i] = f(v)
	}
	return out
}

func (e *f64) Add(a, b *Tensor) *Tensor {
	return e.binary(a, b, func(x, y float64) float64 { return x + y })
}
func (e *f64) Sub(a, b *Tensor) *Tensor {
	return e.binary(a, b, func(x, y float64) float64 { return x - y })
}
func (e *f64) Mul(a, b *Tensor) *Tensor {
	return e.binary(a, b, func(x, y float64) float64 { return x * y })
}
func (e *f64) Div(a, b *Tensor) *Tensor {
	return e.binary(a, b, func(x, y float64) float64 { return x / y })
}
func (e *f64) Neg(x *Tensor) *Tensor { return e.unary(x, func(v float64) float64 { return -v }) }
func (e *f64) Rsqrt(x *Tensor) *Tensor {
	return e.unary(x, func(v float64) float64 { return 1 / math.Sqrt(v) })
}
func (e *f64) Cos(x *Tensor) *Tensor  { return e.unary(x, math.Cos) }
func (e *f64) Sin(x *Tensor) *Tensor  { return e.unary(x, math.Sin) }
func (e *f64) Tanh(x *Tensor) *Tensor { return e.unary(x, math.Tanh) }
func (e *f64) Erf(x *Tensor) *Tensor  { return e.unary(x, math.Erf) }
func (e *f64) Sigmoid(x *Tensor) *Tensor {
	return e.unary(x, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) })
}

// lastAxis applies f to each vector along the last axis, writing m values.
func (e *f64) lastAxis(x *Tensor, m int, f func(in, out []float64)) *Tensor {
	x = e.load(x)
	n := x.Dims[len(x.Dims)-1]
	rows := x.size() / max(n, 1)
	out := &Tensor{Dims: append(slices.Clone(x.Dims[:len(x.Dims)-1]), m), Data: make([]float64, rows*m)}
	for r := 0; r < rows; r++ {
		f(x.Data[r*n:(r+1)*n], out.Data[r*m:(r+1)*m])
	}
	return out
}

func (e *f64) Mean(x *Tensor) *Tensor {
	return e.lastAxis(x, 1, func(in, out []float64) {
		s := 0.0
		for _, v := range in {
			s += v
		}
		out[0] = s / float64(len(in))
	})
}

func (e *f64) Softmax(x *Tensor) *Tensor {
	return e.lastAxis(x, x.Dims[len(x.Dims)-1], func(in, out []float64) {
		mx := math.Inf(-1)
		for _, v := range in {
			mx = math.Max(mx, v)
		}
		s := 0.0
		for i, v := range in {
			out[i] = math.Exp(v - mx)
			s += out[i]
		}
		for i := range out {
			out[i] /= s
		}
	})
}

func (e *f64) Slice(x *Tensor, from, to int) *Tensor {
	return e.lastAxis(x, to-from, func(in, out []float64) { copy(out, in[from:to]) })
}

func (e *f64) Concat(a, b *Tensor) *Tensor {
	na, nb := a.Dims[len(a.Dims)-1], b.Dims[len(b.Dims)-1]
	rows := a.size() / na
	out := &Tensor{Dims: append(slices.Clone(a.Dims[:len(a.Dims)-1]), na+nb), Data: make([]float64, 0, rows*(na+nb))}
	for r := 0; r < rows; r++ {
		out.Data = append(out.Data, a.Data[r*na:(r+1)*na]...)
		out.Data = append(out.Data, b.Data[r*nb:(r+1)*nb]...)
	}
	return out
}

func (e *f64) SplitHeads(x *Tensor, n int) *Tensor {
	d := x.Dims[len(x.Dims)-1]
	return &Tensor{Dims: append(slices.Clone(x.Dims[:len(x.Dims)-1]), n, d/n), Data: x.Data}
}

func (e *f64) MergeHeads(x *Tensor) *Tensor {
	r := len(x.Dims)
	return &Tensor{Dims: append(slices.Clone(x.Dims[:r-2]), x.Dims[r-2]*x.Dims[r-1]), Data: x.Data}
}

func (e *f64) Scores(q, k *Tensor) *Tensor {
	B, S, nQ, D := q.Dims[0], q.Dims[1], q.Dims[2], q.Dims[3]
	T, nK := k.Dims[1], k.Dims[2]
	rep := nQ / nK
	out := &Tensor{Dims: []int{B, nQ, S, T}, Data: make([]float64, B*nQ*S*T)}
	for b := 0; b < B; b++ {
		for h := 0; h < nQ; h++ {
			for s := 0; s < S; s++ {
				qv := q.Data[((b*S+s)*nQ+h)*D:][:D]
				for t := 0; t < T; t++ {
					out.Data[((b*nQ+h)*S+s)*T+t] = dot(qv, k.Data[((b*T+t)*nK+h/rep)*D:][:D])
				}
			}
		}
	}
	return out
}

func (e *f64) Context(p, v *Tensor) *Tensor {
	B, nQ, S, T := p.Dims[0], p.Dims[1], p.Dims[2], p.Dims[3]
	nK, D := v.Dims[2], v.Dims[3]
	rep := nQ / nK
	out := &Tensor{Dims: []int{B, S, nQ, D}, Data: make([]float64, B*S*nQ*D)}
	for b := 0; b < B; b++ {
		for h := 0; h < nQ; h++ {
			for s := 0; s < S; s++ {
				o := out.Data[((b*S+s)*nQ+h)*D:][:D]
				for t := 0; t < T; t++ {
					w := p.Data[((b*nQ+h)*S+s)*T+t]
					vv := v.Data[((b*T+t)*nK+h/rep)*D:][:D]
					for d := range o {
						o[d] += w * vv[d]
					}
				}
			}
		}
	}
	return out
}

func (e *f64) AttentionBias(causal bool) *Tensor {
	B, S := e.B, e.S
	if e.past != nil { // keys [past ; own]
		P := e.past.P
		T := P + S
		out := &Tensor{Dims: []int{B, 1, S, T}, Data: make([]float64, B*S*T)}
		for b := 0; b < B; b++ {
			for s := 0; s < S; s++ {
				row := out.Data[(b*S+s)*T:][:T]
				for t := range row {
					visible := t < e.pastLen(b)
					if t >= P {
						j := t - P
						visible = e.mask.Data[b*S+j] != 0 && (!causal || j <= s)
					}
					if !visible {
						row[t] = -1e9
					}
				}
			}
		}
		return out
	}
	out := &Tensor{Dims: []int{B, 1, S, S}, Data: make([]float64, B*S*S)}
	for b := 0; b < B; b++ {
		for s := 0; s < S; s++ {
			for t := 0; t < S; t++ {
				if e.mask.Data[b*S+t] == 0 || (causal && t > s) {
					out.Data[(b*S+s)*S+t] = -1e9
				}
			}
		}
	}
	return out
}

func (e *f64) Last(x *Tensor) *Tensor {
	B, S, H := x.Dims[0], x.Dims[1], x.Dims[2]
	out := &Tensor{Dims: []int{B, H}, Data: make([]float64, B*H)}
	for b := 0; b < B; b++ {
		n := 0
		for s := 0; s < S; s++ {
			n += int(e.mask.Data[b*S+s])
		}
		copy(out.Data[b*H:(b+1)*H], x.Data[(b*S+max(n-1, 0))*H:][:H])
	}
	return out
}

func (e *f64) First(x *Tensor) *Tensor {
	B, S, H := x.Dims[0], x.Dims[1], x.Dims[2]
	out := &Tensor{Dims: []int{B, H}, Data: make([]float64, B*H)}
	for b := 0; b < B; b++ {
		copy(out.Data[b*H:(b+1)*H], x.Data[b*S*H:][:H])
	}
	return out
}

// broadcastDims returns the numpy broadcast of shapes a and b, and a and b
// padded with leading 1s to its rank; ok is false when they do not
// broadcast.
func broadcastDims(a, b []int) (dims, pa, pb []int, ok bool) {
	rank := max(len(a), len(b))
	pad := func(d []int) []int { return append(slices.Repeat([]int{1}, rank-len(d)), d...) }
	pa, pb = pad(a), pad(b)
	dims = make([]int, rank)
	for i := range dims {
		switch {
		case pa[i] == pb[i], pb[i] == 1:
			dims[i] = pa[i]
		case pa[i] == 1:
			dims[i] = pb[i]
		default:
			return nil, nil, nil, false
		}
	}
	return dims, pa, pb, true
}
