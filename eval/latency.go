package eval

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 <= p <= 100) of values by linear
// interpolation between the closest ranks (NumPy's default, Hyndman and
// Fan's type 7): with the n values sorted ascending, the position is
// h = (n-1)·p/100 and the result x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1]-x[⌊h⌋]).
// values need not be sorted and are not modified. It returns NaN for no
// values or p outside [0, 100].
func Percentile(values []float64, p float64) float64 {
	if len(values) == 0 || p < 0 || p > 100 || math.IsNaN(p) {
		return math.NaN()
	}
	x := slices.Clone(values)
	slices.Sort(x)
	return percentileSorted(x, p)
}

func percentileSorted(x []float64, p float64) float64 {
	h := float64(len(x)-1) * p / 100
	lo := int(math.Floor(h))
	if lo >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[lo] + (h-float64(lo))*(x[lo+1]-x[lo])
}

// Latency summarises the durations of one stage over the queries of a run,
// in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// Summarize returns the Latency of durations (the zero Latency for none).
func Summarize(durations []time.Duration) Latency {
	if len(durations) == 0 {
		return Latency{}
	}
	x := make([]float64, len(durations))
	var sum float64
	for i, d := range durations {
		x[i] = float64(d) / float64(time.Millisecond)
		sum += x[i]
	}
	slices.Sort(x)
	return Latency{
		N:    len(x),
		Mean: sum / float64(len(x)),
		P50:  percentileSorted(x, 50),
		P95:  percentileSorted(x, 95),
		P99:  percentileSorted(x, 99),
		Max:  x[len(x)-1],
	}
}
