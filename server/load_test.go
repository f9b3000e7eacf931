package server_test

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"twostage"
	"twostage/internal/servetest"
	"twostage/rerank"
)

// TestLoad is the bounded load test: 32 concurrent clients for
// TWOSTAGE_LOAD_DURATION (default 3s, 1s with -short; set 30s for the full
// run) against /v1/rerank on loopback, with a batching engine stand-in
// behind the server. No request may fail, and the engine's batching must be
// visible in /metrics: more pairs per batch than one call brings. p50 and
// p99 latency are logged (never asserted: timings go in logs, not tests).
func TestLoad(t *testing.T) {
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	dur = servetest.LoadDuration(t, dur)
	const clients, docsPerCall = 32, 4
	eng := newBatchingEngine(64, 2*time.Millisecond)
	e := start(t, "rerankers: {default: engine}\nmax_in_flight: 64\n", nil, map[string]twostage.Reranker{"engine": eng})

	body := mustJSON(map[string]any{"query": "red planet", "documents": []string{
		"Mars is the red planet", "Venus is hot", "Jupiter has a red spot", "Saturn has rings"}[:docsPerCall]})
	latencies := servetest.Load(t, e.url+"/v1/rerank", clients, dur, func(int) string { return body })

	m := string(e.do("GET", "/metrics", "", "").body)
	mean, err := servetest.MetricValue(m, `twostage_engine_mean_batch_size{reranker="default"}`)
	if err != nil {
		t.Fatal(err)
	}
	if mean <= docsPerCall {
		t.Errorf("mean batch size %.2f: no more than one call's %d pairs, so calls were not batched together", mean, docsPerCall)
	}
	ok, _ := servetest.MetricValue(m, `twostage_http_requests_total{code="200",route="rerank_v1"}`)
	if int(ok) != len(latencies) {
		t.Errorf("/metrics counts %v successful requests, clients saw %d", ok, len(latencies))
	}
	t.Logf("%d clients x %v: %d requests (%.0f/s), p50 %v, p99 %v, engine mean batch %.1f pairs (%.1f calls)",
		clients, dur, len(latencies), float64(len(latencies))/dur.Seconds(), latencies.Percentile(0.5), latencies.Percentile(0.99), mean, mean/docsPerCall)
}

// BenchmarkRerankServerVsDirect measures /v1/rerank through the server on
// loopback against calling the same reranker in-process, 50 documents of
// about 80 words a call, 8 concurrent callers each way, and logs the
// throughput ratio (server over direct) measured side by side. With the
// model-free BM25 reranker the ratio is the server's overhead at its worst;
// a GPU model's cost per call makes it approach 1.
func BenchmarkRerankServerVsDirect(b *testing.B) {
	words := strings.Fields("the red planet mars has iron oxide dust and thin air while venus is hot and jupiter storms rage across a giant spot")
	docs := make([]string, 50)
	for i := range docs {
		var sb strings.Builder
		for w := range 80 {
			sb.WriteString(words[(i*7+w*3)%len(words)])
			sb.WriteByte(' ')
		}
		docs[i] = sb.String()
	}
	query := "why is mars red"
	lex := rerank.NewLexical()
	body := mustJSON(map[string]any{"query": query, "documents": docs})

	e := start(b, "rerankers: {default: lexical}\n", nil, nil)

	perCall := map[string]float64{}
	b.Run("direct", func(b *testing.B) {
		b.SetParallelism(8 / max(1, runtimeProcs()))
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := lex.Rerank(context.Background(), query, docs); err != nil {
					b.Error(err)
				}
			}
		})
		perCall["direct"] = float64(time.Since(start)) / float64(b.N)
		b.ReportMetric(float64(b.N*len(docs))/time.Since(start).Seconds(), "pairs/s")
	})
	b.Run("server", func(b *testing.B) {
		b.SetParallelism(8 / max(1, runtimeProcs()))
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			defer client.CloseIdleConnections()
			buf := make([]byte, 32<<10)
			for pb.Next() {
				resp, err := client.Post(e.url+"/v1/rerank", "application/json", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
		})
		perCall["server"] = float64(time.Since(start)) / float64(b.N)
		b.ReportMetric(float64(b.N*len(docs))/time.Since(start).Seconds(), "pairs/s")
		if perCall["direct"] > 0 {
			ratio := perCall["direct"] / perCall["server"]
			b.ReportMetric(ratio, "x-direct")
			b.Logf("throughput through the server / in-process: %.3f (%.0f us vs %.0f us per call of %d documents, 8 callers each)",
				ratio, perCall["server"]/1e3, perCall["direct"]/1e3, len(docs))
		}
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
