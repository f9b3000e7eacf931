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

// A call that marks its transient failures needs no classify function of
// its own: retry.Classify reads the marks, and a server's Retry-After
// replaces the backoff.
func ExampleClassify() {
	calls := 0
	err := retry.Do(context.Background(), retry.Policy{Attempts: 3}, retry.Classify, func(context.Context) error {
		calls++
		switch calls {
		case 1:
			return retry.AfterHeader(errors.New("HTTP 429"), "0") // "Retry-After: 0": at once
		case 2:
			return errors.New("HTTP 400") // not marked: permanent
		}
		return nil
	})
	fmt.Println(calls, err)
	// Output: 2 HTTP 400
}
