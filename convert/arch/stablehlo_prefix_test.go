package arch_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"twostage/convert/arch"
	"twostage/convert/hf"
	"twostage/errdefs"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// model reads a tiny checkpoint of family as an arch.Model.
func model(t *testing.T, family string) *arch.Model {
	t.Helper()
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: family, Seed: 3})
	cfg, err := hf.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := arch.NewModel(family, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStableHLOPrefixPrograms: the prefix program outputs each layer's
// keys and values, the continuation program takes them (and the lengths
// and index) before the weights, both with the whole program's weights;
// BERT has neither.
func TestStableHLOPrefixPrograms(t *testing.T) {
	m := model(t, modeldir.FamilyZerank)
	c := m.Config
	whole, err := arch.StableHLO(m, 3, 8, arch.F32)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := arch.StableHLOPrefix(m, 2, 16, arch.BF16)
	if err != nil {
		t.Fatal(err)
	}
	if pre.Presents != c.NumHiddenLayers || pre.B != 2 || pre.S != 16 || pre.Past != 0 {
		t.Errorf("prefix program: presents %d, shape [%d %d], past %d; want %d layers, [2 16], 0", pre.Presents, pre.B, pre.S, pre.Past, c.NumHiddenLayers)
	}
	kv := fmt.Sprintf("tensor<2x16x%dx%dxf32>", c.NumKeyValueHeads, c.HeadDim)
	if !bytes.Contains(pre.Text, []byte(kv)) {
		t.Errorf("prefix program has no %s output", kv)
	}
	past, err := arch.StableHLOPast(m, 3, 8, 2, 16, arch.F32)
	if err != nil {
		t.Fatal(err)
	}
	if past.N != 2 || past.P != 16 || past.Past != c.NumHiddenLayers || past.Presents != 0 || past.Inputs != 2 {
		t.Errorf("continuation program: N %d P %d past %d presents %d inputs %d", past.N, past.P, past.Past, past.Presents, past.Inputs)
	}
	for _, name := range []string{"past_lengths", "prefix_index", "past_key_0", fmt.Sprintf("past_value_%d", c.NumHiddenLayers-1)} {
		if !bytes.Contains(past.Text, []byte(name)) {
			t.Errorf("continuation program has no input %s", name)
		}
	}
	names := func(ps []arch.Param) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name+fmt.Sprint(p.Rows))
		}
		return out
	}
	for _, p := range []*arch.Program{pre, past} {
		if !slices.Equal(names(p.Params), names(whole.Params)) {
			t.Errorf("parameters %v, want the whole program's %v", names(p.Params), names(whole.Params))
		}
	}
	if _, err := arch.StableHLOPast(m, 1, 8, 0, 16, arch.F32); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("no prefixes: %v, want ErrInvalidInput", err)
	}
	bert := model(t, modeldir.FamilyBertCrossEncoder)
	if _, err := arch.StableHLOPrefix(bert, 1, 8, arch.F32); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("bert prefix program: %v, want ErrUnsupported", err)
	}
	if _, err := arch.StableHLOPast(bert, 1, 8, 1, 8, arch.F32); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("bert continuation program: %v, want ErrUnsupported", err)
	}
}
