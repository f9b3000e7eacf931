package errdefs_test

import (
	"errors"
	"fmt"

	"twostage"
	"twostage/errdefs"
)

// The root package re-exports these sentinels, so errors.Is matches either
// name.
func Example() {
	err := fmt.Errorf("tokenizer: load: %w", errdefs.ErrNotFound)
	fmt.Println(errors.Is(err, errdefs.ErrNotFound), errors.Is(err, twostage.ErrNotFound))
	// Output: true true
}
