package inference

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage/errdefs"
	"twostage/internal/half"
	"twostage/internal/ort"
	"twostage/modeldir"
)

// Graph input and output names the runtime knows.
const (
	inputIDs      = "input_ids"
	inputMask     = "attention_mask"
	inputTypeIDs  = "token_type_ids"
	outLogits     = "logits"
	outSentence   = "sentence_embedding"
	outHidden     = "last_hidden_state"
	outTokenEmbed = "token_embeddings"
)

// ORT returns the built-in ONNX Runtime backend, which serves the
// providers ProviderCPU, ProviderCUDA and ProviderTensorRT. Another
// backend may wrap it (to observe batches, say) and be given to a runtime
// through Options.Backends.
//
// It reads the ONNX contract: inputs among input_ids, attention_mask and
// token_type_ids, int64 [rows, seq]; for Score the output "logits" (or the
// first), float32 or float16, [rows] or [rows, 1]; for Embed the first of
// sentence_embedding, last_hidden_state, token_embeddings (or the first
// output), float32, [rows, width] or [rows, seq, width]. The ONNX Runtime
// library is found as package internal/ort describes (ONNXRUNTIME_LIB,
// TWOSTAGE_DEPS, .deps); the process-wide environment lives while any
// session does.
func ORT() Backend { return ortBackend{} }

type ortBackend struct{}

type ortExec struct {
	sess  *ort.Session
	sig   Signature
	task  Task
	feeds []string // per session input: its name
	out   int      // index of the read output

	// A decoder graph's shared-prefix inputs and outputs (modeldir):
	// per session input and output, its past slot (2*layer for keys,
	// 2*layer+1 for values; -1 for others), and the width of a past row.
	pastIn, presentOut []int
	pastWidth          int64

	// past holds the outputs of the latest prefix passes (pastCache's
	// rule), so that a call whose pairs fill several batches runs its
	// prefix once. Only Run touches it (one goroutine); Close releases it.
	past       pastCache[*ortPast]
	prefixRuns int // prefix passes run (tests)
}

// pastCacheSize is how many prefix passes' keys and values an executor
// keeps (a few calls interleaved in the queue each find theirs), and
// pastCacheBytes the most they may hold together (older passes are dropped
// first; the latest is kept whatever its size): for
// zerank-2 a 300-token prefix's keys and values are about 88 MB (float32:
// 36 layers x 2 x 300 x 1,024).
const (
	pastCacheSize  = 4
	pastCacheBytes = 1 << 30
)

// ortPast is one prefix pass: its outputs (the presents, by session
// output) and the lengths of its prefixes.
type ortPast struct {
	out  []ortgo.Value
	lens []int64
}

func modelErr(path, format string, args ...any) error {
	return fmt.Errorf("inference: %s: %s: %w", path, fmt.Sprintf(format, args...), ErrModel)
}

// Open implements Backend.
func (ortBackend) Open(path string, task Task, o *ModelOptions) (Executor, error) {
	switch o.provider() {
	case ProviderCPU, ProviderCUDA, ProviderTensorRT:
	default:
		return nil, fmt.Errorf("inference: unknown execution provider %q (want cpu, cuda, tensorrt or xla, or one of the runtime's Backends): %w", o.Provider, errdefs.ErrInvalidInput)
	}
	if o.Platform != "" || o.Compute != "" || o.Family != "" {
		return nil, fmt.Errorf("inference: model options Platform, Compute and Family are for provider xla, not %s: %w", o.provider(), errdefs.ErrInvalidInput)
	}
	inputs, outputs, err := ort.ReadModelIO(path)
	if err != nil {
		return nil, fmt.Errorf("inference: %w", err)
	}
	e := &ortExec{task: task, past: pastCache[*ortPast]{release: func(p *ortPast) { destroy(p.out) }}}
	if err := e.bind(path, inputs, outputs); err != nil {
		return nil, err
	}
	cfg := o.SessionConfig
	if o.provider() == ProviderCPU && cfg[spinKey] == "" {
		cfg = map[string]string{spinKey: "0"}
		for k, v := range o.SessionConfig {
			cfg[k] = v
		}
	}
	e.sess, err = ort.NewSession(path, &ort.SessionOptions{
		Provider:        ort.Provider(o.provider()),
		DeviceID:        o.DeviceID,
		IntraOpThreads:  o.IntraOpThreads,
		InterOpThreads:  o.InterOpThreads,
		ProviderOptions: o.ProviderOptions,
		ConfigEntries:   cfg,
	})
	if err != nil {
		return nil, fmt.Errorf("inference: %w", err)
	}
	return e, nil
}

