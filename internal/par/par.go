// Package par runs the iterations of a loop on a bounded number of
// goroutines.
package par

import (
	"context"
	"sync"
	"sync/atomic"
)

// For calls f(i) for every i in [0, n) on at most workers goroutines (at
// least one; with one, on the calling goroutine, in order) and waits for
// them. It returns the first error an f returned; once one has, the calls
// not yet started are skipped.
func For(n, workers int, f func(i int) error) error {
	workers = max(1, min(workers, n))
	if workers == 1 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n)) // skip the rest
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// Pieces calls f, each call on a goroutine of its own and at most workers
// (at least one) at once, on consecutive pieces [lo, hi) of [0, n): next(lo)
// gives the end of the piece that starts at lo, after lo and at most n. next
// runs on the calling goroutine, in order, once a slot is free, so it may
// read what earlier pieces changed (a batch size that shrank). The first
// error an f returns cancels the ctx the other calls got, skips the pieces
// not yet started, and is returned; when ctx ends first, the pieces not yet
// started are skipped and ctx.Err() is returned. Pieces returns once every
// call it started has returned.
func Pieces(ctx context.Context, n, workers int, next func(lo int) int, f func(ctx context.Context, lo, hi int) error) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slots = make(chan struct{}, max(1, workers))
	)
	for lo := 0; lo < n; {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		hi := next(lo)
		wg.Add(1)
		go func(lo, hi int) { // exits when f returns
			defer wg.Done()
			defer func() { <-slots }()
			if err := f(ctx, lo, hi); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}(lo, hi)
		lo = hi
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return parent.Err()
}
