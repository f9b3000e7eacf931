package arch_test

import (
	"errors"
	"math"
	"testing"

	"twostage"
	"twostage/convert/arch"
	"twostage/convert/hf"
	"twostage/convert/refmodel"
	"twostage/convert/safetensors"
	"twostage/convert/tinymodel"
	"twostage/modeldir"
)

// reference opens a tiny checkpoint of family and its float64 evaluator.
func reference(t *testing.T, family string) (*arch.Reference, string) {
	t.Helper()
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: family, Seed: 3})
	cfg, err := hf.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := safetensors.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	src := arch.NewCheckpoint(ck)
	m, err := arch.NewModel(family, cfg, src.Has("lm_head.weight"))
	if err != nil {
		t.Fatal(err)
	}
	return arch.NewReference(m, src), dir
}

// TestReferenceMatchesOracle checks the one definition, evaluated in
// float64 on a right-padded batch, against refmodel's independent per-token
// forward pass of each unpadded row.
func TestReferenceMatchesOracle(t *testing.T) {
	rows := [][]int64{
		{101, 2054, 2003, 1037, 3231, 102, 1037, 3231, 102},
		{101, 7592, 102, 2088, 102},
		{101, 102},
	}
	for _, family := range modeldir.Families {
		t.Run(family, func(t *testing.T) {
			ref, dir := reference(t, family)
			oracle, err := refmodel.Load(dir, family)
			if err != nil {
				t.Fatal(err)
			}
			defer oracle.Close()
			B, S := len(rows), 0
			for _, r := range rows {
				S = max(S, len(r))
			}
			ids, mask, types := make([]int64, B*S), make([]int64, B*S), make([]int64, B*S)
			typeRows := make([][]int64, B)
			for b, r := range rows {
				typeRows[b] = make([]int64, len(r))
				for s, id := range r {
					ids[b*S+s], mask[b*S+s] = id, 1
					if s >= 3 && modeldir.IsCrossEncoder(family) && !modeldir.IsDecoder(family) {
						types[b*S+s], typeRows[b][s] = 1, 1
					}
				}
			}
			out, err := ref.Eval(ids, mask, types, B, S)
			if err != nil {
				t.Fatal(err)
			}
			for b, r := range rows {
				if family == modeldir.FamilyBertEmbedding {
					want, err := oracle.HiddenStates(r, typeRows[b])
					if err != nil {
						t.Fatal(err)
					}
					H := out.Dims[2]
					for s := range r {
						for i := 0; i < H; i++ {
							if got := out.Data[(b*S+s)*H+i]; math.Abs(got-want[s][i]) > 1e-9 {
								t.Fatalf("row %d token %d dim %d: got %v, want %v", b, s, i, got, want[s][i])
							}
						}
					}
					continue
				}
				want, err := oracle.Score(r, typeRows[b])
				if err != nil {
					t.Fatal(err)
				}
				if got := out.Data[b]; math.Abs(got-want) > 1e-9 {
					t.Errorf("row %d: got %v, want %v", b, got, want)
				}
			}
		})
	}
}

func TestReferenceErrors(t *testing.T) {
	ref, _ := reference(t, modeldir.FamilyZerank)
	if _, err := ref.Eval([]int64{1, 2}, []int64{1}, nil, 1, 2); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("short mask: %v, want ErrInvalidInput", err)
	}
	if _, err := ref.Eval([]int64{tinymodel.Qwen3Vocab}, []int64{1}, nil, 1, 1); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("id past the vocabulary: %v, want ErrInvalidInput", err)
	}
}

func TestStableHLOProgram(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 3})
	cfg, err := hf.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := arch.NewModel(modeldir.FamilyZerank, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := arch.StableHLO(m, 2, 8, arch.BF16)
	if err != nil {
		t.Fatal(err)
	}
	// 2 layers x 11 tensors, the embeddings, the final norm, the head rows.
	if got, want := len(p.Params), 2*11+3; got != want {
		t.Errorf("%d parameters, want %d", got, want)
	}
	if p.Inputs != 2 || p.Params[0].Name != "embed_tokens.weight" || p.Params[0].Dtype != arch.BF16 {
		t.Errorf("inputs %d, first parameter %+v", p.Inputs, p.Params[0])
	}
	last := p.Params[len(p.Params)-1]
	if last.Name != "embed_tokens.weight" || len(last.Rows) != 1 || last.Rows[0] != 9454 || last.Dtype != arch.F32 {
		t.Errorf("head parameter %+v, want the tied row 9454 in F32", last)
	}
	if _, err := arch.StableHLO(m, 0, 8, arch.F32); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("empty shape: %v", err)
	}
	if _, err := arch.StableHLO(m, 1, 8, "F64"); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("F64 compute: %v", err)
	}
}
