package validate_test

import (
	"errors"
	"fmt"

	"twostage/errdefs"
	"twostage/internal/validate"
)

func Example() {
	md, err := validate.NormalizeMetadata(map[string]any{"year": 2020, "tags": []any{"a", "b"}})
	fmt.Printf("%T %v %v\n", md["year"], md["tags"], err)
	err = validate.CheckText("query", "\xff")
	fmt.Println(errors.Is(err, errdefs.ErrInvalidInput))
	// Output:
	// int64 [a b] <nil>
	// true
}
