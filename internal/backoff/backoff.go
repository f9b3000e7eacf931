// Package backoff is the module's one retry schedule: bounded exponential
// backoff with jitter, a sleep that ends with its context, and Retry-After
// parsing. The Qdrant and Weaviate adapters, the HTTP embedders and the
// remote rerankers all retry with it.
package backoff

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy bounds the retries of one call.
type Policy struct {
	// Attempts is the total number of tries (default 4); 1 disables retries.
	Attempts int
	// Initial is the first backoff (default 100ms); each later one doubles,
	// up to Max (default 2s).
	Initial, Max time.Duration
}

// WithDefaults returns p with its zero fields set to the defaults.
func (p Policy) WithDefaults() Policy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.Initial <= 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 2 * time.Second
	}
	return p
}

// Delay returns the wait before retry number attempt (0 for the first
// retry): initial doubled attempt times, capped at max, then drawn uniformly
// from [d/2, d] so that clients that failed together do not retry together.
func Delay(attempt int, initial, max time.Duration) time.Duration {
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

// Sleep waits for d, or until ctx is done, in which case it returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetryAfter parses an HTTP Retry-After value: delay seconds (fractions
// accepted) or an HTTP date. ok is false when v is empty, unreadable,
// negative or absurdly large; a date in the past gives 0.
func RetryAfter(v string) (d time.Duration, ok bool) {
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
