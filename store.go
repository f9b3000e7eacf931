package twostage

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Info describes a store's vectors.
type Info struct {
	Dim    int
	Metric Metric
}

// Driver is the contract a vector-store backend implements. Store wraps a
// Driver and does, once for every backend, what the backend may rely on:
//
//   - Input is validated before it reaches the driver: ids are non-empty,
//     valid UTF-8 and unique within a call; vectors have Info().Dim finite
//     elements (and are non-zero for Cosine); metadata values have the
//     portable types; filters are normalized (see Filter.Normalize); K >= 1.
//     Empty batches never reach the driver.
//   - No call reaches the driver after Close, and Close is called once, after
//     the calls in flight have returned.
//
// What the driver must do:
//
//   - Honour ctx: return promptly with an error wrapping ctx.Err() when it is
//     done. Backends that cannot interrupt a native call check ctx between
//     steps.
//   - Upsert overwrites documents with the same ID and is durable (as the
//     backend defines durability) once it returns nil. A partial failure
//     names the ids that failed.
//   - Delete ignores ids that do not exist.
//   - Get returns the documents found, in any order, with their vectors;
//     missing ids are simply absent (Store reports them as ErrNotFound).
//   - Search returns at most q.K hits matching q.Filter, with RetrievalScore
//     set higher-is-better: cosine similarity, dot product, or negative
//     squared Euclidean distance (see Metric). Vectors only when
//     q.WithVectors. A filter the backend cannot express is an error
//     wrapping ErrUnsupported.
//   - Errors from an unreachable backend wrap ErrUnavailable; the backend's
//     own error stays reachable with errors.As.
//   - Every method is safe for concurrent use.
type Driver interface {
	Info() Info
	Upsert(ctx context.Context, docs []Document) error
	Delete(ctx context.Context, ids []string) error
	Get(ctx context.Context, ids []string) ([]Document, error)
	Search(ctx context.Context, q Query) ([]Hit, error)
	Count(ctx context.Context) (int, error)
	Close() error
}

// HybridQuery is a combined keyword and vector search (see HybridSearcher).
type HybridQuery struct {
	Text   string
	Vector []float32
	K      int
	Filter *Filter
	// Alpha weighs the vector side: 1 is pure vector search, 0 pure keyword.
	Alpha float64
}

// HybridSearcher is an optional Driver capability: the backend's native
// hybrid (keyword plus vector) search. RetrievalScore is the backend's fused
// score, higher is better.
type HybridSearcher interface {
	HybridSearch(ctx context.Context, q HybridQuery) ([]Hit, error)
}

// Store is the portable vector store over a Driver. It is safe for concurrent
// use. Close waits for calls in flight; later calls return ErrClosed.
type Store struct {
	d    Driver
	info Info

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
}

// NewStore returns a Store over d. Adapters call it from their Open functions.
func NewStore(d Driver) *Store {
	return &Store{d: d, info: d.Info()}
}

// Info returns the store's dimension and metric.
func (s *Store) Info() Info { return s.info }

// As exposes the backend: it reports whether the driver, or the value the
// driver's own As method finds, can be stored in target (a non-nil pointer),
// as errors.As does. Use it to reach a backend's native client.
func (s *Store) As(target any) bool {
	if a, ok := s.d.(interface{ As(any) bool }); ok && a.As(target) {
		return true
	}
	return asValue(s.d, target)
}

// begin holds the store open for one call; it fails with ErrClosed,
// unprefixed (the caller prefixes its operation once).
func (s *Store) begin() (func(), error) {
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
		if err := CheckText("text of "+d.ID, d.Text); err != nil {
			return err
		}
		if err := s.checkVector(d.Vector); err != nil {
			return wrap("upsert", fmt.Errorf("document %q: %w", d.ID, err))
		}
		md, err := NormalizeMetadata(d.Metadata)
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
	if err := CheckVector(v, s.info.Dim); err != nil {
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
	return CheckText("id", id)
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
	h, ok := s.d.(HybridSearcher)
	if !ok {
		return nil, fmt.Errorf("backend %T has none: %w", s.d, ErrUnsupported)
	}
	if q.Alpha < 0 || q.Alpha > 1 {
		return nil, fmt.Errorf("alpha %v outside [0,1]: %w", q.Alpha, ErrInvalidInput)
	}
	if err := CheckText("query text", q.Text); err != nil {
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
	_, ok := s.d.(HybridSearcher)
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
