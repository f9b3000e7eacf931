package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"twostage"
)

func init() {
	register("search", "search a store and rerank the candidates", cmdSearch)
}

// searchFlags are the per-query options shared by search and demo.
type searchFlags struct {
	topN, candidateK int
	minScore         float64
	filter           string
	policy           string
	timeout          time.Duration
	json             bool
	noRerank         bool
}

func addSearchFlags(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	BoolVar(*bool, string, bool, string)
}) *searchFlags {
	s := &searchFlags{}
	fs.IntVar(&s.topN, "top-n", 5, "hits returned, 1 to 10000")
	fs.IntVar(&s.candidateK, "candidate-k", 0, "first-stage candidates reranked, at least top-n (0: max(top-n, 50))")
	fs.Float64Var(&s.minScore, "min-score", 0, "drop reranked hits scoring below this (0..1)")
	fs.StringVar(&s.filter, "filter", "", `metadata filter as JSON, e.g. {"op":"eq","field":"lang","value":"en"}`)
	fs.StringVar(&s.policy, "on-rerank-error", "fail", "fail, or degrade to first-stage order")
	fs.DurationVar(&s.timeout, "rerank-timeout", 0, "bound on the rerank stage (0: none)")
	fs.BoolVar(&s.json, "json", false, "print JSON for programs instead of a table")
	fs.BoolVar(&s.noRerank, "no-rerank", false, "first stage only")
	return s
}

// options checks the flags, by the rules Pipeline.Search and the server
// share (twostage.CheckLimits), and returns the search and pipeline
// options; rerank is false for --reranker none.
func (s *searchFlags) options(rerank bool) (twostage.SearchOptions, *twostage.PipelineOptions, error) {
	opts := twostage.SearchOptions{TopN: s.topN, CandidateK: s.candidateK, MinScore: s.minScore, NoRerank: s.noRerank}
	if s.minScore != 0 && (s.noRerank || !rerank) { // CheckLimits refuses it too, without the flags' names
		without := "--no-rerank"
		if !rerank {
			without = "--reranker none"
		}
		return opts, nil, usageErr("--min-score %v with %s: --min-score drops hits by their rerank score; leave one out", s.minScore, without)
	}
	if err := twostage.CheckLimits(s.topN, s.candidateK, s.minScore, rerank && !s.noRerank); err != nil {
		return opts, nil, usageErr("%s", cliLimitWords.Replace(strings.TrimSuffix(err.Error(), ": "+twostage.ErrInvalidInput.Error())))
	}
	if s.filter != "" {
		f, err := parseFilter(s.filter)
		if err != nil {
			return opts, nil, usageErr("--filter: %v", err)
		}
		opts.Filter = f
	}
	if s.timeout < 0 {
		return opts, nil, usageErr("--rerank-timeout %v must not be negative", s.timeout)
	}
	po := &twostage.PipelineOptions{RerankTimeout: s.timeout}
	switch s.policy {
	case "fail":
	case "degrade":
		po.OnRerankError = twostage.DegradeOnRerankError
	default:
		return opts, nil, usageErr("--on-rerank-error %q: want fail or degrade", s.policy)
	}
	return opts, po, nil
}

