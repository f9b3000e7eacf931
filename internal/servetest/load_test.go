package servetest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostage/internal/servetest"
)

// fakeT records what Load reports instead of stopping the test.
type fakeT struct{ fatals []string }

func (t *fakeT) Helper()           {}
func (t *fakeT) Fatal(args ...any) { t.fatals = append(t.fatals, fmt.Sprint(args...)) }
func (t *fakeT) Fatalf(format string, args ...any) {
	t.fatals = append(t.fatals, fmt.Sprintf(format, args...))
}
func (t *fakeT) Cleanup(func()) {}

func TestLoad(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies = map[string]int{}
		n      atomic.Int64
		fail   atomic.Bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies[string(b)]++
		mu.Unlock()
		if r.URL.Path != "/v1/rerank" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "wrong request", http.StatusNotFound)
			return
		}
		if n.Add(1)%3 == 0 && fail.Load() {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	body := func(c int) string { return fmt.Sprintf(`{"client":%d}`, c) }

	ft := &fakeT{}
	lat := servetest.Load(ft, srv.URL+"/v1/rerank", 3, 50*time.Millisecond, body)
	if len(ft.fatals) > 0 {
		t.Fatalf("Load against a server answering 200 failed the test: %q", ft.fatals)
	}
	if len(lat) == 0 || int64(len(lat)) != n.Load() || !slices.IsSorted(lat) {
		t.Errorf("Load: %d latencies (sorted %v), the server answered %d; want one per request, sorted", len(lat), slices.IsSorted(lat), n.Load())
	}
	if want := []string{`{"client":0}`, `{"client":1}`, `{"client":2}`}; len(bodies) != len(want) || bodies[want[0]] == 0 || bodies[want[1]] == 0 || bodies[want[2]] == 0 {
		t.Errorf("bodies the server saw: %v; want each client's own, %q", bodies, want)
	}

	fail.Store(true)
	ft = &fakeT{}
	if lat := servetest.Load(ft, srv.URL+"/v1/rerank", 2, 50*time.Millisecond, body); lat != nil || len(ft.fatals) != 1 ||
		!strings.Contains(ft.fatals[0], "requests failed; first: client ") || !strings.Contains(ft.fatals[0], "status 503: overloaded") {
		t.Errorf("Load against a server answering 503 to every third request: latencies %d, reported %q; want nil and one failure naming the status", len(lat), ft.fatals)
	}

	ft = &fakeT{}
	if lat := servetest.Load(ft, srv.URL+"/v1/rerank", 2, 0, body); lat != nil || len(ft.fatals) != 1 || ft.fatals[0] != "no request completed" {
		t.Errorf("Load for no time: latencies %d, reported %q; want nil and %q", len(lat), ft.fatals, "no request completed")
	}
}

func TestPercentile(t *testing.T) {
	l := servetest.Latencies{1, 2, 3, 4}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {0.25, 2}, {0.5, 3}, {0.99, 4}, {1, 4}} {
		if got := l.Percentile(tc.p); got != tc.want {
			t.Errorf("Percentile(%v) of %v = %v, want %v", tc.p, l, got, tc.want)
		}
	}
	if got := servetest.Latencies(nil).Percentile(0.5); got != 0 {
		t.Errorf("Percentile of no latencies = %v, want 0", got)
	}
}

func TestLoadDuration(t *testing.T) {
	t.Setenv("TWOSTAGE_LOAD_DURATION", "")
	if got := servetest.LoadDuration(t, 3*time.Second); got != 3*time.Second {
		t.Errorf("LoadDuration unset = %v, want the default 3s", got)
	}
	t.Setenv("TWOSTAGE_LOAD_DURATION", "30s")
	if got := servetest.LoadDuration(t, 3*time.Second); got != 30*time.Second {
		t.Errorf("LoadDuration with 30s = %v, want 30s", got)
	}
	t.Setenv("TWOSTAGE_LOAD_DURATION", "soon")
	ft := &fakeT{}
	servetest.LoadDuration(ft, time.Second)
	if len(ft.fatals) != 1 || !strings.HasPrefix(ft.fatals[0], "TWOSTAGE_LOAD_DURATION: ") {
		t.Errorf("LoadDuration with a malformed value reported %q, want one failure naming the variable", ft.fatals)
	}
}

func TestMetricValue(t *testing.T) {
	const page = `# HELP twostage_engine_mean_batch_size pairs a batch
twostage_engine_mean_batch_size{reranker="default"} 12.5
twostage_engine_mean_batch_size{reranker="other"} 3
twostage_errors_total 7
`
	for _, tc := range []struct {
		prefix string
		want   float64
		ok     bool
	}{
		{`twostage_engine_mean_batch_size{reranker="default"}`, 12.5, true},
		{`twostage_engine_mean_batch_size{reranker="other"}`, 3, true},
		{`twostage_errors_total`, 7, true},
		{`twostage_errors`, 0, false},
		{`twostage_engine_mean_batch_size`, 0, false},
	} {
		got, err := servetest.MetricValue(page, tc.prefix)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("MetricValue(%s) = %v, %v; want %v (found %v)", tc.prefix, got, err, tc.want, tc.ok)
		}
	}
}
