package server

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"twostage"
	"twostage/inference"
)

// StatsReporter is the optional reranker capability that feeds the engine
// metrics (batch sizes, padding efficiency, queue depth): rerank.Engine
// and embed.ONNX have it, through package inference. A reranker that wraps
// others (a fallback chain) is looked through when it has a
// Rerankers() []twostage.Reranker method.
type StatsReporter interface {
	Stats() inference.Stats
}

// findStats looks for statistics on r and, through Rerankers(), inside it.
func findStats(r twostage.Reranker, depth int) (inference.Stats, bool) {
	if sr, ok := r.(StatsReporter); ok {
		return sr.Stats(), true
	}
	if w, ok := r.(interface{ Rerankers() []twostage.Reranker }); ok && depth < 4 {
		for _, in := range w.Rerankers() {
			if st, ok := findStats(in, depth+1); ok {
				return st, true
			}
		}
	}
	return inference.Stats{}, false
}

// engineSources returns each configured reranker that reports statistics,
// once per instance, by name.
func (s *Server) engineSources() map[string]inference.Stats {
	out := map[string]inference.Stats{}
	var seen []twostage.Reranker
	for _, name := range names(s.allRerankers) {
		r := s.allRerankers[name]
		if slices.ContainsFunc(seen, func(o twostage.Reranker) bool { return same(o, r) }) {
			continue
		}
		seen = append(seen, r)
		if st, ok := findStats(r, 0); ok {
			out[name] = st
		}
	}
	return out
}

// same reports whether a and b are one reranker. Rerankers are usually
// pointers; a value of a type that == cannot compare (a struct holding a
// slice) is only ever the same as nothing else, rather than a panic.
func same(a, b twostage.Reranker) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	stage      *prometheus.HistogramVec
	rerankDocs prometheus.Histogram
	errors     *prometheus.CounterVec
	inFlight   prometheus.Gauge
	degraded   *prometheus.CounterVec
	handler    http.Handler
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func newMetrics(reg *prometheus.Registry, sources func() map[string]inference.Stats) (*metrics, error) {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostage_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twostage_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"route"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twostage_stage_duration_seconds", Help: "Latency of each stage: embed, retrieve, rerank, index.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 20),
		}, []string{"stage"}),
		rerankDocs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "twostage_rerank_request_documents", Help: "Documents per rerank request (before engine batching).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostage_errors_total", Help: "Error responses by kind (the JSON error code).",
		}, []string{"kind"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostage_http_in_flight_requests", Help: "Requests being served now.",
		}),
		degraded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostage_search_degraded_total", Help: "Searches answered in first-stage order because the reranker failed.",
		}, []string{"collection"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.stage, m.rerankDocs, m.errors, m.inFlight, m.degraded, &engineCollector{sources}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m, nil
}

