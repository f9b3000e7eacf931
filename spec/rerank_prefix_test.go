package spec

import (
	"context"
	"errors"
	"testing"

	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
	"twostage/rerank"
)

// TestPrefixSpecEngine opens the tiny zerank model through specs with each
// prefix= value and checks, on the engine's counters, which calls
// continued a shared prefix: a 3-document call with a short query does
// with on, does not with off or auto (its prefix is under
// rerank.MinSharedPrefix). A bad value is ErrBadSpec.
func TestPrefixSpecEngine(t *testing.T) {
	testassets.ONNXRuntime(t)
	dir := tinymodel.Model(t, modeldir.FamilyZerank)
	ctx := context.Background()
	docs := []string{"Mars is the red planet.", "Venus is hot.", "Jupiter has storms."}
	for _, tt := range []struct {
		keys      string
		wantItems int64
	}{
		{",prefix=on", 3},
		{",prefix=off", 0},
		{",prefix=auto", 0},
		{"", 0},
	} {
		r, err := OpenReranker(ctx, "zerank:"+dir+tt.keys)
		if err != nil {
			t.Fatalf("%q: %v", tt.keys, err)
		}
		e := r.(*rerank.Engine)
		before := e.Stats() // the model is shared with the other specs' engines
		_, err = e.Rerank(ctx, "which planet is red", docs)
		after := e.Stats()
		e.Close()
		if err != nil {
			t.Fatalf("%q: %v", tt.keys, err)
		}
		if got := after.PrefixItems - before.PrefixItems; got != tt.wantItems {
			t.Errorf("%q: %d pairs continued a shared prefix, want %d", tt.keys, got, tt.wantItems)
		}
	}
	if _, err := OpenReranker(ctx, "zerank:"+dir+",prefix=On"); !errors.Is(err, ErrBadSpec) {
		t.Errorf("prefix=On: %v, want ErrBadSpec", err)
	}
}
