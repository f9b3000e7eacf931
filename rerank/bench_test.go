package rerank_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"twostage/convert"
	"twostage/internal/benchenv"
	"twostage/internal/rerankbench"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
)

// BenchmarkEngineVsRaw builds a random-weight Qwen3 zerank model sized for
// a CPU (the real 151,936-token vocabulary, hidden 256, 4 layers) and
// prints the engine's throughput against the raw ONNX Runtime session on
// the same model, shapes and threads, measured side by side in one run by
// the harness in internal/rerankbench,
// with padding efficiency with and without length grouping:
//
//	go test -run '^$' -bench EngineVsRaw -benchtime 1x -timeout 30m ./rerank
//
// TWOSTAGE_BENCH_CLIENTS (default "1,16") and TWOSTAGE_BENCH_CALLS
// (calls per client, default 1) size the workload. For a GPU
// (scripts/gpu-check.sh): TWOSTAGE_BENCH_PROVIDER (cuda or tensorrt),
// TWOSTAGE_BENCH_HIDDEN and TWOSTAGE_BENCH_LAYERS (model size; heads of 64
// dimensions, intermediate 3x hidden), TWOSTAGE_BENCH_COMPUTE=fp16 (fp16
// weights and matrix products), TWOSTAGE_BENCH_BATCH_TOKENS.
// TWOSTAGE_BENCH_NO_UNGROUPED=1 skips the run without length grouping.
// TWOSTAGE_BENCH_SPIN=1 lets ONNX Runtime's idle threads spin (its
// default; the engine turns spinning off on the CPU), raw session and engine
// alike.
func BenchmarkEngineVsRaw(b *testing.B) {
	testassets.ONNXRuntime(b)
	spec := benchenv.ZerankSpec()
	var copts *convert.Options
	if c := os.Getenv("TWOSTAGE_BENCH_COMPUTE"); c != "" {
		copts = &convert.Options{Compute: c}
	}
	dir := tinymodel.ModelSpec(b, spec, copts)
	o := &rerankbench.Options{CallsPerClient: 1}
	o.Engine.Provider = os.Getenv("TWOSTAGE_BENCH_PROVIDER")
	o.Engine.MaxBatchTokens = benchenv.Int("TWOSTAGE_BENCH_BATCH_TOKENS", 0)
	o.NoUngrouped = os.Getenv("TWOSTAGE_BENCH_NO_UNGROUPED") == "1"
	if os.Getenv("TWOSTAGE_BENCH_SPIN") == "1" {
		o.Engine.SessionConfig = map[string]string{"session.intra_op.allow_spinning": "1"}
	}
	if testing.Verbose() {
		o.Log = func(f string, a ...any) { b.Logf(f, a...) }
	}
	clients, err := benchenv.Ints("TWOSTAGE_BENCH_CLIENTS", nil)
	if err != nil {
		b.Fatal(err)
	}
	o.Clients = clients
	if n, err := strconv.Atoi(os.Getenv("TWOSTAGE_BENCH_CALLS")); err == nil {
		o.CallsPerClient = n
	}
	for i := 0; i < b.N; i++ {
		rep, err := rerankbench.Run(context.Background(), dir, o)
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
		b.ReportMetric(best.MedianDone, "median-call-done")
	}
}
