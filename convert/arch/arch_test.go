package arch_test

import (
	"errors"
	"testing"

	"twostage/convert/arch"
	"twostage/convert/hf"
	"twostage/errdefs"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// reference opens a tiny checkpoint of family and its float64 evaluator.
func reference(t *testing.T, family string) (*arch.Reference, string) {
	t.Helper()
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: family, Seed: 3})
	ref, ck, err := arch.OpenReference(dir, family)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	return ref, dir
}

func TestReferenceErrors(t *testing.T) {
	ref, _ := reference(t, modeldir.FamilyZerank)
	if _, err := ref.Eval([]int64{1, 2}, []int64{1}, nil, 1, 2); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("short mask: %v, want ErrInvalidInput", err)
	}
	if _, err := ref.Eval([]int64{tinymodel.Qwen3Vocab}, []int64{1}, nil, 1, 1); !errors.Is(err, errdefs.ErrInvalidInput) {
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
	if _, err := arch.StableHLO(m, 0, 8, arch.F32); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("empty shape: %v", err)
	}
	if _, err := arch.StableHLO(m, 1, 8, "F64"); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("F64 compute: %v", err)
	}
}
