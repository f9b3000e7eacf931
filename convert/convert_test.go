package convert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage/convert"
	"twostage/errdefs"
	"twostage/internal/ort"
	"twostage/internal/refmodel"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// seq is one input sequence with its token types (BERT).
type seq struct {
	ids, types []int64
}

// runner runs a converted model directory in ONNX Runtime.
type runner struct {
	cfg     *modeldir.Config
	s       *ort.Session
	release func() error
}

func newRunner(t testing.TB, dir string) *runner {
	t.Helper()
	testassets.ONNXRuntime(t)
	cfg, err := modeldir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	release, err := ort.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSession(modeldir.ModelPath(dir), &ort.SessionOptions{IntraOpThreads: 1})
	if err != nil {
		release()
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, s: s, release: release}
	t.Cleanup(func() {
		s.Close()
		release()
	})
	return r
}

// run right-pads seqs into one batch and returns the first output, one row
// per sequence: [1] for cross-encoders, [len*hidden] (real tokens only) for
// embeddings.
func (r *runner) run(t testing.TB, seqs []seq) [][]float64 {
	t.Helper()
	B, S := len(seqs), 0
	for _, q := range seqs {
		S = max(S, len(q.ids))
	}
	ids := make([]int64, B*S)
	mask := make([]int64, B*S)
	types := make([]int64, B*S)
	for b, q := range seqs {
		for s := 0; s < S; s++ {
			ids[b*S+s] = int64(r.cfg.PadTokenID)
			if s < len(q.ids) {
				ids[b*S+s], mask[b*S+s] = q.ids[s], 1
				if q.types != nil {
					types[b*S+s] = q.types[s]
				}
			}
		}
	}
	out := r.feed(t, ids, mask, types, B, S, nil, nil)
	data := out[0].(*ortgo.Tensor[float32]).GetData()
	rows := make([][]float64, B)
	if r.cfg.Family != modeldir.FamilyBertEmbedding {
		if got := out[0].GetShape(); len(got) != 2 || got[0] != int64(B) || got[1] != 1 {
			t.Fatalf("logits shape %v, want [%d 1]", got, B)
		}
		for b := range rows {
			rows[b] = []float64{float64(data[b])}
		}
		return rows
	}
	H := r.cfg.HiddenSize
	for b, q := range seqs {
		for s := 0; s < len(q.ids); s++ {
			for h := 0; h < H; h++ {
				rows[b] = append(rows[b], float64(data[(b*S+s)*H+h]))
			}
		}
	}
	return rows
}

// past is the shared-prefix state a decoder graph continues: per layer
// keys and values (ONNX Runtime's values), the prefixes' lengths and each
// row's prefix.
type past struct {
	kv    []ortgo.Value // past_key_0, past_value_0, past_key_1, ...
	lens  []int64
	index []int64
}

// feed runs one right-padded batch, feeding every graph input by name:
// a decoder's shared-prefix inputs from p (nil: a past of length 0) and
// present (the rows whose keys and values to output; nil: none). It
// returns every output; they are destroyed at the test's end.
func (r *runner) feed(t testing.TB, ids, mask, types []int64, B, S int, p *past, present []int64) []ortgo.Value {
	t.Helper()
	if p == nil {
		p = &past{lens: []int64{0}, index: make([]int64, B)}
	}
	keep := func(v ortgo.Value, err error) ortgo.Value {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Destroy() })
		return v
	}
	shape := ortgo.NewShape(int64(B), int64(S))
	var in []ortgo.Value
	kv := 0
	for _, x := range r.s.Inputs() {
		switch x.Name {
		case "input_ids":
			in = append(in, keep(ortgo.NewTensor(shape, ids)))
		case "attention_mask":
			in = append(in, keep(ortgo.NewTensor(shape, mask)))
		case "token_type_ids":
			in = append(in, keep(ortgo.NewTensor(shape, types)))
		case modeldir.InputPastLengths:
			in = append(in, keep(ortgo.NewTensor(ortgo.NewShape(int64(len(p.lens))), p.lens)))
		case modeldir.InputPrefixIndex:
			in = append(in, keep(ortgo.NewTensor(ortgo.NewShape(int64(B)), p.index)))
		case modeldir.InputPresentRows:
			in = append(in, keep(ortgo.NewTensor(ortgo.NewShape(int64(len(present))), present)))
		default: // past_key_<l>, past_value_<l>, in that order
			if p.kv != nil {
				in = append(in, p.kv[kv])
				kv++
				continue
			}
			in = append(in, keep(ortgo.NewTensor(ortgo.NewShape(1, 0, x.Shape[2]), []float32{})))
		}
	}
	out := make([]ortgo.Value, len(r.s.Outputs()))
	if err := r.s.Run(in, out); err != nil {
		t.Fatal(err)
	}
	for _, v := range out {
		t.Cleanup(func() { v.Destroy() })
	}
	return out
}

