package backoff

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
			if d := Delay(tc.attempt, tc.initial, tc.max); d < tc.lo || d > tc.hi {
				t.Fatalf("Delay(%d, %v, %v) = %v, want within [%v, %v]", tc.attempt, tc.initial, tc.max, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep with a canceled context: got %v, want context.Canceled", err)
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
		got, ok := RetryAfter(tc.in)
		if ok != tc.ok || (!tc.approx && got != tc.want) || (tc.approx && (got < tc.want-3*time.Second || got > tc.want)) {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPolicyDefaults(t *testing.T) {
	p := Policy{}.WithDefaults()
	if p != (Policy{Attempts: 4, Initial: 100 * time.Millisecond, Max: 2 * time.Second}) {
		t.Errorf("defaults %+v", p)
	}
	if q := (Policy{Attempts: 1, Initial: time.Second, Max: time.Minute}).WithDefaults(); q.Attempts != 1 || q.Initial != time.Second {
		t.Errorf("WithDefaults changed set fields: %+v", q)
	}
}
