package inference

import (
	"context"
	"fmt"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage/errdefs"
	"twostage/internal/half"
	"twostage/internal/ort"
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
	feeds []string // per session input: inputIDs, inputMask or inputTypeIDs
	out   int      // index of the read output
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
	e := &ortExec{task: task}
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
	for _, in := range inputs {
		switch in.Name {
		case inputIDs:
		case inputMask:
			e.sig.Mask = true
		case inputTypeIDs:
			e.sig.TypeIDs = true
		default:
			return modelErr(path, "unexpected model input %q (a model takes input_ids, attention_mask and optionally token_type_ids)", in.Name)
		}
		if in.Type != ortgo.TensorElementDataTypeInt64 {
			return modelErr(path, "input %s has element type %v, want int64", in.Name, in.Type)
		}
		e.feeds = append(e.feeds, in.Name)
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

// Run implements Executor.
func (e *ortExec) Run(_ context.Context, b *Batch) (*Output, error) {
	shape := ortgo.NewShape(int64(b.Rows), int64(b.Seq))
	in := make([]ortgo.Value, len(e.feeds))
	defer func() {
		for _, v := range in {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, f := range e.feeds {
		data := b.IDs
		switch f {
		case inputMask:
			data = b.Mask
		case inputTypeIDs:
			data = b.TypeIDs
		}
		v, err := ortgo.NewTensor(shape, data)
		if err != nil {
			return nil, fmt.Errorf("inference: input tensor: %w", err)
		}
		in[i] = v
	}
	out := make([]ortgo.Value, len(e.sess.Outputs()))
	defer func() {
		for _, v := range out {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	if err := e.sess.Run(in, out); err != nil {
		return nil, fmt.Errorf("inference: %w", err)
	}
	return e.read(out[e.out], b)
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
	if err := e.sess.Close(); err != nil {
		return fmt.Errorf("inference: %w", err)
	}
	return nil
}
