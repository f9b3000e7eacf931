package tokenizer

import (
	"hash/maphash"
	"sync"
	"unicode/utf8"
)

// A model turns one pre-tokenized piece into token ids.
type model interface {
	tokenize(piece string, ids []int) []int
}

// bpe is the BPE model. With byteLevel the piece's bytes are first mapped to
// the GPT-2 byte alphabet (the ByteLevel pre-tokenizer's transformation).
type bpe struct {
	vocab        map[string]int
	merges       map[uint64]mergeTarget // (left id, right id) -> rank, merged id
	byteLevel    bool
	byteIDs      [256]int // id of each byte's character; -1 when absent
	unkID        int      // -1 without unk token
	fuseUnk      bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	ignoreMerges bool
	cache        *idCache
}

type mergeTarget struct {
	rank, id int32
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// maxCachedPiece is the longest piece (bytes) kept in the merge cache, as
// Hugging Face's BPE caches only words shorter than 256 bytes.
const maxCachedPiece = 256

func (m *bpe) tokenize(piece string, ids []int) []int {
	if piece == "" {
		return ids
	}
	if len(piece) < maxCachedPiece {
		if hit, ok := m.cache.get(piece); ok {
			for _, id := range hit {
				ids = append(ids, int(id))
			}
			return ids
		}
	}
	start := len(ids)
	ids = m.tokenizeUncached(piece, ids)
	if len(piece) < maxCachedPiece {
		v := make([]int32, len(ids)-start)
		for i, id := range ids[start:] {
			v[i] = int32(id)
		}
		m.cache.put(piece, v)
	}
	return ids
}

// symbol is one node of the doubly linked word being merged.
type symbol struct {
	id         int
	prev, next int
	alive      bool
}

// mergeCand is a candidate merge: key orders by rank, then position.
type mergeCand struct {
	key uint64 // rank<<32 | pos
	id  int32
}

func cand(pos int, t mergeTarget) mergeCand {
	return mergeCand{key: uint64(uint32(t.rank))<<32 | uint64(uint32(pos)), id: t.id}
}

func (a mergeCand) pos() int { return int(uint32(a.key)) }

// mergeHeap is a min-heap on (rank, pos), as Hugging Face's Merge ordering.
type mergeHeap []mergeCand

func (a mergeCand) less(b mergeCand) bool { return a.key < b.key }

func (h *mergeHeap) init() {
	for i := len(*h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *mergeHeap) push(c mergeCand) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeCand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	h.down(0)
	return top
}

func (h *mergeHeap) down(i int) {
	s := *h
	n := len(s)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s[r].less(s[l]) {
			m = r
		}
		if !s[m].less(s[i]) {
			return
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

type bpeWork struct {
	syms []symbol
	h    mergeHeap
	buf  []byte
}

var bpeWorkPool = sync.Pool{New: func() any { return new(bpeWork) }}

// byteChars maps each byte to its character in the GPT-2 byte alphabet.
var byteChars = func() [256]rune {
	var t [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

// charBytes is the inverse of byteChars.
var charBytes = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteChars {
		m[r] = byte(b)
	}
	return m
}()

func (m *bpe) tokenizeUncached(piece string, ids []int) []int {
	w := bpeWorkPool.Get().(*bpeWork)
	defer bpeWorkPool.Put(w)
	syms := w.syms[:0]
	// Initial symbols: bytes (byte-level) or characters.
	if m.byteLevel && m.prefix == "" && m.suffix == "" {
		for i := 0; i < len(piece); i++ {
			id := m.byteIDs[piece[i]]
			syms = m.addSymbol(syms, id)
		}
	} else {
		units := piece
		if m.byteLevel {
			b := w.buf[:0]
			for i := 0; i < len(piece); i++ {
				b = utf8.AppendRune(b, byteChars[piece[i]])
			}
			w.buf = b
			units = string(b)
		}
		if m.ignoreMerges {
			if id, ok := m.vocab[units]; ok {
				return append(ids, id)
			}
		}
		for i := 0; i < len(units); {
			_, cw := utf8.DecodeRuneInString(units[i:])
			s := units[i : i+cw]
			if i > 0 && m.prefix != "" {
				s = m.prefix + s
			}
			if i+cw == len(units) && m.suffix != "" {
				s += m.suffix
			}
			id, ok := m.vocab[s]
			if !ok {
				id = -1
			}
			syms = m.addSymbol(syms, id)
			i += cw
		}
	}
	if m.ignoreMerges && m.byteLevel && m.prefix == "" && m.suffix == "" {
		b := w.buf[:0]
		for i := 0; i < len(piece); i++ {
			b = utf8.AppendRune(b, byteChars[piece[i]])
		}
		w.buf = b
		if id, ok := m.vocab[string(b)]; ok {
			w.syms = syms
			return append(ids, id)
		}
	}
	// Merge by rank, as Hugging Face's Word::merge_all: a min-heap on
	// (rank, position), stale entries skipped.
	h := w.h[:0]
	for i := 0; i+1 < len(syms); i++ {
		if t, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h = append(h, cand(i, t))
		}
	}
	h.init()
	for len(h) > 0 {
		top := h.pop()
		pos := top.pos()
		cur := &syms[pos]
		if !cur.alive || cur.next < 0 {
			continue
		}
		right := syms[cur.next]
		t, ok := m.merges[pairKey(cur.id, right.id)]
		if !ok || t.id != top.id {
			continue
		}
		cur.id = int(top.id)
		syms[cur.next].alive = false
		cur.next = right.next
		if right.next >= 0 {
			syms[right.next].prev = pos
		}
		if cur.prev >= 0 {
			if t, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				h.push(cand(cur.prev, t))
			}
		}
		if cur.next >= 0 {
			if t, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				h.push(cand(pos, t))
			}
		}
	}
	w.h = h
	for i := 0; i >= 0 && i < len(syms); i = syms[i].next {
		if syms[i].alive {
			ids = append(ids, syms[i].id)
		}
	}
	w.syms = syms
	return ids
}

// addSymbol appends a symbol; an id of -1 (not in the vocabulary) becomes the
// unknown token (fused with a preceding unknown when fuseUnk) or is dropped.
func (m *bpe) addSymbol(syms []symbol, id int) []symbol {
	if id < 0 {
		if m.unkID < 0 {
			return syms
		}
		if m.fuseUnk && len(syms) > 0 && syms[len(syms)-1].id == m.unkID {
			return syms
		}
		id = m.unkID
	}
	n := len(syms)
	if n > 0 {
		syms[n-1].next = n
	}
	return append(syms, symbol{id: id, prev: n - 1, next: -1, alive: true})
}

// idCache is a bounded, concurrency-safe cache from piece to token ids,
// sharded to keep lock contention low under EncodeBatch. A full shard is
// cleared before the next insert.
type idCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

const (
	cacheShards   = 32
	cacheShardCap = 2048 // 65,536 entries in all
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func newIDCache() *idCache {
	c := &idCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string][]int32)
	}
	return c
}

func (c *idCache) shard(k string) *cacheShard {
	return &c.shards[maphash.String(c.seed, k)%cacheShards]
}

func (c *idCache) get(k string) ([]int32, bool) {
	s := c.shard(k)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

func (c *idCache) put(k string, v []int32) {
	s := c.shard(k)
	s.mu.Lock()
	if len(s.m) >= cacheShardCap {
		clear(s.m)
	}
	s.m[k] = v
	s.mu.Unlock()
}
