// Package weaviatestore is a twostage Store over Weaviate, through Weaviate's
// Go client (github.com/weaviate/weaviate-go-client/v4).
//
// It creates a class with no vectorizer or attaches to one the user already
// has (the class name, the text property, which properties are metadata).
// Upsert is a batch import that reports per-object errors; Search is a
// nearVector query with a where filter; Get, Delete and Count use GraphQL
// Get, batch delete and Aggregate. Weaviate's native hybrid search (BM25 on
// the text property fused with vector search, weighted by alpha) is offered
// through driver.HybridSearcher, so a Pipeline can use it.
//
// Ids: Weaviate object ids are UUIDs. A document id that is a canonical
// lower-case UUID is used as it is; any other id maps to the UUIDv5 of
// "twostage:"+id in the URL namespace (see ObjectID), the same derivation
// qdrantstore uses. Upsert refuses (ErrInvalidInput) a batch in which two
// ids map to one object; across batches the later one overwrites. The
// original id is kept in a property (Options.IDKey) and read back from
// it; objects written by other tools read back with their UUID.
//
// Schema: Weaviate needs a typed property per metadata key, so Upsert adds
// missing properties before writing, typed by the first value seen: strings
// become text (field tokenization, so equality is exact), []string text[],
// bool boolean, and int64 and float64 number (exact for integers up to
// 2^53, so Upsert refuses an int64 beyond ±2^53 with ErrInvalidInput;
// Weaviate's GraphQL answers int properties outside the 32-bit range
// with null, so an int64 key is not an int property; its number property is
// marked as holding int64 values in its description). Metadata keys that are not
// valid property names (Weaviate lowercases a leading capital and allows only
// [_0-9A-Za-z]) or that collide with the adapter's own properties are stored
// under an encoded name ("tsk_" + hex of the key) and decoded on read. A key
// keeps one type per class: Upsert refuses a batch holding a value of
// another type (ErrInvalidInput, naming the document) before writing any
// of it. Numbers keep their Go type: values of a key
// created for int64 read back as int64, and a value of the other type is
// listed in a small hint property, created the first time it is needed (an
// int64 on a plain number property; an integral float64 on an int64-marked
// property or on the int property of an existing class). A class whose keys
// never mix the two has no hint to read at search time. A fractional float64
// on an int property is refused the same way, as is a value outside the
// 32-bit range there (GraphQL would read it back as null). Every document
// also lists its metadata keys, which makes Exists exact, also for empty
// strings and lists.
//
// Index: a class Open creates has an HNSW index (or a flat one, exact, with
// Options.IndexType "flat"); Options.HNSW sets its ef, efConstruction and
// maxConnections (zero: Weaviate's defaults; see HNSW and the package's
// README.md). An existing class is never changed: settings that differ
// from its own fail Open, and Driver.HNSW reports what it has.
//
// Scores: Weaviate reports distances; RetrievalScore is 1-distance for
// cosine (the cosine similarity), -distance for dot (the dot product) and
// for l2-squared (the negative squared Euclidean distance).
//
// Faults: calls that cannot reach the server (connection refused or reset,
// 502, 503, 504) are retried with exponential backoff and jitter up to
// Options.Retry.Attempts times, then fail with an error wrapping
// twostage.ErrUnavailable; the client's *fault.WeaviateClientError stays
// reachable with errors.As. Every call honours its context's deadline.
//
// Crashes: a Weaviate killed in the middle of a batch import can keep
// objects stored but missing from its vector and inverted indexes, and an
// unchanged re-import does not re-index them. When an attempt was cut off
// (or an earlier Upsert failed), the adapter deletes those objects over REST
// before importing them again, and Get reads ids the GraphQL filter misses
// over REST. Weaviate can also lose the index entries (not the objects) of
// the last batches it acknowledged before a SIGKILL (weaviate/weaviate#4262):
// the driver keeps its last two acknowledged batches in memory and, once it
// has seen the server unreachable, deletes and re-imports them before its
// next call. This assumes no other writer overwrote those ids in between.
// Beyond the process: Upsert records the objects it wrote last in a journal
// kept in Weaviate (see JournalClass), and Open checks them against the
// vector index and re-indexes the ones a crash dropped, whichever process
// wrote them; Driver.Check (twostage check) verifies a whole class.
package weaviatestore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate-go-client/v4/weaviate"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

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

// Bookkeeping properties (see the package comment). They are not metadata.
const (
	keysProp   = layout.KeysKey
	intsProp   = "twostage_ints"
	floatsProp = layout.FloatsKey
)

