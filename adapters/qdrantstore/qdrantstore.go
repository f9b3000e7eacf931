// Package qdrantstore is a twostage Store over Qdrant, through Qdrant's own
// gRPC client (github.com/qdrant/go-client).
//
// It creates a collection (vector size and distance) or attaches to one the
// user already has: the collection name, an unnamed or named vector, the
// payload key that holds the text and which payload keys are metadata.
//
// Ids: Qdrant point ids are unsigned integers or UUIDs. A document id that is
// a canonical unsigned decimal ("42") maps to that integer, a canonical
// lower-case UUID maps to itself, and every other string maps to the UUIDv5
// of "twostage:"+id in the URL namespace (see PointID). Upsert refuses
// (ErrInvalidInput) a batch in which two ids map to one point (an id and
// the UUID another id derives); across batches the later one overwrites.
// The original id is kept in the payload (Options.IDKey) and read back
// from there; points written by other tools, which lack it, read back with
// their numeric or UUID id as a string.
//
// Payload layout of a document: Options.TextKey holds the text, Options.IDKey
// the original id, every metadata key is a top-level payload key, and three
// small bookkeeping keys keep what Qdrant would otherwise lose: the list of
// metadata keys present (so Exists is exact for empty lists), the keys whose
// float64 values are integral (so 3.0 stays a float64), and, for Cosine
// collections, the vector's norm (Qdrant stores cosine vectors normalized;
// Get returns the vector as it was given).
//
// Scores: Qdrant returns cosine similarity and dot product as they are, and
// for Euclid the distance itself (lower is better); the adapter reports
// -distance², the negative squared Euclidean distance, so RetrievalScore is
// higher-is-better for every metric.
//
// Faults: calls that fail with gRPC Unavailable (server down, restarting,
// connection refused) are retried with exponential backoff and jitter up to
// Options.Retry.Attempts times, then fail with an error wrapping
// twostage.ErrUnavailable; the gRPC status error stays reachable with
// errors.As. Every call honours its context's deadline. Upsert writes in
// chunks with wait=true; when a chunk fails, the error (a *BatchError) names
// the ids not written.
//
// Filters translate to Qdrant's must / should / must_not with match, range
// and is_empty conditions. Numbers compare by value (an int64 and a float64
// equal to it match each other) through range conditions. Metadata keys that
// contain '.', '[', ']' or '"' are stored as they are but cannot be filtered
// on (Qdrant reads them as JSON paths): such a filter is
// twostage.ErrUnsupported.
//
// Tests: no Qdrant server binary is obtainable on the project's build
// machines. The package's tests run against package qdranttest, an
// in-process stand-in that implements Qdrant's gRPC services with the
// semantics this adapter relies on; the integration tests run the same
// conformance suite against a real Qdrant when QDRANT_ADDR is set.
package qdrantstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
	"twostage/adapters/internal/layout"
	"twostage/driver"
	"twostage/retry"
)

// Default option values.
const (
	DefaultTextKey   = layout.TextKey
	DefaultIDKey     = layout.IDKey
	DefaultBatchSize = layout.BatchSize
)

// normKey is the bookkeeping payload key that holds a Cosine vector's norm
// (see the package comment); layout.KeysKey and layout.FloatsKey are the
// others. They are not metadata.
const normKey = "twostage_norm"

// Options configure Open. A nil *Options means the defaults.
type Options struct {
	// Dim and Metric describe the vectors of a collection that Open creates
	// when it does not exist (Metric defaults to Cosine). When the collection
	// exists they are read from it; a non-zero Dim or Metric that differs is
	// an error.
	Dim    int
	Metric twostage.Metric
	// NoCreate makes Open fail with twostage.ErrNotFound instead of creating
	// a missing collection.
	NoCreate bool
	// VectorName selects a named vector; "" is the collection's unnamed
	// (default) vector.
	VectorName string
	// TextKey is the payload key holding the document text (default "text").
	TextKey string
	// IDKey is the payload key holding the original document id (default
	// "twostage_id").
	IDKey string
	// MetadataKeys, when set, restricts metadata to these payload keys: the
	// other keys of an existing collection are ignored, and writing another
	// key is twostage.ErrInvalidInput. Nil means every payload key other than
	// TextKey, IDKey and the bookkeeping keys.
	MetadataKeys []string
	// BatchSize is the number of points per upsert or delete request
	// (default 256).
	BatchSize int
	// Exact asks Qdrant for exact (brute-force) search instead of HNSW.
	Exact bool
	// Retry bounds the retries of calls that find the server unavailable.
	Retry Retry
}

