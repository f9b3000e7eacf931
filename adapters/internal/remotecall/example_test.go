package remotecall_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twostage/adapters/internal/remotecall"
	"twostage/retry"
)

func ExampleDo() {
	errUnavailable := errors.New("unavailable")
	tries := 0
	err := remotecall.Do(context.Background(), "mystore", "search", retry.Policy{Attempts: 2, Initial: time.Millisecond},
		func(err error) bool { return errors.Is(err, errUnavailable) },
		func(context.Context) error { tries++; return errUnavailable },
		func(err error) error { return fmt.Errorf("mystore: search: gave up: %w", err) })
	fmt.Println(tries, err)
	// Output: 2 mystore: search: gave up: unavailable
}