// Options configure Open. A nil *Options means the defaults.
type Options struct {
	// Dim is the vector dimension. Weaviate's schema does not record it:
	// it is required for a new class, and for an existing one it is read from
	// the class description (written when this package created it) or from a
	// stored object.
	Dim int
	// Metric of a class Open creates (default Cosine); for an existing class
	// it is read from the class, and a different non-empty value is an error.
	Metric twostage.Metric
	// IndexType of a class Open creates: "hnsw" (default) or "flat" (exact).
	IndexType string
	// HNSW sets the HNSW index of a class Open creates (zero fields:
	// Weaviate's defaults); its search quality is Ef. For an existing class
	// each nonzero field must equal the class's value, or Open fails with
	// twostage.ErrInvalidInput: Open never changes an existing class's
	// index. Driver.HNSW reports the class's settings.
	HNSW HNSW
	// NoCreate makes Open fail with twostage.ErrNotFound instead of creating
	// a missing class.
	NoCreate bool
	// TextKey is the property holding the document text (default "text").
	TextKey string
	// IDKey is the property holding the original id (default "twostage_id").
	IDKey string
	// MetadataKeys, when set, restricts metadata to these properties: other
	// properties of an existing class are ignored, and writing another key
	// is twostage.ErrInvalidInput. Nil means every property other than
	// TextKey, IDKey and the bookkeeping ones.
	MetadataKeys []string
	// BatchSize is the number of objects per batch request (default 256).
	BatchSize int
	// Retry bounds the retries of calls that find the server unavailable.
	Retry Retry
	// NoJournal turns the journal off (see JournalClass): Upsert records
	// nothing and Open checks nothing; objects whose index entries a crash
	// drops are then found only by Check.
	NoJournal bool
}

// Retry is the module's retry policy, retry.Policy, under this package's
// name for it. Zero fields mean: 4 attempts, 100ms doubling to 2s; Attempts
// 1 disables retries.
type Retry = retry.Policy

var (
	_ driver.Driver         = (*Driver)(nil)
	_ driver.HybridSearcher = (*Driver)(nil)
)

