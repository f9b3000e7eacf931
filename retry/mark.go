package retry

import (
	"errors"
	"time"
)

// transient marks an error as worth another try (see Transient).
type transient struct {
	err      error
	after    time.Duration
	hasAfter bool
}

func (t *transient) Error() string { return t.err.Error() }
func (t *transient) Unwrap() error { return t.err }

// Transient marks err as a failure worth another try, for Classify. The
// mark is invisible in the message, and err stays reachable with errors.Is
// and errors.As.
func Transient(err error) error { return &transient{err: err} }

// After marks err as worth another try after d, the wait the server asked
// for (0: at once); see Verdict.After.
func After(err error, d time.Duration) error {
	return &transient{err: err, after: d, hasAfter: true}
}

// AfterHeader marks err as worth another try after the wait named by an
// HTTP Retry-After header value (delay seconds or an HTTP date), or after
// the backoff when h is empty or unreadable.
func AfterHeader(err error, h string) error {
	d, ok := parseRetryAfter(h)
	return &transient{err: err, after: d, hasAfter: ok}
}

// Classify is the classify function for calls that mark their transient
// failures with Transient, After or AfterHeader: a marked error is retried
// (after the server's wait, when it named one); anything else is permanent.
func Classify(err error) Verdict {
	var t *transient
	if !errors.As(err, &t) {
		return Verdict{}
	}
	return Verdict{Retry: true, After: t.after, HasAfter: t.hasAfter}
}
