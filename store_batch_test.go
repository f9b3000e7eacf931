package twostage_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
)

// batchDriver adds a batch capability to memstore that answers each query
// with Search, in reverse hit order, and records its calls.
type batchDriver struct {
	*memstore.Driver
	calls int
	got   []twostage.Query
}

func (b *batchDriver) SearchBatch(ctx context.Context, qs []twostage.Query) ([][]twostage.Hit, error) {
	b.calls++
	b.got = qs
	out := make([][]twostage.Hit, len(qs))
	for i, q := range qs {
		hits, err := b.Driver.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for l, r := 0, len(hits)-1; l < r; l, r = l+1, r-1 {
			hits[l], hits[r] = hits[r], hits[l]
		}
		out[i] = hits
	}
	return out, nil
}

func TestSearchBatch(t *testing.T) {
	ctx := context.Background()
	docs := []twostage.Document{
		{ID: "a", Vector: []float32{1, 0}, Metadata: map[string]any{"n": 1}},
		{ID: "b", Vector: []float32{0.9, 0.1}, Metadata: map[string]any{"n": 2}},
		{ID: "c", Vector: []float32{0, 1}, Metadata: map[string]any{"n": 1}},
	}
	qs := []twostage.Query{
		{Vector: []float32{1, 0}, K: 2},
		{Vector: []float32{0, 1}, K: 3, Filter: twostage.Eq("n", 1)},
	}
	want := [][]string{{"a", "b"}, {"c", "a"}}
	ids := func(hits [][]twostage.Hit) [][]string {
		out := make([][]string, len(hits))
		for i, hs := range hits {
			for _, h := range hs {
				out[i] = append(out[i], h.ID)
			}
		}
		return out
	}
	md, _ := memstore.NewDriver(2, twostage.Dot)
	bd := &batchDriver{Driver: md}
	for _, tc := range []struct {
		name string
		s    *twostage.Store
	}{
		{"fallback", twostage.NewStore(md)},
		{"capability", twostage.NewStore(bd)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.s.Upsert(ctx, docs); err != nil {
				t.Fatal(err)
			}
			got, err := tc.s.SearchBatch(ctx, qs)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), want) {
				t.Errorf("SearchBatch = %v, want %v", ids(got), want)
			}
			for i, q := range qs {
				one, err := tc.s.Search(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(one, got[i]) {
					t.Errorf("query %d: batch %+v, Search %+v", i, got[i], one)
				}
			}
			_, err = tc.s.SearchBatch(ctx, []twostage.Query{qs[0], {Vector: []float32{1}, K: 1}})
			if !errors.Is(err, twostage.ErrDimension) {
				t.Errorf("SearchBatch with a short vector = %v, want ErrDimension", err)
			}
			_, err = tc.s.SearchBatch(ctx, []twostage.Query{{Vector: []float32{1, 0}, K: 1, Filter: &twostage.Filter{Op: "bogus"}}})
			if !errors.Is(err, twostage.ErrInvalidInput) {
				t.Errorf("SearchBatch with a bad filter = %v, want ErrInvalidInput", err)
			}
		})
	}
	if bd.calls != 1 {
		t.Errorf("the batch capability ran %d times, want once (invalid batches never reach it)", bd.calls)
	}
	if f := bd.got[1].Filter; f == nil || f.Value != int64(1) {
		t.Errorf("the capability got filter %+v, want the normalized one (value int64(1))", f)
	}
	s := twostage.NewStore(bd)
	s.Close()
	if _, err := s.SearchBatch(ctx, qs); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("SearchBatch after Close = %v, want ErrClosed", err)
	}
}