// reference computes the same rows with refmodel.
func reference(t *testing.T, m *refmodel.Model, family string, seqs []seq) [][]float64 {
	t.Helper()
	rows := make([][]float64, len(seqs))
	for i, q := range seqs {
		if family == modeldir.FamilyBertEmbedding {
			hs, err := m.HiddenStates(q.ids, q.types)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hs {
				rows[i] = append(rows[i], h...)
			}
			continue
		}
		s, err := m.Score(q.ids, q.types)
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = []float64{s}
	}
	return rows
}

// randomSeqs draws sequences of the given lengths; BERT sequences get a
// pair layout (type 0 then type 1).
func randomSeqs(seed uint64, vocab int, bert bool, lengths ...int) []seq {
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([]seq, len(lengths))
	for i, n := range lengths {
		q := seq{ids: make([]int64, n)}
		for j := range q.ids {
			q.ids[j] = rng.Int64N(int64(vocab))
		}
		if bert {
			q.types = make([]int64, n)
			for j := n / 2; j < n; j++ {
				q.types[j] = 1
			}
		}
		out[i] = q
	}
	return out
}

// relErr is max |got - want| / max(|want|, floor) over a row, where floor is
// the row's RMS (so near-zero entries do not blow the ratio up).
func relErr(got, want []float64) float64 {
	rms := 0.0
	for _, w := range want {
		rms += w * w
	}
	rms = math.Sqrt(rms / float64(len(want)))
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(got[i]-want[i])/math.Max(math.Abs(want[i]), rms))
	}
	return worst
}

func compare(t *testing.T, what string, got, want [][]float64, tol float64) {
	t.Helper()
	worst := 0.0
	defer func() { t.Logf("%s: worst relative error %.3g (tolerance %g)", what, worst, tol) }()
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s: row %d has %d values, want %d", what, i, len(got[i]), len(want[i]))
		}
		e := relErr(got[i], want[i])
		worst = math.Max(worst, e)
		if e > tol || math.IsNaN(e) {
			t.Errorf("%s: row %d: relative error %.3g > %g (got %.6g, want %.6g)", what, i, e, tol, got[i][0], want[i][0])
		}
	}
}

// The lengths mix very short and long rows so right padding is heavy.
var lengths = []int{1, 37, 5, 64, 2, 19}

func TestMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		spec tinymodel.Spec
	}{
		{"zerank bf16", tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1}},
		{"zerank f32 untied sharded", tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 2, Dtype: "F32", Untied: true, Shards: 3}},
		{"qwen3-reranker f16 no gqa", tinymodel.Spec{Family: modeldir.FamilyQwen3Reranker, Seed: 3, Dtype: "F16", KVHeads: 4, Layers: 1}},
		{"qwen3-reranker bf16", tinymodel.Spec{Family: modeldir.FamilyQwen3Reranker, Seed: 1}},
		{"bert-cross-encoder", tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 5}},
		{"bert-cross-encoder bf16 sharded", tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 6, Dtype: "BF16", Shards: 2}},
		{"bert-embedding", tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 7}},
	}
	for _, tt := range tests {
		for _, graph := range graphs {
			t.Run(tt.name+" "+graph, func(t *testing.T) {
				ckpt := tinymodel.Checkpoint(t, tt.spec)
				dir := tinymodel.ModelSpec(t, tt.spec, &convert.Options{Graph: graph})
				checkGraphKind(t, dir, tt.spec.Family, graph)
				ref, err := refmodel.Load(ckpt, tt.spec.Family)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ref.Close() })
				r := newRunner(t, dir)
				spec, _ := tinymodel.Defaults(tt.spec)
				bert := !modeldir.IsDecoder(tt.spec.Family)
				seqs := randomSeqs(tt.spec.Seed, spec.Vocab, bert, lengths...)
				want := reference(t, ref, tt.spec.Family, seqs)
				batched := r.run(t, seqs)
				compare(t, "batched vs reference", batched, want, 1e-4)
				// Scoring each sequence alone must agree with the padded batch.
				for i, q := range seqs {
					alone := r.run(t, []seq{q})
					compare(t, fmt.Sprintf("seq %d (len %d) alone vs batched", i, len(q.ids)), alone, batched[i:i+1], 1e-5)
				}
				// The scores must not be degenerate: rows differ.
				if !bert || tt.spec.Family == modeldir.FamilyBertCrossEncoder {
					if batched[0][0] == batched[1][0] || batched[1][0] == batched[3][0] {
						t.Errorf("scores do not depend on the input: %v", batched)
					}
				}
			})
		}
	}
}

// graphs are the graph kinds every fidelity test covers.
var graphs = []string{convert.GraphFused, convert.GraphPlain}

// checkGraphKind checks that dir's graph uses the fused kernels when graph
// is fused (and only then), and never an [S, S] attention bias when fused.
func checkGraphKind(t *testing.T, dir, family, graph string) {
	t.Helper()
	b, err := os.ReadFile(modeldir.ModelPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	attn := "Attention"
	if modeldir.IsDecoder(family) {
		attn = "GroupQueryAttention"
	}
	for _, op := range []string{attn, "com.microsoft"} {
		if got := bytes.Contains(b, []byte(op)); got != (graph == convert.GraphFused) {
			t.Errorf("%s graph mentions %s: %v", graph, op, got)
		}
	}
	// The plain graph's bias is Where(mask, 0, -1e9); the fused graph has none.
	if got := bytes.Contains(b, []byte("Softmax")); got != (graph == convert.GraphPlain) {
		t.Errorf("%s graph has a Softmax node: %v", graph, got)
	}
}

func TestFP16(t *testing.T) {
	for _, fam := range modeldir.Families {
		for _, compute := range []string{modeldir.DtypeFP32, modeldir.DtypeFP16} {
			for _, graph := range graphs {
				t.Run(fam+" compute "+compute+" "+graph, func(t *testing.T) {
					spec := tinymodel.Spec{Family: fam, Seed: 1}
					dir32 := tinymodel.ModelSpec(t, spec, &convert.Options{Graph: graph})
					r32 := newRunner(t, dir32)
					dir16 := tinymodel.ModelSpec(t, spec, &convert.Options{Dtype: modeldir.DtypeFP16, Compute: compute, Graph: graph})
					checkGraphKind(t, dir16, fam, graph)
					r16 := newRunner(t, dir16)
					if r16.cfg.Dtype != modeldir.DtypeFP16 || (r16.cfg.Compute == modeldir.DtypeFP16) != (compute == modeldir.DtypeFP16) {
						t.Fatalf("dtype %q compute %q, want fp16 / %s", r16.cfg.Dtype, r16.cfg.Compute, compute)
					}
					st32, _ := os.Stat(modeldir.ModelPath(dir32))
					st16, _ := os.Stat(modeldir.ModelPath(dir16))
					if st16.Size() > st32.Size()*6/10 {
						t.Errorf("fp16 model is %d bytes, fp32 %d: weights not stored as fp16", st16.Size(), st32.Size())
					}
					full, _ := tinymodel.Defaults(spec)
					seqs := randomSeqs(3, full.Vocab, !modeldir.IsDecoder(fam), 3, 40, 9)
					compare(t, "fp16 vs fp32", r16.run(t, seqs), r32.run(t, seqs), 1e-2)
				})
			}
		}
	}
}

func TestExternalData(t *testing.T) {
	spec := tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1}
	dir := tinymodel.ModelSpec(t, spec, &convert.Options{ExternalDataThreshold: 1 << 20})
	st, err := os.Stat(modeldir.DataPath(dir))
	if err != nil {
		t.Fatalf("no external data file: %v", err)
	}
	mst, _ := os.Stat(modeldir.ModelPath(dir))
	if mst.Size() > 1<<20 || st.Size() < 10<<20 {
		t.Fatalf("model.onnx %d bytes, data %d bytes: weights not external", mst.Size(), st.Size())
	}
	inline := tinymodel.ModelSpec(t, spec, nil)
	if _, err := os.Stat(modeldir.DataPath(inline)); err == nil {
		t.Fatal("small model has an external data file")
	}
	full, _ := tinymodel.Defaults(spec)
	seqs := randomSeqs(5, full.Vocab, false, 4, 30)
	compare(t, "external vs inline", newRunner(t, dir).run(t, seqs), newRunner(t, inline).run(t, seqs), 0)
}