func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) observeSearch(coll string, res *twostage.Result) {
	if res.Timings.Embed > 0 {
		m.stage.WithLabelValues("embed").Observe(res.Timings.Embed.Seconds())
	}
	m.stage.WithLabelValues("retrieve").Observe(res.Timings.Retrieve.Seconds())
	if res.Reranked || res.Degraded {
		m.stage.WithLabelValues("rerank").Observe(res.Timings.Rerank.Seconds())
		m.rerankDocs.Observe(float64(res.Candidates))
	}
	if res.Degraded {
		m.degraded.WithLabelValues(coll).Inc()
	}
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

var (
	descBatches = prometheus.NewDesc("twostage_engine_batches_total", "Batches the reranker engine ran.", []string{"reranker"}, nil)
	descPairs   = prometheus.NewDesc("twostage_engine_pairs_total", "Query-document pairs the engine scored.", []string{"reranker"}, nil)
	descReal    = prometheus.NewDesc("twostage_engine_real_tokens_total", "Real (unpadded) tokens the engine ran.", []string{"reranker"}, nil)
	descPadded  = prometheus.NewDesc("twostage_engine_padded_tokens_total", "Tokens the engine computed, padding included.", []string{"reranker"}, nil)
	descMeanB   = prometheus.NewDesc("twostage_engine_mean_batch_size", "Pairs per batch since start.", []string{"reranker"}, nil)
	descPadEff  = prometheus.NewDesc("twostage_engine_padding_efficiency", "Real tokens over computed tokens since start (1 = no padding).", []string{"reranker"}, nil)
	descQueue   = prometheus.NewDesc("twostage_engine_queue_depth", "Work waiting in the engine's queue now.", []string{"reranker"}, nil)
	descWait    = prometheus.NewDesc("twostage_engine_queue_wait_seconds_total", "Total time work waited in the engine's queue.", []string{"reranker"}, nil)
	descRun     = prometheus.NewDesc("twostage_engine_run_seconds_total", "Total time the engine spent running batches.", []string{"reranker"}, nil)
	descPrep    = prometheus.NewDesc("twostage_engine_prepare_seconds_total", "Total time the engine spent building input tensors.", []string{"reranker"}, nil)
	descCalls   = prometheus.NewDesc("twostage_engine_calls_total", "Rerank calls that queued work in the engine.", []string{"reranker"}, nil)
	descRefused = prometheus.NewDesc("twostage_engine_refused_pairs_total", "Pairs the engine refused (queue full) or dropped (call cancelled).", []string{"reranker", "reason"}, nil)

	// The shared query prefix (rerank.EngineOptions.SharedPrefix): run once
	// per batch, continued by the call's pairs.
	descPrefixes    = prometheus.NewDesc("twostage_engine_prefixes_total", "Shared query prefixes the engine ran, each distinct prefix once per batch that continued it.", []string{"reranker"}, nil)
	descPrefixPairs = prometheus.NewDesc("twostage_engine_prefix_pairs_total", "Pairs that continued a shared query prefix instead of running whole.", []string{"reranker"}, nil)
	descPrefixTok   = prometheus.NewDesc("twostage_engine_prefix_tokens_total", "Shared-prefix tokens the engine ran (not counted in real_tokens_total).", []string{"reranker"}, nil)
	descSavedTok    = prometheus.NewDesc("twostage_engine_prefix_saved_tokens_total", "Prefix tokens the engine did not run again because pairs continued a shared prefix.", []string{"reranker"}, nil)
)

// engineCollector reads the engines' statistics at scrape time.
type engineCollector struct {
	sources func() map[string]inference.Stats
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBatches, descPairs, descReal, descPadded, descMeanB, descPadEff, descQueue, descWait, descRun, descPrep, descCalls, descRefused,
		descPrefixes, descPrefixPairs, descPrefixTok, descSavedTok} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.sources() {
		ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(st.Batches), name)
		ch <- prometheus.MustNewConstMetric(descPairs, prometheus.CounterValue, float64(st.Items), name)
		ch <- prometheus.MustNewConstMetric(descReal, prometheus.CounterValue, float64(st.RealTokens), name)
		ch <- prometheus.MustNewConstMetric(descPadded, prometheus.CounterValue, float64(st.PaddedTokens), name)
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(st.Queued), name)
		ch <- prometheus.MustNewConstMetric(descWait, prometheus.CounterValue, st.QueueWait.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(descRun, prometheus.CounterValue, st.RunTime.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(descPrep, prometheus.CounterValue, st.PrepareTime.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(st.Calls), name)
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(st.Overloaded), name, "overloaded")
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(st.Cancelled), name, "cancelled")
		ch <- prometheus.MustNewConstMetric(descPrefixes, prometheus.CounterValue, float64(st.Prefixes), name)
		ch <- prometheus.MustNewConstMetric(descPrefixPairs, prometheus.CounterValue, float64(st.PrefixItems), name)
		ch <- prometheus.MustNewConstMetric(descPrefixTok, prometheus.CounterValue, float64(st.PrefixTokens), name)
		ch <- prometheus.MustNewConstMetric(descSavedTok, prometheus.CounterValue, float64(st.SavedTokens), name)
		if st.Batches > 0 {
			ch <- prometheus.MustNewConstMetric(descMeanB, prometheus.GaugeValue, float64(st.Items)/float64(st.Batches), name)
		}
		if st.PaddedTokens > 0 {
			ch <- prometheus.MustNewConstMetric(descPadEff, prometheus.GaugeValue, float64(st.RealTokens)/float64(st.PaddedTokens), name)
		}
	}
}
