package eval

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	qrels := Qrels{"q1": {"a": 1}, "q2": {"b": 0}}
	first, err := Evaluate(qrels, map[string][]string{"q1": {"x", "a"}, "q2": {"b"}}, DefaultMetrics)
	if err != nil {
		t.Fatal(err)
	}
	reranked, err := Evaluate(qrels, map[string][]string{"q1": {"a", "x"}, "q2": {"b"}}, DefaultMetrics)
	if err != nil {
		t.Fatal(err)
	}
	lat := map[string]Latency{StageTotal: {N: 2, P50: 1.5, P95: 2.25, P99: 2.5, Max: 3}, StageEmbed: {N: 2, P50: 0.25}}
	r := &Report{
		Dataset: DatasetInfo{Dir: "d", Split: "test", Docs: 3, Queries: 2, NoRelevant: 1, MissingDocs: 4},
		Store:   "mem:", Embedder: "hash", Reranker: "lexical", Order: "score", Concurrency: 1, Metrics: DefaultMetrics,
		Runs: []Run{NewRun("first-stage", false, 100, 100, first), NewRun("reranked@10", true, 10, 10, reranked)},
	}
	r.Runs[0].LatencyMS, r.Runs[1].LatencyMS = lat, lat
	r.Runs[1].QPS = 42

	// q1 moves from rank 2 to rank 1: MRR@10 goes from (1/2 + 0)/2 = 0.25 to (1 + 0)/2 = 0.5.
	if r.Runs[0].Metrics["MRR@10"] != 0.25 || r.Runs[1].Metrics["MRR@10"] != 0.5 || r.Runs[1].PerQuery["q1"]["MRR@10"] != 1 {
		t.Errorf("runs = %+v", r.Runs)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"3 documents, 2 queries (1 without a relevant judgment, scored 0; 4 judgments name documents missing from the corpus, counted as never retrieved)",
		"reranker lexical", "nDCG@10", "MAP@100", "p99 ms", "queries/s",
		"0.2500", "0.5000", "+0.2500", "42.0", "2.50", // MRR values, the change, throughput, p99
		"reranked@10  embed  0.250",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Metrics) != 5 || back.Metrics[0] != (Metric{MeasureNDCG, 10}) || back.Runs[1].Metrics["MRR@10"] != 0.5 ||
		back.Runs[1].LatencyMS[StageTotal].P99 != 2.5 || back.Dataset.MissingDocs != 4 {
		t.Errorf("JSON round trip = %+v", back)
	}
	if !strings.Contains(b.String(), `"metrics": [
    "nDCG@10",`) {
		t.Errorf("metrics are not written by name:\n%s", b.String()[:300])
	}
}
