package twostage_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/memstore"
)

// hybridDriver adds a fake native hybrid search to memstore.
type hybridDriver struct {
	*memstore.Driver
	got twostage.HybridQuery
}

func (h *hybridDriver) HybridSearch(ctx context.Context, q twostage.HybridQuery) ([]twostage.Hit, error) {
	h.got = q
	return []twostage.Hit{{Document: twostage.Document{ID: "b"}, RetrievalScore: 0.2}, {Document: twostage.Document{ID: "a"}, RetrievalScore: 0.9}}, nil
}

func TestHybridSearch(t *testing.T) {
	d, _ := memstore.NewDriver(2, twostage.Dot)
	hd := &hybridDriver{Driver: d}
	s := twostage.NewStore(hd)
	if !s.SupportsHybrid() {
		t.Fatal("SupportsHybrid = false")
	}
	hits, err := s.HybridSearch(context.Background(), twostage.HybridQuery{Text: "q", Vector: []float32{1, 0}, K: 5, Alpha: 0.5, Filter: twostage.Eq("n", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].ID != "a" || hits[0].Score != 0.9 {
		t.Errorf("hits %+v, want a (0.9) first", hits)
	}
	if hd.got.Filter.Value != int64(1) {
		t.Errorf("driver got filter value %#v, want the normalized int64(1)", hd.got.Filter.Value)
	}
	for _, alpha := range []float64{2, -0.5, math.NaN(), math.Inf(1)} {
		if _, err := s.HybridSearch(context.Background(), twostage.HybridQuery{Text: "q", Vector: []float32{1, 0}, K: 5, Alpha: alpha}); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("alpha %v: got %v, want ErrInvalidInput", alpha, err)
		}
	}
	plain, _ := memstore.New(2, twostage.Dot)
	if _, err := plain.HybridSearch(context.Background(), twostage.HybridQuery{Text: "q", Vector: []float32{1, 0}, K: 5}); !errors.Is(err, twostage.ErrUnsupported) {
		t.Errorf("no hybrid: got %v, want ErrUnsupported", err)
	}
}

func TestStoreAs(t *testing.T) {
	s, _ := memstore.New(2, twostage.Dot)
	var d *memstore.Driver
	if !s.As(&d) || d == nil {
		t.Fatal("As(*memstore.Driver) = false")
	}
	var wrong *hybridDriver
	if s.As(&wrong) || s.As(nil) || s.As(d) {
		t.Error("As succeeded for a wrong target")
	}
}

func TestZeroVectorCosine(t *testing.T) {
	s, _ := memstore.New(2, twostage.Cosine)
	err := s.Upsert(context.Background(), []twostage.Document{{ID: "z", Vector: []float32{0, 0}}})
	if !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("zero vector under cosine: got %v, want ErrInvalidInput", err)
	}
}

// slowDriver blocks searches until released; entered receives a value when
// a search reaches the driver.
type slowDriver struct {
	*memstore.Driver
	entered chan struct{}
	release chan struct{}
	closed  chan struct{}
}

func (s *slowDriver) Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Driver.Search(ctx, q)
}

func (s *slowDriver) Close() error { close(s.closed); return nil }

