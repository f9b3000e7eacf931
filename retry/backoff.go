package retry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// delay returns the wait before retry number attempt (0 for the first
// retry): initial doubled attempt times, capped at max, then drawn uniformly
// from [d/2, d] so that clients that failed together do not retry together.
func delay(attempt int, initial, max time.Duration) time.Duration {
	d := initial << min(max0(attempt), 30)
	if d <= 0 || d > max {
		d = max
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// sleep waits for d, or until ctx is done, in which case it returns ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// parseRetryAfter parses an HTTP Retry-After value: delay seconds
// (fractions accepted) or an HTTP date. ok is false when v is empty,
// unreadable, negative or absurdly large; a date in the past gives 0.
func parseRetryAfter(v string) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if !(s >= 0 && s < 1e6) { // also rejects NaN
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
