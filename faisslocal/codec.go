package faisslocal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"twostage"
)

// Record encodings in docs.db. A document record is
//
//	seq uvarint | text (uvarint length + bytes) | metadata | CRC-32C
//
// and metadata is a uvarint count of entries, each a length-prefixed key, a
// type byte and the value. Vectors are stored apart (little-endian float32,
// then a CRC-32C) so a filter can read metadata without them. The checksums
// turn a damaged value, which bbolt does not detect, into ErrCorrupt.

// appendCRC appends the CRC-32C of b[from:].
func appendCRC(b []byte, from int) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[from:], castagnoli))
}

// checkCRC returns b without its trailing CRC-32C, or errBadCRC.
func checkCRC(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, errShort
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errBadCRC
	}
	return body, nil
}

var errBadCRC = errors.New("checksum mismatch")

const (
	tagString  = 1
	tagBool    = 2
	tagInt     = 3
	tagFloat   = 4
	tagStrings = 5
)

var errShort = errors.New("record truncated")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeDoc encodes a document record.
func encodeDoc(b []byte, seq uint64, text string, md map[string]any) ([]byte, error) {
	from := len(b)
	b = binary.AppendUvarint(b, seq)
	b = appendString(b, text)
	b = binary.AppendUvarint(b, uint64(len(md)))
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		switch v := md[k].(type) {
		case string:
			b = append(b, tagString)
			b = appendString(b, v)
		case bool:
			b = append(b, tagBool)
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case int64:
			b = append(b, tagInt)
			b = binary.AppendVarint(b, v)
		case int:
			b = append(b, tagInt)
			b = binary.AppendVarint(b, int64(v))
		case float64:
			b = append(b, tagFloat)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		case []string:
			b = append(b, tagStrings)
			b = binary.AppendUvarint(b, uint64(len(v)))
			for _, s := range v {
				b = appendString(b, s)
			}
		default:
			return nil, fmt.Errorf("faisslocal: metadata %q has unsupported type %T: %w", k, v, twostage.ErrInvalidInput)
		}
	}
	return appendCRC(b, from), nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }
func (r *reader) varint() int64   { return readVarint(r, binary.Varint) }

// readVarint reads one number with decode (binary.Uvarint or
// binary.Varint); a number cut short sets r.err to errShort.
func readVarint[T uint64 | int64](r *reader, decode func([]byte) (T, int)) T {
	if r.err != nil {
		return 0
	}
	v, n := decode(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

// key reads a metadata key, sharing the strings of keys seen before.
func (r *reader) key() string { return metaKeys.intern(r.bytes(r.uvarint())) }

// interner hands out one string per distinct key, so decoding a record
// does not allocate its metadata keys again: they come from a small
// vocabulary. Lookups read a map that is replaced, never changed, when a
// key is added (at most maxInterned keys; later ones are allocated).
type interner struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]string]
}

const maxInterned = 4096

var metaKeys interner

func (in *interner) intern(b []byte) string {
	if m := in.m.Load(); m != nil {
		if s, ok := (*m)[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	in.mu.Lock()
	defer in.mu.Unlock()
	old := in.m.Load()
	if old != nil && len(*old) >= maxInterned {
		return s
	}
	next := make(map[string]string, 1)
	if old != nil {
		if t, ok := (*old)[s]; ok {
			return t
		}
		next = maps.Clone(*old)
	}
	next[s] = s
	in.m.Store(&next)
	return s
}

func (r *reader) byte() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// decodeSeq returns a document record's sequence number.
func decodeSeq(b []byte) (uint64, error) {
	body, err := checkCRC(b)
	if err != nil {
		return 0, fmt.Errorf("faisslocal: document record: %v: %w", err, ErrCorrupt)
	}
	r := reader{b: body}
	seq := r.uvarint()
	if r.err != nil {
		return 0, fmt.Errorf("faisslocal: document record: %v: %w", r.err, ErrCorrupt)
	}
	return seq, nil
}

// decodeDoc decodes a document record. With wantText false the text is
// skipped.
func decodeDoc(b []byte, wantText bool) (seq uint64, text string, md map[string]any, err error) {
	body, err := checkCRC(b)
	if err != nil {
		return 0, "", nil, fmt.Errorf("faisslocal: document record: %v: %w", err, ErrCorrupt)
	}
	r := reader{b: body}
	seq = r.uvarint()
	if wantText {
		text = r.string()
	} else {
		r.bytes(r.uvarint())
	}
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errShort
	}
	if r.err == nil && n > 0 {
		md = make(map[string]any, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.key()
		switch tag := r.byte(); tag {
		case tagString:
			md[k] = r.string()
		case tagBool:
			md[k] = r.byte() == 1
		case tagInt:
			md[k] = r.varint()
		case tagFloat:
			if b := r.bytes(8); b != nil {
				md[k] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			}
		case tagStrings:
			m := r.uvarint()
			if r.err == nil && m > uint64(len(r.b)) {
				r.err = errShort
				break
			}
			ss := make([]string, 0, m)
			for j := uint64(0); j < m && r.err == nil; j++ {
				ss = append(ss, r.string())
			}
			md[k] = ss
		default:
			if r.err == nil {
				r.err = fmt.Errorf("unknown metadata type tag %d", tag)
			}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return 0, "", nil, fmt.Errorf("faisslocal: document record: %v: %w", r.err, ErrCorrupt)
	}
	return seq, text, md, nil
}

// encodeVector appends v as little-endian float32 and a CRC-32C.
func encodeVector(b []byte, v []float32) []byte {
	from := len(b)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return appendCRC(b, from)
}

// decodeVector decodes a vector of dim elements into dst (appending).
func decodeVector(dst []float32, b []byte, dim int) ([]float32, error) {
	if len(b) != 4*dim+4 {
		return dst, fmt.Errorf("faisslocal: vector record has %d bytes, want %d: %w", len(b), 4*dim+4, ErrCorrupt)
	}
	if _, err := checkCRC(b); err != nil {
		return dst, fmt.Errorf("faisslocal: vector record: %v: %w", err, ErrCorrupt)
	}
	for i := 0; i < dim; i++ {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return dst, nil
}

// Log entries: key is the big-endian sequence number, value an op byte and
// the document id.
const (
	opUpsert = 'u'
	opDelete = 'd'
)

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func encodeLog(op byte, id string) []byte { return append([]byte{op}, id...) }

func decodeLog(k, v []byte) (seq uint64, op byte, id string, err error) {
	if len(k) != 8 || len(v) < 2 || (v[0] != opUpsert && v[0] != opDelete) {
		return 0, 0, "", fmt.Errorf("faisslocal: write-ahead log entry %x: %w", k, ErrCorrupt)
	}
	return binary.BigEndian.Uint64(k), v[0], string(v[1:]), nil
}