// Retry is the module's retry policy, retry.Policy, under this package's
// name for it. Zero fields mean: 4 attempts, 100ms doubling to 2s; Attempts
// 1 disables retries.
type Retry = retry.Policy

// withDefaults returns a copy of o (the zero Options for nil) with the
// defaults of its zero fields set, checked by layout.Options.Fill.
func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	err := layout.Options{Dim: out.Dim, Metric: out.Metric, TextKey: &out.TextKey, IDKey: &out.IDKey,
		BatchSize: &out.BatchSize, Retry: &out.Retry}.Fill("qdrantstore")
	return out, err
}

// info is the Dim and Metric the options ask for (zero: any).
func (o Options) info() twostage.Info { return twostage.Info{Dim: o.Dim, Metric: o.Metric} }

// Open returns a Store over the collection, creating it when it does not
// exist (see Options). The caller keeps ownership of client: Close on the
// Store does not close it.
func Open(ctx context.Context, client *qdrant.Client, collection string, opts *Options) (*twostage.Store, error) {
	d, err := NewDriver(ctx, client, collection, opts)
	if err != nil {
		return nil, err
	}
	return twostage.NewStore(d), nil
}

// Dial connects to the Qdrant gRPC endpoint addr ("host:port", Qdrant's gRPC
// port is 6334 by default) and opens collection. The Store owns the
// connection and closes it on Close.
func Dial(ctx context.Context, addr, collection string, opts *Options) (*twostage.Store, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("qdrantstore: address %q: %w: %w", addr, twostage.ErrInvalidInput, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("qdrantstore: address %q: bad port: %w", addr, twostage.ErrInvalidInput)
	}
	client, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port, SkipCompatibilityCheck: true})
	if err != nil {
		return nil, fmt.Errorf("qdrantstore: dial %s: %w: %w", addr, twostage.ErrUnavailable, err)
	}
	d, err := NewDriver(ctx, client, collection, opts)
	if err != nil {
		return nil, errors.Join(err, client.Close())
	}
	d.ownsClient = true
	return twostage.NewStore(d), nil
}

var _ driver.Driver = (*Driver)(nil)

// Driver is the Qdrant backend behind a twostage.Store. Most callers want
// Open; NewDriver is for wrapping and for the conformance suite.
type Driver struct {
	client     *qdrant.Client
	collection string
	opts       Options
	info       twostage.Info
	metaKeys   map[string]bool // nil: every non-reserved key
	ownsClient bool
}

// NewDriver attaches to (or creates) collection and returns the backend.
func NewDriver(ctx context.Context, client *qdrant.Client, collection string, opts *Options) (*Driver, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, fmt.Errorf("qdrantstore: nil client: %w", twostage.ErrInvalidInput)
	}
	if collection == "" {
		return nil, fmt.Errorf("qdrantstore: empty collection name: %w", twostage.ErrInvalidInput)
	}
	d := &Driver{client: client, collection: collection, opts: o}
	if o.MetadataKeys != nil {
		d.metaKeys = map[string]bool{}
		for _, k := range o.MetadataKeys {
			if d.reserved(k) {
				return nil, fmt.Errorf("qdrantstore: metadata key %q is reserved: %w", k, twostage.ErrInvalidInput)
			}
			d.metaKeys[k] = true
		}
	}
	info, err := d.attach(ctx)
	if err != nil {
		return nil, err
	}
	d.info = info
	return d, nil
}

