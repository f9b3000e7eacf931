package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"twostage/internal/servetest"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/server"
)

// TestServeLoadTinyModel is the bounded load test: 32 concurrent
// clients for TWOSTAGE_LOAD_DURATION (default 5s; the full run is 30s)
// against /v1/rerank on loopback, served by the ONNX engine with the tiny
// converted zerank model. No request may fail, and the engine's batching
// must show in /metrics (mean batch size above 1). p50 and p99 are logged.
//
// The reranker spec is TWOSTAGE_LOAD_RERANKER, else onnx:DIR with the tiny
// model (package spec always registers onnx).
func TestServeLoadTinyModel(t *testing.T) {
	spec := os.Getenv("TWOSTAGE_LOAD_RERANKER")
	if spec == "" {
		spec = "onnx:" + tinymodel.Model(t, modeldir.FamilyZerank)
	}
	dur := servetest.LoadDuration(t, 5*time.Second)
	cfg, err := server.ParseConfig([]byte("rerankers: {default: \"${SPEC}\"}\nrequest_timeout: 60s\n"), func(k string) string {
		if k == "SPEC" {
			return spec
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Open(context.Background(), cfg, server.Openers{},
		&server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	// Documents of mixed lengths, so batching has padding to manage.
	words := strings.Fields("the red planet mars has iron oxide dust and a thin atmosphere while venus is hot")
	mkdoc := func(n int) string {
		var sb strings.Builder
		for i := range n {
			sb.WriteString(words[(i*5+n)%len(words)] + " ")
		}
		return sb.String()
	}
	const clients = 32
	latencies := servetest.Load(t, ts.URL+"/v1/rerank", clients, dur, func(c int) string {
		docs := make([]string, 8)
		for i := range docs {
			docs[i] = strconv.Quote(mkdoc(10 + (c*7+i*13)%90))
		}
		return `{"query":"why is mars red","documents":[` + strings.Join(docs, ",") + `]}`
	})

	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mean, err := servetest.MetricValue(string(m), `twostage_engine_mean_batch_size{reranker="default"}`)
	if err != nil {
		t.Fatalf("the engine's batching is not in /metrics (does %s expose Stats()?): %v", spec, err)
	}
	if mean <= 1 {
		t.Errorf("mean batch size %.2f, want above 1", mean)
	}
	eff, _ := servetest.MetricValue(string(m), `twostage_engine_padding_efficiency{reranker="default"}`)
	t.Logf("%s: %d clients x %v: %d requests (%.1f/s), p50 %v, p99 %v, mean batch %.1f pairs, padding efficiency %.2f",
		spec, clients, dur, len(latencies), float64(len(latencies))/dur.Seconds(), latencies.Percentile(0.5), latencies.Percentile(0.99), mean, eff)
}
