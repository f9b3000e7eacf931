package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"twostage"
	"twostage/eval"
	"twostage/eval/plot"
	"twostage/internal/par"
	"twostage/internal/progress"
	"twostage/spec"
)

func init() {
	register("eval", "measure first-stage and reranked quality and latency on a BEIR-format data set", cmdEval)
}

// evalFlags are the options of twostage eval besides the stage flags.
type evalFlags struct {
	data, split, out, order, metrics, candidateK string
	limit, batch, concurrency, warmup            int
	reindex, dropMissing, ignoreIdentical        bool
}

// evalConfig is one configuration run over every query.
type evalConfig struct {
	name     string
	reranked bool
	k        int // candidates reranked; the first stage's retrieval depth
}

func cmdEval(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fs := newFlags("eval", stderr)
	sf := addStageFlags(fs, true)
	// Not the shared default index: a BEIR corpus must not mix with the
	// user's documents. Pass --store mem:FILE or faiss:DIR to keep the index
	// and reuse it on the next run.
	sf.store = "mem:"
	fs.Lookup("store").DefValue = sf.store
	ef := &evalFlags{}
	fs.StringVar(&ef.data, "data", "", "BEIR data set directory: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")
	fs.StringVar(&ef.split, "split", "test", "qrels split: qrels/SPLIT.tsv")
	fs.StringVar(&ef.candidateK, "candidate-k", "100", "first-stage candidates reranked; a list such as 10,50,100 sweeps them")
	fs.IntVar(&ef.limit, "limit", 0, "evaluate only the first N judged queries (0: all)")
	fs.BoolVar(&ef.reindex, "reindex", false, "index the corpus even if the store already holds it")
	fs.StringVar(&ef.out, "out", "", "write results.json, metrics.png, latency.png, tradeoff.png and TREC run files into this directory")
	fs.StringVar(&ef.order, "order", "score", "order of each query's hits before scoring: score (trec_eval: score, ties by id descending) or pipeline (as returned)")
	fs.StringVar(&ef.metrics, "metrics", "nDCG@10,Recall@10,Recall@100,MRR@10,MAP@100", "metrics to report (nDCG, Recall, MRR, MAP at a cutoff)")
	fs.IntVar(&ef.batch, "batch", 256, "documents embedded and written at once when indexing")
	fs.IntVar(&ef.concurrency, "concurrency", 1, "queries in flight at once")
	fs.IntVar(&ef.warmup, "warmup", 1, "untimed queries run before each configuration")
	fs.BoolVar(&ef.dropMissing, "drop-missing", false, "drop judgments of documents missing from the corpus (default: they count as relevant and never retrieved, as in BEIR)")
	fs.BoolVar(&ef.ignoreIdentical, "ignore-identical-ids", true, "drop a hit whose id equals the query id before scoring, as BEIR does (matters for ArguAna and Quora)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	metrics, ks, err := ef.check(sf, flagSet(fs, "candidate-k"))
	if err != nil {
		return err
	}

	ds, err := eval.LoadBEIR(ef.data, &eval.LoadOptions{Split: ef.split, DropMissing: ef.dropMissing})
	if err != nil {
		return err
	}
	queries := ds.Queries
	if ef.limit > 0 && ef.limit < len(queries) {
		queries = queries[:ef.limit]
	}
	if len(ds.Missing) > 0 {
		m := ds.Missing[0]
		how := "they count as relevant documents never retrieved, as in BEIR; --drop-missing removes them"
		if ds.Dropped {
			how = "dropped (--drop-missing)"
		}
		fmt.Fprintf(stderr, "twostage eval: %d judgments name documents missing from the corpus (first: query %q document %q, qrels line %d); %s\n",
			len(ds.Missing), m.Query, m.Doc, m.Line, how)
	}

	// A named store is read, or made by eval when --reindex asks it to
	// index the corpus; eval never creates one otherwise, and never writes
	// into one it did not create (see ensureIndexed).
	sf.mustExist = !ef.reindex
	st, err := sf.open(ctx, stderr)
	if err != nil {
		if errors.Is(err, twostage.ErrNotFound) {
			return fmt.Errorf("no store at %s; index the corpus into a new one with: twostage eval --data %s --store %s --reindex", sf.store, ef.data, sf.store)
		}
		return err
	}
	if sf.created {
		sf.settings.Data = ef.data
		_, setPath, _ := embeddedStore(sf.store)
		if err := writeSettings(setPath, sf.settings); err != nil {
			return errors.Join(err, st.Close())
		}
	}
	defer func() {
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}()
	indexed, err := ensureIndexed(ctx, st, ds.Corpus, ef, sf, stderr)
	if err != nil {
		return err
	}
	p, err := twostage.NewPipeline(st.store, st.embedder, st.reranker, nil)
	if err != nil {
		return err
	}

	depth := 100
	for _, m := range metrics {
		depth = max(depth, m.K)
	}
	configs := []evalConfig{{name: "first-stage", k: depth}}
	if st.reranker != nil {
		for _, k := range ks {
			depth = max(depth, k)
			configs = append(configs, evalConfig{name: fmt.Sprintf("reranked@%d", k), reranked: true, k: k})
		}
		configs[0].k = depth // so the first stage can be compared at every cutoff
	}

	report := &eval.Report{
		Dataset: eval.DatasetInfo{Dir: ef.data, Split: ds.Split, Docs: len(ds.Corpus), Queries: len(queries),
			Unjudged: ds.Unjudged, MissingDocs: len(ds.Missing), MissingDropped: ds.Dropped, Indexed: indexed},
		Store: sf.store, Embedder: sf.embedder, Reranker: sf.reranker, Order: ef.order,
		Concurrency: ef.concurrency, IgnoreIdenticalIDs: ef.ignoreIdentical, Metrics: metrics,
	}
	for _, q := range queries {
		if ds.Qrels[q.ID].Relevant() == 0 {
			report.Dataset.NoRelevant++
		}
	}
	bar := progress.New(stderr, "evaluating", int64(len(queries)*len(configs)), "queries")
	runs := make(map[string]map[string][]eval.Scored, len(configs))
	for _, c := range configs {
		run, scored, err := runConfig(ctx, p, queries, c, ef, bar)
		if err != nil {
			bar.Finish()
			return err
		}
		ranked, err := rankings(scored, ef.order)
		if err != nil {
			bar.Finish()
			return fmt.Errorf("%s: %w", c.name, err)
		}
		s, err := eval.Evaluate(ds.Qrels, ranked, metrics)
		if err != nil {
			bar.Finish()
			return err
		}
		r := eval.NewRun(c.name, c.reranked, c.k, c.k, s)
		r.LatencyMS, r.QPS, r.WallSeconds = run.latency, run.qps, run.wall
		report.Runs = append(report.Runs, r)
		runs[c.name] = scored
	}
	bar.Finish()

	if err := report.WriteTable(stdout); err != nil {
		return err
	}
	if ef.out != "" {
		files, err := writeEvalOutputs(ef.out, report, runs, ef.order)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(files))
		for _, f := range files {
			if rel, err := filepath.Rel(ef.out, f); err == nil {
				f = rel
			}
			names = append(names, f)
		}
		fmt.Fprintf(stdout, "\nwrote into %s: %s\n", ef.out, strings.Join(names, ", "))
	}
	return nil
}

