package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var (
	errTransient = errors.New("transient")
	errPermanent = errors.New("permanent")
)

// script returns a call that fails with errs in turn, then succeeds, and a
// counter of its calls.
func script(errs ...error) (func(context.Context) error, *int) {
	n := 0
	return func(context.Context) error {
		n++
		if n <= len(errs) {
			return errs[n-1]
		}
		return nil
	}, &n
}

func transientOnly(err error) Verdict { return Verdict{Retry: errors.Is(err, errTransient)} }

var quick = Policy{Attempts: 4, Initial: time.Millisecond, Max: 2 * time.Millisecond}

// TestDoClassifyDecides: classify alone decides what is retried; a
// permanent error comes back unchanged, a transient one is retried until the
// attempts run out.
func TestDoClassifyDecides(t *testing.T) {
	tests := []struct {
		name      string
		errs      []error
		classify  func(error) Verdict
		wantCalls int
		wantErr   error  // nil: success
		reason    Reason // 0: the call's own error, not an *Error
	}{
		{"success at once", nil, transientOnly, 1, nil, 0},
		{"two transient then success", []error{errTransient, errTransient}, transientOnly, 3, nil, 0},
		{"permanent not retried", []error{errPermanent, errTransient}, transientOnly, 1, errPermanent, 0},
		{"transient then permanent", []error{errTransient, errPermanent}, transientOnly, 2, errPermanent, 0},
		{"exhausted", []error{errTransient, errTransient, errTransient, errTransient, errTransient}, transientOnly, 4, errTransient, Exhausted},
		{"classify retries what another would not", []error{errPermanent, errPermanent}, func(error) Verdict { return Verdict{Retry: true} }, 3, nil, 0},
		{"classify retries nothing", []error{errTransient}, func(error) Verdict { return Verdict{} }, 1, errTransient, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			call, n := script(tc.errs...)
			err := Do(context.Background(), quick, tc.classify, call)
			if *n != tc.wantCalls {
				t.Errorf("%d calls, want %d", *n, tc.wantCalls)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var re *Error
			switch {
			case tc.reason == 0 && errors.As(err, &re):
				t.Errorf("err = %#v: want the call's own error, not an *Error", err)
			case tc.reason == 0 && err != tc.wantErr:
				t.Errorf("err = %v: want the call's error unchanged", err)
			case tc.reason != 0 && (!errors.As(err, &re) || re.Reason != tc.reason || re.Attempts != tc.wantCalls):
				t.Errorf("err = %#v: want an *Error with reason %d after %d attempts", err, tc.reason, tc.wantCalls)
			}
		})
	}
}

// TestDoRetryAfterHonoured: the server's wait replaces the backoff, and is
// shortened to MaxRetryAfter under Shorten.
func TestDoRetryAfterHonoured(t *testing.T) {
	tests := []struct {
		name     string
		after    time.Duration
		maxAfter time.Duration
		min, max time.Duration // bounds on the elapsed time; max is generous
	}{
		{"waits the server's time", 150 * time.Millisecond, time.Second, 150 * time.Millisecond, 5 * time.Second},
		{"shortened to MaxRetryAfter", time.Hour, 100 * time.Millisecond, 100 * time.Millisecond, 5 * time.Second},
		{"zero means at once", 0, time.Second, 0, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Attempts: 2, Initial: time.Hour, Max: time.Hour, MaxRetryAfter: tc.maxAfter}
			var waits []time.Duration
			p.OnRetry = func(attempt int, wait time.Duration, err error) { waits = append(waits, wait) }
			call, n := script(errTransient)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // fails fast if the backoff is used
			defer cancel()
			start := time.Now()
			err := Do(ctx, p, func(error) Verdict {
				return Verdict{Retry: true, After: tc.after, HasAfter: true}
			}, call)
			el := time.Since(start)
			if err != nil || *n != 2 {
				t.Fatalf("err = %v after %d calls, want success on the second", err, *n)
			}
			want := min(tc.after, tc.maxAfter)
			if len(waits) != 1 || waits[0] != want {
				t.Errorf("waits %v, want [%v] (the hour-long backoff must not be used)", waits, want)
			}
			if el < tc.min || el > tc.max {
				t.Errorf("took %v, want within [%v, %v]", el, tc.min, tc.max)
			}
		})
	}
}

