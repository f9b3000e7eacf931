package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The pipeline stages whose latency a Run records.
const (
	StageEmbed    = "embed"
	StageRetrieve = "retrieve"
	StageRerank   = "rerank"
	StageTotal    = "total"
)

// Stages lists the stage names in pipeline order.
var Stages = []string{StageEmbed, StageRetrieve, StageRerank, StageTotal}

// Report is the outcome of one evaluation: the data set, the stages, and
// one Run per configuration (first stage, then reranked at each candidate
// K). It is what `twostage eval` prints and writes to results.json.
type Report struct {
	Dataset DatasetInfo `json:"dataset"`
	// Store, Embedder and Reranker name the stages ("none" for no
	// reranker).
	Store    string `json:"store"`
	Embedder string `json:"embedder"`
	Reranker string `json:"reranker"`
	// Order says how each query's hits were ordered before scoring: "score"
	// (trec_eval's order, see Rank) or "pipeline" (as Search returned them).
	Order string `json:"order"`
	// Concurrency is the number of queries in flight at once.
	Concurrency int `json:"concurrency"`
	// IgnoreIdenticalIDs says whether hits whose id equals the query id
	// were dropped before scoring (BEIR's ignore_identical_ids, its default).
	IgnoreIdenticalIDs bool `json:"ignore_identical_ids"`
	// Metrics are the metrics of every run, in display order.
	Metrics []Metric `json:"metrics"`
	Runs    []Run    `json:"runs"`
}

// DatasetInfo describes the evaluated data.
type DatasetInfo struct {
	Dir   string `json:"dir"`
	Split string `json:"split"`
	Docs  int    `json:"docs"`
	// Queries is the number of queries run and evaluated.
	Queries int `json:"queries"`
	// NoRelevant counts evaluated queries without a relevant judgment
	// (they score 0, as in BEIR).
	NoRelevant int `json:"queries_without_relevant"`
	// Unjudged counts queries of the query file without judgments (not
	// run, as in BEIR).
	Unjudged int `json:"queries_without_judgments"`
	// MissingDocs counts judgments naming documents absent from the corpus;
	// MissingDropped says whether they were removed from the qrels.
	MissingDocs    int  `json:"judged_docs_missing_from_corpus"`
	MissingDropped bool `json:"missing_docs_dropped"`
	// Indexed says whether the corpus was indexed for this run (false:
	// an existing index was reused).
	Indexed bool `json:"indexed"`
}

// Run is one configuration's results.
type Run struct {
	// Name is "first-stage" or "reranked@K".
	Name string `json:"name"`
	// Reranked says whether the reranker ran; CandidateK is the number of
	// first-stage candidates it reranked, and Depth the length of each
	// evaluated ranking.
	Reranked   bool `json:"reranked"`
	CandidateK int  `json:"candidate_k"`
	Depth      int  `json:"depth"`
	// Metrics maps each metric's name to its mean over the queries.
	Metrics map[string]float64 `json:"metrics"`
	// LatencyMS summarises each stage's latency per query (StageEmbed ...).
	LatencyMS map[string]Latency `json:"latency_ms"`
	// QPS is the number of queries completed per second of wall time,
	// with the report's concurrency.
	QPS         float64 `json:"queries_per_second"`
	WallSeconds float64 `json:"wall_seconds"`
	// PerQuery maps each query id to its metric values by name.
	PerQuery map[string]map[string]float64 `json:"per_query,omitempty"`
}

// NewRun returns a Run holding scores' means and per-query values.
func NewRun(name string, reranked bool, candidateK, depth int, s *Scores) Run {
	r := Run{Name: name, Reranked: reranked, CandidateK: candidateK, Depth: depth,
		Metrics: make(map[string]float64, len(s.Metrics)), PerQuery: make(map[string]map[string]float64, len(s.PerQuery))}
	for i, m := range s.Metrics {
		r.Metrics[m.String()] = s.Mean[i]
	}
	for q, vals := range s.PerQuery {
		pq := make(map[string]float64, len(vals))
		for i, m := range s.Metrics {
			pq[m.String()] = vals[i]
		}
		r.PerQuery[q] = pq
	}
	return r
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteTable writes the report for a terminal: a summary line, the metrics
// of every run with the change against the first stage, and the per-stage
// latency percentiles.
func (r *Report) WriteTable(w io.Writer) error {
	d := r.Dataset
	fmt.Fprintf(w, "data %s (%s): %d documents, %d queries", d.Dir, d.Split, d.Docs, d.Queries)
	var notes []string
	if d.NoRelevant > 0 {
		notes = append(notes, fmt.Sprintf("%d without a relevant judgment, scored 0", d.NoRelevant))
	}
	if d.MissingDocs > 0 {
		how := "counted as never retrieved"
		if d.MissingDropped {
			how = "dropped"
		}
		notes = append(notes, fmt.Sprintf("%d judgments name documents missing from the corpus, %s", d.MissingDocs, how))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(notes, "; "))
	}
	fmt.Fprintf(w, "\nstages: store %s, embedder %s, reranker %s; hits ordered by %s; concurrency %d\n\n",
		r.Store, r.Embedder, r.Reranker, r.Order, r.Concurrency)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"RUN"}
	for _, m := range r.Metrics {
		head = append(head, m.String())
	}
	head = append(head, "p50 ms", "p95 ms", "p99 ms", "queries/s")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	var base *Run
	for i := range r.Runs {
		if !r.Runs[i].Reranked {
			base = &r.Runs[i]
			break
		}
	}
	for _, run := range r.Runs {
		row := []string{run.Name}
		for _, m := range r.Metrics {
			row = append(row, fmt.Sprintf("%.4f", run.Metrics[m.String()]))
		}
		t := run.LatencyMS[StageTotal]
		row = append(row, fmt.Sprintf("%.2f", t.P50), fmt.Sprintf("%.2f", t.P95), fmt.Sprintf("%.2f", t.P99), fmt.Sprintf("%.1f", run.QPS))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		if base != nil && run.Reranked {
			row = []string{"  vs first stage"}
			for _, m := range r.Metrics {
				row = append(row, fmt.Sprintf("%+.4f", run.Metrics[m.String()]-base.Metrics[m.String()]))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t\t\t\t\t")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nlatency per query, milliseconds")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RUN\tSTAGE\tp50\tp95\tp99\tmean\tmax\t")
	for _, run := range r.Runs {
		for _, st := range Stages {
			l, ok := run.LatencyMS[st]
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", run.Name, st, l.P50, l.P95, l.P99, l.Mean, l.Max)
		}
	}
	return tw.Flush()
}