// check validates the flags and returns the metrics and candidate Ks.
func (ef *evalFlags) check(sf *stageFlags, kSet bool) ([]eval.Metric, []int, error) {
	if ef.data == "" {
		return nil, nil, usageErr("give the data set: twostage eval --data DIR (BEIR layout: corpus.jsonl, queries.jsonl, qrels/test.tsv)")
	}
	if ef.limit < 0 {
		return nil, nil, usageErr("--limit %d is negative", ef.limit)
	}
	if ef.concurrency < 1 {
		return nil, nil, usageErr("--concurrency %d: want at least 1", ef.concurrency)
	}
	if ef.warmup < 0 {
		return nil, nil, usageErr("--warmup %d is negative", ef.warmup)
	}
	if ef.batch < 1 {
		return nil, nil, usageErr("--batch %d: want at least 1", ef.batch)
	}
	if ef.order != "score" && ef.order != "pipeline" {
		return nil, nil, usageErr("--order %q: want score or pipeline", ef.order)
	}
	var metrics []eval.Metric
	for _, s := range strings.Split(ef.metrics, ",") {
		m, err := eval.ParseMetric(s)
		if err != nil {
			return nil, nil, usageErr("--metrics: %v", err)
		}
		if !slices.Contains(metrics, m) {
			metrics = append(metrics, m)
		}
	}
	var ks []int
	for _, s := range strings.Split(ef.candidateK, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k < 1 {
			return nil, nil, usageErr("--candidate-k %q: want positive integers separated by commas, e.g. 10,50,100", ef.candidateK)
		}
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	if kSet && (sf.reranker == "none" || sf.reranker == "") {
		return nil, nil, usageErr("--candidate-k needs a reranker (--reranker none evaluates the first stage only)")
	}
	return metrics, ks, nil
}

// ensureIndexed indexes the corpus into an empty store (or always, with
// --reindex), or checks that a non-empty store holds this corpus. It
// reports whether it indexed.
func ensureIndexed(ctx context.Context, st *stages, corpus []eval.Doc, ef *evalFlags, sf *stageFlags, stderr io.Writer) (bool, error) {
	store := sf.store
	n, err := st.store.Count(ctx)
	if err != nil {
		return false, err
	}
	if n == 0 || ef.reindex {
		if err := evalMayWrite(sf, n); err != nil {
			return false, err
		}
	}
	if n > 0 && !ef.reindex {
		// Reuse, after checking the store holds this corpus and nothing else.
		if n != len(corpus) {
			return false, usageErr("the store %s holds %d documents but the corpus has %d; pass --reindex or another --store",
				store, n, len(corpus))
		}
		var sample []string
		for _, i := range []int{0, len(corpus) / 4, len(corpus) / 2, 3 * len(corpus) / 4, len(corpus) - 1} {
			if id := corpus[i].ID; !slices.Contains(sample, id) {
				sample = append(sample, id)
			}
		}
		if _, err := st.store.Get(ctx, sample); err != nil {
			if errors.Is(err, twostage.ErrNotFound) {
				return false, usageErr("the store %s holds %d other documents, not this corpus; pass --reindex or another --store", store, n)
			}
			return false, err
		}
		fmt.Fprintf(stderr, "twostage eval: reusing the %d documents in %s (--reindex to index again)\n", n, store)
		return false, nil
	}
	docs := make([]twostage.Document, len(corpus))
	for i, d := range corpus {
		docs[i] = twostage.Document{ID: d.ID, Text: d.Joined()}
	}
	n, err = indexDocs(ctx, st, docs, ef.batch, stderr)
	if err != nil {
		return true, err
	}
	if n != len(corpus) {
		return true, fmt.Errorf("the store %s holds %d documents after indexing a corpus of %d: other documents would be retrieved; use an empty store: %w",
			store, n, len(corpus), twostage.ErrInvalidInput)
	}
	return true, nil
}

// evalMayWrite refuses to index into a store eval did not create: a named
// embedded store must be new or recorded as made by eval, and a server's
// collection (whose maker is unknown) must be empty.
func evalMayWrite(sf *stageFlags, n int) error {
	if _, _, embedded := embeddedStore(sf.store); embedded {
		if sf.created || (sf.settings != nil && sf.settings.CreatedBy == "eval") {
			return nil
		}
		return usageErr("eval indexes only into a store it created, and %s was not (it holds %d documents); pass a new --store",
			sf.store, n)
	}
	if spec.SchemeOf(sf.store) == "mem" || n == 0 {
		return nil // in memory for this run only, or an empty collection
	}
	return usageErr("eval indexes only into a store it created; %s holds %d documents: pass an empty or new --store",
		sf.store, n)
}

// configResult is what running one configuration measured.
type configResult struct {
	latency   map[string]eval.Latency
	qps, wall float64
}

// runConfig runs every query through the pipeline with one configuration,
// ef.concurrency at a time, after ef.warmup untimed queries, and returns the
// latencies and each query's hits in the pipeline's order.
func runConfig(ctx context.Context, p *twostage.Pipeline, queries []eval.Query, c evalConfig, ef *evalFlags, bar *progress.Bar) (configResult, map[string][]eval.Scored, error) {
	opts := twostage.SearchOptions{TopN: c.k, CandidateK: c.k, NoRerank: !c.reranked}
	for i := 0; i < ef.warmup && i < len(queries); i++ {
		if _, err := p.Search(ctx, queries[i].Text, opts); err != nil {
			return configResult{}, nil, fmt.Errorf("%s: query %q: %w", c.name, queries[i].ID, err)
		}
	}
	type out struct {
		hits    []eval.Scored
		timings twostage.Timings
	}
	results := make([]out, len(queries))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	err := par.For(len(queries), ef.concurrency, func(i int) error {
		res, err := p.Search(ctx, queries[i].Text, opts)
		if err != nil {
			cancel() // stop the searches in flight
			return fmt.Errorf("%s: query %q: %w", c.name, queries[i].ID, err)
		}
		hits := make([]eval.Scored, 0, len(res.Hits))
		for _, h := range res.Hits {
			if ef.ignoreIdentical && h.ID == queries[i].ID {
				continue // BEIR's ignore_identical_ids
			}
			hits = append(hits, eval.Scored{ID: h.ID, Score: h.Score})
		}
		results[i] = out{hits, res.Timings}
		bar.Add(1)
		return nil
	})
	wall := time.Since(start)
	if err != nil {
		return configResult{}, nil, err
	}
	if err := ctx.Err(); err != nil {
		return configResult{}, nil, err
	}
	per := map[string][]time.Duration{}
	scored := make(map[string][]eval.Scored, len(queries))
	for i, r := range results {
		scored[queries[i].ID] = r.hits
		per[eval.StageEmbed] = append(per[eval.StageEmbed], r.timings.Embed)
		per[eval.StageRetrieve] = append(per[eval.StageRetrieve], r.timings.Retrieve)
		if c.reranked {
			per[eval.StageRerank] = append(per[eval.StageRerank], r.timings.Rerank)
		}
		per[eval.StageTotal] = append(per[eval.StageTotal], r.timings.Total)
	}
	cr := configResult{latency: map[string]eval.Latency{}, wall: wall.Seconds()}
	for st, d := range per {
		cr.latency[st] = eval.Summarize(d)
	}
	if wall > 0 {
		cr.qps = float64(len(queries)) / wall.Seconds()
	}
	return cr, scored, nil
}

// rankings orders each query's hits: by score as trec_eval does, or as the
// pipeline returned them.
func rankings(scored map[string][]eval.Scored, order string) (map[string][]string, error) {
	out := make(map[string][]string, len(scored))
	for q, hits := range scored {
		if order == "score" {
			ids, err := eval.Rank(hits)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", q, err)
			}
			out[q] = ids
			continue
		}
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.ID
		}
		out[q] = ids
	}
	return out, nil
}

