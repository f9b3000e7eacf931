package once_test

import (
	"fmt"
	"strings"

	"twostage/internal/once"
)

func Example() {
	var upper once.Map[string, string]
	build := func(s string) func() (string, error) {
		return func() (string, error) {
			fmt.Println("building", s)
			return strings.ToUpper(s), nil
		}
	}
	for _, s := range []string{"a", "b", "a"} {
		v, err := upper.Do(s, build(s))
		fmt.Println(v, err)
	}
	// Output:
	// building a
	// A <nil>
	// building b
	// B <nil>
	// A <nil>
}