// attach reads the collection's vector parameters, creating the collection
// when it is missing.
func (d *Driver) attach(ctx context.Context) (twostage.Info, error) {
	var exists bool
	err := d.do(ctx, "collection exists", func(ctx context.Context) error {
		var err error
		exists, err = d.client.CollectionExists(ctx, d.collection)
		return err
	})
	if err != nil {
		return twostage.Info{}, err
	}
	if !exists {
		if d.opts.NoCreate {
			return twostage.Info{}, fmt.Errorf("qdrantstore: collection %q does not exist: %w", d.collection, twostage.ErrNotFound)
		}
		if err := d.create(ctx); err != nil {
			return twostage.Info{}, err
		}
	}
	var ci *qdrant.CollectionInfo
	err = d.do(ctx, "collection info", func(ctx context.Context) error {
		var err error
		ci, err = d.client.GetCollectionInfo(ctx, d.collection)
		return err
	})
	if err != nil {
		return twostage.Info{}, err
	}
	vc := ci.GetConfig().GetParams().GetVectorsConfig()
	var vp *qdrant.VectorParams
	if d.opts.VectorName == "" {
		vp = vc.GetParams()
		if vp == nil {
			return twostage.Info{}, fmt.Errorf("qdrantstore: collection %q has only named vectors %v; set Options.VectorName: %w",
				d.collection, vectorNames(vc), twostage.ErrInvalidInput)
		}
	} else {
		vp = vc.GetParamsMap().GetMap()[d.opts.VectorName]
		if vp == nil {
			return twostage.Info{}, fmt.Errorf("qdrantstore: collection %q has no vector named %q (it has %v): %w",
				d.collection, d.opts.VectorName, vectorNames(vc), twostage.ErrInvalidInput)
		}
	}
	if vp.GetMultivectorConfig() != nil {
		return twostage.Info{}, fmt.Errorf("qdrantstore: collection %q: multivectors: %w", d.collection, twostage.ErrUnsupported)
	}
	info := twostage.Info{Dim: int(vp.GetSize())}
	switch vp.GetDistance() {
	case qdrant.Distance_Cosine:
		info.Metric = twostage.Cosine
	case qdrant.Distance_Dot:
		info.Metric = twostage.Dot
	case qdrant.Distance_Euclid:
		info.Metric = twostage.L2
	default:
		return twostage.Info{}, fmt.Errorf("qdrantstore: collection %q: distance %v: %w", d.collection, vp.GetDistance(), twostage.ErrUnsupported)
	}
	if err := layout.Attached("qdrantstore", "collection", d.collection, d.opts.info(), info); err != nil {
		return twostage.Info{}, err
	}
	return info, nil
}

func vectorNames(vc *qdrant.VectorsConfig) []string {
	var names []string
	for n := range vc.GetParamsMap().GetMap() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (d *Driver) create(ctx context.Context) error {
	info, err := layout.Created("qdrantstore", "collection", d.collection, d.opts.info())
	if err != nil {
		return err
	}
	dist := map[twostage.Metric]qdrant.Distance{
		twostage.Cosine: qdrant.Distance_Cosine, twostage.Dot: qdrant.Distance_Dot, twostage.L2: qdrant.Distance_Euclid,
	}[info.Metric]
	vp := &qdrant.VectorParams{Size: uint64(info.Dim), Distance: dist}
	vc := qdrant.NewVectorsConfig(vp)
	if d.opts.VectorName != "" {
		vc = qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{d.opts.VectorName: vp})
	}
	err = d.do(ctx, "create collection", func(ctx context.Context) error {
		return d.client.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: d.collection, VectorsConfig: vc})
	})
	if err != nil && codeOf(err) == alreadyExists {
		return nil // created concurrently by someone else; attach reads it
	}
	return err
}

// Info implements driver.Driver.
func (d *Driver) Info() twostage.Info { return d.info }

// Collection returns the collection name.
func (d *Driver) Collection() string { return d.collection }

// As exposes the native client: target may be a **qdrant.Client.
func (d *Driver) As(target any) bool {
	if p, ok := target.(**qdrant.Client); ok {
		*p = d.client
		return true
	}
	return false
}

// Close implements driver.Driver. It closes the client only when Dial
// made it.
func (d *Driver) Close() error {
	if d.ownsClient {
		if err := d.client.Close(); err != nil {
			return fmt.Errorf("qdrantstore: close: %w", err)
		}
	}
	return nil
}

// BatchError reports an upsert or delete of which some chunks were not
// applied. Failed lists their document ids; the other ids were written.
type BatchError struct {
	Op     string
	Failed []string
	Total  int
	Err    error
}

