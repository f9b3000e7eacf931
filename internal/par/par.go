// Package par runs the iterations of a loop on a bounded number of
// goroutines.
package par

import (
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
