package rerank

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"twostage/convert/tinymodel"
	"twostage/internal/testassets"
	"twostage/modeldir"
)

// BenchmarkEngineVsRaw builds a random-weight Qwen3 zerank model sized for
// a CPU (the real 151,936-token vocabulary, hidden 256, 4 layers) and
// prints the engine's throughput against the raw ONNX Runtime session on
// the same model, shapes and threads, measured side by side in one run,
// with padding efficiency with and without length grouping:
//
//	go test -run '^$' -bench EngineVsRaw -benchtime 1x -timeout 30m ./rerank
//
// TWOSTAGE_BENCH_CLIENTS (default "1,16") and TWOSTAGE_BENCH_CALLS
// (calls per client, default 1) size the workload.
func BenchmarkEngineVsRaw(b *testing.B) {
	testassets.ONNXRuntime(b)
	dir := tinymodel.ModelSpec(b, tinymodel.Spec{
		Family: modeldir.FamilyZerank, Hidden: 256, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 64, Intermediate: 768, Seed: 1,
	}, nil)
	o := &BenchOptions{CallsPerClient: 1}
	if testing.Verbose() {
		o.Log = func(f string, a ...any) { b.Logf(f, a...) }
	}
	if v := os.Getenv("TWOSTAGE_BENCH_CLIENTS"); v != "" {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("TWOSTAGE_BENCH_CLIENTS=%q", v)
			}
			o.Clients = append(o.Clients, n)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("TWOSTAGE_BENCH_CALLS")); err == nil {
		o.CallsPerClient = n
	}
	for i := 0; i < b.N; i++ {
		rep, err := Bench(context.Background(), dir, o)
		if err != nil {
			b.Fatal(err)
		}
		var sb strings.Builder
		rep.WriteTable(&sb)
		b.Log("\n" + sb.String())
		best := rep.Rows[len(rep.Rows)-1]
		for _, row := range rep.Rows[1:] {
			if !strings.Contains(row.Name, "no grouping") {
				best = row // the largest grouped client count comes last among grouped rows
			}
		}
		b.ReportMetric(rep.Ratio(best), "ratio-vs-raw")
		b.ReportMetric(best.Fill(), "fill")
		b.ReportMetric(best.TokensPerSec(), "tokens/s")
	}
}