func cmdSearch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fs := newFlags("search", stderr)
	sf := addStageFlags(fs, true)
	qf := addSearchFlags(fs)
	rf := addRerankFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	query := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(query) == "" {
		return usageErr("give a query: twostage search [flags] QUERY")
	}
	opts, po, err := qf.options(sf.reranker != "none")
	if err != nil {
		return err
	}
	if opts.Rerank, err = rf.options(); err != nil {
		return err
	}
	if set := rf.set(); len(set) > 0 && (qf.noRerank || sf.reranker == "none") { // Pipeline.Search refuses them too, without the flags' names
		without := "--no-rerank"
		if sf.reranker == "none" {
			without = "--reranker none"
		}
		return usageErr("%s with %s: they apply to the rerank stage; leave one out", strings.Join(set, ", "), without)
	}
	sf.mustExist, sf.readOnly = true, true
	st, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil {
			err = cerr
		}
	}()
	if _, ok := st.reranker.(twostage.OptionsReranker); !ok && st.reranker != nil && !opts.Rerank.IsZero() {
		return usageErr("%s: the reranker %s takes no per-call options; leave them out", strings.Join(rf.set(), ", "), sf.reranker)
	}
	if n, err := st.store.Count(ctx); err == nil && n == 0 {
		fmt.Fprintf(stderr, "twostage: the store %s is empty; run twostage index first\n", sf.store)
	}
	p, err := twostage.NewPipeline(st.store, st.embedder, st.reranker, po)
	if err != nil {
		return err
	}
	res, err := p.Search(ctx, query, opts)
	if err != nil {
		return err
	}
	if qf.json {
		return writeJSONResult(stdout, query, res)
	}
	writeTable(stdout, res)
	return nil
}

// cliLimitWords names twostage.CheckLimits' limits as the flags do.
var cliLimitWords = strings.NewReplacer("top n", "--top-n", "candidate k", "--candidate-k", "min score", "--min-score")

// parseFilter reads a --filter: the JSON grammar of twostage.Filter,
// checked (unknown ops, missing fields) before anything is opened.
func parseFilter(s string) (*twostage.Filter, error) {
	var f twostage.Filter
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, jsonError(err)
	}
	if dec.More() {
		return nil, fmt.Errorf("text after the filter's JSON object")
	}
	n, err := f.Normalize()
	if err != nil {
		// The flag's name says what the library's "twostage: filter: " does.
		return nil, errors.New(strings.TrimPrefix(err.Error(), "twostage: filter: "))
	}
	return n, nil
}

// jsonResult is the --json output of search.
type jsonResult struct {
	Query      string             `json:"query"`
	Hits       []twostage.Hit     `json:"hits"`
	Candidates int                `json:"candidates"`
	Reranked   bool               `json:"reranked"`
	Degraded   bool               `json:"degraded"`
	Cause      string             `json:"cause,omitempty"`
	TimingsMS  map[string]float64 `json:"timings_ms"`
}

func writeJSONResult(w io.Writer, query string, res *twostage.Result) error {
	out := jsonResult{Query: query, Hits: res.Hits, Candidates: res.Candidates, Reranked: res.Reranked, Degraded: res.Degraded,
		TimingsMS: map[string]float64{
			"embed": ms(res.Timings.Embed), "retrieve": ms(res.Timings.Retrieve),
			"rerank": ms(res.Timings.Rerank), "total": ms(res.Timings.Total),
		}}
	if out.Hits == nil {
		out.Hits = []twostage.Hit{}
	}
	if res.Cause != nil {
		out.Cause = res.Cause.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func writeTable(w io.Writer, res *twostage.Result) {
	if res.Degraded {
		fmt.Fprintf(w, "degraded: reranker failed (%v); first-stage order\n", res.Cause)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSCORE\tRETRIEVAL\tRERANK\tID\tTEXT")
	for i, h := range res.Hits {
		rr := "-"
		if h.Reranked {
			rr = fmt.Sprintf("%.4f", h.RerankScore)
		}
		fmt.Fprintf(tw, "%d\t%.4f\t%.4f\t%s\t%s\t%s\n", i+1, h.Score, h.RetrievalScore, rr, h.ID, snippet(h.Text, 72))
	}
	tw.Flush()
	t := res.Timings
	fmt.Fprintf(w, "%d hits of %d candidates; embed %s, retrieve %s, rerank %s, total %s\n", len(res.Hits), res.Candidates,
		t.Embed.Round(time.Microsecond), t.Retrieve.Round(time.Microsecond), t.Rerank.Round(time.Microsecond), t.Total.Round(time.Microsecond))
}

// snippet returns s on one line, cut to at most n runes.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
