package backoff_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twostage/internal/backoff"
)

func Example() {
	ctx := context.Background()
	p := backoff.Policy{Attempts: 3, Initial: time.Millisecond}.WithDefaults()
	calls := 0
	call := func() error {
		if calls++; calls < 3 {
			return errors.New("unavailable")
		}
		return nil
	}
	var err error
	for attempt := 0; attempt < p.Attempts; attempt++ {
		if err = call(); err == nil {
			break
		}
		if backoff.Sleep(ctx, backoff.Delay(attempt, p.Initial, p.Max)) != nil {
			break
		}
	}
	fmt.Println(calls, err)
	// Output: 3 <nil>
}
