package rerank

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"twostage"
)

// BenchOptions configures Bench. Zero fields take the defaults in brackets.
type BenchOptions struct {
	// Clients lists the concurrent-client counts of the engine runs
	// [1 and 16].
	Clients []int
	// DocsPerCall is the documents per Rerank call [50].
	DocsPerCall int
	// CallsPerClient is the calls each client makes [1].
	CallsPerClient int
	// MinTokens, MedianTokens and MaxTokens shape the document lengths in
	// words (about one token each): log-normal with that median, clipped to
	// [MinTokens, MaxTokens] [30, 120, 600].
	MinTokens, MedianTokens, MaxTokens int
	// Seed seeds the workload [1].
	Seed uint64
	// Engine is the engine configuration (provider, threads, batching); the
	// raw session uses the same provider and threads, and the same batch
	// caps.
	Engine EngineOptions
	// NoUngrouped skips the run without length grouping.
	NoUngrouped bool
	// Log, when set, reports progress.
	Log func(format string, args ...any)
}

// BenchRow is one measured configuration.
type BenchRow struct {
	// Name says what ran.
	Name string
	// Clients is the number of concurrent callers (0 for the raw session).
	Clients int
	// Calls, Pairs and Batches run.
	Calls, Pairs, Batches int64
	// Tokens is the real tokens run; Padded the tokens computed.
	Tokens, Padded int64
	// Wall is the elapsed time (for the raw session: time inside Run only).
	Wall time.Duration
	// P50 and P99 are per-call latencies (engine rows).
	P50, P99 time.Duration
	// CPU is the process's CPU time over the run (all threads: tokenizing,
	// scheduling and ONNX Runtime's pools); for the raw session, while it
	// builds tensors and runs.
	CPU time.Duration
	// Ceiling and CPUCeiling are the raw session's real tokens per second
	// and per CPU second measured next to this row (the mean of the
	// measurements just before and just after it), so that a machine whose
	// load drifts still compares like with like.
	Ceiling, CPUCeiling float64
}

// TokensPerCPUSec is real tokens per CPU second of the process: unlike
// TokensPerSec it barely moves with other processes' load.
func (r BenchRow) TokensPerCPUSec() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.CPU.Seconds()
}

// TokensPerSec is real tokens per second.
func (r BenchRow) TokensPerSec() float64 { return float64(r.Tokens) / r.Wall.Seconds() }

// PairsPerSec is pairs per second.
func (r BenchRow) PairsPerSec() float64 { return float64(r.Pairs) / r.Wall.Seconds() }

// Fill is the padding efficiency, real over computed tokens.
func (r BenchRow) Fill() float64 {
	if r.Padded == 0 {
		return 1
	}
	return float64(r.Tokens) / float64(r.Padded)
}

// BenchReport is Bench's result: the raw session's ceiling first, then the
// engine runs.
type BenchReport struct {
	Model  string
	Family string
	// Device names the execution provider.
	Device string
	// MeanTokens, MinTokens and MaxTokens describe the workload's inputs
	// (template included).
	MeanTokens           float64
	MinTokens, MaxTokens int
	// Rows holds the raw session first (all its measurements together),
	// then the engine runs.
	Rows []BenchRow
	// RawMeasurements are the raw session's real tokens per second, measured
	// before the first engine run and after each one.
	RawMeasurements []float64
}

// Ratio is row's real tokens per second over the raw session's, measured
// next to it (BenchRow.Ceiling).
func (r *BenchReport) Ratio(row BenchRow) float64 {
	if row.Ceiling == 0 {
		return 1
	}
	return row.TokensPerSec() / row.Ceiling
}

// CPURatio is row's real tokens per CPU second over the raw session's (0
// where CPU time is not measured). On a machine shared with other work it
// is the steadier measure of the engine's own overhead (tokenizing,
// scheduling, copying, padding).
func (r *BenchReport) CPURatio(row BenchRow) float64 {
	if row.CPUCeiling == 0 || row.CPU == 0 {
		return 0
	}
	return row.TokensPerCPUSec() / row.CPUCeiling
}