// bind checks the graph's inputs and picks its output.
func (e *ortExec) bind(path string, inputs, outputs []ort.IOInfo) error {
	var prefixInputs, pastSlots int
	for _, in := range inputs {
		e.pastIn = append(e.pastIn, -1)
		switch in.Name {
		case inputIDs:
		case inputMask:
			e.sig.Mask = true
		case inputTypeIDs:
			e.sig.TypeIDs = true
		case modeldir.InputPastLengths, modeldir.InputPrefixIndex, modeldir.InputPresentRows:
			prefixInputs++
		default:
			slot, ok := pastSlot(in.Name, modeldir.InputPastKey, modeldir.InputPastValue)
			if !ok {
				return modelErr(path, "unexpected model input %q (a model takes input_ids, attention_mask and optionally token_type_ids, or a decoder's shared-prefix inputs)", in.Name)
			}
			if in.Type != ortgo.TensorElementDataTypeFloat || len(in.Shape) != 3 || in.Shape[2] <= 0 {
				return modelErr(path, "input %s has element type %v and shape %v, want float32 [prefixes, past, width]", in.Name, in.Type, in.Shape)
			}
			e.pastIn[len(e.pastIn)-1] = slot
			e.pastWidth = in.Shape[2]
			pastSlots++
			e.feeds = append(e.feeds, in.Name)
			continue
		}
		if in.Type != ortgo.TensorElementDataTypeInt64 {
			return modelErr(path, "input %s has element type %v, want int64", in.Name, in.Type)
		}
		e.feeds = append(e.feeds, in.Name)
	}
	presentSlots := 0
	for _, x := range outputs {
		slot, ok := pastSlot(x.Name, modeldir.OutputPresentKey, modeldir.OutputPresentValue)
		if !ok {
			slot = -1
		} else {
			presentSlots++
		}
		e.presentOut = append(e.presentOut, slot)
	}
	switch {
	case prefixInputs == 0 && pastSlots == 0:
	case prefixInputs == 3 && pastSlots > 0 && pastSlots%2 == 0 && presentSlots == pastSlots:
		e.sig.Prefix = true
	default:
		return modelErr(path, "incomplete shared-prefix inputs and outputs (%d of past_lengths, prefix_index and present_rows; %d past and %d present tensors)", prefixInputs, pastSlots, presentSlots)
	}
	has := func(name string) bool {
		for _, f := range e.feeds {
			if f == name {
				return true
			}
		}
		return false
	}
	if !has(inputIDs) {
		return modelErr(path, "the model lacks the input_ids input")
	}
	switch e.task {
	case Score:
		for i, x := range outputs {
			if x.Name == outLogits {
				e.out = i
			}
		}
		switch t := outputs[e.out].Type; t {
		case ortgo.TensorElementDataTypeFloat, ortgo.TensorElementDataTypeFloat16:
		default:
			return modelErr(path, "score output %s has element type %v, want float32 or float16", outputs[e.out].Name, t)
		}
		e.sig.Width = 1
	case Embed:
		pick := -1
		for _, want := range []string{outSentence, outHidden, outTokenEmbed} {
			for i, x := range outputs {
				if x.Name == want && pick < 0 {
					pick = i
				}
			}
		}
		e.out = max(pick, 0)
		x := outputs[e.out]
		if x.Type != ortgo.TensorElementDataTypeFloat {
			return modelErr(path, "output %s has element type %v, want float32", x.Name, x.Type)
		}
		switch {
		case x.Name == outSentence || len(x.Shape) == 2:
			e.sig.Pooled = true
		case len(x.Shape) == 3:
		default:
			return modelErr(path, "output %s has shape %v, want [batch, seq, hidden] or [batch, hidden]", x.Name, x.Shape)
		}
		e.sig.Width = int(max(x.Shape[len(x.Shape)-1], 0))
	default:
		return fmt.Errorf("inference: unknown task %d: %w", e.task, errdefs.ErrInvalidInput)
	}
	e.sig.Output = outputs[e.out].Name
	return nil
}