func TestConfigAndFiles(t *testing.T) {
	tests := []struct {
		family string
		tokens []int
		scale  float64
		inputs int
		pad    int
	}{
		{modeldir.FamilyZerank, []int{9454}, 0.2, 2, 151643},
		{modeldir.FamilyQwen3Reranker, []int{9693, 2152}, 1, 2, 151643},
		{modeldir.FamilyBertCrossEncoder, nil, 1, 3, 0},
		{modeldir.FamilyBertEmbedding, nil, 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			dir := tinymodel.Model(t, tt.family)
			c, err := modeldir.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if c.Family != tt.family || fmt.Sprint(c.ScoreTokens) != fmt.Sprint(tt.tokens) || c.Calibration.Scale != tt.scale || c.PadTokenID != tt.pad {
				t.Errorf("config = %+v", c)
			}
			if c.HasTokenTypeIDs != (tt.inputs == 3) {
				t.Errorf("HasTokenTypeIDs = %v", c.HasTokenTypeIDs)
			}
			in, out, err := ort.ReadModelIO(modeldir.ModelPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			names := []string{"input_ids", "attention_mask", "token_type_ids"}[:tt.inputs]
			outputs := 1
			if modeldir.IsDecoder(tt.family) { // the shared-prefix inputs and outputs of 2 layers follow (TestSharedPrefixOutputs)
				outputs += 2 * 2
				if len(in) != len(names)+3+2*2 {
					t.Fatalf("inputs %+v, want %v and the shared-prefix inputs", in, names)
				}
				in = in[:len(names)]
			}
			if len(in) != len(names) {
				t.Fatalf("inputs %+v, want %v", in, names)
			}
			for i, n := range names {
				if in[i].Name != n || in[i].Type != ortgo.TensorElementDataTypeInt64 || len(in[i].Shape) != 2 {
					t.Errorf("input %d = %+v, want int64 %s [batch, seq]", i, in[i], n)
				}
			}
			if len(out) != outputs || out[0].Name != c.Output() || out[0].Type != ortgo.TensorElementDataTypeFloat {
				t.Errorf("outputs %+v, want float32 %s", out, c.Output())
			}
			tok, err := os.ReadFile(modeldir.TokenizerPath(dir))
			if err != nil || len(tok) < 1000 {
				t.Errorf("tokenizer.json missing or short: %v", err)
			}
		})
	}
}

