package par

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestFor(t *testing.T) {
	for _, workers := range []int{0, 1, 3, 64} {
		seen := make([]atomic.Int32, 100)
		var running, most atomic.Int32
		err := For(len(seen), workers, func(i int) error {
			r := running.Add(1)
			for {
				m := most.Load()
				if r <= m || most.CompareAndSwap(m, r) {
					break
				}
			}
			seen[i].Add(1)
			running.Add(-1)
			return nil
		})
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		for i := range seen {
			if n := seen[i].Load(); n != 1 {
				t.Fatalf("workers %d: f(%d) called %d times", workers, i, n)
			}
		}
		if m := int(most.Load()); m > max(1, workers) {
			t.Fatalf("workers %d: %d calls ran at once", workers, m)
		}
	}
}

func TestForError(t *testing.T) {
	boom := errors.New("boom")
	for _, workers := range []int{1, 4} {
		var calls atomic.Int32
		err := For(1000, workers, func(i int) error {
			calls.Add(1)
			if i == 10 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("workers %d: err %v, want boom", workers, err)
		}
		if n := calls.Load(); n == 1000 {
			t.Fatalf("workers %d: all calls ran after an error", workers)
		}
	}
	if err := For(0, 4, func(int) error { return boom }); err != nil {
		t.Fatalf("n=0: %v", err)
	}
}