func (e *ortExec) Signature() Signature { return e.sig }

// Shape implements Executor: ONNX Runtime runs any shape.
func (e *ortExec) Shape(rows, seq int) (int, int) { return rows, seq }

// pastSlot parses a per-layer past or present name: 2*layer for keys,
// 2*layer+1 for values.
func pastSlot(name, key, value string) (int, bool) {
	for i, p := range []string{key, value} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			l, err := strconv.Atoi(rest)
			if err != nil || l < 0 || strconv.Itoa(l) != rest {
				return 0, false
			}
			return 2*l + i, true
		}
	}
	return 0, false
}

// pass is one session run's inputs: rows of ids, mask and types
// ([rows, seq]) and, for a decoder graph, the shared-prefix inputs (past
// nil: a past of length 0; present: rows whose keys and values to
// output).
type pass struct {
	rows, seq          int
	ids, mask, types   []int64
	past               []ortgo.Value // by slot
	lens, index, rowsP []int64
}

// Run implements Executor. A batch with prefixes runs twice: the distinct
// prefixes, as rows of their own that output their keys and values, and
// then the rows' own tokens with those as their past (ONNX Runtime's
// values, passed back without a copy).
func (e *ortExec) Run(_ context.Context, b *Batch) (*Output, error) {
	p := pass{rows: b.Rows, seq: b.Seq, ids: b.IDs, mask: b.Mask, types: b.TypeIDs}
	if b.Prefixes != nil {
		if !e.sig.Prefix {
			return nil, fmt.Errorf("inference: a batch with shared prefixes for a model without prefix inputs: %w", errdefs.ErrInvalidInput)
		}
		pre, at, err := e.pastFor(b)
		if err != nil {
			return nil, err
		}
		p.past = make([]ortgo.Value, len(pre.out))
		for i, v := range pre.out {
			if s := e.presentOut[i]; s >= 0 {
				p.past[s] = v
			}
		}
		p.lens = pre.lens
		p.index = make([]int64, b.Rows)
		for r, k := range b.PrefixOf {
			p.index[r] = int64(at[k])
		}
	}
	out, err := e.run(&p)
	if err != nil {
		return nil, err
	}
	defer destroy(out)
	return e.read(out[e.out], b)
}

// pastFor returns a prefix pass holding b's prefixes, and the index of
// each of them in it: kept from an earlier batch (pastCache), or run now
// and kept.
func (e *ortExec) pastFor(b *Batch) (*ortPast, []int, error) {
	return e.past.get(b.Prefixes, func() (*ortPast, int64, error) {
		out, err := e.prefixPass(b)
		if err != nil {
			return nil, 0, err
		}
		e.prefixRuns++
		pre := &ortPast{out: out, lens: make([]int64, len(b.Prefixes))}
		for i, x := range b.Prefixes {
			pre.lens[i] = int64(len(x))
		}
		var bytes int64
		for _, v := range out {
			if v != nil {
				bytes += 4 * v.GetShape().FlattenedSize()
			}
		}
		return pre, bytes, nil
	})
}

// prefixPass runs a batch's distinct prefixes, right-padded, and returns
// every output (the presents: their keys and values). An empty prefix runs
// as one token that the continuing rows never see (its length is 0).
func (e *ortExec) prefixPass(b *Batch) ([]ortgo.Value, error) {
	N, P := len(b.Prefixes), 1
	for _, x := range b.Prefixes {
		P = max(P, len(x))
	}
	p := pass{rows: N, seq: P, ids: make([]int64, N*P), mask: make([]int64, N*P), rowsP: make([]int64, N)}
	if e.sig.TypeIDs {
		p.types = make([]int64, N*P)
	}
	for i, x := range b.Prefixes {
		copy(p.ids[i*P:], x)
		for j := range max(len(x), 1) {
			p.mask[i*P+j] = 1
		}
		p.rowsP[i] = int64(i)
	}
	return e.run(&p)
}

