// Package once runs a build once per key and hands its result to every
// caller of that key: sync.OnceValues for a set of values found by key
// (tinymodel's converted models by spec, internal/xla's executables by
// program text and programs by bucket shape).
package once

import (
	"maps"
	"slices"
	"sync"
)

// Map holds the result of each key's build. The zero Map is empty and
// ready to use; a Map must not be copied after first use.
type Map[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]func() (V, error)
}

// Do returns key's value and error, running build the first time the key
// is asked for. Callers of the same key meanwhile wait for that build and
// get its result, an error too (a failed build is not run again); builds
// of different keys run concurrently. build must not call Do on the same
// key.
func (m *Map[K, V]) Do(key K, build func() (V, error)) (V, error) {
	m.mu.Lock()
	get, ok := m.m[key]
	if !ok {
		if m.m == nil {
			m.m = map[K]func() (V, error){}
		}
		get = sync.OnceValues(build)
		m.m[key] = get
	}
	m.mu.Unlock()
	return get()
}

// Values returns the values of the builds that succeeded, in no particular
// order, after waiting for those still running.
func (m *Map[K, V]) Values() []V {
	m.mu.Lock()
	gets := slices.Collect(maps.Values(m.m))
	m.mu.Unlock()
	var out []V
	for _, get := range gets {
		if v, err := get(); err == nil {
			out = append(out, v)
		}
	}
	return out
}
