// Package memstore is an exact, in-memory twostage Store: brute-force search
// over every document. It is the reference backend of the conformance suite
// (adapters/storetest) and fits tests, examples and small collections.
package memstore

import (
	"cmp"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"twostage"
	"twostage/driver"
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

// Info implements driver.Driver.
func (d *Driver) Info() twostage.Info { return d.info }

// Upsert implements driver.Driver.
func (d *Driver) Upsert(ctx context.Context, docs []twostage.Document) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: upsert: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, doc := range docs {
		d.docs[doc.ID] = doc
	}
	return nil
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		delete(d.docs, id)
	}
	return nil
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, ids []string) ([]twostage.Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: get: %w", err)
	}
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

// Search implements driver.Driver: exact scores over every document,
// then the best K copied out.
func (d *Driver) Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: search: %w", err)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	type scored struct {
		doc   *twostage.Document
		score float64
	}
	all := make([]scored, 0, len(d.docs))
	n := 0
	for id := range d.docs {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("memstore: search: %w", err)
			}
		}
		doc := d.docs[id]
		if !q.Filter.Match(doc.Metadata) {
			continue
		}
		all = append(all, scored{&doc, d.info.Metric.Similarity(q.Vector, doc.Vector)})
	}
	// Best first, ties by id; Store sorts the final list the same way.
	slices.SortFunc(all, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(a.doc.ID, b.doc.ID)
	})
	all = all[:min(q.K, len(all))]
	hits := make([]twostage.Hit, len(all))
	for i, s := range all {
		hits[i] = twostage.Hit{Document: clone(*s.doc, q.WithVectors), RetrievalScore: s.score}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: search: %w", err)
	}
	return hits, nil
}

// Count implements driver.Driver.
func (d *Driver) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: count: %w", err)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.docs), nil
}

// Close implements driver.Driver; it drops the documents.
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

// WriteTo writes every document, vectors included, sorted by id, in a
// binary snapshot (encoding/gob) that keeps every metadata type exactly;
// ReadFrom restores it.
func (d *Driver) WriteTo(w io.Writer) (int64, error) {
	d.mu.RLock()
	docs := make([]twostage.Document, 0, len(d.docs))
	for _, doc := range d.docs {
		docs = append(docs, doc)
	}
	d.mu.RUnlock()
	slices.SortFunc(docs, func(a, b twostage.Document) int { return strings.Compare(a.ID, b.ID) })
	cw := &counting{w: w}
	enc := gob.NewEncoder(cw)
	if err := enc.Encode(snapshotHeader{Magic: snapshotMagic, Info: d.info, N: len(docs)}); err != nil {
		return cw.n, fmt.Errorf("memstore: write snapshot: %w", err)
	}
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return cw.n, fmt.Errorf("memstore: write snapshot: %w", err)
		}
	}
	return cw.n, nil
}

const snapshotMagic = "twostage-memstore-1"

type snapshotHeader struct {
	Magic string
	Info  twostage.Info
	N     int
}

func init() { gob.Register([]string(nil)) }

// ReadFrom adds the documents of a snapshot written by WriteTo. A snapshot
// of another dimension or metric wraps twostage.ErrDimension or
// twostage.ErrInvalidInput; a truncated or corrupt one ErrInvalidInput, and
// then nothing is added.
func (d *Driver) ReadFrom(r io.Reader) (int64, error) {
	cr := &counting{r: r}
	dec := gob.NewDecoder(cr)
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil || h.Magic != snapshotMagic {
		return cr.n, fmt.Errorf("memstore: not a memstore snapshot (%v): %w", err, twostage.ErrInvalidInput)
	}
	if h.Info.Dim != d.info.Dim {
		return cr.n, fmt.Errorf("memstore: snapshot holds %d-dimensional vectors, store wants %d: %w", h.Info.Dim, d.info.Dim, twostage.ErrDimension)
	}
	if h.Info.Metric != d.info.Metric {
		return cr.n, fmt.Errorf("memstore: snapshot uses metric %s, store wants %s: %w", h.Info.Metric, d.info.Metric, twostage.ErrInvalidInput)
	}
	docs := make([]twostage.Document, 0, min(h.N, 1<<20))
	for i := range h.N {
		var doc twostage.Document
		if err := dec.Decode(&doc); err != nil {
			return cr.n, fmt.Errorf("memstore: snapshot record %d of %d: %v: %w", i+1, h.N, err, twostage.ErrInvalidInput)
		}
		if err := driver.CheckVector(doc.Vector, d.info.Dim); err != nil || doc.ID == "" {
			return cr.n, fmt.Errorf("memstore: snapshot record %d is invalid: %w", i+1, errors.Join(err, twostage.ErrInvalidInput))
		}
		for k, v := range doc.Metadata {
			if ss, ok := v.([]string); ok && ss == nil {
				doc.Metadata[k] = []string{} // gob reads an empty list as nil
			}
		}
		docs = append(docs, doc)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, doc := range docs {
		d.docs[doc.ID] = doc
	}
	return cr.n, nil
}

// FromJSONMetadata converts metadata decoded from JSON with UseNumber to the
// portable types: integral numbers become int64, others float64, lists of
// strings []string.
func FromJSONMetadata(md map[string]any) (map[string]any, error) {
	for k, v := range md {
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				md[k] = n
			} else if f, err := x.Float64(); err == nil {
				md[k] = f
			} else {
				return nil, fmt.Errorf("metadata %q: number %s: %w", k, x, twostage.ErrInvalidInput)
			}
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				md[k] = int64(x)
			}
		}
	}
	return driver.NormalizeMetadata(md)
}

// counting is the io.Writer (over w) of WriteTo or the io.Reader (over r)
// of ReadFrom: it counts the bytes moved, which they report.
type counting struct {
	w io.Writer
	r io.Reader
	n int64
}

func (c *counting) Write(p []byte) (int, error) { return c.count(c.w.Write(p)) }
func (c *counting) Read(p []byte) (int, error)  { return c.count(c.r.Read(p)) }

func (c *counting) count(n int, err error) (int, error) {
	c.n += int64(n)
	return n, err
}
