package rerank

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"twostage/convert"
	"twostage/inference"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// BenchmarkSharedPrefix prints the engine's throughput with the shared
// prefix against without (SharedPrefix on over off: above 1 it pays), for
// calls of 100 documents of 300 to 500 tokens each and queries of 15 and
// 300 tokens, measured side by side in one run (the two engines share one
// model and alternate calls), on a random-weight zerank-architecture model
// sized for a CPU (the real 151,936-token vocabulary and tokenizer,
// hidden 256, 4 layers, 4 query and 2 key-value heads of 64 dimensions,
// intermediate 768, fp32):
//
//	go test -run '^$' -bench SharedPrefix -benchtime 1x -timeout 30m ./rerank
//
// TWOSTAGE_BENCH_QUERY_TOKENS (default "15,300"), TWOSTAGE_BENCH_DOCS
// (default 100), TWOSTAGE_BENCH_ROUNDS (calls per engine and query,
// default 2), TWOSTAGE_BENCH_HIDDEN and TWOSTAGE_BENCH_LAYERS change the
// workload; TWOSTAGE_BENCH_GRAPH=plain uses the plain graph.
func BenchmarkSharedPrefix(b *testing.B) {
	testassets.ONNXRuntime(b)
	env := func(name string, def int) int {
		if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
			return n
		}
		return def
	}
	hidden, layers := env("TWOSTAGE_BENCH_HIDDEN", 256), env("TWOSTAGE_BENCH_LAYERS", 4)
	spec := tinymodel.Spec{Family: modeldir.FamilyZerank, Hidden: hidden, Layers: layers, Heads: max(hidden/64, 1),
		KVHeads: max(hidden/128, 1), HeadDim: 64, Intermediate: 3 * hidden, Seed: 1, Dtype: "F32"}
	var copts *convert.Options
	if g := os.Getenv("TWOSTAGE_BENCH_GRAPH"); g != "" {
		copts = &convert.Options{Graph: g}
	}
	dir := tinymodel.ModelSpec(b, spec, copts)
	rt, err := inference.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	open := func(mode PrefixMode) *Engine {
		e, err := Open(dir, &EngineOptions{Runtime: rt, SharedPrefix: mode})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	on, off := open(PrefixOn), open(PrefixOff)
	defer on.Close()
	defer off.Close()
	tok := on.prompt.tok
	rng := rand.New(rand.NewPCG(7, 8))
	words := strings.Fields("rerank query document model token batch padding length engine score search vector retrieval cross encoder attention prefix keys values layer the a of and to in is for")
	text := func(tokens int) string {
		var sb strings.Builder
		for sb.Len() < 8*tokens {
			sb.WriteString(words[rng.IntN(len(words))])
			sb.WriteByte(' ')
		}
		s, _ := cutTokens(tok, sb.String(), tokens)
		return s
	}
	docs := make([]string, env("TWOSTAGE_BENCH_DOCS", 100))
	for i := range docs {
		docs[i] = text(300 + rng.IntN(201))
	}
	lengths := []int{15, 300}
	if v := os.Getenv("TWOSTAGE_BENCH_QUERY_TOKENS"); v != "" {
		lengths = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("TWOSTAGE_BENCH_QUERY_TOKENS=%q", v)
			}
			lengths = append(lengths, n)
		}
	}
	rounds := env("TWOSTAGE_BENCH_ROUNDS", 2)
	ctx := context.Background()
	call := func(e *Engine, q string) ([]float64, time.Duration) {
		t := time.Now()
		s, err := e.Rerank(ctx, q, docs)
		if err != nil {
			b.Fatal(err)
		}
		raw := make([]float64, len(s))
		for i := range s {
			raw[i] = s[i].Raw
		}
		return raw, time.Since(t)
	}
	b.Logf("model: zerank architecture, hidden %d, %d layers, %d+%d heads of 64, vocabulary %d, fp32; %d documents of 300-500 tokens per call, %d calls per engine and query",
		hidden, layers, spec.Heads, spec.KVHeads, tinymodel.Qwen3Vocab, len(docs), rounds)
	for i := 0; i < b.N; i++ {
		for _, n := range lengths {
			q := text(n)
			call(off, q) // warm up both
			call(on, q)
			var tOn, tOff time.Duration
			worst := 0.0
			p0 := on.Stats().PrefixTokens
			for range rounds {
				wOff, d := call(off, q)
				tOff += d
				wOn, d := call(on, q)
				tOn += d
				for k := range wOn {
					worst = math.Max(worst, math.Abs(wOn[k]-wOff[k])/math.Max(math.Abs(wOff[k]), 1e-3))
				}
			}
			prefix := float64(on.Stats().PrefixTokens-p0) / float64(rounds)
			ratio := float64(tOff) / float64(tOn)
			b.Logf("query %3d tokens: shared prefix %.3fx the throughput of whole pairs (%.1f vs %.1f pairs/s); %.0f prefix tokens run per call; worst relative score difference %.2g",
				n, ratio, float64(rounds*len(docs))/tOn.Seconds(), float64(rounds*len(docs))/tOff.Seconds(), prefix, worst)
			b.ReportMetric(ratio, fmt.Sprintf("on/off-q%d", n))
		}
	}
}
