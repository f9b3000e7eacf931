// Package rerankbench measures the rerank engine against the raw ONNX
// Runtime session on the same model, shapes and threads, side by side in
// one run: the harness behind `twostage bench rerank` and the rerank
// package's BenchmarkEngineVsRaw. It uses only the public API of packages
// rerank and inference: the engine's pairs are recorded through a
// recording inference.Backend, and the raw session is the ONNX Runtime
// backend's Executor run on fixed-shape batches.
package rerankbench

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

	"twostage/errdefs"
	"twostage/inference"
	"twostage/internal/cputime"
	"twostage/internal/record"
	"twostage/modeldir"
	"twostage/rerank"
)

// Options configures Run. Zero fields take the defaults in brackets.
type Options struct {
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
	// Query is every call's query [DefaultQuery, a 12-word question]. Its length decides
	// whether the engine's shared query prefix pays
	// (Engine.SharedPrefix, rerank.MinSharedPrefix).
	Query string
	// Engine is the engine configuration (provider, threads, batching); the
	// raw session uses the same provider and threads, and the same batch
	// caps. Its Runtime is ignored: every engine run has a runtime of its
	// own.
	Engine rerank.EngineOptions
	// NoUngrouped skips the run without length grouping.
	NoUngrouped bool
	// Log, when set, reports progress.
	Log func(format string, args ...any)
}

