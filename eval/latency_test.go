package eval

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	x := []float64{4, 1, 3, 2} // sorted: 1 2 3 4, n-1 = 3
	tests := []struct {
		p, want float64
	}{
		{0, 1},
		{50, 2.5},  // h = 1.5: 2 + 0.5·(3-2)
		{95, 3.85}, // h = 2.85: 3 + 0.85·(4-3)
		{99, 3.97}, // h = 2.97
		{100, 4},   // h = 3: the maximum
		{25, 1.75}, // h = 0.75: 1 + 0.75·(2-1)
	}
	for _, tc := range tests {
		if got := Percentile(x, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Percentile(%v, %v) = %v, want %v", x, tc.p, got, tc.want)
		}
	}
	if x[0] != 4 {
		t.Error("Percentile sorted its argument in place")
	}
	if got := Percentile([]float64{7}, 99); got != 7 {
		t.Errorf("one value: %v, want 7", got)
	}
	for _, p := range []float64{-1, 101, math.NaN()} {
		if got := Percentile(x, p); !math.IsNaN(got) {
			t.Errorf("Percentile(p=%v) = %v, want NaN", p, got)
		}
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("no values: %v, want NaN", got)
	}
}

func TestSummarize(t *testing.T) {
	// 1..100 ms: p50 at h = 49.5 → 50.5; p95 at h = 94.05 → 95.05; p99 at h = 98.01 → 99.01.
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(d)
	want := Latency{N: 100, Mean: 50.5, P50: 50.5, P95: 95.05, P99: 99.01, Max: 100}
	if got.N != want.N || math.Abs(got.Mean-want.Mean) > 1e-9 || math.Abs(got.P50-want.P50) > 1e-9 ||
		math.Abs(got.P95-want.P95) > 1e-9 || math.Abs(got.P99-want.P99) > 1e-9 || got.Max != want.Max {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if z := Summarize(nil); z != (Latency{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", z)
	}
}
