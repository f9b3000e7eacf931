// Package benchenv reads the TWOSTAGE_BENCH_* environment variables with
// which benchmarks size their workloads, and builds the random-weight
// model they share.
package benchenv

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"twostage/errdefs"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// Int returns the positive integer in the environment variable name, or
// def when it is unset or not a positive integer.
func Int(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// Ints returns the comma-separated positive integers in the environment
// variable name, or def when it is unset; anything else is an error
// wrapping errdefs.ErrInvalidInput.
func Ints(name string, def []int) ([]int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("benchenv: %s=%q: want positive integers separated by commas: %w", name, v, errdefs.ErrInvalidInput)
		}
		out = append(out, n)
	}
	return out, nil
}

// ZerankSpec is a random-weight zerank-architecture checkpoint sized for a
// CPU by TWOSTAGE_BENCH_HIDDEN and TWOSTAGE_BENCH_LAYERS (default 256 and
// 4): the real 151,936-token vocabulary, hidden/64 query and hidden/128
// key-value heads (at least one each) of 64 dimensions, intermediate 3x
// hidden, seed 1, the family's default dtype.
func ZerankSpec() tinymodel.Spec {
	hidden, layers := Int("TWOSTAGE_BENCH_HIDDEN", 256), Int("TWOSTAGE_BENCH_LAYERS", 4)
	return tinymodel.Spec{
		Family: modeldir.FamilyZerank, Hidden: hidden, Layers: layers, Heads: max(hidden/64, 1), KVHeads: max(hidden/128, 1),
		HeadDim: 64, Intermediate: 3 * hidden, Seed: 1,
	}
}
