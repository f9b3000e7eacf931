// Package leaktest checks, for tests, that a test leaves nothing running:
// the goroutines it started have ended by its end (a small goleak), and
// what it opened is closed.
package leaktest

import (
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"twostage/errdefs"
)

// Settle is how long Check waits for goroutines that are ending to end.
const Settle = 2 * time.Second

// Check counts the goroutines now and, when t's cleanup runs (after the
// cleanups registered later, which close what the test opened), fails t
// with every goroutine's stack if more are still running after Settle.
func Check(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for deadline := time.Now().Add(Settle); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
		}
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before, %d after; stacks:\n%s", before, now, buf[:n])
	})
}

// Close closes c when t ends and fails t if Close fails with anything but
// errdefs.ErrClosed (the test may close c itself first).
func Close(t testing.TB, c io.Closer) {
	t.Helper()
	t.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, errdefs.ErrClosed) {
			t.Errorf("close %T: %v", c, err)
		}
	})
}
