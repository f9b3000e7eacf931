package servetest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LoadDuration is how long a bounded load test runs: the duration in
// $TWOSTAGE_LOAD_DURATION (30s is the full run), else def. A malformed
// value fails t.
func LoadDuration(t TB, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv("TWOSTAGE_LOAD_DURATION")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("TWOSTAGE_LOAD_DURATION: %v", err)
	}
	return d
}

// Latencies are the latencies of a load run's requests, sorted.
type Latencies []time.Duration

// Percentile returns the latency that a fraction p (0 to 1) of the
// requests did not exceed: Percentile(0.5) is the median, Percentile(1)
// the slowest. It is 0 for no requests.
func (l Latencies) Percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(p*float64(len(l))))]
}

// Load runs clients concurrent clients against a server: each posts its
// JSON body (body(client), made once per client) to url over a
// connection of its own, request after request, until d has passed. It
// returns every request's latency, sorted. Load returns when all clients
// have stopped; then a request that failed (no answer, or a status other
// than 200) fails t with the count and the first failure, and so does a
// run in which no request completed.
func Load(t TB, url string, clients int, d time.Duration, body func(client int) string) Latencies {
	t.Helper()
	var (
		mu        sync.Mutex
		latencies Latencies
		failures  atomic.Int64
		firstErr  atomic.Value
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	for c := range clients {
		wg.Add(1)
		go func() { // exits at the deadline
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			b := body(c)
			var mine Latencies
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", strings.NewReader(b))
				if err == nil {
					answer, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("client %d: status %d: %s", c, resp.StatusCode, answer)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d requests failed; first: %v", n, firstErr.Load())
		return nil
	}
	if len(latencies) == 0 {
		t.Fatal("no request completed")
		return nil
	}
	slices.Sort(latencies)
	return latencies
}

// MetricValue returns the value of the sample in metrics (a /metrics page
// in the Prometheus text format) whose line starts with prefix, a metric
// name with its labels: `twostage_engine_mean_batch_size{reranker="default"}`.
func MetricValue(metrics, prefix string) (float64, error) {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, prefix+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("servetest: no sample %s", prefix)
}