// WriteTable prints the report side by side.
func (r *BenchReport) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "model %s (%s) on %s; inputs %.0f tokens on average (%d to %d)\n", r.Model, r.Family, r.Device, r.MeanTokens, r.MinTokens, r.MaxTokens)
	fmt.Fprintf(w, "%-32s %6s %7s %9s %8s %7s %11s %7s %6s %9s %9s\n", "run", "pairs", "batches", "tokens/s", "pairs/s", "vs raw", "tokens/cpu-s", "vs raw", "fill", "p50", "p99")
	for _, row := range r.Rows {
		p50, p99 := "-", "-"
		if row.Clients > 0 {
			p50, p99 = row.P50.Round(time.Millisecond).String(), row.P99.Round(time.Millisecond).String()
		}
		fmt.Fprintf(w, "%-32s %6d %7d %9.0f %8.1f %7.3f %11.0f %7.3f %6.3f %9s %9s\n", row.Name, row.Pairs, row.Batches,
			row.TokensPerSec(), row.PairsPerSec(), r.Ratio(row), row.TokensPerCPUSec(), r.CPURatio(row), row.Fill(), p50, p99)
	}
	if len(r.RawMeasurements) > 1 {
		ms := make([]string, len(r.RawMeasurements))
		for i, m := range r.RawMeasurements {
			ms[i] = fmt.Sprintf("%.0f", m)
		}
		fmt.Fprintf(w, "raw session measured before and after each engine run: %s tokens/s; each engine row is compared with the two around it\n", strings.Join(ms, ", "))
	}
}

// benchWords are common English words, nearly all one token each.
var benchWords = strings.Fields(`the of and to in is that for it as was with be by on not he this are or his from at which
but have an they you were her she there been one all we their has would when if so no more out its who what about up said
them can time only new some could these two may first then do any like my now over such our man me even most made after
also did many before must through back years where much your way well down should because each just those people how too
little state good very make world still own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take three search query model document`)

// benchDocs generates the workload: per client, per call, DocsPerCall
// documents with log-normal lengths in words.
func benchDocs(o *BenchOptions, clients int) [][][]string {
	rng := rand.New(rand.NewPCG(o.Seed, 0xbe4c))
	sigma := math.Log(float64(o.MaxTokens)/float64(o.MedianTokens)) / 2.33 // MaxTokens at the 99th percentile
	out := make([][][]string, clients)
	for c := range out {
		out[c] = make([][]string, o.CallsPerClient)
		for k := range out[c] {
			docs := make([]string, o.DocsPerCall)
			for i := range docs {
				n := int(math.Round(float64(o.MedianTokens) * math.Exp(sigma*rng.NormFloat64())))
				n = min(max(n, o.MinTokens), o.MaxTokens)
				var b strings.Builder
				for j := 0; j < n; j++ {
					if j > 0 {
						b.WriteByte(' ')
					}
					b.WriteString(benchWords[rng.IntN(len(benchWords))])
				}
				docs[i] = b.String()
			}
			out[c][k] = docs
		}
	}
	return out
}

