// Package retry is the module's one way to retry a call: a Policy that
// every retrying package takes in its options (qdrantstore, weaviatestore,
// the HTTP embedders, the remote rerankers, hub), and Do, the loop they all
// run it with. A call that fails is judged by a classify function: a
// permanent failure ends Do at once with the call's own error; a transient
// one is tried again after a bounded exponential backoff with jitter, or
// after the wait the server asked for (an HTTP Retry-After), until the
// attempts run out or the context ends. Calls can mark their transient
// failures with Transient, After or AfterHeader and use Classify.
package retry

import (
	"context"
	"fmt"
	"time"
)

// Policy bounds the retries of one call. Zero fields take the defaults of
// the package that takes the Policy (each documents its own); Do's own
// defaults are 4 attempts, 100ms doubling to 2s, MaxRetryAfter 1 minute,
// Shorten.
type Policy struct {
	// Attempts is the most tries of one call, the first included: 1 means
	// no retries.
	Attempts int
	// Initial is the backoff before the first retry; each later one
	// doubles, up to Max (a Max below Initial counts as Initial). Each wait
	// is drawn uniformly from [d/2, d] (jitter), so that clients that failed
	// together do not retry together.
	Initial, Max time.Duration
	// MaxRetryAfter bounds the wait a server may ask for with Retry-After;
	// LongWait says what happens to a longer one.
	MaxRetryAfter time.Duration
	// LongWait is what Do does with a wait it should not sit out: a
	// Retry-After longer than MaxRetryAfter, or (FailFast) a wait that
	// outlasts ctx's deadline.
	LongWait LongWait
	// OnRetry, when set, is called before each wait with the number of the
	// try that failed (1 for the first), the wait and its error: the
	// packages log retries with it. A Policy with OnRetry set is not
	// comparable with ==.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// LongWait is what Do does with a wait it should not sit out in full.
type LongWait int

const (
	// Shorten waits MaxRetryAfter instead of a longer Retry-After, then
	// tries again; a wait that outlasts ctx's deadline is slept until ctx
	// ends. For callers with nothing better to do than wait (downloads,
	// batch embedding, vector stores).
	Shorten LongWait = iota + 1
	// FailFast ends the call at once, with an Error whose Reason is
	// WaitTooLong or NoTimeLeft, when the server asks for more than
	// MaxRetryAfter or a wait would end after ctx's deadline: a caller with
	// a fallback (a chain of rerankers) moves on instead of waiting.
	FailFast
)

// defaults are Do's own defaults for the zero fields of a Policy.
var defaults = Policy{Attempts: 4, Initial: 100 * time.Millisecond, Max: 2 * time.Second,
	MaxRetryAfter: time.Minute, LongWait: Shorten}

// WithDefaults returns p with each zero field taken from def (Attempts and
// durations that are zero or negative count as zero). Packages call it with
// their documented defaults.
func (p Policy) WithDefaults(def Policy) Policy {
	if p.Attempts <= 0 {
		p.Attempts = def.Attempts
	}
	if p.Initial <= 0 {
		p.Initial = def.Initial
	}
	if p.Max <= 0 {
		p.Max = def.Max
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = def.MaxRetryAfter
	}
	if p.LongWait == 0 {
		p.LongWait = def.LongWait
	}
	if p.OnRetry == nil {
		p.OnRetry = def.OnRetry
	}
	return p
}

// Verdict is a classify function's judgement of one failed try.
type Verdict struct {
	// Retry reports that the failure is transient: another try may succeed.
	// False ends Do with the call's error as it is.
	Retry bool
	// After, when HasAfter is set, replaces the backoff before the next
	// try: the wait the server asked for (Retry-After), 0 meaning at once.
	After    time.Duration
	HasAfter bool
	// Progress reports that the failed try got somewhere (a download
	// received bytes): the count of attempts starts again, so a transfer
	// that keeps advancing is never given up on.
	Progress bool
}

// Reason says why Do stopped retrying a transient failure.
type Reason int

const (
	// Exhausted: the attempts ran out.
	Exhausted Reason = iota + 1
	// Canceled: ctx ended, after a try or during a wait; the Error wraps
	// ctx.Err().
	Canceled
	// WaitTooLong: the server asked for a wait longer than MaxRetryAfter
	// (FailFast).
	WaitTooLong
	// NoTimeLeft: the wait would end after ctx's deadline (FailFast).
	NoTimeLeft
)

// Error is Do's error when it stops retrying a call whose last failure was
// transient, or when ctx ends. It wraps the last try's error (and, for
// Canceled, ctx.Err()), so errors.Is and errors.As reach both.
type Error struct {
	Reason Reason
	// Err is the error of the last try.
	Err error
	// Attempts is the number of tries counted when Do stopped (since the
	// last one that made progress).
	Attempts int
	// Wait is the wait Do refused (WaitTooLong, NoTimeLeft).
	Wait time.Duration
	// Ctx is ctx.Err() (Canceled).
	Ctx error
}

// Error describes why Do stopped and the last try's error.
func (e *Error) Error() string {
	switch e.Reason {
	case Canceled:
		return fmt.Sprintf("retry: %v (last error: %v)", e.Ctx, e.Err)
	case WaitTooLong:
		return fmt.Sprintf("retry: server asks to wait %v: %v", e.Wait, e.Err)
	case NoTimeLeft:
		return fmt.Sprintf("retry: no time left to retry after %v: %v", e.Wait, e.Err)
	}
	return fmt.Sprintf("retry: gave up after %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns ctx.Err() (for Canceled) and the last try's error.
func (e *Error) Unwrap() []error {
	if e.Ctx != nil {
		return []error{e.Ctx, e.Err}
	}
	return []error{e.Err}
}

// Do calls call until it succeeds, fails for good, or p gives up. After each
// failure it asks classify, once, for a Verdict (classify may also record
// what it saw, and runs before ctx is checked, so it may wait out a
// deadline that is about to pass); then:
//   - ctx ended: an *Error with Reason Canceled;
//   - not Verdict.Retry: the call's error, unchanged;
//   - p.Attempts tries without progress: an *Error with Reason Exhausted;
//   - otherwise it waits (Verdict.After, or the backoff; see LongWait) and
//     tries again; ctx ending during the wait gives Canceled.
//
// call gets ctx; it should bound its own try (a per-request timeout) when it
// needs to. Do returns nil when a try succeeds.
func Do(ctx context.Context, p Policy, classify func(error) Verdict, call func(context.Context) error) error {
	p = p.WithDefaults(defaults)
	p.Max = max(p.Max, p.Initial)
	n := 0
	for {
		err := call(ctx)
		if err == nil {
			return nil
		}
		v := classify(err)
		if v.Progress {
			n = 0
		}
		n++
		if cerr := ctx.Err(); cerr != nil {
			return &Error{Reason: Canceled, Err: err, Attempts: n, Ctx: cerr}
		}
		if !v.Retry {
			return err
		}
		if n >= p.Attempts {
			return &Error{Reason: Exhausted, Err: err, Attempts: n}
		}
		wait := delay(n-1, p.Initial, p.Max)
		if v.HasAfter {
			wait = max(v.After, 0)
			if wait > p.MaxRetryAfter {
				if p.LongWait == FailFast {
					return &Error{Reason: WaitTooLong, Err: err, Attempts: n, Wait: wait}
				}
				wait = p.MaxRetryAfter
			}
		}
		if dl, ok := ctx.Deadline(); ok && p.LongWait == FailFast && time.Until(dl) < wait {
			return &Error{Reason: NoTimeLeft, Err: err, Attempts: n, Wait: wait}
		}
		if p.OnRetry != nil {
			p.OnRetry(n, wait, err)
		}
		if cerr := sleep(ctx, wait); cerr != nil {
			return &Error{Reason: Canceled, Err: err, Attempts: n, Ctx: cerr}
		}
	}
}
