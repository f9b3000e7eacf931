// Package safetensors reads and writes Hugging Face safetensors checkpoints:
// one model.safetensors file or shards listed in model.safetensors.index.json.
//
// Reading is lazy: Open parses only the headers; each Read call reads one
// tensor from disk, so a converter that handles tensors one at a time never
// holds more than one tensor of the checkpoint in memory.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"twostage/errdefs"
	"twostage/internal/half"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrMalformed reports a file that is not valid safetensors (bad header
	// length, bad JSON, offsets outside the file, size not matching shape).
	ErrMalformed = errdefs.New("safetensors: malformed checkpoint", errdefs.ErrInvalidInput)
	// ErrDtype reports a tensor dtype this package cannot convert.
	ErrDtype = errdefs.New("safetensors: unsupported dtype", errdefs.ErrUnsupported)
	// ErrMissing reports a tensor name the checkpoint lacks.
	ErrMissing = errdefs.New("safetensors: missing tensor", errdefs.ErrNotFound)
)

// File names of a Hugging Face checkpoint.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// Dtypes this package reads as floats.
const (
	F32  = "F32"
	F16  = "F16"
	BF16 = "BF16"
)

// dtypeSizes lists every dtype the format defines (so headers using them
// parse), with its size in bytes.
var dtypeSizes = map[string]int{
	"F64": 8, F32: 4, F16: 2, BF16: 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
	"U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}

// DtypeSize returns the element size of dtype in bytes (0 if unknown).
func DtypeSize(dtype string) int { return dtypeSizes[dtype] }

// maxHeader bounds the JSON header (the reference implementation uses 100 MB).
const maxHeader = 100 << 20

// Info describes one tensor.
type Info struct {
	Name  string
	Dtype string
	Shape []int64
	file  *os.File
	path  string
	begin int64 // absolute file offset
	size  int64
}

// Numel returns the number of elements.
func (i *Info) Numel() int64 {
	n := int64(1)
	for _, d := range i.Shape {
		n *= d
	}
	return n
}

// Bytes returns the stored size in bytes.
func (i *Info) Bytes() int64 { return i.size }

// Checkpoint is an opened set of safetensors files.
type Checkpoint struct {
	files   []*os.File
	tensors map[string]*Info
}

// Open opens the checkpoint in dir: model.safetensors.index.json with its
// shards when present, else model.safetensors, else the single *.safetensors
// file in dir.
func Open(dir string) (*Checkpoint, error) {
	idx := filepath.Join(dir, IndexFile)
	if b, err := os.ReadFile(idx); err == nil {
		var index struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &index); err != nil {
			return nil, fmt.Errorf("safetensors: %s: %v: %w", idx, err, ErrMalformed)
		}
		if len(index.WeightMap) == 0 {
			return nil, fmt.Errorf("safetensors: %s: empty weight_map: %w", idx, ErrMalformed)
		}
		var shards []string
		for _, f := range index.WeightMap {
			if filepath.Base(f) != f {
				return nil, fmt.Errorf("safetensors: %s: shard %q is not a plain file name: %w", idx, f, ErrMalformed)
			}
			if !slices.Contains(shards, f) {
				shards = append(shards, f)
			}
		}
		sort.Strings(shards)
		paths := make([]string, len(shards))
		for i, s := range shards {
			paths[i] = filepath.Join(dir, s)
		}
		c, err := OpenFiles(paths...)
		if err != nil {
			return nil, err
		}
		for name, f := range index.WeightMap {
			t, ok := c.tensors[name]
			if !ok || filepath.Base(t.path) != f {
				c.Close()
				return nil, fmt.Errorf("safetensors: %s lists %s in %s, which does not hold it: %w", idx, name, f, ErrMalformed)
			}
		}
		return c, nil
	}
	single := filepath.Join(dir, SingleFile)
	if _, err := os.Stat(single); err == nil {
		return OpenFiles(single)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(matches) == 1 {
		return OpenFiles(matches[0])
	}
	return nil, fmt.Errorf("safetensors: no %s or %s in %s: %w", SingleFile, IndexFile, dir, errdefs.ErrNotFound)
}

// OpenFiles opens the given safetensors files as one checkpoint. A tensor
// name present in two files is an error.
func OpenFiles(paths ...string) (*Checkpoint, error) {
	c := &Checkpoint{tensors: map[string]*Info{}}
	for _, p := range paths {
		if err := c.add(p); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Checkpoint) add(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	c.files = append(c.files, f)
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: %s: %w", path, fmt.Sprintf(format, args...), ErrMalformed)
	}
	var lenb [8]byte
	if _, err := io.ReadFull(f, lenb[:]); err != nil {
		return bad("file too short for a header (%d bytes)", st.Size())
	}
	n := binary.LittleEndian.Uint64(lenb[:])
	if n == 0 || n > maxHeader || int64(n) > st.Size()-8 {
		return bad("header length %d (file is %d bytes)", n, st.Size())
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(f, hb); err != nil {
		return bad("reading header: %v", err)
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(hb, &header); err != nil {
		return bad("header is not a JSON object: %v", err)
	}
	dataStart := int64(8 + n)
	dataLen := st.Size() - dataStart
	for name, raw := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype   string  `json:"dtype"`
			Shape   []int64 `json:"shape"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return bad("tensor %s: %v", name, err)
		}
		size := dtypeSizes[e.Dtype]
		if size == 0 {
			return fmt.Errorf("safetensors: %s: tensor %s has dtype %q: %w", path, name, e.Dtype, ErrDtype)
		}
		if len(e.Offsets) != 2 || e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] || e.Offsets[1] > dataLen {
			return bad("tensor %s: data_offsets %v outside the %d data bytes", name, e.Offsets, dataLen)
		}
		numel := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && numel > math.MaxInt64/int64(size)/d) {
				return bad("tensor %s: bad shape %v", name, e.Shape)
			}
			numel *= d
		}
		if numel*int64(size) != e.Offsets[1]-e.Offsets[0] {
			return bad("tensor %s: shape %v of %s needs %d bytes, offsets span %d", name, e.Shape, e.Dtype, numel*int64(size), e.Offsets[1]-e.Offsets[0])
		}
		if _, dup := c.tensors[name]; dup {
			return bad("tensor %s appears in two files", name)
		}
		c.tensors[name] = &Info{Name: name, Dtype: e.Dtype, Shape: e.Shape, file: f, path: path,
			begin: dataStart + e.Offsets[0], size: e.Offsets[1] - e.Offsets[0]}
	}
	return nil
}

// Names returns the tensor names, sorted.
func (c *Checkpoint) Names() []string {
	out := make([]string, 0, len(c.tensors))
	for n := range c.tensors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Info returns the description of the named tensor.
func (c *Checkpoint) Info(name string) (*Info, bool) {
	t, ok := c.tensors[name]
	return t, ok
}

// Has reports whether the checkpoint holds the named tensor.
func (c *Checkpoint) Has(name string) bool { _, ok := c.tensors[name]; return ok }

// TotalBytes is the stored size of all tensors.
func (c *Checkpoint) TotalBytes() int64 {
	var n int64
	for _, t := range c.tensors {
		n += t.size
	}
	return n
}

// ReadRaw reads the named tensor's stored bytes.
func (c *Checkpoint) ReadRaw(name string) ([]byte, *Info, error) {
	t, ok := c.tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("safetensors: %q: %w", name, ErrMissing)
	}
	b := make([]byte, t.size)
	if _, err := t.file.ReadAt(b, t.begin); err != nil {
		return nil, nil, fmt.Errorf("safetensors: read %s from %s: %w", name, t.path, err)
	}
	return b, t, nil
}

// ReadRawChunks streams the named tensor's stored bytes, calling fn with
// consecutive pieces of at most chunk bytes, each a whole number of elements
// (the slice is reused between calls).
func (c *Checkpoint) ReadRawChunks(name string, chunk int, fn func([]byte) error) error {
	t, ok := c.tensors[name]
	if !ok {
		return fmt.Errorf("safetensors: %q: %w", name, ErrMissing)
	}
	size := int64(dtypeSizes[t.Dtype])
	step := max(int64(chunk)/size, 1) * size
	buf := make([]byte, min(step, t.size))
	for off := int64(0); off < t.size; {
		n := min(int64(len(buf)), t.size-off)
		if _, err := t.file.ReadAt(buf[:n], t.begin+off); err != nil {
			return fmt.Errorf("safetensors: read %s from %s: %w", name, t.path, err)
		}
		if err := fn(buf[:n]); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// ReadFloat32Chunks streams the named F32, F16 or BF16 tensor as float32,
// calling fn with consecutive pieces of at most chunk elements (the slice is
// reused between calls), so the tensor is never whole in memory.
func (c *Checkpoint) ReadFloat32Chunks(name string, chunk int, fn func([]float32) error) error {
	t, ok := c.tensors[name]
	if !ok {
		return fmt.Errorf("safetensors: %q: %w", name, ErrMissing)
	}
	if t.Dtype != F32 && t.Dtype != F16 && t.Dtype != BF16 {
		return fmt.Errorf("safetensors: tensor %s is %s, want F32, F16 or BF16: %w", name, t.Dtype, ErrDtype)
	}
	size := int64(dtypeSizes[t.Dtype])
	chunk = max(chunk, 1)
	buf := make([]byte, min(int64(chunk)*size, t.size))
	out := make([]float32, len(buf)/int(size))
	for off := int64(0); off < t.size; {
		n := min(int64(len(buf)), t.size-off)
		if _, err := t.file.ReadAt(buf[:n], t.begin+off); err != nil {
			return fmt.Errorf("safetensors: read %s from %s: %w", name, t.path, err)
		}
		dst := out[:n/size]
		decode(t.Dtype, buf[:n], dst)
		if err := fn(dst); err != nil {
			return err
		}
		off += n
	}
	return nil
}

func decode(dtype string, b []byte, dst []float32) {
	switch dtype {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = half.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = half.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
}

// ReadFloat32 reads the named F32, F16 or BF16 tensor widened to float32.
// Other dtypes give ErrDtype.
func (c *Checkpoint) ReadFloat32(name string) ([]float32, *Info, error) {
	t, ok := c.tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("safetensors: %q: %w", name, ErrMissing)
	}
	if t.Dtype != F32 && t.Dtype != F16 && t.Dtype != BF16 {
		return nil, nil, fmt.Errorf("safetensors: tensor %s is %s, want F32, F16 or BF16: %w", name, t.Dtype, ErrDtype)
	}
	out := make([]float32, t.Numel())
	// Read in chunks so a bf16 tensor costs its float32 copy plus one chunk.
	const chunk = 8 << 20
	buf := make([]byte, min(chunk, t.size))
	size := int64(dtypeSizes[t.Dtype])
	for off := int64(0); off < t.size; {
		n := min(int64(len(buf)), t.size-off)
		b := buf[:n]
		if _, err := t.file.ReadAt(b, t.begin+off); err != nil {
			return nil, nil, fmt.Errorf("safetensors: read %s from %s: %w", name, t.path, err)
		}
		decode(t.Dtype, b, out[off/size:(off+n)/size])
		off += n
	}
	return out, t, nil
}

// Close closes the files. Later calls return errdefs.ErrClosed.
func (c *Checkpoint) Close() error {
	if c.files == nil {
		return fmt.Errorf("safetensors: checkpoint: %w", errdefs.ErrClosed)
	}
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files = nil
	return errors.Join(errs...)
}

// ReadRows reads the given rows of a 2-D F32, F16 or BF16 tensor, widened to
// float32, without reading the rest of it.
func (c *Checkpoint) ReadRows(name string, rows []int) ([][]float32, *Info, error) {
	t, ok := c.tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("safetensors: %q: %w", name, ErrMissing)
	}
	if t.Dtype != F32 && t.Dtype != F16 && t.Dtype != BF16 {
		return nil, nil, fmt.Errorf("safetensors: tensor %s is %s, want F32, F16 or BF16: %w", name, t.Dtype, ErrDtype)
	}
	if len(t.Shape) != 2 {
		return nil, nil, fmt.Errorf("safetensors: ReadRows on %s of shape %v: %w", name, t.Shape, errdefs.ErrDimension)
	}
	size := int64(dtypeSizes[t.Dtype])
	cols := t.Shape[1]
	out := make([][]float32, len(rows))
	b := make([]byte, cols*size)
	for i, r := range rows {
		if r < 0 || int64(r) >= t.Shape[0] {
			return nil, nil, fmt.Errorf("safetensors: row %d of %s (%d rows): %w", r, name, t.Shape[0], errdefs.ErrInvalidInput)
		}
		if _, err := t.file.ReadAt(b, t.begin+int64(r)*cols*size); err != nil {
			return nil, nil, fmt.Errorf("safetensors: read %s: %w", name, err)
		}
		row := make([]float32, cols)
		decode(t.Dtype, b, row)
		out[i] = row
	}
	return out, t, nil
}