func TestCloseWaitsForCallsInFlight(t *testing.T) {
	d, _ := memstore.NewDriver(2, twostage.Dot)
	sd := &slowDriver{Driver: d, entered: make(chan struct{}, 1), release: make(chan struct{}), closed: make(chan struct{})}
	s := twostage.NewStore(sd)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := s.Search(context.Background(), twostage.Query{Vector: []float32{1, 1}, K: 1}); err != nil {
			t.Errorf("search in flight: %v", err)
		}
	}()
	<-sd.entered // the search is in the driver
	closeDone := make(chan error)
	go func() { closeDone <- s.Close() }()
	select {
	case <-sd.closed:
		t.Fatal("driver closed while a search was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(sd.release)
	if err := <-closeDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

func TestFilterMatch(t *testing.T) {
	md := map[string]any{"s": "x", "i": int64(3), "f": 2.5, "b": false, "l": []string{"p", "q"}}
	tests := []struct {
		f    *twostage.Filter
		want bool
	}{
		{twostage.Eq("s", "x"), true},
		{twostage.Eq("s", "y"), false},
		{twostage.Eq("i", 3.0), true},
		{twostage.Eq("i", "3"), false},
		{twostage.Eq("f", 2.5), true},
		{twostage.Eq("b", false), true},
		{twostage.Eq("l", "q"), true},
		{twostage.Eq("missing", "x"), false},
		{twostage.In("i", 1, 2, 3), true},
		{twostage.In("s", "a", "b"), false},
		{twostage.Gt("i", 3), false},
		{twostage.Gte("i", 3), true},
		{twostage.Lt("f", 2.5), false},
		{twostage.Lte("f", 2.5), true},
		{twostage.Between("i", 3, 3), true},
		{twostage.Gt("s", 0), false},
		{twostage.Exists("b"), true},
		{twostage.Exists("missing"), false},
		{twostage.Not(twostage.Eq("missing", 1)), true},
		{twostage.And(twostage.Eq("s", "x"), twostage.Eq("b", true)), false},
		{twostage.Or(twostage.Eq("s", "nope"), twostage.Eq("b", false)), true},
		{nil, true},
	}
	for _, tc := range tests {
		nf, err := tc.f.Normalize()
		if err != nil {
			t.Fatalf("Normalize(%+v): %v", tc.f, err)
		}
		if got := nf.Match(md); got != tc.want {
			b, _ := json.Marshal(tc.f)
			t.Errorf("%s.Match = %v, want %v", b, got, tc.want)
		}
	}
}

func TestFilterJSON(t *testing.T) {
	f := twostage.And(twostage.Eq("lang", "en"), twostage.Not(twostage.Between("year", 1990, 1999)), twostage.In("tag", "a", "b"))
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back twostage.Filter
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	a, _ := f.Normalize()
	c, err := back.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, c) {
		t.Errorf("JSON round trip: %s gave %+v", b, c)
	}
	if got := f.Fields(); !reflect.DeepEqual(got, []string{"lang", "year", "tag"}) {
		t.Errorf("Fields = %v", got)
	}
	deep := twostage.Exists("x")
	for range 40 {
		deep = twostage.Not(deep)
	}
	if _, err := deep.Normalize(); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("deep filter: got %v, want ErrInvalidInput", err)
	}
}

// TestZeroStore: a Store not made by NewStore (its zero value, a nil
// *Store, NewStore(nil)) fails every call with ErrInvalidInput instead of
// panicking.
func TestZeroStore(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]*twostage.Store{"zero": {}, "nil": nil, "NewStore(nil)": twostage.NewStore(nil)} {
		calls := map[string]func() error{
			"Upsert": func() error { return s.Upsert(ctx, []twostage.Document{{ID: "a"}}) },
			"Search": func() error { _, err := s.Search(ctx, twostage.Query{K: 1}); return err },
			"SearchBatch": func() error {
				_, err := s.SearchBatch(ctx, []twostage.Query{{K: 1}})
				return err
			},
			"HybridSearch": func() error {
				_, err := s.HybridSearch(ctx, twostage.HybridQuery{K: 1})
				return err
			},
			"Get":    func() error { _, err := s.Get(ctx, []string{"a"}); return err },
			"Delete": func() error { return s.Delete(ctx, []string{"a"}) },
			"Count":  func() error { _, err := s.Count(ctx); return err },
			"Check": func() error {
				_, err := s.Check(ctx, twostage.CheckOptions{})
				return err
			},
			"Close": func() error { return s.Close() },
		}
		for call, f := range calls {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s store: %s panicked: %v", name, call, r)
					}
				}()
				if err := f(); !errors.Is(err, twostage.ErrInvalidInput) {
					t.Errorf("%s store: %s = %v, want ErrInvalidInput", name, call, err)
				}
			}()
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s store: Info, As or SupportsHybrid panicked: %v", name, r)
				}
			}()
			var d *memstore.Driver
			if s.Info() != (twostage.Info{}) || s.As(&d) || s.SupportsHybrid() || s.SupportsCheck() {
				t.Errorf("%s store: Info %v, As true or SupportsHybrid true; want nothing", name, s.Info())
			}
		}()
	}
}
