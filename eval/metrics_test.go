package eval

import (
	"errors"
	"math"
	"slices"
	"testing"

	"twostage"
)

const tol = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tol }

// Known answers, worked by hand. Ranks are 1-based; the discount of rank r
// is log2(r+1): rank 1 → 1, rank 2 → log2 3 ≈ 1.5849625, rank 3 → 2,
// rank 4 → log2 5 ≈ 2.3219281, rank 7 → 3.
func TestMetricsKnownAnswers(t *testing.T) {
	log3 := math.Log2(3)
	graded := Judgments{"a": 2, "b": 1, "c": 0, "d": 3}
	tests := []struct {
		name    string
		j       Judgments
		ranking []string
		m       Metric
		want    float64
	}{
		// nDCG, graded relevance. Ranking a(2) x(unjudged) b(1) d(3).
		// DCG@3 = 2/1 + 0/log2 3 + 1/2 = 2.5.
		// IDCG@3 from all judged grades sorted 3,2,1: 3/1 + 2/log2 3 + 1/2 ≈ 4.7618595.
		// nDCG@3 = 2.5 / 4.7618595 ≈ 0.5250.
		{"ndcg graded", graded, []string{"a", "x", "b", "d"}, Metric{MeasureNDCG, 3}, 2.5 / (3 + 2/log3 + 0.5)},
		// @4 adds d at rank 4: DCG = 2.5 + 3/log2 5; IDCG@4 = IDCG@3 (c is 0).
		{"ndcg graded @4", graded, []string{"a", "x", "b", "d"}, Metric{MeasureNDCG, 4},
			(2.5 + 3/math.Log2(5)) / (3 + 2/log3 + 0.5)},
		// The ideal order scores 1.
		{"ndcg ideal", graded, []string{"d", "a", "b", "c"}, Metric{MeasureNDCG, 10}, 1},
		// More relevant documents (3) than k (2): the ideal is cut at k too.
		// IDCG@2 = 3/1 + 2/log2 3, so the ideal top 2 scores 1, and a(2) d(3)
		// scores (2 + 3/log2 3) / (3 + 2/log2 3) ≈ 0.8820.
		{"ndcg more relevant than k, ideal", graded, []string{"d", "a", "b"}, Metric{MeasureNDCG, 2}, 1},
		{"ndcg more relevant than k", graded, []string{"a", "d", "b"}, Metric{MeasureNDCG, 2}, (2 + 3/log3) / (3 + 2/log3)},
		// k larger than the ranking: only d, at rank 1. DCG = 3; IDCG@10 = 3 + 2/log2 3 + 1/2.
		{"ndcg k beyond ranking", graded, []string{"d"}, Metric{MeasureNDCG, 10}, 3 / (3 + 2/log3 + 0.5)},
		// No relevant judgment: IDCG = 0, nDCG = 0 (trec_eval leaves DCG = 0).
		{"ndcg no relevant", Judgments{"a": 0, "b": 0}, []string{"a", "b"}, Metric{MeasureNDCG, 10}, 0},
		// A judged document missing from the corpus can never be retrieved,
		// yet it is in the ideal: DCG = 1, IDCG = 1 + 1/log2 3 ≈ 1.6309, nDCG ≈ 0.6131.
		{"ndcg missing doc", Judgments{"a": 1, "ghost": 1}, []string{"a", "x"}, Metric{MeasureNDCG, 10}, 1 / (1 + 1/log3)},
		// Negative grades gain nothing: DCG = 1/log2 3 (b at rank 2), IDCG = 1.
		{"ndcg negative grade", Judgments{"a": -1, "b": 1}, []string{"a", "b"}, Metric{MeasureNDCG, 10}, 1 / log3},
		{"ndcg empty ranking", graded, nil, Metric{MeasureNDCG, 10}, 0},

		// Recall: relevant judged = a, b, d (grade > 0) = 3.
		// Ranking c(0) a(2) x b(1) d(3).
		{"recall @2", graded, []string{"c", "a", "x", "b", "d"}, Metric{MeasureRecall, 2}, 1.0 / 3}, // a
		{"recall @4", graded, []string{"c", "a", "x", "b", "d"}, Metric{MeasureRecall, 4}, 2.0 / 3}, // a, b
		// k beyond the ranking: all 3 found, 3/3.
		{"recall k beyond ranking", graded, []string{"c", "a", "x", "b", "d"}, Metric{MeasureRecall, 100}, 1},
		// The denominator is not capped by k: 1 found of 3 at k = 1 is 1/3, not 1/min(1,3).
		{"recall not capped", graded, []string{"d"}, Metric{MeasureRecall, 1}, 1.0 / 3},
		{"recall no relevant", Judgments{"a": 0}, []string{"a"}, Metric{MeasureRecall, 10}, 0},
		// Missing doc: a found, ghost never can be: 1/2.
		{"recall missing doc", Judgments{"a": 1, "ghost": 2}, []string{"a"}, Metric{MeasureRecall, 100}, 0.5},

		// MRR: first relevant is a at rank 3 (c is judged 0, x unjudged): 1/3.
		{"mrr rank 3", graded, []string{"x", "c", "a", "d"}, Metric{MeasureMRR, 10}, 1.0 / 3},
		// Cut at 2: no relevant document in the top 2.
		{"mrr cut before", graded, []string{"x", "c", "a", "d"}, Metric{MeasureMRR, 2}, 0},
		{"mrr first", graded, []string{"b", "a"}, Metric{MeasureMRR, 10}, 1},
		{"mrr no relevant", Judgments{"a": 0}, []string{"a"}, Metric{MeasureMRR, 10}, 0},
		{"mrr missing doc", Judgments{"ghost": 1}, []string{"a", "b"}, Metric{MeasureMRR, 10}, 0},

		// MAP: relevant judged a, b, c (d is 0) = 3. Ranking a d b x c:
		// relevant at ranks 1 (precision 1/1), 3 (2/3), 5 (3/5).
		// AP@3 = (1 + 2/3) / 3 ≈ 0.5556.
		{"map @3", Judgments{"a": 1, "b": 2, "c": 1, "d": 0}, []string{"a", "d", "b", "x", "c"}, Metric{MeasureMAP, 3}, (1 + 2.0/3) / 3},
		// AP@5 = (1 + 2/3 + 3/5) / 3 ≈ 0.7556.
		{"map @5", Judgments{"a": 1, "b": 2, "c": 1, "d": 0}, []string{"a", "d", "b", "x", "c"}, Metric{MeasureMAP, 5}, (1 + 2.0/3 + 3.0/5) / 3},
		// AP@1 divides by all 3 relevant, not min(1, 3): 1/3.
		{"map denominator", Judgments{"a": 1, "b": 2, "c": 1}, []string{"a"}, Metric{MeasureMAP, 1}, 1.0 / 3},
		// k beyond the ranking: same as the whole ranking.
		{"map k beyond ranking", Judgments{"a": 1, "b": 2, "c": 1, "d": 0}, []string{"a", "d", "b", "x", "c"}, Metric{MeasureMAP, 100}, (1 + 2.0/3 + 3.0/5) / 3},
		{"map no relevant", Judgments{"a": 0}, []string{"a"}, Metric{MeasureMAP, 100}, 0},
		// Missing doc: b found at rank 2 (precision 1/2), ghost never: (1/2) / 2 = 0.25.
		{"map missing doc", Judgments{"b": 1, "ghost": 1}, []string{"x", "b"}, Metric{MeasureMAP, 100}, 0.25},

		// A repeated id counts once: a, a, b is scored as a, b.
		{"repeat skipped", Judgments{"a": 0, "b": 1}, []string{"a", "a", "b"}, Metric{MeasureMRR, 10}, 0.5},
		// k < 1 retrieves nothing.
		{"k zero", graded, []string{"d"}, Metric{MeasureRecall, 0}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Compute(tc.j, tc.ranking); !near(got, tc.want) {
				t.Errorf("%s of %v = %.15f, want %.15f", tc.m, tc.ranking, got, tc.want)
			}
		})
	}
}

