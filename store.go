package twostage

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"twostage/internal/validate"
)

// Info describes a store's vectors.
type Info struct {
	// Dim is the number of elements of every vector; Metric compares them.
	Dim    int
	Metric Metric
}

// HybridQuery is a combined keyword and vector search (see
// Store.HybridSearch and driver.HybridSearcher).
type HybridQuery struct {
	// Text is the keyword side; Vector, K and Filter are as in Query.
	Text   string
	Vector []float32
	K      int
	Filter *Filter
	// Alpha weighs the vector side: 1 is pure vector search, 0 pure keyword.
	Alpha float64
}

// backend is the method set of driver.Driver (package twostage/driver holds
// the contract and its documentation). This package cannot name that type:
// package driver imports this one for Document, Hit, Query and Info.
// Package driver checks at compile time that every driver.Driver is one.
type backend interface {
	Info() Info
	Upsert(ctx context.Context, docs []Document) error
	Delete(ctx context.Context, ids []string) error
	Get(ctx context.Context, ids []string) ([]Document, error)
	Search(ctx context.Context, q Query) ([]Hit, error)
	Count(ctx context.Context) (int, error)
	Close() error
}

// hybridSearcher is driver.HybridSearcher, batchSearcher is
// driver.BatchSearcher: the optional capabilities Store finds by type
// assertion.
type (
	hybridSearcher interface {
		HybridSearch(ctx context.Context, q HybridQuery) ([]Hit, error)
	}
	batchSearcher interface {
		SearchBatch(ctx context.Context, qs []Query) ([][]Hit, error)
	}
)

// Store is the portable vector store over a backend's driver.Driver. It is safe for concurrent
// use. Close waits for calls in flight; later calls return ErrClosed.
type Store struct {
	d    backend
	info Info

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
}

// NewStore returns a Store over d, a driver.Driver (package twostage/driver
// documents the contract a backend implements). Adapters call it from their
// Open functions; users open stores through the adapters. NewStore(nil)
// returns a Store whose every call fails with ErrInvalidInput, as do a
// Store's zero value and a nil *Store.
func NewStore(d backend) *Store {
	if d == nil {
		return &Store{}
	}
	return &Store{d: d, info: d.Info()}
}

// errNoBackend is the error of every call on a Store that has no driver.
var errNoBackend = fmt.Errorf("store has no backend (make it with an adapter's Open or NewStore): %w", ErrInvalidInput)

// Info returns the store's dimension and metric.
func (s *Store) Info() Info {
	if s == nil {
		return Info{}
	}
	return s.info
}

// As exposes the backend: it reports whether the driver, or the value the
// driver's own As method finds, can be stored in target (a non-nil pointer),
// as errors.As does. Use it to reach a backend's native client.
func (s *Store) As(target any) bool {
	if s == nil || s.d == nil {
		return false
	}
	if a, ok := s.d.(interface{ As(any) bool }); ok && a.As(target) {
		return true
	}
	return asValue(s.d, target)
}

// begin holds the store open for one call; it fails with ErrClosed,
// unprefixed (the caller prefixes its operation once).
func (s *Store) begin() (func(), error) {
	if s == nil || s.d == nil {
		return nil, errNoBackend
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.mu.RUnlock, nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("twostage: %s: %w", op, err)
}

// Upsert inserts docs or overwrites the documents with the same IDs. Every
// document needs a vector of the store's dimension. The whole batch is
// validated before anything is written.
func (s *Store) Upsert(ctx context.Context, docs []Document) error {
	done, err := s.begin()
	if err != nil {
		return wrap("upsert", err)
	}
	defer done()
	if len(docs) == 0 {
		return nil
	}
	clean := make([]Document, len(docs))
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		if err := checkID(d.ID); err != nil {
			return wrap("upsert", fmt.Errorf("document %d: %w", i, err))
		}
		if j, dup := seen[d.ID]; dup {
			return wrap("upsert", fmt.Errorf("documents %d and %d share id %q: %w", j, i, d.ID, ErrInvalidInput))
		}
		seen[d.ID] = i
		if err := validate.CheckText("text of "+d.ID, d.Text); err != nil {
			return err
		}
		if err := s.checkVector(d.Vector); err != nil {
			return wrap("upsert", fmt.Errorf("document %q: %w", d.ID, err))
		}
		md, err := validate.NormalizeMetadata(d.Metadata)
		if err != nil {
			return wrap("upsert", fmt.Errorf("document %q: %w", d.ID, err))
		}
		clean[i] = Document{ID: d.ID, Text: d.Text, Vector: slices.Clone(d.Vector), Metadata: md}
	}
	if err := ctx.Err(); err != nil {
		return wrap("upsert", err)
	}
	return wrap("upsert", s.d.Upsert(ctx, clean))
}