var (
	classRE = regexp.MustCompile(`^[A-Z][_0-9A-Za-z]*$`)
	propRE  = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]{0,229}$`)
)

func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	if err := (layout.Options{Dim: out.Dim, Metric: out.Metric, TextKey: &out.TextKey, IDKey: &out.IDKey,
		BatchSize: &out.BatchSize, Retry: &out.Retry}).Fill("weaviatestore"); err != nil {
		return out, err
	}
	if out.IndexType == "" {
		out.IndexType = "hnsw"
	}
	bad := func(format string, args ...any) (Options, error) {
		return out, fmt.Errorf("weaviatestore: "+format+": %w", append(args, twostage.ErrInvalidInput)...)
	}
	if out.IndexType != "hnsw" && out.IndexType != "flat" {
		return bad("index type %q (want hnsw or flat)", out.IndexType)
	}
	if err := out.HNSW.check(out.IndexType); err != nil {
		return out, err
	}
	for _, k := range []string{out.TextKey, out.IDKey} {
		if !propRE.MatchString(k) || k != lowerFirst(k) {
			return bad("%q is not a Weaviate property name", k)
		}
	}
	return out, nil
}

// info is the Dim and Metric the options ask for (zero: any).
func (o Options) info() twostage.Info { return twostage.Info{Dim: o.Dim, Metric: o.Metric} }

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// Open returns a Store over class, creating it when it does not exist (see
// Options). Weaviate capitalizes class names; so does Open. The caller keeps
// ownership of client.
func Open(ctx context.Context, client *weaviate.Client, class string, opts *Options) (*twostage.Store, error) {
	d, err := NewDriver(ctx, client, class, opts)
	if err != nil {
		return nil, err
	}
	return twostage.NewStore(d), nil
}

// Dial connects to the Weaviate REST endpoint at addr ("host:port", or a
// URL such as "https://host") and opens class.
func Dial(ctx context.Context, addr, class string, opts *Options) (*twostage.Store, error) {
	scheme, host := "http", addr
	if u, err := url.Parse(addr); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		scheme, host = u.Scheme, u.Host
	}
	if host == "" {
		return nil, fmt.Errorf("weaviatestore: address %q: %w", addr, twostage.ErrInvalidInput)
	}
	client, err := weaviate.NewClient(weaviate.Config{Host: host, Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("weaviatestore: dial %s: %w: %w", addr, twostage.ErrUnavailable, err)
	}
	return Open(ctx, client, class, opts)
}

// Driver is the Weaviate backend behind a twostage.Store. Most callers want
// Open; NewDriver is for wrapping and for the conformance suite.
type Driver struct {
	client   *weaviate.Client
	class    string
	opts     Options
	info     twostage.Info
	metaKeys map[string]bool

	schemaMu sync.Mutex // serializes schema changes
	mu       sync.Mutex // guards the schema cache and fieldCache
	// fieldCache holds the GraphQL field lists built for the props map
	// identified by fieldProps (a new map means a new schema).
	fieldCache map[string][]graphql.Field
	fieldProps uintptr
	propNames  sync.Map // metadata key -> property name
	suspect    sync.Map // object UUID -> true: a failed import may have left it unindexed

	// Replay of recent writes after an outage (see repair).
	replayMu  sync.Mutex
	recent    [][]*models.Object             // the last replayKeep chunks acknowledged
	replay    map[strfmt.UUID]*models.Object // acknowledged just before an outage
	props     map[string]*models.Property
	nullIndex bool
	fetched   time.Time

	hnsw HNSW // the class's HNSW settings, read by attach

	journal journal // see JournalClass
}

// schemaTTL bounds how stale the cached schema may be when reading: metadata
// properties added by other writers are seen after at most this long.
const schemaTTL = 10 * time.Second

// NewDriver attaches to (or creates) class and returns the backend.
func NewDriver(ctx context.Context, client *weaviate.Client, class string, opts *Options) (*Driver, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, fmt.Errorf("weaviatestore: nil client: %w", twostage.ErrInvalidInput)
	}
	if class != "" {
		class = strings.ToUpper(class[:1]) + class[1:]
	}
	if !classRE.MatchString(class) {
		return nil, fmt.Errorf("weaviatestore: %q is not a Weaviate class name: %w", class, twostage.ErrInvalidInput)
	}
	d := &Driver{client: client, class: class, opts: o}
	if o.MetadataKeys != nil {
		d.metaKeys = map[string]bool{}
		for _, k := range o.MetadataKeys {
			d.metaKeys[k] = true
		}
	}
	if err := d.attach(ctx); err != nil {
		return nil, err
	}
	if err := d.recoverJournal(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Driver) attach(ctx context.Context) error {
	var exists bool
	err := d.do(ctx, "class exists", func(ctx context.Context) error {
		var err error
		exists, err = d.client.Schema().ClassExistenceChecker().WithClassName(d.class).Do(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if !exists {
		if d.opts.NoCreate {
			return fmt.Errorf("weaviatestore: class %q does not exist: %w", d.class, twostage.ErrNotFound)
		}
		if err := d.create(ctx); err != nil {
			return err
		}
	}
	c, err := d.fetchClass(ctx)
	if err != nil {
		return err
	}
	if len(c.VectorConfig) > 0 && c.VectorIndexConfig == nil {
		return fmt.Errorf("weaviatestore: class %q has only named vectors: %w", d.class, twostage.ErrUnsupported)
	}
	dist := "cosine"
	if m, ok := c.VectorIndexConfig.(map[string]any); ok {
		if s, ok := m["distance"].(string); ok {
			dist = s
		}
		if c.VectorIndexType == "hnsw" {
			d.hnsw = readHNSW(m)
		}
	}
	if err := matchHNSW(d.class, c.VectorIndexType, d.opts.HNSW, d.hnsw); err != nil {
		return err
	}
	switch dist {
	case "cosine":
		d.info.Metric = twostage.Cosine
	case "dot":
		d.info.Metric = twostage.Dot
	case "l2-squared":
		d.info.Metric = twostage.L2
	default:
		return fmt.Errorf("weaviatestore: class %q uses distance %q: %w", d.class, dist, twostage.ErrUnsupported)
	}
	dim, ok := descDim(c.Description)
	if !ok {
		if dim, err = d.sampleDim(ctx); err != nil {
			return err
		}
	}
	if dim == 0 { // nothing recorded and nothing stored: the options say
		dim = d.opts.Dim
	}
	if dim == 0 {
		return fmt.Errorf("weaviatestore: class %q is empty and records no dimension; set Options.Dim: %w", d.class, twostage.ErrInvalidInput)
	}
	d.info.Dim = dim
	return layout.Attached("weaviatestore", "class", d.class, d.opts.info(), d.info)
}

var descDimRE = regexp.MustCompile(`\(twostage dim (\d+)\)`)

func descDim(desc string) (int, bool) {
	m := descDimRE.FindStringSubmatch(desc)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 0
}

func (d *Driver) create(ctx context.Context) error {
	info, err := layout.Created("weaviatestore", "class", d.class, d.opts.info())
	if err != nil {
		return err
	}
	dist := map[twostage.Metric]string{twostage.Cosine: "cosine", twostage.Dot: "dot", twostage.L2: "l2-squared"}[info.Metric]
	f, t := false, true
	cfg := map[string]any{"distance": dist}
	if d.opts.IndexType == "hnsw" {
		d.opts.HNSW.apply(cfg)
	}
	class := &models.Class{
		Class:             d.class,
		Description:       fmt.Sprintf("twostage documents (twostage dim %d)", info.Dim),
		Vectorizer:        "none",
		VectorIndexType:   d.opts.IndexType,
		VectorIndexConfig: cfg,
		InvertedIndexConfig: &models.InvertedIndexConfig{
			IndexNullState: true, IndexPropertyLength: true,
		},
		Properties: []*models.Property{
			{Name: d.opts.TextKey, DataType: []string{"text"}, Tokenization: "word", IndexFilterable: &f, IndexSearchable: &t},
			{Name: d.opts.IDKey, DataType: []string{"text"}, Tokenization: "field", IndexFilterable: &t, IndexSearchable: &f},
			{Name: keysProp, DataType: []string{"text[]"}, Tokenization: "field", IndexFilterable: &t, IndexSearchable: &f},
		},
	}
	err = d.do(ctx, "create class", func(ctx context.Context) error {
		return d.client.Schema().ClassCreator().WithClass(class).Do(ctx)
	})
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil // created concurrently
	}
	return err
}

// fetchClass reads the class and refreshes the schema cache.
func (d *Driver) fetchClass(ctx context.Context) (*models.Class, error) {
	var c *models.Class
	err := d.do(ctx, "get class", func(ctx context.Context) error {
		var err error
		c, err = d.client.Schema().ClassGetter().WithClassName(d.class).Do(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	props := make(map[string]*models.Property, len(c.Properties))
	for _, p := range c.Properties {
		props[p.Name] = p
	}
	d.mu.Lock()
	d.props = props
	d.nullIndex = c.InvertedIndexConfig != nil && c.InvertedIndexConfig.IndexNullState
	d.fetched = time.Now()
	d.mu.Unlock()
	return c, nil
}

// schema returns the cached properties, refreshed when older than schemaTTL
// or when force is set.
func (d *Driver) schema(ctx context.Context, force bool) (map[string]*models.Property, bool, error) {
	d.mu.Lock()
	stale := force || time.Since(d.fetched) > schemaTTL
	props, null := d.props, d.nullIndex
	d.mu.Unlock()
	if !stale {
		return props, null, nil
	}
	if _, err := d.fetchClass(ctx); err != nil {
		return nil, false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.props, d.nullIndex, nil
}

// sampleDim reads the dimension of one stored vector (0 when the class is
// empty).
func (d *Driver) sampleDim(ctx context.Context) (int, error) {
	var resp *models.GraphQLResponse
	err := d.do(ctx, "sample vector", func(ctx context.Context) error {
		var err error
		resp, err = d.client.GraphQL().Get().WithClassName(d.class).WithLimit(1).
			WithFields(graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "vector"}}}).Do(ctx)
		return gqlErr(resp, err)
	})
	if err != nil {
		return 0, err
	}
	objs := d.objects(resp, "Get")
	if len(objs) == 0 {
		return 0, nil
	}
	add, _ := objs[0]["_additional"].(map[string]any)
	v, _ := add["vector"].([]any)
	return len(v), nil
}

// Info implements driver.Driver.
func (d *Driver) Info() twostage.Info { return d.info }

// Class returns the (capitalized) class name.
func (d *Driver) Class() string { return d.class }

// As exposes the native client: target may be a **weaviate.Client.
func (d *Driver) As(target any) bool {
	if p, ok := target.(**weaviate.Client); ok {
		*p = d.client
		return true
	}
	return false
}

// Close implements driver.Driver. The client holds no resources that need
// closing; Close does nothing else.
func (d *Driver) Close() error { return nil }

// BatchError reports documents of an Upsert or Delete that were not
// applied. Failed lists their ids and Causes the server's message for each
// (when it gave one); the other documents were written.
type BatchError struct {
	Op     string
	Failed []string
	Causes map[string]string
	Total  int
	Err    error
}

// Error names the failed ids, each with its cause.
func (e *BatchError) Error() string {
	return layout.BatchMessage("weaviatestore", e.Op, e.Failed, e.Total, func(id string) string { return e.Causes[id] }, e.Err)
}

// Unwrap returns the cause.
func (e *BatchError) Unwrap() error { return e.Err }

// ErrRejected is the cause of a BatchError whose objects the server
// rejected one by one (for example a metadata value whose type differs from
// the property's).
var ErrRejected = errors.New("objects rejected by the server")