// Bench measures the engine against the raw ONNX Runtime session on the
// same model, shapes and threads, side by side in one run:
//
//   - the ceiling: the raw session running the largest engine run's pairs,
//     pre-tokenized, sorted by length and cut into batches under the same
//     caps, each pair cut to its batch's shortest so that nothing is
//     padded, timing only the session's Run calls;
//     measured before the first engine run and again after each, each
//     engine row being compared with the mean of the two around it;
//   - the engine with each client count, every client making
//     CallsPerClient calls of DocsPerCall documents, timed wall-clock with
//     tokenization, queueing and batching included;
//   - the largest client count again without length grouping.
//
// Each row reports real tokens per second and its ratio to the ceiling,
// padding efficiency, and per-call latency.
func Bench(ctx context.Context, dir string, opts *BenchOptions) (*BenchReport, error) {
	o := BenchOptions{}
	if opts != nil {
		o = *opts
	}
	if len(o.Clients) == 0 {
		o.Clients = []int{1, 16}
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.DocsPerCall, 50)
	def(&o.CallsPerClient, 1)
	def(&o.MinTokens, 30)
	def(&o.MedianTokens, 120)
	def(&o.MaxTokens, 600)
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.MinTokens > o.MedianTokens || o.MedianTokens > o.MaxTokens {
		return nil, fmt.Errorf("rerank: bench: token lengths %d <= %d <= %d do not hold: %w", o.MinTokens, o.MedianTokens, o.MaxTokens, twostage.ErrInvalidInput)
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rerank: bench: %w", err)
	}
	maxClients := slices.Max(o.Clients)
	work := benchDocs(&o, maxClients)

	// The raw session stays loaded: it is measured before the first engine
	// run and after each one, and every engine row is compared with the
	// measurements around it.
	logf("loading the raw session")
	raw, err := loadCore(abs, &o.Engine)
	if err != nil {
		return nil, err
	}
	defer raw.be.close()
	rep := &BenchReport{Model: abs, Family: raw.cfg.Family, Device: deviceName(&o.Engine)}
	batches := rawBatches(raw, &o, work, rep)
	logf("raw session: %d pairs in %d batches", len(work)*o.CallsPerClient*o.DocsPerCall, len(batches))
	if err := rawWarmup(raw, batches); err != nil {
		return nil, err
	}
	ceiling := BenchRow{Name: "raw ORT session, fixed shapes"}
	if strings.ToLower(o.Engine.Provider) == ProviderXLA {
		ceiling.Name = "raw XLA executor, bucket shapes"
	}
	measure := func() (BenchRow, error) {
		r, err := benchRaw(ctx, raw, batches, logf)
		if err != nil {
			return r, err
		}
		ceiling.CPU += r.CPU
		ceiling.Pairs += r.Pairs
		ceiling.Batches += r.Batches
		ceiling.Tokens += r.Tokens
		ceiling.Padded += r.Padded
		ceiling.Wall += r.Wall
		rep.RawMeasurements = append(rep.RawMeasurements, r.TokensPerSec())
		return r, nil
	}
	before, err := measure()
	if err != nil {
		return nil, err
	}

	type run struct {
		clients int
		grouped bool
	}
	var runs []run
	for _, c := range o.Clients {
		runs = append(runs, run{c, true})
	}
	if !o.NoUngrouped {
		runs = append(runs, run{maxClients, false})
	}
	var rows []BenchRow
	for _, r := range runs {
		eo := o.Engine
		eo.NoLengthGrouping = !r.grouped
		name := fmt.Sprintf("engine, %d client", r.clients)
		if r.clients > 1 {
			name += "s"
		}
		if !r.grouped {
			name += ", no grouping"
		}
		logf("running %s", name)
		row, err := benchEngine(ctx, abs, &eo, work[:r.clients], name)
		if err != nil {
			return nil, err
		}
		after, err := measure()
		if err != nil {
			return nil, err
		}
		row.Ceiling = (before.TokensPerSec() + after.TokensPerSec()) / 2
		row.CPUCeiling = (before.TokensPerCPUSec() + after.TokensPerCPUSec()) / 2
		before = after
		rows = append(rows, row)
	}
	ceiling.Ceiling, ceiling.CPUCeiling = ceiling.TokensPerSec(), ceiling.TokensPerCPUSec()
	rep.Rows = append([]BenchRow{ceiling}, rows...)
	return rep, nil
}

func deviceName(o *EngineOptions) string {
	switch p := strings.ToLower(o.Provider); p {
	case "", ProviderCPU:
		if o.IntraOpThreads > 0 {
			return fmt.Sprintf("cpu (%d threads)", o.IntraOpThreads)
		}
		return "cpu"
	case ProviderXLA:
		platform, compute := strings.ToLower(o.Platform), strings.ToLower(o.Compute)
		if platform == "" {
			platform = "cpu"
		}
		if compute == "" {
			compute = "fp32"
		}
		return fmt.Sprintf("xla %s device %d, %s", platform, o.DeviceID, compute)
	default:
		return fmt.Sprintf("%s device %d", p, o.DeviceID)
	}
}

// rawBatches tokenizes every call's documents in work, sorts the pairs by
// length and cuts them into batches under the engine's caps, each pair cut
// to its batch's shortest: the raw session's fixed-shape, unpadded batches.
func rawBatches(c *core, o *BenchOptions, work [][][]string, rep *BenchReport) [][]pair {
	q := c.prompt.query(benchQuery)
	var pairs []pair
	for _, client := range work {
		for _, docs := range client {
			pairs = append(pairs, c.pairs(q, docs)...)
		}
	}
	rep.MinTokens = math.MaxInt
	var sum int
	for _, p := range pairs {
		sum += len(p.ids)
		rep.MinTokens = min(rep.MinTokens, len(p.ids))
		rep.MaxTokens = max(rep.MaxTokens, len(p.ids))
	}
	rep.MeanTokens = float64(sum) / float64(len(pairs))
	slices.SortStableFunc(pairs, func(a, b pair) int { return len(a.ids) - len(b.ids) })
	bo := o.Engine.batcherOptions()
	var batches [][]pair
	for start := 0; start < len(pairs); {
		end := start + 1
		for end < len(pairs) && end-start < bo.MaxBatchSize && (end-start+1)*len(pairs[end].ids) <= bo.MaxBatchTokens {
			end++
		}
		// Fixed shape: every pair cut to the batch's shortest, so the
		// session computes no padding at all (sorted neighbours differ by a
		// few tokens, so the shapes are those the engine runs).
		b := make([]pair, end-start)
		n := len(pairs[start].ids)
		for i, p := range pairs[start:end] {
			b[i].ids = p.ids[:n]
			if p.types != nil {
				b[i].types = p.types[:n]
			}
		}
		batches = append(batches, b)
		start = end
	}
	return batches
}

