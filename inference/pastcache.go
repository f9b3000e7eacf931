package inference

import "slices"

// pastCache keeps the keys and values of an executor's latest prefix
// passes, so that a call whose pairs fill several batches runs its prefix
// once. The ONNX Runtime and XLA executors both keep theirs in one: at
// most pastCacheSize passes, the most recently used last, holding at most
// pastCacheBytes together (the oldest are dropped first; the latest is
// kept whatever its size); an evicted pass is released at once.
// A batch finds a kept pass that holds every one of its distinct prefixes
// (the same list, or more prefixes), the most recently used first; it
// continues it with its rows' prefix indexes mapped to the pass's.
//
// It is not safe for concurrent use: an executor's Run and Close never
// run concurrently (Executor), and only they touch it.
type pastCache[V any] struct {
	release func(V) // frees an evicted or cleared pass
	passes  []*pastPass[V]
}

// pastPass is one kept prefix pass.
type pastPass[V any] struct {
	prefixes [][]int64
	v        V
	bytes    int64
}

// find returns the kept pass that holds every prefix of prefixes and, per
// prefix, its index in that pass; ok is false when none does. A pass
// found becomes the most recently used.
func (c *pastCache[V]) find(prefixes [][]int64) (v V, at []int, ok bool) {
	for i := len(c.passes) - 1; i >= 0; i-- {
		p := c.passes[i]
		if at = p.index(prefixes); at != nil {
			c.passes = append(append(c.passes[:i:i], c.passes[i+1:]...), p)
			return p.v, at, true
		}
	}
	return v, nil, false
}

// get returns the kept pass that holds every prefix of prefixes and, per
// prefix, its index in that pass (find); when none does, it runs one with
// run, keeps it (add) and returns it with each prefix at its own index.
func (c *pastCache[V]) get(prefixes [][]int64, run func() (V, int64, error)) (V, []int, error) {
	if v, at, ok := c.find(prefixes); ok {
		return v, at, nil
	}
	v, bytes, err := run()
	if err != nil {
		return v, nil, err
	}
	c.add(prefixes, v, bytes)
	at := make([]int, len(prefixes))
	for i := range at {
		at[i] = i
	}
	return v, at, nil
}

// index maps each of prefixes to its index in the pass, or returns nil if
// the pass lacks one.
func (p *pastPass[V]) index(prefixes [][]int64) []int {
	if len(prefixes) > len(p.prefixes) {
		return nil
	}
	at := make([]int, len(prefixes))
	for i, x := range prefixes {
		at[i] = slices.IndexFunc(p.prefixes, func(y []int64) bool { return slices.Equal(x, y) })
		if at[i] < 0 {
			return nil
		}
	}
	return at
}

// add keeps v, the pass of prefixes (which the cache copies) taking bytes,
// as the most recently used, and releases the oldest passes beyond the
// bounds (never v itself).
func (c *pastCache[V]) add(prefixes [][]int64, v V, bytes int64) {
	p := &pastPass[V]{prefixes: make([][]int64, len(prefixes)), v: v, bytes: bytes}
	for i, x := range prefixes {
		p.prefixes[i] = slices.Clone(x)
	}
	c.passes = append(c.passes, p)
	total := int64(0)
	for _, q := range c.passes {
		total += q.bytes
	}
	for len(c.passes) > 1 && (len(c.passes) > pastCacheSize || total > pastCacheBytes) {
		total -= c.passes[0].bytes
		c.release(c.passes[0].v)
		c.passes[0] = nil
		c.passes = c.passes[1:]
	}
}

// len is the number of passes kept.
func (c *pastCache[V]) len() int { return len(c.passes) }

// clear releases every kept pass.
func (c *pastCache[V]) clear() {
	for _, p := range c.passes {
		c.release(p.v)
	}
	c.passes = nil
}