// Spot the decimals of the worked examples, so a wrong formula in both the
// code and the expression above would still be caught.
func TestMetricsDecimals(t *testing.T) {
	graded := Judgments{"a": 2, "b": 1, "c": 0, "d": 3}
	for _, tc := range []struct {
		got, want float64
	}{
		{NDCG(graded, []string{"a", "x", "b", "d"}, 3), 0.525005},          // 2.5 / 4.761860
		{NDCG(Judgments{"a": 1, "ghost": 1}, []string{"a"}, 10), 0.613147}, // 1 / 1.630930
		{AveragePrecision(Judgments{"a": 1, "b": 2, "c": 1}, []string{"a", "d", "b", "x", "c"}, 5), 0.755556},
	} {
		if math.Abs(tc.got-tc.want) > 5e-7 {
			t.Errorf("got %.7f, want %.6f", tc.got, tc.want)
		}
	}
}

func TestRankTies(t *testing.T) {
	tests := []struct {
		name string
		hits []Scored
		want []string
	}{
		// b and a tie at 0.5: trec_eval puts the larger id first (strcmp(b, a) > 0).
		{"tie by id descending", []Scored{{"a", 0.5}, {"b", 0.5}, {"c", 0.9}}, []string{"c", "b", "a"}},
		// Byte order, not numeric: "9" > "10" > "1".
		{"byte order", []Scored{{"1", 1}, {"10", 1}, {"9", 1}}, []string{"9", "10", "1"}},
		// Upper case sorts before lower case in bytes, so "a" > "B".
		{"case", []Scored{{"B", 0}, {"a", 0}}, []string{"a", "B"}},
		{"scores first", []Scored{{"z", -1}, {"a", 2}, {"m", 0}}, []string{"a", "m", "z"}},
		{"infinities", []Scored{{"a", math.Inf(-1)}, {"b", math.Inf(1)}}, []string{"b", "a"}},
		{"empty", nil, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Rank(tc.hits)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Rank(%v) = %v, %v; want %v", tc.hits, got, err, tc.want)
			}
		})
	}
	// The tie order changes the metric: with a relevant, trec order c, b, a
	// puts it at rank 3: nDCG@10 = (1/log2 4) / 1 = 0.5; MRR@10 = 1/3.
	ranked, _ := Rank([]Scored{{"a", 0.5}, {"b", 0.5}, {"c", 0.9}})
	j := Judgments{"a": 1}
	if got := NDCG(j, ranked, 10); !near(got, 0.5) {
		t.Errorf("nDCG@10 after tie-break = %v, want 0.5", got)
	}
	if got := ReciprocalRank(j, ranked, 10); !near(got, 1.0/3) {
		t.Errorf("MRR@10 after tie-break = %v, want 1/3", got)
	}
	for _, bad := range [][]Scored{{{"a", 1}, {"a", 2}}, {{"a", math.NaN()}}} {
		if _, err := Rank(bad); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("Rank(%v) error %v, want ErrInvalidInput", bad, err)
		}
	}
}

