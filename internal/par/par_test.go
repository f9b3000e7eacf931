package par

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
)

// meter records the most calls that ran at once.
type meter struct{ running, most atomic.Int32 }

func (m *meter) enter() {
	r := m.running.Add(1)
	for {
		most := m.most.Load()
		if r <= most || m.most.CompareAndSwap(most, r) {
			return
		}
	}
}

func (m *meter) leave() { m.running.Add(-1) }

// checkCover runs loop, which calls visit on pieces of [0, 100) on at
// most workers goroutines, and checks that it covered every index once,
// with at most workers visits at once.
func checkCover(t *testing.T, workers int, loop func(n int, visit func(lo, hi int)) error) {
	t.Helper()
	seen := make([]atomic.Int32, 100)
	var m meter
	err := loop(len(seen), func(lo, hi int) {
		m.enter()
		for i := lo; i < hi; i++ {
			seen[i].Add(1)
		}
		m.leave()
	})
	if err != nil {
		t.Fatalf("workers %d: %v", workers, err)
	}
	for i := range seen {
		if c := seen[i].Load(); c != 1 {
			t.Fatalf("workers %d: index %d visited %d times, want 1", workers, i, c)
		}
	}
	if most := int(m.most.Load()); most > max(1, workers) {
		t.Fatalf("workers %d: %d calls ran at once", workers, most)
	}
}

func TestFor(t *testing.T) {
	for _, workers := range []int{0, 1, 3, 64} {
		checkCover(t, workers, func(n int, visit func(lo, hi int)) error {
			return For(n, workers, func(i int) error {
				visit(i, i+1)
				return nil
			})
		})
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

// TestPieces: the pieces next cuts cover [0, n) once each, in order of
// their start, at most workers at once.
func TestPieces(t *testing.T) {
	for _, workers := range []int{0, 1, 3} {
		var starts []int
		checkCover(t, workers, func(n int, visit func(lo, hi int)) error {
			next := func(lo int) int {
				starts = append(starts, lo)
				return min(lo+1+lo%7, n) // uneven pieces
			}
			return Pieces(context.Background(), n, workers, next, func(_ context.Context, lo, hi int) error {
				visit(lo, hi)
				return nil
			})
		})
		if !slices.IsSorted(starts) {
			t.Errorf("workers %d: next called with %v, want increasing starts", workers, starts)
		}
	}
}

// TestPiecesError: the first failure cancels the calls in flight, skips the
// rest and is the error returned; a parent ctx that ends is reported as
// ctx.Err().
func TestPiecesError(t *testing.T) {
	boom := errors.New("boom")
	one := func(lo int) int { return lo + 1 }
	var calls atomic.Int32
	err := Pieces(context.Background(), 1000, 4, one, func(ctx context.Context, lo, _ int) error {
		calls.Add(1)
		switch {
		case lo < 10:
			return nil
		case lo == 10:
			return boom
		}
		<-ctx.Done() // later pieces end only through the failure's cancel
		return ctx.Err()
	})
	if err != boom {
		t.Fatalf("err %v, want boom (not a later call's cancellation)", err)
	}
	if c := calls.Load(); c == 1000 {
		t.Fatalf("all calls ran after an error")
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls.Store(0)
	err = Pieces(ctx, 1000, 2, one, func(context.Context, int, int) error {
		if calls.Add(1) == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v after the parent ended, want context.Canceled", err)
	}
	if c := calls.Load(); c == 1000 {
		t.Fatalf("all calls ran after ctx ended")
	}
	if err := Pieces(context.Background(), 0, 4, one, func(context.Context, int, int) error { return boom }); err != nil {
		t.Fatalf("n=0: %v", err)
	}
}
