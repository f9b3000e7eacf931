package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"twostage/errdefs"
)

// Header declares one tensor for a Writer.
type Header struct {
	Name  string
	Dtype string
	Shape []int64
}

func (h Header) bytes() int64 {
	n := int64(dtypeSizes[h.Dtype])
	for _, d := range h.Shape {
		n *= d
	}
	return n
}

// Writer streams one safetensors file: the header is written first from the
// declared tensors, then each tensor's data with Write, in declaration order.
type Writer struct {
	f       *os.File
	w       *bufio.Writer
	headers []Header
	next    int
	left    int64 // bytes still owed for headers[next]
}

// Create starts a safetensors file at path holding the declared tensors.
func Create(path string, headers []Header, metadata map[string]string) (*Writer, error) {
	var sb strings.Builder
	sb.WriteString("{")
	if len(metadata) > 0 {
		m, _ := json.Marshal(metadata)
		fmt.Fprintf(&sb, `"__metadata__":%s,`, m)
	}
	var off int64
	seen := map[string]bool{}
	for i, h := range headers {
		if dtypeSizes[h.Dtype] == 0 {
			return nil, fmt.Errorf("safetensors: tensor %s: dtype %q: %w", h.Name, h.Dtype, ErrDtype)
		}
		if h.Name == "" || seen[h.Name] {
			return nil, fmt.Errorf("safetensors: empty or repeated tensor name %q: %w", h.Name, errdefs.ErrInvalidInput)
		}
		seen[h.Name] = true
		name, _ := json.Marshal(h.Name)
		shape, _ := json.Marshal(append([]int64{}, h.Shape...))
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, h.Dtype, shape, off, off+h.bytes())
		off += h.bytes()
	}
	sb.WriteString("}")
	for sb.Len()%8 != 0 { // align the data start, as the reference writer does
		sb.WriteString(" ")
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(sb.Len()))
	w.Write(lenb[:])
	w.WriteString(sb.String())
	sw := &Writer{f: f, w: w, headers: headers}
	if len(headers) > 0 {
		sw.left = headers[0].bytes()
	}
	return sw, nil
}

// Write appends data to the current tensor (a tensor may be written in
// several calls); it moves to the next tensor once the current one is full.
func (w *Writer) Write(data []byte) (int, error) {
	written := 0
	for len(data) > 0 {
		for w.next < len(w.headers) && w.left == 0 {
			w.next++
			if w.next < len(w.headers) {
				w.left = w.headers[w.next].bytes()
			}
		}
		if w.next >= len(w.headers) {
			return written, fmt.Errorf("safetensors: %d bytes written past the declared tensors: %w", len(data), errdefs.ErrInvalidInput)
		}
		n := min(int64(len(data)), w.left)
		if _, err := w.w.Write(data[:n]); err != nil {
			return written, fmt.Errorf("safetensors: %w", err)
		}
		w.left -= n
		written += int(n)
		data = data[n:]
	}
	return written, nil
}

// Close finishes the file; it fails when declared tensor data is missing.
func (w *Writer) Close() error {
	if w.f == nil {
		return fmt.Errorf("safetensors: writer: %w", errdefs.ErrClosed)
	}
	defer func() { w.f = nil }()
	missing := w.left
	for i := w.next + 1; i < len(w.headers); i++ {
		missing += w.headers[i].bytes()
	}
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if missing != 0 {
		return fmt.Errorf("safetensors: %s: %d bytes of tensor data never written: %w", w.f.Name(), missing, errdefs.ErrInvalidInput)
	}
	return nil
}

// WriteIndex writes dir/model.safetensors.index.json mapping each tensor to
// its shard file name.
func WriteIndex(dir string, weightMap map[string]string, totalSize int64) error {
	b, err := json.MarshalIndent(map[string]any{
		"metadata":   map[string]any{"total_size": totalSize},
		"weight_map": weightMap,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := os.WriteFile(dir+string(os.PathSeparator)+IndexFile, b, 0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}
