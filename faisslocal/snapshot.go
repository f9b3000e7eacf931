package faisslocal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The SNAPSHOT file names the index file written with it and holds the slot
// table:
//
//	magic "FLSNAP01"
//	seq, gen, index size (uint64 LE), index CRC-32C (uint32 LE)
//	trained (byte), slot count (uint64 LE), then per slot a uvarint-length id
//	("" for a dead slot)
//	CRC-32C of everything before it (uint32 LE)
const snapshotMagic = "FLSNAP01"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshot is the decoded SNAPSHOT file.
type snapshot struct {
	seq       uint64 // the last log sequence the index contains
	gen       uint64 // names index-<gen>.faiss
	indexSize uint64
	indexCRC  uint32
	trained   bool     // the IVF index is trained (else its vectors sit in a flat buffer)
	slots     []string // slot -> document id, "" when dead
}

func indexFileName(gen uint64) string { return fmt.Sprintf("index-%d.faiss", gen) }

func (s *snapshot) encode() []byte {
	b := []byte(snapshotMagic)
	b = binary.LittleEndian.AppendUint64(b, s.seq)
	b = binary.LittleEndian.AppendUint64(b, s.gen)
	b = binary.LittleEndian.AppendUint64(b, s.indexSize)
	b = binary.LittleEndian.AppendUint32(b, s.indexCRC)
	if s.trained {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s.slots)))
	for _, id := range s.slots {
		b = appendString(b, id)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeSnapshot(b []byte) (*snapshot, error) {
	bad := func(why string) (*snapshot, error) {
		return nil, fmt.Errorf("faisslocal: %s file: %s: %w", snapshotName, why, ErrCorrupt)
	}
	if len(b) < len(snapshotMagic)+8*4+4+1+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return bad("bad header")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return bad("checksum mismatch (truncated or damaged)")
	}
	p := body[len(snapshotMagic):]
	s := &snapshot{
		seq:       binary.LittleEndian.Uint64(p),
		gen:       binary.LittleEndian.Uint64(p[8:]),
		indexSize: binary.LittleEndian.Uint64(p[16:]),
		indexCRC:  binary.LittleEndian.Uint32(p[24:]),
		trained:   p[28] == 1,
	}
	n := binary.LittleEndian.Uint64(p[29:])
	r := reader{b: p[37:]}
	if n > uint64(len(r.b)) {
		return bad("slot count exceeds file")
	}
	s.slots = make([]string, n)
	for i := range s.slots {
		s.slots[i] = r.string()
	}
	if r.err != nil || len(r.b) != 0 {
		return bad("malformed slot table")
	}
	return s, nil
}

// readSnapshot reads dir's SNAPSHOT; nil without error when there is none.
func readSnapshot(dir string) (*snapshot, error) {
	b, err := os.ReadFile(filepath.Join(dir, snapshotName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("faisslocal: read %s: %w", snapshotName, err)
	}
	return decodeSnapshot(b)
}

// fileCRC returns the size and CRC-32C of the file at path.
func fileCRC(path string) (uint64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20))
	return uint64(n), h.Sum32(), err
}

// checkIndexFile verifies the index file named by s.
func (s *snapshot) checkIndexFile(dir string) (string, error) {
	path := filepath.Join(dir, indexFileName(s.gen))
	size, sum, err := fileCRC(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("faisslocal: index file %s named by %s is missing: %w", path, snapshotName, ErrCorrupt)
	}
	if err != nil {
		return "", fmt.Errorf("faisslocal: read index file: %w", err)
	}
	if size != s.indexSize || sum != s.indexCRC {
		return "", fmt.Errorf("faisslocal: index file %s: size %d crc %08x, snapshot says size %d crc %08x (truncated or damaged): %w",
			path, size, sum, s.indexSize, s.indexCRC, ErrCorrupt)
	}
	return path, nil
}

// removeStaleIndexFiles deletes index files other than the current one.
func removeStaleIndexFiles(dir string, keep uint64) {
	matches, _ := filepath.Glob(filepath.Join(dir, "index-*.faiss*"))
	for _, m := range matches {
		if filepath.Base(m) != indexFileName(keep) {
			fsys.Remove(m)
		}
	}
}