// rawWarmup runs the longest batch once.
func rawWarmup(c *core, batches [][]pair) error {
	run, err := c.prepare(batches[len(batches)-1])
	if err != nil {
		return err
	}
	_, err = run()
	return err
}

// benchRaw times the raw session over batches, counting only Run. With
// more than 8 batches it runs every second one (they are sorted by length,
// so the sample keeps the length mix) to keep the repeated measurements
// short.
func benchRaw(ctx context.Context, c *core, batches [][]pair, logf func(string, ...any)) (BenchRow, error) {
	var row BenchRow
	stride := 1
	if len(batches) > 8 {
		stride = 2
	}
	for i := 0; i < len(batches); i += stride {
		b := batches[i]
		if err := ctx.Err(); err != nil {
			return row, err
		}
		c0 := processCPU() // CPU counts building the tensors too, as the engine's does
		run, err := c.prepare(b)
		if err != nil {
			return row, err
		}
		t0 := time.Now()
		_, err = run()
		row.Wall += time.Since(t0)
		row.CPU += processCPU() - c0
		if err != nil {
			return row, err
		}
		longest := 0
		for _, p := range b {
			row.Tokens += int64(len(p.ids))
			longest = max(longest, len(p.ids))
		}
		B, S := c.be.shape(len(b), longest)
		row.Padded += int64(B * S)
		row.Pairs += int64(len(b))
		row.Batches++
		if i%max(1, len(batches)/4) == 0 {
			logf("raw session: batch %d of %d", i+1, len(batches))
		}
	}
	return row, nil
}

const benchQuery = "which documents explain how the search model ranks results for this query"

// benchEngine runs one client per entry of work, each making its calls in
// turn, on a fresh engine.
func benchEngine(ctx context.Context, dir string, eo *EngineOptions, work [][][]string, name string) (BenchRow, error) {
	row := BenchRow{Name: name, Clients: len(work)}
	e, err := Open(dir, eo)
	if err != nil {
		return row, err
	}
	defer e.Close()
	registry.mu.Lock()
	shared := e.c.refs != 1
	registry.mu.Unlock()
	if shared {
		return row, fmt.Errorf("rerank: bench: the engine for %s is shared with another holder; close it first: %w", dir, twostage.ErrInvalidInput)
	}
	if _, err := e.Rerank(ctx, benchQuery, work[0][0]); err != nil { // warm-up
		return row, err
	}
	if strings.ToLower(eo.Provider) == ProviderXLA {
		// XLA compiles a program per bucket shape on first use: an untimed
		// pass over the same work compiles the shapes the timed pass runs.
		if _, err := driveBench(ctx, e, work); err != nil {
			return row, err
		}
	}
	before := e.Stats()
	c0, t0 := processCPU(), time.Now()
	lat, err := driveBench(ctx, e, work)
	row.Wall = time.Since(t0)
	row.CPU = processCPU() - c0
	if err != nil {
		return row, err
	}
	after := e.Stats()
	row.Calls = after.Calls - before.Calls
	row.Pairs = after.Pairs - before.Pairs
	row.Batches = after.Batches - before.Batches
	row.Tokens = after.Tokens - before.Tokens
	row.Padded = after.PaddedTokens - before.PaddedTokens
	slices.Sort(lat)
	row.P50 = lat[(len(lat)-1)/2]
	row.P99 = lat[min(len(lat)-1, int(math.Ceil(0.99*float64(len(lat))))-1)]
	return row, nil
}

// driveBench runs work on e, one goroutine per client, and returns the
// calls' latencies.
func driveBench(ctx context.Context, e *Engine, work [][][]string) ([]time.Duration, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
	)
	for _, calls := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, docs := range calls {
				c0 := time.Now()
				_, err := e.Rerank(ctx, benchQuery, docs)
				d := time.Since(c0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return lat, errors.Join(errs...)
}
