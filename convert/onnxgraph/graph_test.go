package onnxgraph_test

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"

	og "twostage/convert/onnxgraph"
	"twostage/errdefs"
	"twostage/internal/ort"
	"twostage/internal/testassets"
)

// affine builds y = x @ W + b with W [n, n] (spilled: large) and b [n]
// (inline: small), W in typ and widened to float32 when typ is Float16.
func affine(t *testing.T, dir string, n int, typ og.DataType) (*og.Graph, []float32, []float32) {
	t.Helper()
	g, err := og.New("affine", filepath.Join(dir, "spill"))
	if err != nil {
		t.Fatal(err)
	}
	w := make([]float32, n*n)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	b := make([]float32, n)
	for i := range b {
		b[i] = float32(i) / 4
	}
	x := g.Input("x", og.Float, "batch", int64(n))
	wn, err := g.Weight("w", typ, []int64{int64(n), int64(n)}, og.EncodeFloats(typ, w))
	if err != nil {
		t.Fatal(err)
	}
	if typ == og.Float16 {
		wn = g.Op("Cast", []string{wn}, og.Int("to", int64(og.Float)))
	}
	bn, err := g.WeightFrom("b", og.Float, []int64{int64(n)}, func(wr io.Writer) error {
		_, err := wr.Write(og.EncodeFloats(og.Float, b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Output(g.Op("Add", []string{g.Op("MatMul", []string{x, wn}), bn}), "y", og.Float, "batch", int64(n))
	return g, w, b
}

func TestSaveAndRun(t *testing.T) {
	testassets.ONNXRuntime(t)
	const n = 64
	tests := []struct {
		name     string
		external bool
		typ      og.DataType
	}{
		{"inline fp32", false, og.Float},
		{"external fp32", true, og.Float},
		{"inline fp16", false, og.Float16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			g, w, b := affine(t, dir, n, tt.typ)
			model, data := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "model.onnx.data")
			if err := g.Save(model, data, tt.external); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "spill")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("spill file left behind: %v", err)
			}
			if _, err := os.Stat(data); (err == nil) != tt.external {
				t.Errorf("external data file present = %v, want %v", err == nil, tt.external)
			}
			s := session(t, model)
			x := make([]float32, 2*n)
			for i := range x {
				x[i] = float32(i%5) * 0.5
			}
			xt, _ := ortgo.NewTensor(ortgo.NewShape(2, n), x)
			defer xt.Destroy()
			out := []ortgo.Value{nil}
			if err := s.Run([]ortgo.Value{xt}, out); err != nil {
				t.Fatal(err)
			}
			defer out[0].Destroy()
			got := out[0].(*ortgo.Tensor[float32]).GetData()
			for r := 0; r < 2; r++ {
				for c := 0; c < n; c++ {
					want := float64(b[c])
					for k := 0; k < n; k++ {
						want += float64(x[r*n+k]) * float64(w[k*n+c])
					}
					if math.Abs(float64(got[r*n+c])-want) > 1e-4*math.Max(1, math.Abs(want)) {
						t.Fatalf("y[%d,%d] = %v, want %v", r, c, got[r*n+c], want)
					}
				}
			}
		})
	}
}

func TestGraphErrors(t *testing.T) {
	dir := t.TempDir()
	g, err := og.New("e", filepath.Join(dir, "spill"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Weight("w", og.Float, []int64{3}, make([]byte, 8)); !errors.Is(err, errdefs.ErrDimension) {
		t.Errorf("Weight with wrong size: %v, want ErrDimension", err)
	}
	_, err = g.WeightFrom("w", og.Float, []int64{1000}, func(w io.Writer) error { _, err := w.Write(make([]byte, 10)); return err })
	if !errors.Is(err, errdefs.ErrDimension) {
		t.Errorf("WeightFrom short: %v, want ErrDimension", err)
	}
	g.Input("in", og.Float, int64(1))
	if _, err := g.InputDefault("in", og.Float, []int64{1}, make([]byte, 4), int64(1)); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("InputDefault on a name in use: %v, want ErrInvalidInput", err)
	}
	if err := g.Save(filepath.Join(dir, "m.onnx"), filepath.Join(t.TempDir(), "elsewhere.data"), true); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("external data in another directory: %v, want ErrInvalidInput", err)
	}
	if err := g.Close(); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("Close after Save: %v, want ErrClosed", err)
	}
	if _, err := g.Weight("x", og.Float, []int64{1}, make([]byte, 4)); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("Weight after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "spill")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spill file left after Close: %v", err)
	}
}

