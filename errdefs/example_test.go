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

// A package's own sentinel reads its text once and still matches its kind.
func ExampleNew() {
	errNotPulled := errdefs.New("hub: model not pulled", errdefs.ErrNotFound)
	err := fmt.Errorf("hub: org/name is not in the cache: %w", errNotPulled)
	fmt.Println(err)
	fmt.Println(errors.Is(err, errNotPulled), errors.Is(err, errdefs.ErrNotFound))
	// Output:
	// hub: org/name is not in the cache: hub: model not pulled
	// true true
}
