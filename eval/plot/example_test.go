package plot_test

import (
	"bytes"
	"fmt"
	"image/png"

	"twostage/eval"
	"twostage/eval/plot"
)

func ExampleMetrics() {
	r := &eval.Report{
		Dataset: eval.DatasetInfo{Queries: 300},
		Metrics: []eval.Metric{{Measure: eval.MeasureNDCG, K: 10}},
		Runs: []eval.Run{
			{Name: "first-stage", Metrics: map[string]float64{"nDCG@10": 0.52}},
			{Name: "reranked@100", Reranked: true, CandidateK: 100, Metrics: map[string]float64{"nDCG@10": 0.61}},
		},
	}
	var b bytes.Buffer
	if err := plot.Metrics(&b, r, &plot.Options{Width: 800, Height: 450}); err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := png.DecodeConfig(&b)
	fmt.Println(cfg.Width, cfg.Height, err)
	// Output: 800 450 <nil>
}
