package eval

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"twostage"
)

// Judgments are the graded relevance judgments of one query: document id to
// grade. A grade greater than 0 means relevant.
type Judgments map[string]int

// Qrels are the judgments of every query, by query id.
type Qrels map[string]Judgments

// Relevant returns the number of judged documents with a grade above 0.
func (j Judgments) Relevant() int {
	n := 0
	for _, g := range j {
		if g > 0 {
			n++
		}
	}
	return n
}

// Scored is one retrieved document and its score (higher is better).
type Scored struct {
	ID    string  `json:"id"`
	Score float64 `json:"score"`
}

// Rank returns the ids of hits in trec_eval's order: score descending, ties
// broken by id descending in byte order. A repeated id or a NaN score is an
// error wrapping twostage.ErrInvalidInput (trec_eval rejects duplicates
// too).
func Rank(hits []Scored) ([]string, error) {
	sorted := slices.Clone(hits)
	seen := make(map[string]bool, len(hits))
	for _, h := range hits {
		if math.IsNaN(h.Score) {
			return nil, fmt.Errorf("eval: rank: document %q has a NaN score: %w", h.ID, twostage.ErrInvalidInput)
		}
		if seen[h.ID] {
			return nil, fmt.Errorf("eval: rank: document %q appears twice: %w", h.ID, twostage.ErrInvalidInput)
		}
		seen[h.ID] = true
	}
	slices.SortFunc(sorted, func(a, b Scored) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	ids := make([]string, len(sorted))
	for i, h := range sorted {
		ids[i] = h.ID
	}
	return ids, nil
}

// topK calls f(i, grade) for the first k distinct ids of ranking (i from 0);
// a repeated id is skipped, as if it were not there.
func topK(j Judgments, ranking []string, k int, f func(i, grade int)) {
	seen := make(map[string]bool, min(k, len(ranking)))
	i := 0
	for _, id := range ranking {
		if i >= k {
			return
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		f(i, j[id])
		i++
	}
}

// NDCG returns nDCG@k of ranking: linear gains (the grades), discount
// log2(rank+1), the ideal from all judged grades (see the package
// documentation). It is 0 when the query has no relevant judgment or k < 1.
func NDCG(j Judgments, ranking []string, k int) float64 {
	var dcg float64
	topK(j, ranking, k, func(i, g int) {
		if g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	})
	grades := make([]int, 0, len(j))
	for _, g := range j {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	slices.SortFunc(grades, func(a, b int) int { return b - a })
	var ideal float64
	for i, g := range grades {
		if i >= k {
			break
		}
		ideal += float64(g) / math.Log2(float64(i+2))
	}
	if ideal == 0 {
		return 0
	}
	return dcg / ideal
}

// Recall returns Recall@k: relevant documents in the top k over all
// relevant judged documents. It is 0 when the query has none.
func Recall(j Judgments, ranking []string, k int) float64 {
	rel := j.Relevant()
	if rel == 0 {
		return 0
	}
	found := 0
	topK(j, ranking, k, func(i, g int) {
		if g > 0 {
			found++
		}
	})
	return float64(found) / float64(rel)
}

// ReciprocalRank returns 1/rank of the first relevant document within the
// top k, or 0.
func ReciprocalRank(j Judgments, ranking []string, k int) float64 {
	rr := 0.0
	topK(j, ranking, k, func(i, g int) {
		if g > 0 && rr == 0 {
			rr = 1 / float64(i+1)
		}
	})
	return rr
}

// AveragePrecision returns AP@k (trec_eval map_cut): the sum of precision
// at the rank of each relevant document within the top k, divided by the
// number of relevant judged documents. It is 0 when the query has none.
func AveragePrecision(j Judgments, ranking []string, k int) float64 {
	rel := j.Relevant()
	if rel == 0 {
		return 0
	}
	var sum float64
	found := 0
	topK(j, ranking, k, func(i, g int) {
		if g > 0 {
			found++
			sum += float64(found) / float64(i+1)
		}
	})
	return sum / float64(rel)
}

// Measure names a ranking measure.
type Measure string

// The measures, named as BEIR reports them.
const (
	MeasureNDCG   Measure = "nDCG"
	MeasureRecall Measure = "Recall"
	MeasureMRR    Measure = "MRR"
	MeasureMAP    Measure = "MAP"
)

// Metric is a measure at a cutoff, such as nDCG@10.
type Metric struct {
	Measure Measure
	K       int
}

// DefaultMetrics are the metrics twostage eval reports.
var DefaultMetrics = []Metric{
	{MeasureNDCG, 10}, {MeasureRecall, 10}, {MeasureRecall, 100}, {MeasureMRR, 10}, {MeasureMAP, 100},
}

// String returns the metric's name, such as "nDCG@10".
func (m Metric) String() string { return string(m.Measure) + "@" + strconv.Itoa(m.K) }

// ParseMetric parses a name such as "ndcg@10" or "MAP@100" (the measure is
// matched without regard to case).
func ParseMetric(s string) (Metric, error) {
	name, k, ok := strings.Cut(strings.TrimSpace(s), "@")
	if !ok {
		return Metric{}, fmt.Errorf("eval: metric %q: want MEASURE@K, e.g. nDCG@10: %w", s, twostage.ErrInvalidInput)
	}
	var m Metric
	for _, ms := range []Measure{MeasureNDCG, MeasureRecall, MeasureMRR, MeasureMAP} {
		if strings.EqualFold(name, string(ms)) {
			m.Measure = ms
		}
	}
	if m.Measure == "" {
		return Metric{}, fmt.Errorf("eval: metric %q: unknown measure %q (nDCG, Recall, MRR or MAP): %w", s, name, twostage.ErrInvalidInput)
	}
	n, err := strconv.Atoi(k)
	if err != nil || n < 1 {
		return Metric{}, fmt.Errorf("eval: metric %q: cutoff %q is not a positive integer: %w", s, k, twostage.ErrInvalidInput)
	}
	m.K = n
	return m, nil
}

// MarshalText implements encoding.TextMarshaler.
func (m Metric) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Metric) UnmarshalText(b []byte) error {
	p, err := ParseMetric(string(b))
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// Compute returns the metric of one query's ranking.
func (m Metric) Compute(j Judgments, ranking []string) float64 {
	switch m.Measure {
	case MeasureNDCG:
		return NDCG(j, ranking, m.K)
	case MeasureRecall:
		return Recall(j, ranking, m.K)
	case MeasureMRR:
		return ReciprocalRank(j, ranking, m.K)
	case MeasureMAP:
		return AveragePrecision(j, ranking, m.K)
	}
	return 0
}

// Scores are the metrics of one run over a set of queries.
type Scores struct {
	// Metrics are the metrics computed, in order.
	Metrics []Metric
	// Mean holds each metric's mean over the evaluated queries, aligned
	// with Metrics.
	Mean []float64
	// PerQuery holds each evaluated query's values, aligned with Metrics.
	PerQuery map[string][]float64
	// Queries is the number of evaluated queries: those in both the run and
	// the qrels.
	Queries int
	// NoRelevant counts evaluated queries whose judgments hold no relevant
	// document; they score 0 and count in the mean.
	NoRelevant int
	// Unjudged counts run queries without judgments; they are ignored.
	Unjudged int
}

// Value returns the mean of m, and whether m was computed.
func (s *Scores) Value(m Metric) (float64, bool) {
	for i, x := range s.Metrics {
		if x == m {
			return s.Mean[i], true
		}
	}
	return 0, false
}

// Evaluate computes metrics for a run (query id to ranking, best first)
// against qrels, the way pytrec_eval and BEIR average them: over the
// queries present in both, queries without a relevant document counting 0.
// A ranking that repeats a document, an invalid metric or a run with no
// judged query is an error wrapping twostage.ErrInvalidInput.
func Evaluate(qrels Qrels, run map[string][]string, metrics []Metric) (*Scores, error) {
	if len(metrics) == 0 {
		return nil, fmt.Errorf("eval: evaluate: no metrics: %w", twostage.ErrInvalidInput)
	}
	for _, m := range metrics {
		if _, err := ParseMetric(m.String()); err != nil {
			return nil, err
		}
	}
	s := &Scores{Metrics: slices.Clone(metrics), Mean: make([]float64, len(metrics)), PerQuery: map[string][]float64{}}
	qids := make([]string, 0, len(run))
	for q := range run {
		qids = append(qids, q)
	}
	slices.Sort(qids) // a fixed summation order: the same run gives the same bits
	for _, q := range qids {
		ranking := run[q]
		j, ok := qrels[q]
		if !ok {
			s.Unjudged++
			continue
		}
		seen := make(map[string]bool, len(ranking))
		for _, id := range ranking {
			if seen[id] {
				return nil, fmt.Errorf("eval: evaluate: query %q: document %q appears twice: %w", q, id, twostage.ErrInvalidInput)
			}
			seen[id] = true
		}
		if j.Relevant() == 0 {
			s.NoRelevant++
		}
		vals := make([]float64, len(metrics))
		for i, m := range metrics {
			vals[i] = m.Compute(j, ranking)
			s.Mean[i] += vals[i]
		}
		s.PerQuery[q] = vals
		s.Queries++
	}
	if s.Queries == 0 {
		return nil, fmt.Errorf("eval: evaluate: none of the %d run queries has judgments: %w", len(run), twostage.ErrInvalidInput)
	}
	for i := range s.Mean {
		s.Mean[i] /= float64(s.Queries)
	}
	return s, nil
}