func TestProgressAndGuess(t *testing.T) {
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	var last, total int64
	calls := 0
	out := filepath.Join(t.TempDir(), "m")
	c, err := convert.Convert(context.Background(), ckpt, out, &convert.Options{Progress: func(done, tot int64) {
		if done < last || done > tot {
			t.Errorf("progress %d/%d after %d", done, tot, last)
		}
		last, total = done, tot
		calls++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Family != modeldir.FamilyBertEmbedding {
		t.Errorf("guessed family %s, want bert-embedding", c.Family)
	}
	if calls < 10 || last != total {
		t.Errorf("progress: %d calls, ended at %d of %d", calls, last, total)
	}
	// Guessing: Qwen3 -> zerank, BertForSequenceClassification -> cross-encoder.
	for fam, want := range map[string]string{modeldir.FamilyQwen3Reranker: modeldir.FamilyZerank, modeldir.FamilyBertCrossEncoder: modeldir.FamilyBertCrossEncoder} {
		ck := tinymodel.Checkpoint(t, tinymodel.Spec{Family: fam, Seed: 1})
		c, err := convert.Convert(context.Background(), ck, filepath.Join(t.TempDir(), "m"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Family != want {
			t.Errorf("guess for %s checkpoint = %s, want %s", fam, c.Family, want)
		}
	}
}

// TestMissingParents: the README's `twostage convert --to models/zerank-2`
// works where models/ does not exist yet; Convert creates the parents.
func TestMissingParents(t *testing.T) {
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	out := filepath.Join(t.TempDir(), "models", "sub", "m")
	if _, err := convert.Convert(context.Background(), ckpt, out, nil); err != nil {
		t.Fatal(err)
	}
	if c, err := modeldir.Load(out); err != nil || c.Family != modeldir.FamilyBertEmbedding {
		t.Fatalf("Load(%s) = %+v, %v", out, c, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("parent holds %d entries, want only the model directory", len(ents))
	}
}

func TestCancel(t *testing.T) {
	ckpt := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	parent := t.TempDir()
	out := filepath.Join(parent, "m")
	_, err := convert.Convert(ctx, ckpt, out, &convert.Options{Progress: func(done, total int64) {
		if done > total/2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Fatalf("cancelled conversion left %d entries in the parent directory", len(ents))
	}
}

func editConfig(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	os.WriteFile(p, b, 0o644)
}

// editHeader rewrites the safetensors JSON header of dir/model.safetensors
// (keeping its length by padding with spaces, or growing the file).
func editHeader(t *testing.T, dir string, edit func(map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "model.safetensors")
	b, _ := os.ReadFile(p)
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16 | int(b[3])<<24
	var h map[string]any
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	nh, _ := json.Marshal(h)
	if len(nh) > n {
		t.Fatalf("edited header grew from %d to %d bytes", n, len(nh))
	}
	for len(nh) < n {
		nh = append(nh, ' ')
	}
	copy(b[8:], nh)
	os.WriteFile(p, b, 0o644)
}

func TestErrors(t *testing.T) {
	qwen := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1})
	bert := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertCrossEncoder, Seed: 1})
	embed := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	tests := []struct {
		name string
		src  string
		prep func(t *testing.T, dir string)
		opts convert.Options
		want []error
	}{
		{"llama architecture", qwen, func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["model_type"] = "llama"; m["architectures"] = []string{"LlamaForCausalLM"} })
		}, convert.Options{}, []error{convert.ErrArchitecture, errdefs.ErrUnsupported}},
		{"qwen3 rope scaling", qwen, func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["rope_scaling"] = map[string]any{"type": "yarn", "factor": 4} })
		}, convert.Options{}, []error{convert.ErrArchitecture}},
		{"bert relu", bert, func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["hidden_act"] = "relu" })
		}, convert.Options{}, []error{convert.ErrArchitecture}},
		{"bert two labels", bert, func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["id2label"] = map[string]string{"0": "a", "1": "b"} })
		}, convert.Options{}, []error{convert.ErrArchitecture}},
		{"family of another architecture", qwen, nil, convert.Options{Family: modeldir.FamilyBertCrossEncoder}, []error{convert.ErrArchitecture}},
		{"cross-encoder from BertModel", embed, nil, convert.Options{Family: modeldir.FamilyBertCrossEncoder}, []error{convert.ErrArchitecture}},
		{"unknown family", qwen, nil, convert.Options{Family: "colbert"}, []error{errdefs.ErrUnsupported}},
		{"shape mismatch", qwen, func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["intermediate_size"] = 96 })
		}, convert.Options{}, []error{convert.ErrShape, errdefs.ErrDimension}},
		{"bad head config", qwen, func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["num_key_value_heads"] = 3 })
		}, convert.Options{}, []error{convert.ErrConfig, errdefs.ErrInvalidInput}},
		{"missing tensor", qwen, func(t *testing.T, d string) {
			editHeader(t, d, func(h map[string]any) {
				h["model.layers.1.mlp.up_proj.weighX"] = h["model.layers.1.mlp.up_proj.weight"]
				delete(h, "model.layers.1.mlp.up_proj.weight")
			})
		}, convert.Options{}, []error{convert.ErrMissingTensor, errdefs.ErrNotFound}},
		{"untied without lm_head", qwen, func(t *testing.T, d string) {
			editConfig(t, d, func(m map[string]any) { m["tie_word_embeddings"] = false })
		}, convert.Options{}, []error{convert.ErrMissingTensor}},
		{"unknown tensor dtype", bert, func(t *testing.T, d string) {
			editHeader(t, d, func(h map[string]any) { h["classifier.bias"].(map[string]any)["dtype"] = "F12" })
		}, convert.Options{}, []error{convert.ErrDtype, errdefs.ErrUnsupported}},
		{"integer weight", bert, func(t *testing.T, d string) {
			editHeader(t, d, func(h map[string]any) { h["classifier.bias"].(map[string]any)["dtype"] = "I32" })
		}, convert.Options{}, []error{convert.ErrDtype}},
		{"unknown output dtype", bert, nil, convert.Options{Dtype: "bf16"}, []error{convert.ErrDtype}},
		{"unknown compute type", bert, nil, convert.Options{Compute: "int8"}, []error{convert.ErrDtype}},
		{"fp16 compute on fp32 weights", bert, nil, convert.Options{Dtype: "fp32", Compute: "fp16"}, []error{errdefs.ErrInvalidInput}},
		{"malformed header", bert, func(t *testing.T, d string) {
			p := filepath.Join(d, "model.safetensors")
			b, _ := os.ReadFile(p)
			b[8] = '[' // header no longer a JSON object
			os.WriteFile(p, b, 0o644)
		}, convert.Options{}, []error{convert.ErrMalformed, errdefs.ErrInvalidInput}},
		{"truncated weights", bert, func(t *testing.T, d string) {
			p := filepath.Join(d, "model.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, convert.Options{}, []error{convert.ErrMalformed}},
		{"no config", bert, func(t *testing.T, d string) { os.Remove(filepath.Join(d, "config.json")) }, convert.Options{}, []error{errdefs.ErrNotFound}},
		{"no tokenizer", bert, func(t *testing.T, d string) { os.Remove(filepath.Join(d, "tokenizer.json")) }, convert.Options{}, []error{errdefs.ErrNotFound}},
		{"no weights", bert, func(t *testing.T, d string) { os.Remove(filepath.Join(d, "model.safetensors")) }, convert.Options{}, []error{errdefs.ErrNotFound}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testassets.CopyDir(t, tt.src)
			if tt.prep != nil {
				tt.prep(t, dir)
			}
			parent := t.TempDir()
			_, err := convert.Convert(context.Background(), dir, filepath.Join(parent, "out"), &tt.opts)
			if err == nil {
				t.Fatal("Convert succeeded")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("failed conversion left %d entries", len(ents))
			}
		})
	}
	// A non-empty output directory is refused.
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "x"), nil, 0o644)
	if _, err := convert.Convert(context.Background(), bert, out, nil); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("non-empty output: %v, want ErrInvalidInput", err)
	}
	file := filepath.Join(out, "x")
	if _, err := convert.Convert(context.Background(), bert, file, nil); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("output is a file: %v, want ErrInvalidInput", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("the file in the way was removed: %v", err)
	}
}
