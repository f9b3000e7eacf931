package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twostage/retry"
)

// errBusy stands for a transient failure, such as an HTTP 503.
var errBusy = errors.New("busy")

func Example() {
	p := retry.Policy{Attempts: 3, Initial: time.Millisecond}
	classify := func(err error) retry.Verdict {
		return retry.Verdict{Retry: errors.Is(err, errBusy)}
	}
	calls := 0
	err := retry.Do(context.Background(), p, classify, func(context.Context) error {
		if calls++; calls < 3 {
			return errBusy
		}
		return nil
	})
	fmt.Println(calls, err)

	calls = 0
	err = retry.Do(context.Background(), p, classify, func(context.Context) error {
		calls++
		return errBusy
	})
	var re *retry.Error
	fmt.Println(calls, errors.As(err, &re) && re.Reason == retry.Exhausted, errors.Is(err, errBusy))
	// Output:
	// 3 <nil>
	// 3 true true
}
