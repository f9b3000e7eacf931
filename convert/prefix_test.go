package convert_test

import (
	"fmt"
	"strings"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage/convert"
	"twostage/internal/refmodel"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// rightPad pads rows with pad into one [len(rows), S] batch and its mask.
func rightPad(rows [][]int64, pad int64) (ids, mask []int64, S int) {
	for _, r := range rows {
		S = max(S, len(r))
	}
	ids, mask = make([]int64, len(rows)*S), make([]int64, len(rows)*S)
	for i, r := range rows {
		for j := range S {
			ids[i*S+j] = pad
			if j < len(r) {
				ids[i*S+j], mask[i*S+j] = r[j], 1
			}
		}
	}
	return ids, mask, S
}

// TestSharedPrefix runs a decoder graph the shared-prefix way (the
// prefixes once, as rows of their own with their keys and values as
// outputs; then the rows' own tokens with those as the past) on a batch
// mixing three prefixes of different lengths, one of them empty (a row
// without a prefix, as the runtime feeds it), and checks the scores
// against the whole rows run as one batch (1e-5 relative in fp32, 1e-4 with
// fp16 products) and against the float64 reference (1e-4), for the fused
// and the plain graph.
func TestSharedPrefix(t *testing.T) {
	for _, tt := range []struct {
		spec    tinymodel.Spec
		compute string
		tol     float64 // against whole rows
	}{
		{tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 11, Dtype: "F32"}, "", 1e-5},
		{tinymodel.Spec{Family: modeldir.FamilyQwen3Reranker, Seed: 12}, "", 1e-5},
		{tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 13}, "fp16", 1e-4},
	} {
		spec := tt.spec
		for _, graph := range graphs {
			t.Run(strings.TrimSpace(spec.Family+" "+graph+" "+tt.compute), func(t *testing.T) {
				ckpt := tinymodel.Checkpoint(t, spec)
				dir := tinymodel.ModelSpec(t, spec, &convert.Options{Graph: graph, Compute: tt.compute})
				r := newRunner(t, dir)
				ref, err := refmodel.Load(ckpt, spec.Family)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ref.Close() })
				full, _ := tinymodel.Defaults(spec)
				draw := randomSeqs(spec.Seed, full.Vocab, false, 23, 9, 1, 17, 3, 30, 6, 12)
				prefixes := [][]int64{draw[0].ids, draw[1].ids, {}}
				index := []int64{0, 1, 0, 2, 1, 0}
				own := [][]int64{draw[2].ids, draw[3].ids, draw[4].ids, draw[5].ids, draw[6].ids, draw[7].ids}
				seqs := make([]seq, len(own))
				for i, o := range own {
					seqs[i] = seq{ids: append(append([]int64(nil), prefixes[index[i]]...), o...)}
				}
				whole := r.run(t, seqs)
				pad := int64(r.cfg.PadTokenID)

				// The prefixes: an empty one runs as one padding token
				// (every row must have a real token) and is declared empty.
				runRows := make([][]int64, len(prefixes))
				lens := make([]int64, len(prefixes))
				for i, p := range prefixes {
					runRows[i], lens[i] = p, int64(len(p))
					if len(p) == 0 {
						runRows[i] = []int64{pad}
					}
				}
				pids, pmask, P := rightPad(runRows, pad)
				pout := r.feed(t, pids, pmask, nil, len(prefixes), P, nil, []int64{0, 1, 2})
				if got := pout[1].GetShape(); len(got) != 3 || got[0] != 3 || got[1] != int64(P) {
					t.Fatalf("present_key_0 has shape %v, want [3 %d width]", got, P)
				}
				ids, mask, S := rightPad(own, pad)
				out := r.feed(t, ids, mask, nil, len(own), S, &past{kv: pout[1:], lens: lens, index: index}, nil)
				if got := out[1].GetShape(); got[0] != 0 {
					t.Errorf("present_key_0 with no present rows has shape %v", got)
				}
				data := out[0].(*ortgo.Tensor[float32]).GetData()
				got := make([][]float64, len(own))
				for i := range got {
					got[i] = []float64{float64(data[i])}
				}
				compare(t, "shared prefix vs whole rows", got, whole, tt.tol)
				if tt.compute == "" {
					compare(t, "shared prefix vs reference", got, reference(t, ref, spec.Family, seqs), 1e-4)
				}
				for i := range got {
					for j := range i {
						if got[i][0] == got[j][0] {
							t.Errorf("rows %d and %d score alike: %v", i, j, got)
						}
					}
				}
			})
		}
	}
}

// TestSharedPrefixOutputs checks the decoder graph's contract: logits is
// the first output, every layer has its past inputs and present outputs,
// and the shared-prefix inputs have defaults: a session fed only
// input_ids and attention_mask scores as before.
func TestSharedPrefixOutputs(t *testing.T) {
	for _, graph := range graphs {
		t.Run(graph, func(t *testing.T) { sharedPrefixOutputs(t, graph) })
	}
}

func sharedPrefixOutputs(t *testing.T, graph string) {
	spec := tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 1}
	dir := tinymodel.ModelSpec(t, spec, &convert.Options{Graph: graph})
	r := newRunner(t, dir)
	seqs := randomSeqs(3, tinymodel.Qwen3Vocab, false, 9, 4, 13)
	want := r.run(t, seqs)
	s, err := ortgo.NewDynamicAdvancedSession(modeldir.ModelPath(dir), []string{"input_ids", "attention_mask"}, []string{modeldir.OutputLogits}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	rows := make([][]int64, len(seqs))
	for i, q := range seqs {
		rows[i] = q.ids
	}
	ids, mask, S := rightPad(rows, int64(r.cfg.PadTokenID))
	shape := ortgo.NewShape(int64(len(rows)), int64(S))
	it, _ := ortgo.NewTensor(shape, ids)
	mt, _ := ortgo.NewTensor(shape, mask)
	defer it.Destroy()
	defer mt.Destroy()
	out := []ortgo.Value{nil}
	if err := s.Run([]ortgo.Value{it, mt}, out); err != nil {
		t.Fatalf("run with input_ids and attention_mask only: %v", err)
	}
	defer out[0].Destroy()
	for i, x := range out[0].(*ortgo.Tensor[float32]).GetData() {
		if float64(x) != want[i][0] {
			t.Errorf("row %d: %v fed two inputs, %v fed all", i, x, want[i][0])
		}
	}
	full, _ := tinymodel.Defaults(spec)
	outs := r.s.Outputs()
	if outs[0].Name != modeldir.OutputLogits || len(outs) != 1+2*full.Layers {
		t.Fatalf("outputs %v, want logits then two per layer", outs)
	}
	has := map[string]bool{}
	for _, in := range r.s.Inputs() {
		has[in.Name] = true
	}
	for l := range full.Layers {
		for _, name := range []string{modeldir.InputPastKey, modeldir.InputPastValue} {
			if n := fmt.Sprintf("%s%d", name, l); !has[n] {
				t.Errorf("no input %s", n)
			}
		}
	}
}