func TestEvaluateAveraging(t *testing.T) {
	qrels := Qrels{
		"q1": {"a": 1, "b": 2},
		"q2": {"a": 0}, // judged, nothing relevant: counts as 0
		"q4": {"c": 1}, // not in the run: ignored, as pytrec_eval does
	}
	run := map[string][]string{
		"q1": {"b", "x", "a"},
		"q2": {"a"},
		"q3": {"a"}, // not judged: ignored
	}
	ms := []Metric{{MeasureRecall, 1}, {MeasureMRR, 10}, {MeasureNDCG, 10}}
	s, err := Evaluate(qrels, run, ms)
	if err != nil {
		t.Fatal(err)
	}
	if s.Queries != 2 || s.NoRelevant != 1 || s.Unjudged != 1 {
		t.Errorf("queries %d, no-relevant %d, unjudged %d; want 2, 1, 1", s.Queries, s.NoRelevant, s.Unjudged)
	}
	// q1: Recall@1 = 1/2 (b of a, b); q2: 0. Mean = 0.25.
	// q1: MRR = 1; mean (1 + 0) / 2 = 0.5.
	// q1: DCG = 2/1 + 1/log2 4 = 2.5; IDCG = 2 + 1/log2 3; mean = that / 2.
	want := []float64{0.25, 0.5, 2.5 / (2 + 1/math.Log2(3)) / 2}
	for i, m := range ms {
		got, ok := s.Value(m)
		if !ok || !near(got, want[i]) {
			t.Errorf("%s = %v, want %v", m, got, want[i])
		}
	}
	if got := s.PerQuery["q2"]; !slices.Equal(got, []float64{0, 0, 0}) {
		t.Errorf("q2 per query = %v, want zeros", got)
	}
	if _, ok := s.PerQuery["q3"]; ok {
		t.Error("unjudged q3 was evaluated")
	}

	for name, tc := range map[string]struct {
		run map[string][]string
		ms  []Metric
	}{
		"duplicate doc":   {map[string][]string{"q1": {"a", "a"}}, ms},
		"no metrics":      {run, nil},
		"bad cutoff":      {run, []Metric{{MeasureNDCG, 0}}},
		"unknown measure": {run, []Metric{{"P", 10}}},
		"nothing judged":  {map[string][]string{"zz": {"a"}}, ms},
	} {
		if _, err := Evaluate(qrels, tc.run, tc.ms); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("%s: error %v, want ErrInvalidInput", name, err)
		}
	}
}

