package plot

import (
	"bytes"
	"errors"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"twostage/errdefs"
	"twostage/eval"
)

var keepDir = flag.String("plotdir", "", "also write the test PNGs into this directory, to look at them")

func sampleReport() *eval.Report {
	lat := func(embed, retrieve, rerank float64) map[string]eval.Latency {
		m := map[string]eval.Latency{
			eval.StageEmbed:    {N: 30, P50: embed, P95: embed * 1.5, P99: embed * 2},
			eval.StageRetrieve: {N: 30, P50: retrieve, P95: retrieve * 1.4, P99: retrieve * 1.8},
		}
		total := embed + retrieve
		if rerank > 0 {
			m[eval.StageRerank] = eval.Latency{N: 30, P50: rerank, P95: rerank * 1.3, P99: rerank * 1.6}
			total += rerank
		}
		m[eval.StageTotal] = eval.Latency{N: 30, P50: total, P95: total * 1.3, P99: total * 1.7}
		return m
	}
	run := func(name string, reranked bool, k int, ndcg, r10, r100, mrr, mp float64, l map[string]eval.Latency) eval.Run {
		return eval.Run{Name: name, Reranked: reranked, CandidateK: k, Depth: k, LatencyMS: l,
			Metrics: map[string]float64{"nDCG@10": ndcg, "Recall@10": r10, "Recall@100": r100, "MRR@10": mrr, "MAP@100": mp}}
	}
	return &eval.Report{
		Dataset: eval.DatasetInfo{Dir: "scifact", Split: "test", Docs: 5183, Queries: 300},
		Store:   "mem:", Embedder: "hash", Reranker: "lexical", Order: "score", Concurrency: 1,
		Metrics: eval.DefaultMetrics,
		Runs: []eval.Run{
			run("first-stage", false, 100, 0.512, 0.65, 0.86, 0.48, 0.45, lat(0.05, 1.2, 0)),
			run("reranked@10", true, 10, 0.571, 0.65, 0.65, 0.55, 0.51, lat(0.05, 0.9, 2.1)),
			run("reranked@50", true, 50, 0.602, 0.72, 0.80, 0.58, 0.54, lat(0.05, 1.0, 9.8)),
			run("reranked@100", true, 100, 0.611, 0.74, 0.86, 0.59, 0.55, lat(0.05, 1.2, 19.5)),
		},
	}
}

func TestPNGsDecodeAtTheRequestedSize(t *testing.T) {
	r := sampleReport()
	tests := []struct {
		name string
		opts *Options
		w, h int
		draw func(*bytes.Buffer, *Options) error
	}{
		{"metrics default size", nil, 1000, 560, func(b *bytes.Buffer, o *Options) error { return Metrics(b, r, o) }},
		{"metrics custom", &Options{Width: 640, Height: 400}, 640, 400, func(b *bytes.Buffer, o *Options) error { return Metrics(b, r, o) }},
		{"latency", &Options{Width: 1200, Height: 500}, 1200, 500, func(b *bytes.Buffer, o *Options) error { return Latency(b, r, o) }},
		{"tradeoff", &Options{Width: 900, Height: 600, DPI: 120}, 900, 600, func(b *bytes.Buffer, o *Options) error {
			return Tradeoff(b, r, eval.Metric{Measure: eval.MeasureNDCG, K: 10}, o)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.draw(&b, tc.opts); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b.Bytes()))
			if err != nil {
				t.Fatalf("not a PNG: %v", err)
			}
			if got := img.Bounds().Size(); got.X != tc.w || got.Y != tc.h {
				t.Errorf("size %v, want %dx%d", got, tc.w, tc.h)
			}
			// Something was drawn: more than a handful of distinct colors.
			colors := map[uint32]bool{}
			for y := 0; y < tc.h; y += 3 {
				for x := 0; x < tc.w; x += 3 {
					r, g, b, _ := img.At(x, y).RGBA()
					colors[r>>8<<16|g>>8<<8|b>>8] = true
				}
			}
			if len(colors) < 5 {
				t.Errorf("only %d distinct colors: the chart looks empty", len(colors))
			}
			if *keepDir != "" {
				os.WriteFile(filepath.Join(*keepDir, tc.name+".png"), b.Bytes(), 0o644)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	paths, err := WriteFiles(dir, sampleReport(), &Options{Width: 500, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{MetricsFile, LatencyFile, TradeoffFile}
	if len(paths) != len(want) {
		t.Fatalf("wrote %v, want %v", paths, want)
	}
	for i, p := range paths {
		if filepath.Base(p) != want[i] {
			t.Errorf("file %d = %s, want %s", i, p, want[i])
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != 500 || cfg.Height != 300 {
			t.Errorf("%s: %dx%d, %v; want a 500x300 PNG", p, cfg.Width, cfg.Height, err)
		}
	}

	// First stage only: no trade-off chart.
	r := sampleReport()
	r.Runs = r.Runs[:1]
	paths, err = WriteFiles(t.TempDir(), r, nil)
	if err != nil || len(paths) != 2 {
		t.Errorf("first stage only: %v, %v; want metrics and latency", paths, err)
	}
}

func TestPlotErrors(t *testing.T) {
	var b bytes.Buffer
	empty := &eval.Report{Metrics: eval.DefaultMetrics}
	noMetric := sampleReport()
	for name, err := range map[string]error{
		"metrics nil":       Metrics(&b, nil, nil),
		"metrics no runs":   Metrics(&b, empty, nil),
		"latency no runs":   Latency(&b, empty, nil),
		"tradeoff no runs":  Tradeoff(&b, empty, eval.DefaultMetrics[0], nil),
		"tradeoff unknown":  Tradeoff(&b, noMetric, eval.Metric{Measure: eval.MeasureNDCG, K: 5}, nil),
		"metrics no metric": Metrics(&b, &eval.Report{Runs: noMetric.Runs}, nil),
	} {
		if !errors.Is(err, errdefs.ErrInvalidInput) {
			t.Errorf("%s: error %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := WriteFiles(filepath.Join(t.TempDir(), "no", "such"), sampleReport(), nil); err == nil {
		t.Error("WriteFiles into a missing directory succeeded")
	}
}
