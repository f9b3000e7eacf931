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
// Each engine's time is its fastest call of TWOSTAGE_BENCH_ROUNDS
// (default 3; the machine may be shared, and others only slow a call
// down). TWOSTAGE_BENCH_QUERY_TOKENS (default "15,300"),
// TWOSTAGE_BENCH_DOCS (default 100), TWOSTAGE_BENCH_HIDDEN and
// TWOSTAGE_BENCH_LAYERS change the workload; TWOSTAGE_BENCH_GRAPH=plain
// uses the plain graph; TWOSTAGE_BENCH_MODEL=DIR uses a converted model
// directory instead; TWOSTAGE_BENCH_BASELINE=DIR adds, for comparison,
// whole pairs on a model directory converted before shared prefixes (a
// graph without past inputs) of the same checkpoint.
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
	dir := os.Getenv("TWOSTAGE_BENCH_MODEL")
	if dir == "" {
		dir = tinymodel.ModelSpec(b, spec, copts)
	}
	rt, err := inference.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	open := func(dir string, mode PrefixMode) *Engine {
		e, err := Open(dir, &EngineOptions{Runtime: rt, SharedPrefix: mode})
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	on, off := open(dir, PrefixOn), open(dir, PrefixOff)
	defer on.Close()
	defer off.Close()
	var base *Engine
	if d := os.Getenv("TWOSTAGE_BENCH_BASELINE"); d != "" {
		base = open(d, PrefixOff)
		defer base.Close()
		if base.model.Signature().Prefix {
			b.Fatalf("baseline %s has past inputs: want a graph converted before shared prefixes", d)
		}
	}
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
	rounds := env("TWOSTAGE_BENCH_ROUNDS", 3)
	ctx := context.Background()
	// clock is one engine's fastest call and its least CPU time.
	type clock struct{ wall, cpu time.Duration }
	call := func(e *Engine, q string, c *clock) []float64 {
		t, cpu := time.Now(), processCPU()
		s, err := e.Rerank(ctx, q, docs)
		if err != nil {
			b.Fatal(err)
		}
		if c != nil {
			c.wall, c.cpu = min(c.wall, time.Since(t)), min(c.cpu, processCPU()-cpu)
		}
		raw := make([]float64, len(s))
		for i := range s {
			raw[i] = s[i].Raw
		}
		return raw
	}
	never := clock{math.MaxInt64, math.MaxInt64}
	b.Logf("model: zerank architecture, hidden %d, %d layers, %d+%d heads of 64, vocabulary %d, fp32; %d documents of 300-500 tokens per call, %d calls per engine and query",
		hidden, layers, spec.Heads, spec.KVHeads, tinymodel.Qwen3Vocab, len(docs), rounds)
	for i := 0; i < b.N; i++ {
		for _, n := range lengths {
			q := text(n)
			call(off, q, nil) // warm up
			call(on, q, nil)
			tOn, tOff, tBase := never, never, never
			worst := 0.0
			p0 := on.Stats().PrefixTokens
			for range rounds {
				wOff := call(off, q, &tOff)
				wOn := call(on, q, &tOn)
				for k := range wOn {
					worst = math.Max(worst, math.Abs(wOn[k]-wOff[k])/math.Max(math.Abs(wOff[k]), 1e-3))
				}
				if base != nil {
					call(base, q, &tBase)
				}
			}
			prefix := float64(on.Stats().PrefixTokens-p0) / float64(rounds)
			ratio := func(a, b clock) (float64, float64) {
				return float64(a.wall) / float64(b.wall), float64(a.cpu) / float64(max(b.cpu, 1))
			}
			pps := func(c clock) float64 { return float64(len(docs)) / c.wall.Seconds() }
			w, c := ratio(tOff, tOn)
			b.Logf("query %3d tokens: shared prefix over whole pairs: %.3fx the throughput (fastest call: %.1f vs %.1f pairs/s), %.3fx in CPU time; %.0f prefix tokens in its batches per call (run once while kept); worst relative score difference %.2g",
				n, w, pps(tOn), pps(tOff), c, prefix, worst)
			b.ReportMetric(w, fmt.Sprintf("on/off-q%d", n))
			b.ReportMetric(c, fmt.Sprintf("on/off-cpu-q%d", n))
			if base != nil {
				w, c := ratio(tBase, tOff)
				b.Logf("query %3d tokens: whole pairs on this graph over the baseline graph without past inputs (%.1f pairs/s): %.3fx the throughput, %.3fx in CPU time",
					n, pps(tBase), w, c)
				b.ReportMetric(w, fmt.Sprintf("off/baseline-q%d", n))
				b.ReportMetric(c, fmt.Sprintf("off/baseline-cpu-q%d", n))
			}
		}
	}
}