// TestDoFailFast: under FailFast a Retry-After beyond MaxRetryAfter, or a
// wait past ctx's deadline, ends the call at once.
func TestDoFailFast(t *testing.T) {
	p := Policy{Attempts: 5, Initial: time.Millisecond, Max: time.Millisecond, MaxRetryAfter: time.Second, LongWait: FailFast}
	call, n := script(errTransient, errTransient)
	start := time.Now()
	err := Do(context.Background(), p, func(error) Verdict { return Verdict{Retry: true, After: time.Minute, HasAfter: true} }, call)
	var re *Error
	if !errors.As(err, &re) || re.Reason != WaitTooLong || re.Wait != time.Minute || !errors.Is(err, errTransient) || *n != 1 {
		t.Fatalf("err = %v after %d calls, want WaitTooLong naming 1m0s after 1 call", err, *n)
	}
	// Waiting would take the minute asked for; half of it is a bound no
	// load reaches.
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("took %v: FailFast waited", el)
	}

	// A deadline a minute away: the hour's wait does not fit, and the call
	// ends long before the deadline however loaded the machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p.Initial, p.Max = time.Hour, time.Hour
	call, n = script(errTransient, errTransient)
	err = Do(ctx, p, transientOnly, call)
	if !errors.As(err, &re) || re.Reason != NoTimeLeft || *n != 1 || ctx.Err() != nil {
		t.Fatalf("err = %v after %d calls (ctx %v), want NoTimeLeft before the deadline", err, *n, ctx.Err())
	}
}

// TestDoCanceledDuringWait: ctx ending during a wait ends Do at once with an
// error that wraps both ctx.Err() and the last try's error.
func TestDoCanceledDuringWait(t *testing.T) {
	for _, lw := range []LongWait{Shorten, FailFast} {
		ctx, cancel := context.WithCancel(context.Background())
		p := Policy{Attempts: 10, Initial: time.Hour, Max: time.Hour, LongWait: lw}
		waiting := make(chan struct{})
		p.OnRetry = func(int, time.Duration, error) { close(waiting) }
		go func() { // exits once the wait has begun
			<-waiting
			cancel()
		}()
		call, n := script(errTransient, errTransient)
		done := make(chan error, 1)
		go func() { done <- Do(ctx, p, transientOnly, call) }() // exits when Do returns
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("long wait %d: Do still waiting 10s after ctx was canceled", lw)
		}
		var re *Error
		if !errors.As(err, &re) || re.Reason != Canceled || !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) {
			t.Fatalf("long wait %d: err = %v, want Canceled wrapping context.Canceled and the last error", lw, err)
		}
		if *n != 1 {
			t.Errorf("long wait %d: %d calls, want 1", lw, *n)
		}
		cancel()
	}
}

// TestDoCanceledAfterTry: a try that fails after ctx ended is not retried,
// even when classify says it could be, and not even classified as permanent.
func TestDoCanceledAfterTry(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Do(ctx, quick, func(error) Verdict { return Verdict{} }, func(context.Context) error {
		n++
		cancel()
		return errPermanent
	})
	var re *Error
	if !errors.As(err, &re) || re.Reason != Canceled || !errors.Is(err, context.Canceled) || !errors.Is(err, errPermanent) || n != 1 {
		t.Fatalf("err = %v after %d calls, want Canceled after 1", err, n)
	}
}

