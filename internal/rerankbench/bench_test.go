package rerankbench

import (
	"context"
	"strings"
	"testing"

	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestRun runs the harness on the tiny BERT cross-encoder: the raw rows
// compute no padding, every engine row scores every pair of its clients'
// calls, and the table names every run.
func TestRun(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyBertCrossEncoder)
	o := &Options{Clients: []int{1, 3}, DocsPerCall: 6, CallsPerClient: 2, MinTokens: 5, MedianTokens: 20, MaxTokens: 80}
	rep, err := Run(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 4 || len(rep.RawMeasurements) != 4 {
		t.Fatalf("%d rows, %d raw measurements; want 4 and 4", len(rep.Rows), len(rep.RawMeasurements))
	}
	raw := rep.Rows[0]
	if raw.Tokens != raw.Padded || raw.Fill() != 1 || raw.Pairs == 0 {
		t.Errorf("raw row %+v: want pairs run with no padding", raw)
	}
	for i, want := range []struct {
		name  string
		pairs int64
	}{{"engine, 1 client", 12}, {"engine, 3 clients", 36}, {"engine, 3 clients, no grouping", 36}} {
		row := rep.Rows[i+1]
		if row.Name != want.name || row.Pairs != want.pairs || row.Calls != want.pairs/6 {
			t.Errorf("row %d: %q with %d pairs in %d calls; want %q with %d pairs", i+1, row.Name, row.Pairs, row.Calls, want.name, want.pairs)
		}
		if row.FirstDone <= 0 || row.FirstDone > row.MedianDone || row.MedianDone > 1 {
			t.Errorf("row %q: first call done at %.3f, median at %.3f of the run; want 0 < first <= median <= 1", row.Name, row.FirstDone, row.MedianDone)
		}
		if row.Ceiling <= 0 || row.Tokens <= 0 || row.Padded < row.Tokens {
			t.Errorf("row %q: ceiling %v, tokens %d, padded %d", row.Name, row.Ceiling, row.Tokens, row.Padded)
		}
	}
	if rep.MinTokens > rep.MaxTokens || rep.MeanTokens < float64(rep.MinTokens) || rep.MeanTokens > float64(rep.MaxTokens) {
		t.Errorf("token lengths min %d mean %.1f max %d", rep.MinTokens, rep.MeanTokens, rep.MaxTokens)
	}
	var sb strings.Builder
	rep.WriteTable(&sb)
	for _, want := range []string{"raw ORT session, fixed shapes", "engine, 3 clients, no grouping", "vs raw"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
}
