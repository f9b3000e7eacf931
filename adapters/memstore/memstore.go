// Package memstore is an exact, in-memory twostage Store: brute-force search
// over every document. It is the reference backend of the conformance suite
// (adapters/storetest) and fits tests, examples and small collections.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"twostage"
)

// New returns an empty in-memory store of vectors with dim dimensions
// compared by metric.
func New(dim int, metric twostage.Metric) (*twostage.Store, error) {
	d, err := NewDriver(dim, metric)
	if err != nil {
		return nil, err
	}
	return twostage.NewStore(d), nil
}

// Driver is the memstore backend. Most callers want New.
type Driver struct {
	info twostage.Info
	mu   sync.RWMutex
	docs map[string]twostage.Document
}

// NewDriver returns the backend itself, for wrapping or testing.
func NewDriver(dim int, metric twostage.Metric) (*Driver, error) {
	if dim <= 0 {
		return nil, fmt.Errorf("memstore: dimension %d: %w", dim, twostage.ErrInvalidInput)
	}
	if !metric.Valid() {
		return nil, fmt.Errorf("memstore: unknown metric %q: %w", metric, twostage.ErrInvalidInput)
	}
	return &Driver{info: twostage.Info{Dim: dim, Metric: metric}, docs: map[string]twostage.Document{}}, nil
}

// Info implements twostage.Driver.
func (d *Driver) Info() twostage.Info { return d.info }

// Upsert implements twostage.Driver.
func (d *Driver) Upsert(ctx context.Context, docs []twostage.Document) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, doc := range docs {
		d.docs[doc.ID] = doc
	}
	return nil
}

// Delete implements twostage.Driver.
func (d *Driver) Delete(ctx context.Context, ids []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		delete(d.docs, id)
	}
	return nil
}

// Get implements twostage.Driver.
func (d *Driver) Get(ctx context.Context, ids []string) ([]twostage.Document, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]twostage.Document, 0, len(ids))
	for _, id := range ids {
		if doc, ok := d.docs[id]; ok {
			out = append(out, clone(doc, true))
		}
	}
	return out, nil
}

// Search implements twostage.Driver: exact scores over every document.
func (d *Driver) Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	hits := make([]twostage.Hit, 0, min(q.K, len(d.docs)))
	n := 0
	for _, doc := range d.docs {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("memstore: search: %w", err)
			}
		}
		if !q.Filter.Match(doc.Metadata) {
			continue
		}
		hits = append(hits, twostage.Hit{
			Document:       clone(doc, q.WithVectors),
			RetrievalScore: d.info.Metric.Similarity(q.Vector, doc.Vector),
		})
	}
	// Keep the best K; Store sorts the final list and breaks ties by ID.
	slices.SortFunc(hits, func(a, b twostage.Hit) int {
		if a.RetrievalScore != b.RetrievalScore {
			if a.RetrievalScore > b.RetrievalScore {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	if len(hits) > q.K {
		hits = hits[:q.K]
	}
	return hits, ctx.Err()
}

// Count implements twostage.Driver.
func (d *Driver) Count(ctx context.Context) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.docs), nil
}

// Close implements twostage.Driver; it drops the documents.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.docs = nil
	return nil
}

func clone(doc twostage.Document, withVector bool) twostage.Document {
	out := twostage.Document{ID: doc.ID, Text: doc.Text, Metadata: maps.Clone(doc.Metadata)}
	for k, v := range out.Metadata {
		if ss, ok := v.([]string); ok {
			out.Metadata[k] = slices.Clone(ss)
		}
	}
	if withVector {
		out.Vector = slices.Clone(doc.Vector)
	}
	return out
}
