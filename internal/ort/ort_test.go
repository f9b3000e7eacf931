package ort

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	ortgo "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"

	"twostage/errdefs"
	"twostage/internal/testassets"
)

// addModel writes a one-node ONNX model: y = x + x (float32 [n, 3]), with a
// second int64 input "ids" passed through as "ids_out".
func addModel(t *testing.T) string {
	t.Helper()
	str := func(b []byte, num protowire.Number, s string) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
	msg := func(b []byte, num protowire.Number, m []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, m)
	}
	vint := func(b []byte, num protowire.Number, v int64) []byte {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v))
	}
	valueInfo := func(name string, elem int64, dims ...any) []byte {
		var shape []byte
		for _, d := range dims {
			var dim []byte
			switch d := d.(type) {
			case int:
				dim = vint(nil, 1, int64(d))
			case string:
				dim = str(nil, 2, d)
			}
			shape = msg(shape, 1, dim)
		}
		tt := msg(vint(nil, 1, elem), 2, shape)
		return msg(str(nil, 1, name), 2, msg(nil, 1, tt))
	}
	node := func(op string, in []string, out string) []byte {
		var b []byte
		for _, x := range in {
			b = str(b, 1, x)
		}
		return str(str(b, 2, out), 4, op)
	}
	var g []byte
	g = msg(g, 1, node("Add", []string{"x", "x"}, "y"))
	g = msg(g, 1, node("Identity", []string{"ids"}, "ids_out"))
	g = str(g, 2, "test")
	g = msg(g, 11, valueInfo("x", 1, "batch", 3))
	g = msg(g, 11, valueInfo("ids", 7, "batch"))
	g = msg(g, 12, valueInfo("y", 1, "batch", 3))
	g = msg(g, 12, valueInfo("ids_out", 7, "batch"))
	var m []byte
	m = vint(m, 1, 8)
	m = msg(m, 8, vint(nil, 2, 17))
	m = msg(m, 7, g)
	p := filepath.Join(t.TempDir(), "add.onnx")
	if err := os.WriteFile(p, m, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSession(t *testing.T) {
	testassets.ONNXRuntime(t)
	s, err := NewSession(addModel(t), &SessionOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	in, out := s.Inputs(), s.Outputs()
	if len(in) != 2 || in[0].Name != "x" || in[0].Type != ortgo.TensorElementDataTypeFloat ||
		len(in[0].Shape) != 2 || in[0].Shape[0] != -1 || in[0].Shape[1] != 3 ||
		in[1].Name != "ids" || in[1].Type != ortgo.TensorElementDataTypeInt64 {
		t.Fatalf("inputs = %+v", in)
	}
	if len(out) != 2 || out[0].Name != "y" || out[1].Name != "ids_out" {
		t.Fatalf("outputs = %+v", out)
	}
	if !s.HasInput("ids") || s.HasInput("token_type_ids") {
		t.Fatal("HasInput wrong")
	}
	// Tensors live in the environment: hold a reference of our own so they
	// can be destroyed after the session is closed.
	release, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	x, _ := ortgo.NewTensor(ortgo.NewShape(2, 3), []float32{1, 2, 3, 4, 5, 6})
	defer x.Destroy()
	ids, _ := ortgo.NewTensor(ortgo.NewShape(2), []int64{7, 9})
	defer ids.Destroy()
	outs := []ortgo.Value{nil, nil}
	if err := s.Run([]ortgo.Value{x, ids}, outs); err != nil {
		t.Fatal(err)
	}
	got := outs[0].(*ortgo.Tensor[float32]).GetData()
	for i, v := range []float32{2, 4, 6, 8, 10, 12} {
		if got[i] != v {
			t.Fatalf("y[%d] = %v, want %v", i, got[i], v)
		}
	}
	if g := outs[1].(*ortgo.Tensor[int64]).GetData(); g[0] != 7 || g[1] != 9 {
		t.Fatalf("ids_out = %v", g)
	}
	for _, o := range outs {
		o.Destroy()
	}
	if err := s.Run([]ortgo.Value{x}, []ortgo.Value{nil}); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Fatalf("Run with wrong arity: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, errdefs.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if err := s.Run([]ortgo.Value{x, ids}, []ortgo.Value{nil, nil}); !errors.Is(err, errdefs.ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
}

func TestSessionErrors(t *testing.T) {
	testassets.ONNXRuntime(t)
	model := addModel(t)
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2}, 0o644)
	tests := []struct {
		name string
		path string
		opts *SessionOptions
		want error
	}{
		{"cuda on cpu library", model, &SessionOptions{Provider: CUDA}, errdefs.ErrUnsupported},
		{"tensorrt on cpu library", model, &SessionOptions{Provider: TensorRT}, errdefs.ErrUnsupported},
		{"unknown provider", model, &SessionOptions{Provider: "tpu"}, errdefs.ErrInvalidInput},
		{"negative threads", model, &SessionOptions{IntraOpThreads: -1}, errdefs.ErrInvalidInput},
		{"missing model", filepath.Join(t.TempDir(), "none.onnx"), nil, errdefs.ErrNotFound},
		{"malformed model", bad, nil, errdefs.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession(tt.path, tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("NewSession succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
	env.mu.Lock()
	refs := env.refs
	env.mu.Unlock()
	if refs != 0 {
		t.Fatalf("failed sessions leaked %d environment references", refs)
	}
}

func TestAcquireRefcount(t *testing.T) {
	testassets.ONNXRuntime(t)
	r1, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if LibraryPath() == "" || Version() == "" {
		t.Fatal("no library path or version while acquired")
	}
	if err := r1(); err != nil {
		t.Fatal(err)
	}
	if err := r1(); !errors.Is(err, errdefs.ErrClosed) {
		t.Fatalf("double release: %v, want ErrClosed", err)
	}
	if !ortgo.IsInitialized() {
		t.Fatal("environment destroyed while a reference is held")
	}
	if err := r2(); err != nil {
		t.Fatal(err)
	}
	if ortgo.IsInitialized() || LibraryPath() != "" {
		t.Fatal("environment alive after the last release")
	}
	// It comes back after a full release.
	r3, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if err := r3(); err != nil {
		t.Fatal(err)
	}
}

func TestLibraryMissing(t *testing.T) {
	t.Setenv(EnvLibrary, "/nonexistent/libonnxruntime.so")
	t.Setenv(EnvDeps, "/nonexistent-deps")
	t.Chdir(t.TempDir())
	_, err := Acquire()
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"/nonexistent/libonnxruntime.so", "/nonexistent-deps/lib/libonnxruntime.so", EnvLibrary, EnvDeps} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