// TestOpDomain runs a com.microsoft operator (Gelu): the node carries its
// domain and the model imports it.
func TestOpDomain(t *testing.T) {
	run := runGraph(t, "gelu", func(g *og.Graph) {
		x := g.Input("x", og.Float, int64(5))
		g.Output(g.OpDomain(og.MSDomain, "Gelu", []string{x}, 1)[0], "y", og.Float, int64(5))
	})
	in := []float32{-2, -0.5, 0, 0.5, 2}
	for i, got := range run(in) {
		v := float64(in[i])
		if want := v / 2 * (1 + math.Erf(v/math.Sqrt2)); math.Abs(float64(got)-want) > 1e-6 {
			t.Errorf("gelu(%v) = %v, want %v", v, got, want)
		}
	}
}

// runGraph builds a graph named name with build (one float vector input,
// one float output), saves it and returns a function that runs it in ONNX
// Runtime on a vector and returns the output.
func runGraph(t *testing.T, name string, build func(g *og.Graph)) func(in []float32) []float32 {
	t.Helper()
	testassets.ONNXRuntime(t)
	dir := t.TempDir()
	g, err := og.New(name, filepath.Join(dir, "spill"))
	if err != nil {
		t.Fatal(err)
	}
	build(g)
	model := filepath.Join(dir, "model.onnx")
	if err := g.Save(model, "", false); err != nil {
		t.Fatal(err)
	}
	s := session(t, model)
	return func(in []float32) []float32 {
		t.Helper()
		xt, err := ortgo.NewTensor(ortgo.NewShape(int64(len(in))), in)
		if err != nil {
			t.Fatal(err)
		}
		defer xt.Destroy()
		out := []ortgo.Value{nil}
		if err := s.Run([]ortgo.Value{xt}, out); err != nil {
			t.Fatal(err)
		}
		defer out[0].Destroy()
		return slices.Clone(out[0].(*ortgo.Tensor[float32]).GetData())
	}
}

// session opens an ONNX Runtime session on the model file, holding the
// runtime, both released when t ends.
func session(t *testing.T, model string) *ort.Session {
	t.Helper()
	release, err := ort.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release() })
	s, err := ort.NewSession(model, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBranch: an If node whose branches are built with Branch takes the
// branch its condition picks; branches read values and constants made
// outside them.
func TestBranch(t *testing.T) {
	run := runGraph(t, "if", func(g *og.Graph) {
		x := g.Input("x", og.Float, "n")
		two := g.ConstFloat(og.Float, []float32{2})
		cond := g.Op("Squeeze", []string{g.Op("Greater", []string{g.Op("ReduceSum", []string{x}, og.Int("keepdims", 1)), g.ConstFloat(og.Float, []float32{0})})})
		add := g.Branch(og.Float, []any{"n"}, func() []string { return []string{g.Op("Add", []string{x, two})} })
		mul := g.Branch(og.Float, []any{"n"}, func() []string { return []string{g.Op("Mul", []string{x, two})} })
		g.Output(g.Op("If", []string{cond}, og.GraphAttr("then_branch", add), og.GraphAttr("else_branch", mul)), "y", og.Float, "n")
	})
	for _, tt := range []struct{ in, want []float32 }{
		{[]float32{1, 2}, []float32{3, 4}},     // sum > 0: then (add)
		{[]float32{-1, -2}, []float32{-2, -4}}, // else (mul)
	} {
		if got := run(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("x %v: y %v, want %v", tt.in, got, tt.want)
		}
	}
}
