package rerank

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"twostage/convert"
	"twostage/inference"
	"twostage/internal/benchenv"
	"twostage/internal/cputime"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/tokenizer"
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
	spec := benchenv.ZerankSpec()
	spec.Dtype = "F32"
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
	w := newPrefixWorkload(b, on.prompt.tok, 3)
	b.Logf("model: zerank architecture, hidden %d, %d layers, %d+%d heads of 64, vocabulary %d, fp32; %d documents of 300-500 tokens per call, %d calls per engine and query",
		spec.Hidden, spec.Layers, spec.Heads, spec.KVHeads, tinymodel.Qwen3Vocab, len(w.docs), w.rounds)
	for i := 0; i < b.N; i++ {
		for _, n := range w.lengths {
			m := w.measure(b, w.query(n), on, off, base)
			ratio := func(a, b clock) (float64, float64) {
				return float64(a.wall) / float64(b.wall), float64(a.cpu) / float64(max(b.cpu, 1))
			}
			wr, c := ratio(m.off, m.on)
			b.Logf("query %3d tokens: shared prefix over whole pairs: %.3fx the throughput (fastest call: %.1f vs %.1f pairs/s), %.3fx in CPU time; %.0f prefix tokens in its batches per call (run once while kept); worst relative score difference %.2g",
				n, wr, w.pairsPerSec(m.on), w.pairsPerSec(m.off), c, m.prefix, m.worst)
			b.ReportMetric(wr, fmt.Sprintf("on/off-q%d", n))
			b.ReportMetric(c, fmt.Sprintf("on/off-cpu-q%d", n))
			if base != nil {
				wr, c := ratio(m.base, m.off)
				b.Logf("query %3d tokens: whole pairs on this graph over the baseline graph without past inputs (%.1f pairs/s): %.3fx the throughput, %.3fx in CPU time",
					n, w.pairsPerSec(m.base), wr, c)
				b.ReportMetric(wr, fmt.Sprintf("off/baseline-q%d", n))
				b.ReportMetric(c, fmt.Sprintf("off/baseline-cpu-q%d", n))
			}
		}
	}
}

// prefixWorkload is the shared-prefix benchmarks' workload: random texts
// of the words below, cut to length by the engine's tokenizer.
type prefixWorkload struct {
	docs    []string
	lengths []int // the queries' lengths in tokens
	rounds  int   // timed calls per engine and query
	query   func(tokens int) string
}

// newPrefixWorkload draws TWOSTAGE_BENCH_DOCS (default 100) documents of
// 300 to 500 tokens of tok; queries, drawn by w.query, have the lengths in
// TWOSTAGE_BENCH_QUERY_TOKENS (default "15,300"); each engine makes
// TWOSTAGE_BENCH_ROUNDS (default rounds) timed calls per query.
func newPrefixWorkload(b *testing.B, tok *tokenizer.Tokenizer, rounds int) *prefixWorkload {
	b.Helper()
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
	w := &prefixWorkload{query: text, rounds: benchenv.Int("TWOSTAGE_BENCH_ROUNDS", rounds)}
	w.docs = make([]string, benchenv.Int("TWOSTAGE_BENCH_DOCS", 100))
	for i := range w.docs {
		w.docs[i] = text(300 + rng.IntN(201))
	}
	var err error
	if w.lengths, err = benchenv.Ints("TWOSTAGE_BENCH_QUERY_TOKENS", []int{15, 300}); err != nil {
		b.Fatal(err)
	}
	return w
}

// clock is one engine's fastest call and its least CPU time.
type clock struct{ wall, cpu time.Duration }

// onOff is one query's measure of the engines with the shared prefix on
// and off (and of the baseline engine, when there is one).
type onOff struct {
	on, off, base clock
	worst         float64 // the largest relative score difference, on vs off
	prefix        float64 // prefix tokens run per call with the prefix on
}

// measure warms on and off up with query q (untimed; XLA compiles its
// programs there), then alternates w.rounds calls of off, on and base (when
// not nil) over w.docs.
func (w *prefixWorkload) measure(b *testing.B, q string, on, off, base *Engine) onOff {
	b.Helper()
	call := func(e *Engine, c *clock) []float64 {
		t, cpu := time.Now(), cputime.Process()
		s, err := e.Rerank(context.Background(), q, w.docs)
		if err != nil {
			b.Fatal(err)
		}
		if c != nil {
			c.wall, c.cpu = min(c.wall, time.Since(t)), min(c.cpu, cputime.Process()-cpu)
		}
		raw := make([]float64, len(s))
		for i := range s {
			raw[i] = s[i].Raw
		}
		return raw
	}
	call(off, nil) // warm up
	call(on, nil)
	never := clock{math.MaxInt64, math.MaxInt64}
	m := onOff{on: never, off: never, base: never}
	p0 := on.Stats().PrefixTokens
	for range w.rounds {
		wOff := call(off, &m.off)
		wOn := call(on, &m.on)
		for k := range wOn {
			m.worst = math.Max(m.worst, math.Abs(wOn[k]-wOff[k])/math.Max(math.Abs(wOff[k]), 1e-3))
		}
		if base != nil {
			call(base, &m.base)
		}
	}
	m.prefix = float64(on.Stats().PrefixTokens-p0) / float64(w.rounds)
	return m
}

// pairsPerSec is the throughput of a call of w.docs timed by c.
func (w *prefixWorkload) pairsPerSec(c clock) float64 {
	return float64(len(w.docs)) / c.wall.Seconds()
}
