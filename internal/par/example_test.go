package par_test

import (
	"fmt"
	"strings"

	"twostage/internal/par"
)

func ExampleFor() {
	words := []string{"two", "stage", "retrieval"}
	upper := make([]string, len(words))
	err := par.For(len(words), 2, func(i int) error {
		upper[i] = strings.ToUpper(words[i])
		return nil
	})
	fmt.Println(upper, err)
	// Output: [TWO STAGE RETRIEVAL] <nil>
}
