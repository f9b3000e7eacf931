//go:build faiss

package faisslocal

import "sync"

// recordCache keeps encoded document records by slot, so a search turns its
// hits into documents with a map lookup instead of a descent of bbolt's
// B+tree (microseconds a record, see README.md, much of it cache misses, and
// those misses also evict the index's memory that the next FAISS search
// needs). It holds copies of the bytes, never bbolt's memory. When full it evicts entries
// chosen at random (Go's map iteration order), which keeps it cheap and
// resistant to scans. A slot's entry is dropped when the slot dies, and the
// whole cache when compaction renumbers the slots.
type recordCache struct {
	mu    sync.Mutex
	max   int // bytes; <= 0 disables the cache
	bytes int
	recs  map[int64][]byte
}

// entryOverhead approximates the map's own bytes per entry.
const entryOverhead = 48

func newRecordCache(maxBytes int) *recordCache {
	return &recordCache{max: maxBytes, recs: map[int64][]byte{}}
}

func (c *recordCache) get(slot int64) []byte {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	rec := c.recs[slot]
	c.mu.Unlock()
	return rec
}

// put stores a copy of rec for slot, evicting others to stay in budget.
func (c *recordCache) put(slot int64, rec []byte) {
	size := len(rec) + entryOverhead
	if c.max <= 0 || size > c.max/64 {
		return // one record may take at most 1/64 of the cache
	}
	cp := append([]byte(nil), rec...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.recs[slot]; ok {
		c.bytes -= len(old) + entryOverhead
	}
	for s, r := range c.recs {
		if c.bytes+size <= c.max {
			break
		}
		delete(c.recs, s)
		c.bytes -= len(r) + entryOverhead
	}
	c.recs[slot] = cp
	c.bytes += size
}

// full reports whether another record of n bytes would evict one.
func (c *recordCache) full(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max <= 0 || c.bytes+n+entryOverhead > c.max
}

func (c *recordCache) drop(slot int64) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	if r, ok := c.recs[slot]; ok {
		delete(c.recs, slot)
		c.bytes -= len(r) + entryOverhead
	}
	c.mu.Unlock()
}

func (c *recordCache) reset() {
	c.mu.Lock()
	c.recs, c.bytes = map[int64][]byte{}, 0
	c.mu.Unlock()
}
