package eval_test

import (
	"fmt"

	"twostage/eval"
)

func Example() {
	qrels := eval.Qrels{
		"q1": {"d1": 2, "d2": 1, "d3": 0},
		"q2": {"d4": 1},
	}
	// Scored hits are ordered as trec_eval orders them: score descending,
	// ties by id descending (d2 before d1 here).
	r1, _ := eval.Rank([]eval.Scored{{ID: "d1", Score: 0.7}, {ID: "d2", Score: 0.7}, {ID: "d9", Score: 0.9}})
	r2, _ := eval.Rank([]eval.Scored{{ID: "d5", Score: 0.8}, {ID: "d4", Score: 0.6}})
	fmt.Println(r1, r2)

	s, err := eval.Evaluate(qrels, map[string][]string{"q1": r1, "q2": r2}, eval.DefaultMetrics)
	if err != nil {
		fmt.Println(err)
		return
	}
	// q1: d2 (grade 1) at rank 2, d1 (grade 2) at rank 3:
	//   nDCG@10 = (1/log2 3 + 2/log2 4) / (2 + 1/log2 3) = 1.6309/2.6309 = 0.6199
	//   AP = (1/2 + 2/3) / 2 = 0.5833, RR = 1/2
	// q2: d4 at rank 2: nDCG@10 = 1/log2 3 = 0.6309, AP = 1/2, RR = 1/2
	for i, m := range s.Metrics {
		fmt.Printf("%-10s %.4f\n", m, s.Mean[i])
	}
	// Output:
	// [d9 d2 d1] [d5 d4]
	// nDCG@10    0.6254
	// Recall@10  1.0000
	// Recall@100 1.0000
	// MRR@10     0.5000
	// MAP@100    0.5417
}

func ExamplePercentile() {
	ms := []float64{12, 10, 11, 30, 13}
	fmt.Printf("p50 %.1f, p95 %.1f\n", eval.Percentile(ms, 50), eval.Percentile(ms, 95))
	// Output: p50 12.0, p95 26.6
}