func TestParseMetric(t *testing.T) {
	for in, want := range map[string]Metric{
		"nDCG@10": {MeasureNDCG, 10}, "ndcg@5": {MeasureNDCG, 5}, "recall@100": {MeasureRecall, 100},
		" MRR@10 ": {MeasureMRR, 10}, "map@1000": {MeasureMAP, 1000},
	} {
		got, err := ParseMetric(in)
		if err != nil || got != want {
			t.Errorf("ParseMetric(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"ndcg", "ndcg@0", "ndcg@-1", "ndcg@x", "P@10", "@10", ""} {
		if _, err := ParseMetric(bad); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("ParseMetric(%q) error %v, want ErrInvalidInput", bad, err)
		}
	}
	if s := (Metric{MeasureRecall, 100}).String(); s != "Recall@100" {
		t.Errorf("String = %q", s)
	}
}

// The expectations of pytrec_eval's own unit tests (test_ndcg, test_ndcg_cut
// in its tests/pytrec_eval_tests.py), reproduced through Rank and NDCG.
func TestAgreesWithPytrecEvalExamples(t *testing.T) {
	j := Judgments{"d1": 0, "d2": 1, "d3": 0}
	tests := []struct {
		run  []Scored
		k    int
		want float64
	}{
		// d3 1.5, d1 1.0, d2 0.0: d2 at rank 3, nDCG = (1/log2 4) / 1 = 0.5.
		{[]Scored{{"d1", 1}, {"d2", 0}, {"d3", 1.5}}, 3, 0.5},
		{[]Scored{{"d1", 1}, {"d2", 0}, {"d3", 1.5}}, 2, 0},
		{[]Scored{{"d1", 1}, {"d2", 0}, {"d3", 1.5}}, 1, 0},
		{[]Scored{{"d1", 1}, {"d2", 0}, {"d3", 1.5}}, 1000, 0.5},
		// d2 first: 1.
		{[]Scored{{"d1", 1}, {"d2", 2}, {"d3", 1.5}}, 1, 1},
		{[]Scored{{"d1", 1}, {"d2", 2}, {"d3", 1.5}}, 1000, 1},
		// d2 at rank 2: 1/log2 3 = 0.6309297535714575.
		{[]Scored{{"d1", 4}, {"d2", 2}, {"d3", 1.5}}, 1000, 0.6309297535714575},
	}
	for _, tc := range tests {
		ranked, err := Rank(tc.run)
		if err != nil {
			t.Fatal(err)
		}
		if got := NDCG(j, ranked, tc.k); !near(got, tc.want) {
			t.Errorf("ndcg_cut_%d of %v = %v, want %v", tc.k, tc.run, got, tc.want)
		}
	}
	// A judged query with an empty run is evaluated (and scores 0), as
	// pytrec_eval does for 'q2': {}.
	s, err := Evaluate(Qrels{"q1": j, "q2": {"d2": 1, "d3": 1}}, map[string][]string{"q1": {"d2"}, "q2": {}}, []Metric{{MeasureNDCG, 10}})
	if err != nil || s.Queries != 2 || !near(s.Mean[0], 0.5) {
		t.Errorf("empty run: %+v, %v; want 2 queries, mean nDCG 0.5", s, err)
	}
}
