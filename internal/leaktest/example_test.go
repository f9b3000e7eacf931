package leaktest_test

import (
	"os"
	"testing"

	"twostage/internal/leaktest"
)

// A test calls Check before it starts anything; the cleanups it registers
// later (closing what it opened) run before the count.
func ExampleCheck() {
	testWorker := func(t *testing.T) {
		leaktest.Check(t)
		done := make(chan struct{})
		t.Cleanup(func() { close(done) })
		go func() { <-done }() // exits at the cleanup
	}
	_ = testWorker
}

// A test helper that opens something has it closed when the test ends.
func ExampleClose() {
	testFile := func(t *testing.T) {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		leaktest.Close(t, f)
	}
	_ = testFile
}
