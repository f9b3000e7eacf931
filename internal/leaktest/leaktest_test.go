package leaktest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"twostage/errdefs"
)

// recorder is a testing.TB that keeps its cleanups and errors.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(f string, args ...any) {
	r.errors = append(r.errors, f)
}

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestCheck: a goroutine still running at the end fails the test; one that
// a later cleanup stops does not.
func TestCheck(t *testing.T) {
	stop := make(chan struct{})
	leaky := &recorder{}
	Check(leaky)
	go func() { <-stop }() // exits when the test closes stop
	leaky.finish()
	close(stop)
	if len(leaky.errors) != 1 || !strings.HasPrefix(leaky.errors[0], "goroutines:") {
		t.Errorf("leaked goroutine: errors %q, want one goroutines report", leaky.errors)
	}

	tidy := &recorder{}
	Check(tidy)
	done := make(chan struct{})
	tidy.Cleanup(func() { close(done) })
	go func() { <-done }() // exits at the cleanup registered after Check
	tidy.finish()
	if len(tidy.errors) != 0 {
		t.Errorf("stopped goroutine: errors %q, want none", tidy.errors)
	}
}

// closer is an io.Closer that answers err.
type closer struct {
	err    error
	closed int
}

func (c *closer) Close() error { c.closed++; return c.err }

// TestClose: Close closes at the end and fails the test on any error but
// ErrClosed.
func TestClose(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantErrors int
	}{
		{"clean", nil, 0},
		{"already closed", fmt.Errorf("engine: %w", errdefs.ErrClosed), 0},
		{"failed", errors.New("flush failed"), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			c := &closer{err: tc.err}
			Close(r, c)
			if c.closed != 0 {
				t.Fatalf("closed before the test ended")
			}
			r.finish()
			if c.closed != 1 || len(r.errors) != tc.wantErrors {
				t.Errorf("closed %d times, %d errors; want 1 and %d", c.closed, len(r.errors), tc.wantErrors)
			}
		})
	}
}
