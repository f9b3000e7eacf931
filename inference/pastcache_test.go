package inference

import (
	"errors"
	"slices"
	"testing"

	"twostage/errdefs"
)

// TestPastCacheRule: the shared rule of kept prefix passes (pastCache):
// a batch finds the most recently used pass that holds all its prefixes,
// with its prefixes' indexes there; beyond pastCacheSize passes, or
// pastCacheBytes beyond the latest, the least recently used is released,
// once; clear releases the rest.
func TestPastCacheRule(t *testing.T) {
	var released []int
	c := pastCache[int]{release: func(v int) { released = append(released, v) }}
	q1, q2, q3 := []int64{1, 2, 3}, []int64{4, 5}, []int64{}
	c.add([][]int64{q1, q2}, 1, 10)
	for _, tc := range []struct {
		prefixes [][]int64
		at       []int
	}{
		{[][]int64{q1, q2}, []int{0, 1}},
		{[][]int64{q2, q1}, []int{1, 0}},
		{[][]int64{q2}, []int{1}},
		{[][]int64{q3}, nil},
		{[][]int64{q1, q3}, nil},
		{[][]int64{{1, 2}}, nil},
		{[][]int64{{1, 2, 3, 4}}, nil},
	} {
		v, at, ok := c.find(tc.prefixes)
		if ok != (tc.at != nil) || !slices.Equal(at, tc.at) || (ok && v != 1) {
			t.Errorf("find %v: %d %v %v, want %v", tc.prefixes, v, at, ok, tc.at)
		}
	}
	c.add([][]int64{q3}, 2, 10)
	if _, at, ok := c.find([][]int64{q3}); !ok || !slices.Equal(at, []int{0}) {
		t.Errorf("find the empty prefix: %v %v", at, ok)
	}
	if v, _, _ := c.find([][]int64{q1}); v != 1 { // 1 becomes the most recently used
		t.Errorf("find q1: pass %d, want 1", v)
	}
	for v := 3; v <= pastCacheSize+1; v++ {
		c.add([][]int64{{int64(100 + v)}}, v, 10)
	}
	// 4 passes: 2 (least recently used) went first.
	if !slices.Equal(released, []int{2}) || c.len() != pastCacheSize {
		t.Fatalf("released %v, %d kept; want [2] and %d", released, c.len(), pastCacheSize)
	}
	if _, _, ok := c.find([][]int64{q3}); ok {
		t.Error("a released pass is still found")
	}
	// The byte bound: a pass of more than the bound beyond the latest
	// releases all but itself; the latest alone is kept whatever its size.
	c.add([][]int64{{7}}, 10, pastCacheBytes)
	if c.len() != 1 || len(released) != 1+pastCacheSize {
		t.Errorf("after a pass of the byte bound: %d kept, released %v", c.len(), released)
	}
	c.add([][]int64{{8}}, 11, 1)
	if c.len() != 1 || released[len(released)-1] != 10 {
		t.Errorf("one byte beyond the bound: %d kept, released %v", c.len(), released)
	}
	c.add([][]int64{{9}}, 12, pastCacheBytes-1)
	if c.len() != 2 {
		t.Errorf("at the bound: %d kept, want 2", c.len())
	}
	n := len(released)
	c.clear()
	if c.len() != 0 || !slices.Equal(released[n:], []int{11, 12}) {
		t.Errorf("clear released %v, %d kept", released[n:], c.len())
	}
	// The cache copies the prefixes it keeps.
	p := []int64{5}
	c.add([][]int64{p}, 13, 1)
	p[0] = 6
	if _, _, ok := c.find([][]int64{{5}}); !ok {
		t.Error("a caller's change to its prefix changed the kept one")
	}
}

// TestPastCacheGet: get runs a pass only for prefixes that no kept pass
// holds, keeps it with each prefix at its own index, and keeps nothing
// when the run fails.
func TestPastCacheGet(t *testing.T) {
	c := pastCache[int]{release: func(int) {}}
	runs := 0
	run := func(v int, err error) func() (int, int64, error) {
		return func() (int, int64, error) { runs++; return v, 1, err }
	}
	q1, q2 := []int64{1, 2}, []int64{3}
	if _, _, err := c.get([][]int64{q1}, run(0, errdefs.ErrInvalidInput)); !errors.Is(err, errdefs.ErrInvalidInput) || c.len() != 0 {
		t.Fatalf("a failed run: %v, %d kept", err, c.len())
	}
	v, at, err := c.get([][]int64{q1, q2}, run(7, nil))
	if err != nil || v != 7 || !slices.Equal(at, []int{0, 1}) || runs != 2 {
		t.Fatalf("a new pass: %d %v %v after %d runs", v, at, err, runs)
	}
	v, at, err = c.get([][]int64{q2, q1}, run(8, nil))
	if err != nil || v != 7 || !slices.Equal(at, []int{1, 0}) || runs != 2 {
		t.Errorf("a kept pass: %d %v %v after %d runs, want 7 [1 0] after 2", v, at, err, runs)
	}
}
