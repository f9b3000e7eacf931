package benchenv_test

import (
	"fmt"
	"os"

	"twostage/internal/benchenv"
)

// Size a benchmark's workload from the environment: the variables that
// are set win, the others take the defaults.
func Example() {
	os.Setenv("TWOSTAGE_BENCH_DOCS", "40")
	os.Setenv("TWOSTAGE_BENCH_QUERY_TOKENS", "15, 80")
	defer os.Unsetenv("TWOSTAGE_BENCH_DOCS")
	defer os.Unsetenv("TWOSTAGE_BENCH_QUERY_TOKENS")
	fmt.Println(benchenv.Int("TWOSTAGE_BENCH_DOCS", 100), benchenv.Int("TWOSTAGE_BENCH_ROUNDS", 3))
	lengths, err := benchenv.Ints("TWOSTAGE_BENCH_QUERY_TOKENS", []int{15, 300})
	fmt.Println(lengths, err)
	s := benchenv.ZerankSpec()
	fmt.Println(s.Hidden, s.Layers, s.Heads, s.KVHeads, s.Intermediate)
	// Output:
	// 40 3
	// [15 80] <nil>
	// 256 4 4 2 768
}
