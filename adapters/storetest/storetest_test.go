package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/adapters/storetest"
	"twostage/driver"
)

// broken wraps the reference backend and breaks one promise of the contract.
type broken struct {
	*memstore.Driver
	flaw string
}

func (b broken) Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error) {
	switch b.flaw {
	case "ignores-filter":
		q.Filter = nil
	case "ignores-missing-field":
		q.Filter = dropNot(q.Filter)
	case "ignores-ctx", "checks-ctx-only-first":
		if b.flaw == "checks-ctx-only-first" && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ctx = context.Background()
	case "returns-more-than-k":
		q.K++
	case "unsorted-map-order": // every match, in map order
		n, _ := b.Driver.Count(ctx)
		q.K = n + 1
		hits, err := b.Driver.Search(ctx, q)
		m := map[string]twostage.Hit{}
		for _, h := range hits {
			m[h.ID] = h
		}
		hits = hits[:0]
		for _, h := range m {
			hits = append(hits, h)
		}
		return hits, err
	}
	hits, err := b.Driver.Search(ctx, q)
	if b.flaw == "l2-distance-not-similarity" && b.Info().Metric == twostage.L2 {
		for i := range hits {
			hits[i].RetrievalScore = -hits[i].RetrievalScore
		}
	}
	return hits, err
}

// dropNot turns Not(x) into x: a backend that mistranslates negation.
func dropNot(f *twostage.Filter) *twostage.Filter {
	if f == nil {
		return nil
	}
	if f.Op == twostage.OpNot {
		return dropNot(f.Filters[0])
	}
	g := *f
	g.Filters = nil
	for _, c := range f.Filters {
		g.Filters = append(g.Filters, dropNot(c))
	}
	return &g
}

func (b broken) Upsert(ctx context.Context, docs []twostage.Document) error {
	switch b.flaw {
	case "ignores-ctx":
		ctx = context.Background()
	case "ignores-overwrite":
		var fresh []twostage.Document
		for _, d := range docs {
			if got, _ := b.Driver.Get(ctx, []string{d.ID}); len(got) == 0 {
				fresh = append(fresh, d)
			}
		}
		docs = fresh
	case "ints-become-floats": // what a careless JSON round trip does
		for i := range docs {
			for k, v := range docs[i].Metadata {
				if n, ok := v.(int64); ok {
					docs[i].Metadata[k] = float64(n)
				}
			}
		}
	}
	return b.Driver.Upsert(ctx, docs)
}

func (b broken) Delete(ctx context.Context, ids []string) error {
	if b.flaw == "ignores-delete" {
		return nil
	}
	if b.flaw == "ignores-ctx" {
		ctx = context.Background()
	}
	return b.Driver.Delete(ctx, ids)
}

// TestBrokenStoreHelper runs the suite against a broken backend; it is meant
// to fail, and only runs as a child of TestSuiteCatchesBrokenStores.
func TestBrokenStoreHelper(t *testing.T) {
	flaw := os.Getenv("STORETEST_FLAW")
	if flaw == "" {
		t.Skip("runs only as a child of TestSuiteCatchesBrokenStores")
	}
	storetest.RunConformanceTests(t, storetest.Harness{
		New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
			d, err := memstore.NewDriver(dim, m)
			return broken{d, flaw}, err
		},
	})
}

func TestSuiteCatchesBrokenStores(t *testing.T) {
	tests := []struct {
		flaw    string
		failsIn string // a subtest that must fail
	}{
		{"ignores-filter", "Filter/eq_string"},
		{"ignores-missing-field", "Filter/not_exists"},
		{"ignores-overwrite", "Overwrite"},
		{"ignores-delete", "Delete"},
		{"ints-become-floats", "UpsertGet"},
		{"l2-distance-not-similarity", "SearchOrder/l2"},
		{"l2-distance-not-similarity", "KnownScores/l2"},
		{"ignores-ctx", "DriverCancel"},
		{"checks-ctx-only-first", "DriverCancelDuring"},
		{"returns-more-than-k", "DriverSearch/cosine"},
		{"unsorted-map-order", "DriverSearch/cosine"},
	}
	for _, tc := range tests {
		t.Run(tc.flaw+"/"+tc.failsIn, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenStoreHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "STORETEST_FLAW="+tc.flaw)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store that %s", tc.flaw)
			}
			if want := "--- FAIL: TestBrokenStoreHelper/" + tc.failsIn; !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, tail(string(out), 2000))
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