// writeEvalOutputs writes results.json, the charts and one TREC run file per
// configuration into dir, and returns the paths.
func writeEvalOutputs(dir string, r *eval.Report, runs map[string]map[string][]eval.Scored, order string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		return nil, err
	}
	var files []string
	write := func(path string, fn func(io.Writer) error) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(f)
		err = fn(bw)
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			files = append(files, path)
		}
		return err
	}
	if err := write(filepath.Join(dir, "results.json"), r.WriteJSON); err != nil {
		return files, err
	}
	pngs, err := plot.WriteFiles(dir, r, nil)
	files = append(files, pngs...)
	if err != nil {
		return files, err
	}
	for _, run := range r.Runs {
		scored := runs[run.Name]
		ranked, err := rankings(scored, order)
		if err != nil {
			return files, err
		}
		err = write(filepath.Join(dir, "runs", run.Name+".trec"), func(w io.Writer) error {
			return writeTRECRun(w, run.Name, scored, ranked)
		})
		if err != nil {
			return files, err
		}
	}
	return files, nil
}

// writeTRECRun writes a run in TREC format (qid Q0 docid rank score tag),
// each query's hits in the evaluated order, queries sorted by id. Scores
// keep every digit, so trec_eval or pytrec_eval recompute the same order.
func writeTRECRun(w io.Writer, tag string, scored map[string][]eval.Scored, order map[string][]string) error {
	qids := make([]string, 0, len(order))
	for q := range order {
		qids = append(qids, q)
	}
	slices.Sort(qids)
	for _, q := range qids {
		score := make(map[string]float64, len(scored[q]))
		for _, h := range scored[q] {
			score[h.ID] = h.Score
		}
		for i, id := range order[q] {
			if _, err := fmt.Fprintf(w, "%s Q0 %s %d %s %s\n", q, id, i+1, strconv.FormatFloat(score[id], 'g', -1, 64), tag); err != nil {
				return err
			}
		}
	}
	return nil
}
