package cputime_test

import (
	"fmt"

	"twostage/internal/cputime"
)

// Measure the CPU time a piece of work used: the difference of two reads.
func Example() {
	before := cputime.Process()
	sum := 0
	for i := range 1_000_000 {
		sum += i % 7
	}
	used := cputime.Process() - before
	fmt.Println(sum > 0, used >= 0)
	// Output: true true
}
