package safetensors

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"twostage/errdefs"
	"twostage/internal/half"
)

func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func u16bytes(conv func(float32) uint16, v ...float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], conv(x))
	}
	return b
}

func writeFile(t *testing.T, path string, hs []Header, data ...[]byte) {
	t.Helper()
	w, err := Create(path, hs, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if _, err := w.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadDtypes(t *testing.T) {
	vals := []float32{1, -2.5, 0.15625, 3}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, SingleFile), []Header{
		{"a", F32, []int64{2, 2}}, {"b", F16, []int64{4}}, {"c", BF16, []int64{1, 4}}, {"d", "I64", []int64{1}},
	}, f32bytes(vals...), u16bytes(half.F32ToF16, vals...), u16bytes(half.F32ToBF16, vals...), make([]byte, 8))
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if got := c.Names(); len(got) != 4 || got[0] != "a" || got[3] != "d" {
		t.Fatalf("Names = %v", got)
	}
	for _, name := range []string{"a", "b", "c"} {
		got, info, err := c.ReadFloat32(name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Numel() != 4 {
			t.Errorf("%s: numel %d", name, info.Numel())
		}
		for i := range vals {
			if got[i] != vals[i] { // all values are exact in every format
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], vals[i])
			}
		}
	}
	if _, _, err := c.ReadFloat32("d"); !errors.Is(err, ErrDtype) || !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("ReadFloat32(I64) = %v, want ErrDtype", err)
	}
	if _, _, err := c.ReadFloat32("nope"); !errors.Is(err, ErrMissing) || !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("ReadFloat32(missing) = %v, want ErrMissing", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), []Header{{"x", F32, []int64{2}}}, f32bytes(1, 2))
	writeFile(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), []Header{{"y", BF16, []int64{1}}}, u16bytes(half.F32ToBF16, 3))
	if err := WriteIndex(dir, map[string]string{"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}, 10); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	y, _, err := c.ReadFloat32("y")
	if err != nil || y[0] != 3 {
		t.Fatalf("y = %v, %v", y, err)
	}
	if c.TotalBytes() != 10 {
		t.Fatalf("TotalBytes = %d, want 10", c.TotalBytes())
	}
	// An index naming the wrong shard is malformed.
	WriteIndex(dir, map[string]string{"x": "model-00002-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}, 10)
	if _, err := Open(dir); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Open(wrong index) = %v, want ErrMalformed", err)
	}
}

func TestMalformed(t *testing.T) {
	raw := func(header string, data int) []byte {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, uint64(len(header)))
		return append(append(b, header...), make([]byte, data)...)
	}
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"empty file", nil, ErrMalformed},
		{"short", []byte{1, 2, 3}, ErrMalformed},
		{"huge header length", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "{}"...), ErrMalformed},
		{"header past end", func() []byte { b := raw("{}", 0); b[0] = 50; return b }(), ErrMalformed},
		{"not json", raw("{not json", 0), ErrMalformed},
		{"json array", raw("[1,2]", 0), ErrMalformed},
		{"offsets outside", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), ErrMalformed},
		{"size mismatch", raw(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), ErrMalformed},
		{"reversed offsets", raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), ErrMalformed},
		{"negative dim", raw(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), ErrMalformed},
		{"unknown dtype", raw(`{"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}}`, 8), ErrDtype},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "m.safetensors")
			os.WriteFile(p, tt.file, 0o644)
			c, err := OpenFiles(p)
			if err == nil {
				c.Close()
				t.Fatal("OpenFiles succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Open(empty dir) = %v, want ErrNotFound", err)
	}
}

func TestWriterChecks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.safetensors")
	if _, err := Create(p, []Header{{"a", "Q4", []int64{1}}}, nil); !errors.Is(err, ErrDtype) {
		t.Fatalf("Create(bad dtype) = %v", err)
	}
	w, err := Create(p, []Header{{"a", F32, []int64{2}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 12)); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Fatalf("overlong Write = %v", err)
	}
	w2, _ := Create(p, []Header{{"a", F32, []int64{2}}}, nil)
	w2.Write(make([]byte, 4))
	if err := w2.Close(); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Fatalf("short Close = %v", err)
	}
}