// run runs one pass and returns every output; the caller destroys them.
func (e *ortExec) run(p *pass) ([]ortgo.Value, error) {
	shape := ortgo.NewShape(int64(p.rows), int64(p.seq))
	in := make([]ortgo.Value, len(e.feeds))
	var made []ortgo.Value
	defer func() { destroy(made) }()
	tensor := func(shape ortgo.Shape, data []int64) error {
		v, err := ortgo.NewTensor(shape, data)
		if err != nil {
			return fmt.Errorf("inference: input tensor: %w", err)
		}
		made = append(made, v)
		return nil
	}
	lens, index := p.lens, p.index
	if p.past == nil {
		lens, index = []int64{0}, make([]int64, p.rows)
	}
	for i, f := range e.feeds {
		var err error
		switch f {
		case inputIDs:
			err = tensor(shape, p.ids)
		case inputMask:
			err = tensor(shape, p.mask)
		case inputTypeIDs:
			err = tensor(shape, p.types)
		case modeldir.InputPastLengths:
			err = tensor(ortgo.NewShape(int64(len(lens))), lens)
		case modeldir.InputPrefixIndex:
			err = tensor(ortgo.NewShape(int64(len(index))), index)
		case modeldir.InputPresentRows:
			err = tensor(ortgo.NewShape(int64(len(p.rowsP))), p.rowsP)
		default: // a past tensor
			if p.past != nil {
				in[i] = p.past[e.pastIn[i]]
				continue
			}
			v, err := ortgo.NewTensor(ortgo.NewShape(1, 0, e.pastWidth), []float32{})
			if err != nil {
				return nil, fmt.Errorf("inference: input tensor: %w", err)
			}
			made = append(made, v)
		}
		if err != nil {
			return nil, err
		}
		in[i] = made[len(made)-1]
	}
	out := make([]ortgo.Value, len(e.sess.Outputs()))
	if err := e.sess.Run(in, out); err != nil {
		destroy(out)
		return nil, fmt.Errorf("inference: %w", err)
	}
	return out, nil
}

// destroy releases ONNX Runtime values (nil entries skipped).
func destroy(vs []ortgo.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// read copies the output tensor (ONNX Runtime's memory) into Go memory.
func (e *ortExec) read(v ortgo.Value, b *Batch) (*Output, error) {
	dims := v.GetShape()
	if e.task == Score {
		if n := dims.FlattenedSize(); n != int64(b.Rows) {
			return nil, fmt.Errorf("inference: score output has shape %v, want [%d] or [%d 1]: %w", dims, b.Rows, b.Rows, ErrModel)
		}
		out := &Output{Data: make([]float32, b.Rows), Width: 1}
		switch t := v.(type) {
		case *ortgo.Tensor[float32]:
			copy(out.Data, t.GetData())
		case *ortgo.CustomDataTensor:
			if t.DataType() != ortgo.TensorElementDataTypeFloat16 {
				return nil, fmt.Errorf("inference: score output of type %v: %w", t.DataType(), ErrModel)
			}
			d := t.GetData()
			for i := range out.Data {
				out.Data[i] = half.F16ToF32(uint16(d[2*i]) | uint16(d[2*i+1])<<8)
			}
		default:
			return nil, fmt.Errorf("inference: score output of type %T: %w", v, ErrModel)
		}
		return out, nil
	}
	t, ok := v.(*ortgo.Tensor[float32])
	if !ok {
		return nil, fmt.Errorf("inference: output is %T, want a float32 tensor: %w", v, ErrModel)
	}
	want := []int64{int64(b.Rows), int64(b.Seq), -1}
	if e.sig.Pooled {
		want = []int64{int64(b.Rows), -1}
	}
	okShape := len(dims) == len(want)
	for i := 0; okShape && i < len(want)-1; i++ {
		okShape = dims[i] == want[i]
	}
	if okShape {
		w := dims[len(dims)-1]
		okShape = w > 0 && (e.sig.Width == 0 || w == int64(e.sig.Width))
	}
	if !okShape {
		return nil, fmt.Errorf("inference: output %s has shape %v, want %v with width %d: %w", e.sig.Output, dims, want, e.sig.Width, errdefs.ErrDimension)
	}
	return &Output{Data: append([]float32(nil), t.GetData()...), Width: int(dims[len(dims)-1])}, nil
}

// Close implements Executor.
func (e *ortExec) Close() error {
	e.past.clear()
	if err := e.sess.Close(); err != nil {
		return fmt.Errorf("inference: %w", err)
	}
	return nil
}