// Error names the failed ids.
func (e *BatchError) Error() string {
	return layout.BatchMessage("qdrantstore", e.Op, e.Failed, e.Total, nil, e.Err)
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// Upsert implements driver.Driver: chunks of Options.BatchSize points,
// each written with wait=true.
func (d *Driver) Upsert(ctx context.Context, docs []twostage.Document) error {
	if err := layout.Distinct("qdrantstore: upsert", docs, func(id string) string { return pointIDString(PointID(id)) }); err != nil {
		return err
	}
	points := make([]*qdrant.PointStruct, len(docs))
	for i, doc := range docs {
		p, err := d.point(doc)
		if err != nil {
			return err
		}
		points[i] = p
	}
	for start := 0; start < len(points); start += d.opts.BatchSize {
		end := min(start+d.opts.BatchSize, len(points))
		err := d.do(ctx, "upsert", func(ctx context.Context) error {
			_, err := d.client.Upsert(ctx, &qdrant.UpsertPoints{
				CollectionName: d.collection, Wait: qdrant.PtrOf(true), Points: points[start:end],
			})
			return err
		})
		if err != nil {
			failed := make([]string, 0, len(docs)-start)
			for _, doc := range docs[start:] {
				failed = append(failed, doc.ID)
			}
			return &BatchError{Op: "upsert", Failed: failed, Total: len(docs), Err: err}
		}
	}
	return nil
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, ids []string) error {
	for start := 0; start < len(ids); start += d.opts.BatchSize {
		end := min(start+d.opts.BatchSize, len(ids))
		pids := make([]*qdrant.PointId, 0, end-start)
		for _, id := range ids[start:end] {
			pids = append(pids, PointID(id))
		}
		err := d.do(ctx, "delete", func(ctx context.Context) error {
			_, err := d.client.Delete(ctx, &qdrant.DeletePoints{
				CollectionName: d.collection, Wait: qdrant.PtrOf(true), Points: qdrant.NewPointsSelectorIDs(pids),
			})
			return err
		})
		if err != nil {
			return &BatchError{Op: "delete", Failed: slices.Clone(ids[start:]), Total: len(ids), Err: err}
		}
	}
	return nil
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, ids []string) ([]twostage.Document, error) {
	pids := make([]*qdrant.PointId, len(ids))
	for i, id := range ids {
		pids[i] = PointID(id)
	}
	var pts []*qdrant.RetrievedPoint
	err := d.do(ctx, "get", func(ctx context.Context) error {
		var err error
		pts, err = d.client.Get(ctx, &qdrant.GetPoints{
			CollectionName: d.collection, Ids: pids,
			WithPayload: d.withPayload(), WithVectors: d.withVectors(true),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]twostage.Document, 0, len(pts))
	for _, p := range pts {
		doc, err := d.document(p.GetId(), p.GetPayload(), p.GetVectors(), true)
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
	return out, nil
}

// Search implements driver.Driver.
func (d *Driver) Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error) {
	f, err := d.filter(q.Filter)
	if err != nil {
		return nil, err
	}
	if f == matchNone {
		return nil, nil
	}
	req := &qdrant.QueryPoints{
		CollectionName: d.collection,
		Query:          qdrant.NewQueryDense(q.Vector),
		Filter:         f,
		Limit:          qdrant.PtrOf(uint64(q.K)),
		WithPayload:    d.withPayload(),
		WithVectors:    d.withVectors(q.WithVectors),
	}
	if d.opts.VectorName != "" {
		req.Using = qdrant.PtrOf(d.opts.VectorName)
	}
	if d.opts.Exact {
		req.Params = &qdrant.SearchParams{Exact: qdrant.PtrOf(true)}
	}
	var pts []*qdrant.ScoredPoint
	err = d.do(ctx, "search", func(ctx context.Context) error {
		var err error
		pts, err = d.client.Query(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	hits := make([]twostage.Hit, 0, len(pts))
	for _, p := range pts {
		doc, err := d.document(p.GetId(), p.GetPayload(), p.GetVectors(), q.WithVectors)
		if err != nil {
			return nil, err
		}
		hits = append(hits, twostage.Hit{Document: doc, RetrievalScore: d.score(p.GetScore())})
	}
	return hits, nil
}

// score converts Qdrant's score to RetrievalScore: Euclid reports the
// distance, which becomes -distance².
func (d *Driver) score(s float32) float64 {
	if d.info.Metric == twostage.L2 {
		x := float64(s)
		return -x * x
	}
	return float64(s)
}

// Count implements driver.Driver (an exact count).
func (d *Driver) Count(ctx context.Context) (int, error) {
	var n uint64
	err := d.do(ctx, "count", func(ctx context.Context) error {
		var err error
		n, err = d.client.Count(ctx, &qdrant.CountPoints{CollectionName: d.collection, Exact: qdrant.PtrOf(true)})
		return err
	})
	if n > math.MaxInt {
		n = math.MaxInt
	}
	return int(n), err
}

func (d *Driver) withPayload() *qdrant.WithPayloadSelector {
	if d.metaKeys == nil {
		return qdrant.NewWithPayload(true)
	}
	keys := []string{d.opts.TextKey, d.opts.IDKey, layout.FloatsKey, normKey}
	for k := range d.metaKeys {
		keys = append(keys, k)
	}
	return qdrant.NewWithPayloadInclude(keys...)
}

func (d *Driver) withVectors(on bool) *qdrant.WithVectorsSelector {
	if !on {
		return qdrant.NewWithVectors(false)
	}
	if d.opts.VectorName != "" {
		return qdrant.NewWithVectorsInclude(d.opts.VectorName)
	}
	return qdrant.NewWithVectors(true)
}