// Row is one measured configuration.
type Row struct {
	// Name says what ran.
	Name string
	// Clients is the number of concurrent callers (0 for the raw session).
	Clients int
	// Calls, Pairs and Batches run.
	Calls, Pairs, Batches int64
	// Tokens is the real tokens of the pairs, counted whole (with a shared
	// prefix, the prefix's tokens that each pair continued included), so
	// that tokens per second compare with the raw session's whole pairs;
	// Padded the tokens computed for the pairs, padding included (the
	// prefix passes are not in it).
	Tokens, Padded int64
	// Prefixes, PrefixTokens and SavedTokens are the engine's shared query
	// prefix: the prefixes run, their tokens, and the prefix tokens the
	// pairs continuing them did not run again (inference.Stats); 0 when
	// the engine ran every pair whole.
	Prefixes, PrefixTokens, SavedTokens int64
	// Wall is the elapsed time (for the raw session: time inside Run only).
	Wall time.Duration
	// P50 and P99 are per-call latencies (engine rows).
	P50, P99 time.Duration
	// FirstDone and MedianDone are when the first call and the median call
	// finished, from the start of the run, as fractions of Wall (engine
	// rows): per-call fairness. Clients start together, so when every call
	// waits for the last batches both are near 1; calls that finish one
	// after another bring MedianDone towards 0.5.
	FirstDone, MedianDone float64
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
func (r Row) TokensPerCPUSec() float64 {
	if r.CPU <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.CPU.Seconds()
}

// TokensPerSec is real tokens per second.
func (r Row) TokensPerSec() float64 { return float64(r.Tokens) / r.Wall.Seconds() }

// PairsPerSec is pairs per second.
func (r Row) PairsPerSec() float64 { return float64(r.Pairs) / r.Wall.Seconds() }

// Fill is the padding efficiency, real over computed tokens (a shared
// prefix's passes count as real tokens computed).
func (r Row) Fill() float64 {
	if r.Padded == 0 {
		return 1
	}
	return float64(r.Tokens-r.SavedTokens) / float64(r.Padded+r.PrefixTokens)
}

// Report is Run's result: the raw session's ceiling first, then the
// engine runs.
type Report struct {
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
	Rows []Row
	// RawMeasurements are the raw session's real tokens per second, measured
	// before the first engine run and after each one.
	RawMeasurements []float64
}

// Ratio is row's real tokens per second over the raw session's, measured
// next to it (Row.Ceiling).
func (r *Report) Ratio(row Row) float64 {
	if row.Ceiling == 0 {
		return 1
	}
	return row.TokensPerSec() / row.Ceiling
}

// CPURatio is row's real tokens per CPU second over the raw session's (0
// where CPU time is not measured). On a machine shared with other work it
// is the steadier measure of the engine's own overhead (tokenizing,
// scheduling, copying, padding).
func (r *Report) CPURatio(row Row) float64 {
	if row.CPUCeiling == 0 || row.CPU == 0 {
		return 0
	}
	return row.TokensPerCPUSec() / row.CPUCeiling
}

// WriteTable prints the report side by side.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "model %s (%s) on %s; inputs %.0f tokens on average (%d to %d)\n", r.Model, r.Family, r.Device, r.MeanTokens, r.MinTokens, r.MaxTokens)
	fmt.Fprintf(w, "%-32s %6s %7s %9s %8s %7s %11s %7s %6s %9s %9s %9s\n", "run", "pairs", "batches", "tokens/s", "pairs/s", "vs raw", "tokens/cpu-s", "vs raw", "fill", "p50", "p99", "done 1st/med")
	for _, row := range r.Rows {
		p50, p99, done := "-", "-", "-"
		if row.Clients > 0 {
			p50, p99 = row.P50.Round(time.Millisecond).String(), row.P99.Round(time.Millisecond).String()
			done = fmt.Sprintf("%.2f/%.2f", row.FirstDone, row.MedianDone)
		}
		fmt.Fprintf(w, "%-32s %6d %7d %9.0f %8.1f %7.3f %11.0f %7.3f %6.3f %9s %9s %9s\n", row.Name, row.Pairs, row.Batches,
			row.TokensPerSec(), row.PairsPerSec(), r.Ratio(row), row.TokensPerCPUSec(), r.CPURatio(row), row.Fill(), p50, p99, done)
	}
	fmt.Fprintln(w, "done 1st/med: when the first and the median call finished, as fractions of the run (all clients start together)")
	for _, row := range r.Rows {
		if row.Prefixes > 0 {
			fmt.Fprintf(w, "shared prefix, %s: prefix passes %d (%d tokens), tokens saved %d (%.1f%% of the pairs' tokens)\n",
				row.Name, row.Prefixes, row.PrefixTokens, row.SavedTokens, 100*float64(row.SavedTokens)/float64(row.Tokens))
		}
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
func benchDocs(o *Options, clients int) [][][]string {
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

// Run measures the engine against the raw ONNX Runtime session on the
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
func Run(ctx context.Context, dir string, opts *Options) (*Report, error) {
	o := Options{}
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
	if o.Query == "" {
		o.Query = DefaultQuery
	}
	if o.MinTokens > o.MedianTokens || o.MedianTokens > o.MaxTokens {
		return nil, fmt.Errorf("rerankbench: token lengths %d <= %d <= %d do not hold: %w", o.MinTokens, o.MedianTokens, o.MaxTokens, errdefs.ErrInvalidInput)
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rerankbench: %w", err)
	}
	maxClients := slices.Max(o.Clients)
	work := benchDocs(&o, maxClients)

	// The raw session stays loaded: it is measured before the first engine
	// run and after each one, and every engine row is compared with the
	// measurements around it.
	logf("tokenizing the workload")
	pairs, family, err := recordPairs(ctx, abs, &o, work)
	if err != nil {
		return nil, err
	}
	logf("loading the raw session")
	mo := o.Engine.ModelOptions
	xla := strings.EqualFold(mo.Provider, inference.ProviderXLA)
	backend, path := inference.ORT(), modeldir.ModelPath(abs)
	if xla { // a Hugging Face checkpoint directory, read as it is
		backend, path = inference.XLA(), filepath.Join(abs, "config.json")
	}
	raw, err := backend.Open(path, inference.Score, &mo)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	rep := &Report{Model: abs, Family: family, Device: deviceName(&o.Engine)}
	batches := rawBatches(pairs, &o, rep)
	logf("raw session: %d pairs in %d batches", len(pairs), len(batches))
	if err := rawWarmup(raw, batches); err != nil {
		return nil, err
	}
	ceiling := Row{Name: "raw ORT session, fixed shapes"}
	if xla {
		ceiling.Name = "raw XLA executor, bucket shapes"
	}
	measure := func() (Row, error) {
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
	var rows []Row
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
		row, err := benchEngine(ctx, abs, &eo, o.Query, work[:r.clients], name)
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
	rep.Rows = append([]Row{ceiling}, rows...)
	return rep, nil
}

func deviceName(o *rerank.EngineOptions) string {
	switch p := strings.ToLower(o.Provider); p {
	case "", inference.ProviderCPU:
		if o.IntraOpThreads > 0 {
			return fmt.Sprintf("cpu (%d threads)", o.IntraOpThreads)
		}
		return "cpu"
	case inference.ProviderXLA:
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

// recordPairs runs every call of work once through an engine on a
// recording backend and returns the pairs it ran (template, tokenization
// and truncation exactly the engine's) and the model's family.
func recordPairs(ctx context.Context, dir string, o *Options, work [][][]string) ([]inference.Input, string, error) {
	var pairs []inference.Input
	see := func(b *inference.Batch) { // on the runner goroutine, one batch at a time
		for row := range b.Real {
			n := b.Lens[row]
			p := inference.Input{IDs: slices.Clone(b.IDs[row*b.Seq : row*b.Seq+n])}
			if b.TypeIDs != nil {
				p.TypeIDs = slices.Clone(b.TypeIDs[row*b.Seq : row*b.Seq+n])
			}
			pairs = append(pairs, p)
		}
	}
	rt, err := inference.New(&inference.Options{Backends: map[string]inference.Backend{"record": record.Backend(o.Engine.Provider, see)}})
	if err != nil {
		return nil, "", err
	}
	defer rt.Close()
	eo := o.Engine
	eo.Runtime = rt
	eo.Provider = "record"
	eo.SharedPrefix = rerank.PrefixOff // the raw session runs the pairs whole
	e, err := rerank.Open(dir, &eo)
	if err != nil {
		return nil, "", err
	}
	for _, client := range work {
		for _, docs := range client {
			if _, err := e.Rerank(ctx, o.Query, docs); err != nil {
				return nil, "", errors.Join(err, e.Close())
			}
		}
	}
	if err := e.Close(); err != nil { // waits for the runner: pairs is complete
		return nil, "", err
	}
	return pairs, e.Family(), nil
}

// rawBatches sorts the pairs by length and cuts them into batches under
// the engine's caps, each pair cut to its batch's shortest: the raw
// session's fixed-shape, unpadded batches.
func rawBatches(pairs []inference.Input, o *Options, rep *Report) []*inference.Batch {
	rep.MinTokens = math.MaxInt
	var sum int
	for _, p := range pairs {
		sum += len(p.IDs)
		rep.MinTokens = min(rep.MinTokens, len(p.IDs))
		rep.MaxTokens = max(rep.MaxTokens, len(p.IDs))
	}
	rep.MeanTokens = float64(sum) / float64(len(pairs))
	slices.SortStableFunc(pairs, func(a, b inference.Input) int { return len(a.IDs) - len(b.IDs) })
	maxSize, maxTokens := o.Engine.MaxBatchSize, o.Engine.MaxBatchTokens
	if maxSize == 0 {
		maxSize = inference.DefaultMaxBatchSize
	}
	if maxTokens == 0 {
		maxTokens = inference.DefaultMaxBatchTokens
	}
	var batches []*inference.Batch
	for start := 0; start < len(pairs); {
		end := start + 1
		for end < len(pairs) && end-start < maxSize && (end-start+1)*len(pairs[end].IDs) <= maxTokens {
			end++
		}
		// Fixed shape: every pair cut to the batch's shortest, so the
		// session computes no padding at all (sorted neighbours differ by a
		// few tokens, so the shapes are those the engine runs).
		n := len(pairs[start].IDs)
		rows := end - start
		b := &inference.Batch{Rows: rows, Seq: n, Real: rows, Lens: make([]int, rows),
			IDs: make([]int64, 0, rows*n), Mask: make([]int64, rows*n)}
		for i, p := range pairs[start:end] {
			b.IDs = append(b.IDs, p.IDs[:n]...)
			if p.TypeIDs != nil {
				b.TypeIDs = append(b.TypeIDs, p.TypeIDs[:n]...)
			}
			b.Lens[i] = n
		}
		for i := range b.Mask {
			b.Mask[i] = 1
		}
		batches = append(batches, b)
		start = end
	}
	return batches
}

// rawWarmup runs the longest batch once.
func rawWarmup(x inference.Executor, batches []*inference.Batch) error {
	_, err := x.Run(context.Background(), batches[len(batches)-1])
	return err
}

// benchRaw times the raw session over batches, counting only Run. With
// more than 8 batches it runs every second one (they are sorted by length,
// so the sample keeps the length mix) to keep the repeated measurements
// short.
func benchRaw(ctx context.Context, x inference.Executor, batches []*inference.Batch, logf func(string, ...any)) (Row, error) {
	var row Row
	stride := 1
	if len(batches) > 8 {
		stride = 2
	}
	for i := 0; i < len(batches); i += stride {
		b := batches[i]
		if err := ctx.Err(); err != nil {
			return row, err
		}
		c0 := cputime.Process() // CPU counts building the tensors too, as the engine's does
		t0 := time.Now()
		_, err := x.Run(ctx, b)
		row.Wall += time.Since(t0)
		row.CPU += cputime.Process() - c0
		if err != nil {
			return row, err
		}
		R, S := x.Shape(b.Rows, b.Seq) // the bucket an XLA executor runs
		row.Tokens += int64(b.Rows * b.Seq)
		row.Padded += int64(R * S)
		row.Pairs += int64(b.Rows)
		row.Batches++
		if i%max(1, len(batches)/4) == 0 {
			logf("raw session: batch %d of %d", i+1, len(batches))
		}
	}
	return row, nil
}

// DefaultQuery is Options.Query's default, a 12-word question.
const DefaultQuery = "which documents explain how the search model ranks results for this query"

// benchEngine runs one client per entry of work, each making its calls in
// turn, on a fresh engine.
func benchEngine(ctx context.Context, dir string, eo *rerank.EngineOptions, query string, work [][][]string, name string) (Row, error) {
	row := Row{Name: name, Clients: len(work)}
	rt, err := inference.New(nil) // a runtime of its own: nothing else shares the model
	if err != nil {
		return row, err
	}
	defer rt.Close()
	o := *eo
	o.Runtime = rt
	e, err := rerank.Open(dir, &o)
	if err != nil {
		return row, err
	}
	defer e.Close()
	if _, err := e.Rerank(ctx, query, work[0][0]); err != nil { // warm-up
		return row, err
	}
	if strings.EqualFold(eo.Provider, inference.ProviderXLA) {
		// XLA compiles a program per bucket shape on first use: an untimed
		// pass over the same work compiles the shapes the timed pass runs.
		if _, _, err := driveBench(ctx, e, query, work); err != nil {
			return row, err
		}
	}
	before := e.Stats()
	c0, t0 := cputime.Process(), time.Now()
	lat, done, err := driveBench(ctx, e, query, work)
	row.Wall = time.Since(t0)
	row.CPU = cputime.Process() - c0
	if err != nil {
		return row, err
	}
	after := e.Stats()
	row.Calls = after.Calls - before.Calls
	row.Pairs = after.Items - before.Items
	row.Batches = after.Batches - before.Batches
	row.Prefixes = after.Prefixes - before.Prefixes
	row.PrefixTokens = after.PrefixTokens - before.PrefixTokens
	row.SavedTokens = after.SavedTokens - before.SavedTokens
	row.Tokens = after.RealTokens - before.RealTokens + row.PrefixTokens + row.SavedTokens
	row.Padded = after.PaddedTokens - before.PaddedTokens
	slices.Sort(lat)
	row.P50 = lat[(len(lat)-1)/2]
	row.P99 = lat[min(len(lat)-1, int(math.Ceil(0.99*float64(len(lat))))-1)]
	slices.Sort(done)
	row.FirstDone = done[0].Seconds() / row.Wall.Seconds()
	row.MedianDone = done[(len(done)-1)/2].Seconds() / row.Wall.Seconds()
	return row, nil
}

// driveBench runs work on e, one goroutine per client, and returns the
// calls' latencies and when each call finished, from its start.
func driveBench(ctx context.Context, e *rerank.Engine, query string, work [][][]string) (lat, done []time.Duration, err error) {
	t0 := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, calls := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, docs := range calls {
				c0 := time.Now()
				_, err := e.Rerank(ctx, query, docs)
				d := time.Since(c0)
				mu.Lock()
				lat = append(lat, d)
				done = append(done, time.Since(t0))
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
	return lat, done, errors.Join(errs...)
}
