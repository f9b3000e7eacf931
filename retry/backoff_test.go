package retry

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	tests := []struct {
		attempt      int
		initial, max time.Duration
		lo, hi       time.Duration
	}{
		{0, 100 * time.Millisecond, 2 * time.Second, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 2 * time.Second, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 100 * time.Millisecond, 2 * time.Second, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 100 * time.Millisecond, 2 * time.Second, time.Second, 2 * time.Second},
		{100, time.Second, 5 * time.Second, 2500 * time.Millisecond, 5 * time.Second}, // no overflow
		{-1, 100 * time.Millisecond, time.Second, 50 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		for range 200 {
			if d := delay(tc.attempt, tc.initial, tc.max); d < tc.lo || d > tc.hi {
				t.Fatalf("delay(%d, %v, %v) = %v, want within [%v, %v]", tc.attempt, tc.initial, tc.max, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep with a canceled context: got %v, want context.Canceled", err)
	}
}

func TestRetryAfter(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		in     string
		want   time.Duration
		ok     bool
		approx bool
	}{
		{"", 0, false, false},
		{"3", 3 * time.Second, true, false},
		{" 0.5 ", 500 * time.Millisecond, true, false},
		{"0", 0, true, false},
		{"-1", 0, false, false},
		{"NaN", 0, false, false},
		{"1e9", 0, false, false},
		{"soon", 0, false, false},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0, true, false},
		{future, 90 * time.Second, true, true},
	}
	for _, tc := range tests {
		got, ok := parseRetryAfter(tc.in)
		if ok != tc.ok || (!tc.approx && got != tc.want) || (tc.approx && (got < tc.want-3*time.Second || got > tc.want)) {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPolicyWithDefaults(t *testing.T) {
	def := Policy{Attempts: 6, Initial: time.Second, Max: time.Minute, MaxRetryAfter: time.Hour, LongWait: FailFast}
	if p := (Policy{}).WithDefaults(def); p.Attempts != 6 || p.Initial != time.Second || p.Max != time.Minute || p.MaxRetryAfter != time.Hour || p.LongWait != FailFast {
		t.Errorf("zero policy with defaults: %+v, want %+v", p, def)
	}
	set := Policy{Attempts: 1, Initial: time.Millisecond, Max: 2 * time.Millisecond, MaxRetryAfter: 3 * time.Millisecond, LongWait: Shorten}
	if p := set.WithDefaults(def); p.Attempts != 1 || p.Initial != time.Millisecond || p.Max != 2*time.Millisecond || p.MaxRetryAfter != 3*time.Millisecond || p.LongWait != Shorten {
		t.Errorf("WithDefaults changed set fields: %+v", p)
	}
	if p := (Policy{Attempts: -3, Initial: -time.Second}).WithDefaults(def); p.Attempts != 6 || p.Initial != time.Second {
		t.Errorf("negative fields not defaulted: %+v", p)
	}
}