// TestDoProgressResets: a failed try that made progress starts the count of
// attempts again.
func TestDoProgressResets(t *testing.T) {
	p := Policy{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond}
	errs := make([]error, 6)
	for i := range errs {
		errs[i] = errTransient
	}
	call, n := script(errs...)
	err := Do(context.Background(), p, func(error) Verdict {
		return Verdict{Retry: true, Progress: true}
	}, call)
	if err != nil || *n != 7 {
		t.Fatalf("err = %v after %d calls, want success on call 7 (each failure made progress)", err, *n)
	}
	call, n = script(errs...)
	err = Do(context.Background(), p, transientOnly, call)
	var re *Error
	if !errors.As(err, &re) || re.Reason != Exhausted || *n != 2 {
		t.Fatalf("err = %v after %d calls, want Exhausted after 2 without progress", err, *n)
	}
}

// TestDoBackoffGrows: without a server wait, waits follow the doubling
// schedule within its jitter.
func TestDoBackoffGrows(t *testing.T) {
	p := Policy{Attempts: 4, Initial: 2 * time.Millisecond, Max: 6 * time.Millisecond}
	var waits []time.Duration
	p.OnRetry = func(attempt int, wait time.Duration, err error) {
		if attempt != len(waits)+1 || !errors.Is(err, errTransient) {
			t.Errorf("OnRetry(%d, %v, %v) after %d waits", attempt, wait, err, len(waits))
		}
		waits = append(waits, wait)
	}
	call, _ := script(errTransient, errTransient, errTransient)
	if err := Do(context.Background(), p, transientOnly, call); err != nil {
		t.Fatal(err)
	}
	bounds := [][2]time.Duration{{time.Millisecond, 2 * time.Millisecond}, {2 * time.Millisecond, 4 * time.Millisecond}, {3 * time.Millisecond, 6 * time.Millisecond}}
	if len(waits) != 3 {
		t.Fatalf("waits %v, want 3", waits)
	}
	for i, b := range bounds {
		if waits[i] < b[0] || waits[i] > b[1] {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, waits[i], b[0], b[1])
		}
	}
}

// TestClassifyMarks: Classify retries what Transient, After and AfterHeader
// marked, with the server's wait, and nothing else; the mark changes
// neither the message nor what errors.Is finds.
func TestClassifyMarks(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Verdict
	}{
		{"unmarked", errPermanent, Verdict{}},
		{"transient", Transient(errTransient), Verdict{Retry: true}},
		{"after", After(errTransient, 3*time.Second), Verdict{Retry: true, After: 3 * time.Second, HasAfter: true}},
		{"after zero", After(errTransient, 0), Verdict{Retry: true, HasAfter: true}},
		{"header seconds", AfterHeader(errTransient, "2"), Verdict{Retry: true, After: 2 * time.Second, HasAfter: true}},
		{"header empty", AfterHeader(errTransient, ""), Verdict{Retry: true}},
		{"header unreadable", AfterHeader(errTransient, "soon"), Verdict{Retry: true}},
		{"wrapped mark", fmt.Errorf("op: %w", Transient(errTransient)), Verdict{Retry: true}},
	}
	for _, tc := range tests {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %+v, want %+v", tc.name, got, tc.want)
		}
		if tc.want.Retry && (!errors.Is(tc.err, errTransient) || !strings.HasSuffix(tc.err.Error(), errTransient.Error())) {
			t.Errorf("%s: mark hides the error: %q", tc.name, tc.err)
		}
	}
	if got := Transient(errTransient).Error(); got != "transient" {
		t.Errorf("Transient(err).Error() = %q, want the error's own message", got)
	}
}

// TestDoMaxBelowInitial: a Max below Initial counts as Initial.
func TestDoMaxBelowInitial(t *testing.T) {
	p := Policy{Attempts: 2, Initial: 20 * time.Millisecond, Max: time.Nanosecond}
	var waits []time.Duration
	p.OnRetry = func(_ int, wait time.Duration, _ error) { waits = append(waits, wait) }
	call, _ := script(errTransient)
	if err := Do(context.Background(), p, transientOnly, call); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] < 10*time.Millisecond || waits[0] > 20*time.Millisecond {
		t.Errorf("waits %v, want one within [10ms, 20ms]", waits)
	}
}