func (s *Store) checkVector(v []float32) error {
	if err := validate.CheckVector(v, s.info.Dim); err != nil {
		return err
	}
	if s.info.Metric == Cosine {
		for _, x := range v {
			if x != 0 {
				return nil
			}
		}
		return fmt.Errorf("zero vector has no cosine similarity: %w", ErrInvalidInput)
	}
	return nil
}

func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("empty id: %w", ErrInvalidInput)
	}
	return validate.CheckText("id", id)
}

func checkIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// Delete removes the documents with ids. Ids that do not exist are ignored;
// an empty id is ErrInvalidInput.
func (s *Store) Delete(ctx context.Context, ids []string) error {
	done, err := s.begin()
	if err != nil {
		return wrap("delete", err)
	}
	defer done()
	ids, err = checkIDs(ids)
	if err != nil {
		return wrap("delete", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return wrap("delete", err)
	}
	return wrap("delete", s.d.Delete(ctx, ids))
}

// Get returns the documents with ids, in the order asked (repeated ids once).
// When some ids do not exist it returns the documents found together with an
// error wrapping ErrNotFound that names the missing ids.
func (s *Store) Get(ctx context.Context, ids []string) ([]Document, error) {
	done, err := s.begin()
	if err != nil {
		return nil, wrap("get", err)
	}
	defer done()
	ids, err = checkIDs(ids)
	if err != nil {
		return nil, wrap("get", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, wrap("get", err)
	}
	found, err := s.d.Get(ctx, ids)
	if err != nil {
		return nil, wrap("get", err)
	}
	byID := make(map[string]Document, len(found))
	for _, d := range found {
		byID[d.ID] = d
	}
	out := make([]Document, 0, len(ids))
	var missing []string
	for _, id := range ids {
		if d, ok := byID[id]; ok {
			out = append(out, d)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("twostage: get: %d of %d ids missing (%s): %w",
			len(missing), len(ids), quoteList(missing, 5), ErrNotFound)
	}
	return out, nil
}

func quoteList(ss []string, max int) string {
	var b strings.Builder
	for i, s := range ss {
		if i == max {
			fmt.Fprintf(&b, ", and %d more", len(ss)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	return b.String()
}

// Search returns up to q.K documents most similar to q.Vector that match
// q.Filter, best first (ties broken by ID). Score and RetrievalScore are the
// similarity, higher is better for every metric.
func (s *Store) Search(ctx context.Context, q Query) ([]Hit, error) {
	hits, err := s.search(ctx, q)
	return hits, wrap("search", err)
}

// search is Search with errors not yet prefixed, for callers in this
// package that prefix them once with their own operation (Pipeline.Search).
func (s *Store) search(ctx context.Context, q Query) ([]Hit, error) {
	done, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	q.Filter, err = s.checkQuery(ctx, q.Vector, q.K, q.Filter)
	if err != nil {
		return nil, err
	}
	hits, err := s.d.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	return finishHits(hits, q.K), nil
}

// checkQuery validates a search and returns its normalized filter.
func (s *Store) checkQuery(ctx context.Context, v []float32, k int, f *Filter) (*Filter, error) {
	if k <= 0 {
		return nil, fmt.Errorf("k must be positive, got %d: %w", k, ErrInvalidInput)
	}
	if err := s.checkVector(v); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	if f == nil {
		return nil, ctx.Err()
	}
	nf, err := f.normalize(0)
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return nf, ctx.Err()
}

func finishHits(hits []Hit, k int) []Hit {
	for i := range hits {
		hits[i].Score = hits[i].RetrievalScore
	}
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.RetrievalScore, a.RetrievalScore); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

// SearchBatch runs several searches and returns their hits in the order of
// qs, each as Search would return it. Every query is validated before any
// runs. A backend with a batch capability (driver.BatchSearcher: faisslocal
// runs unfiltered queries in one index call) answers them together; others
// one by one.
func (s *Store) SearchBatch(ctx context.Context, qs []Query) ([][]Hit, error) {
	out, err := s.searchBatch(ctx, qs)
	return out, wrap("search batch", err)
}

func (s *Store) searchBatch(ctx context.Context, qs []Query) ([][]Hit, error) {
	done, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	if len(qs) == 0 {
		return nil, nil
	}
	clean := slices.Clone(qs)
	for i := range clean {
		q := &clean[i]
		if q.Filter, err = s.checkQuery(ctx, q.Vector, q.K, q.Filter); err != nil {
			return nil, fmt.Errorf("query %d: %w", i, err)
		}
	}
	var out [][]Hit
	if b, ok := s.d.(batchSearcher); ok {
		if out, err = b.SearchBatch(ctx, clean); err != nil {
			return nil, err
		}
		if len(out) != len(clean) {
			return nil, fmt.Errorf("backend %T answered %d of %d queries", s.d, len(out), len(clean))
		}
	} else {
		out = make([][]Hit, len(clean))
		for i, q := range clean {
			if out[i], err = s.d.Search(ctx, q); err != nil {
				return nil, fmt.Errorf("query %d: %w", i, err)
			}
		}
	}
	for i := range out {
		out[i] = finishHits(out[i], clean[i].K)
	}
	return out, nil
}

// HybridSearch runs the backend's native hybrid search. It returns an error
// wrapping ErrUnsupported when the backend has none.
func (s *Store) HybridSearch(ctx context.Context, q HybridQuery) ([]Hit, error) {
	hits, err := s.hybridSearch(ctx, q)
	return hits, wrap("hybrid search", err)
}

// hybridSearch is HybridSearch with errors not yet prefixed (see search).
func (s *Store) hybridSearch(ctx context.Context, q HybridQuery) ([]Hit, error) {
	done, err := s.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	h, ok := s.d.(hybridSearcher)
	if !ok {
		return nil, fmt.Errorf("backend %T has none: %w", s.d, ErrUnsupported)
	}
	if !(q.Alpha >= 0 && q.Alpha <= 1) { // NaN too
		return nil, fmt.Errorf("alpha %v outside [0,1]: %w", q.Alpha, ErrInvalidInput)
	}
	if err := validate.CheckText("query text", q.Text); err != nil {
		return nil, err
	}
	q.Filter, err = s.checkQuery(ctx, q.Vector, q.K, q.Filter)
	if err != nil {
		return nil, err
	}
	hits, err := h.HybridSearch(ctx, q)
	if err != nil {
		return nil, err
	}
	return finishHits(hits, q.K), nil
}

// SupportsHybrid reports whether the backend has native hybrid search.
func (s *Store) SupportsHybrid() bool {
	if s == nil {
		return false
	}
	_, ok := s.d.(hybridSearcher)
	return ok
}

// Count returns the number of documents stored.
func (s *Store) Count(ctx context.Context) (int, error) {
	done, err := s.begin()
	if err != nil {
		return 0, wrap("count", err)
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return 0, wrap("count", err)
	}
	n, err := s.d.Count(ctx)
	return n, wrap("count", err)
}

// Close releases the backend. It waits for calls in flight to return; later
// calls, Close included, return ErrClosed.
func (s *Store) Close() error {
	if s == nil || s.d == nil {
		return fmt.Errorf("twostage: close: %w", errNoBackend)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("twostage: close: %w", ErrClosed)
	}
	s.closed = true
	return wrap("close", s.d.Close())
}

// asValue sets *target to v when target is a non-nil pointer to a type that
// v is assignable to.
func asValue(v, target any) bool {
	rv := reflect.ValueOf(target)
	if target == nil || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	if t := rv.Elem().Type(); reflect.TypeOf(v).AssignableTo(t) {
		rv.Elem().Set(reflect.ValueOf(v))
		return true
	}
	return false
}

// sortByScore orders hits by Score, best first; ties keep their order.
func sortByScore(hits []Hit) {
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
}
