// Package layout is what the server adapters (qdrantstore, weaviatestore)
// agree on about laying a twostage.Document out in a backend record: the
// default keys for its text and original id, the bookkeeping keys beside
// its metadata, the default batch size and retry policy, the checks of
// those options and of a store's vectors against them (Created, Attached),
// the message of a partly failed batch (BatchMessage), the derivation of a
// backend UUID from a document id, and small helpers for reading a record
// back into a Document (Strings, Put).
package layout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"twostage"
	"twostage/retry"
)

// Default option values of the adapters.
const (
	TextKey   = "text"        // the key holding a document's text
	IDKey     = "twostage_id" // the key holding a document's original id
	BatchSize = 256           // documents per write request
)

// Bookkeeping keys both adapters write beside a document's metadata, so
// that what the backend would lose reads back exactly. They are not
// metadata.
const (
	KeysKey   = "twostage_keys"   // the sorted metadata keys present (Exists is exact for empty lists)
	FloatsKey = "twostage_floats" // the keys whose float64 values are integral (3.0 stays a float64)
)

// defaultRetry is the adapters' default retry policy for calls that find
// the server unavailable: 4 attempts, 100ms doubling to 2s.
var defaultRetry = retry.Policy{Attempts: 4, Initial: 100 * time.Millisecond, Max: 2 * time.Second, LongWait: retry.Shorten}

// Options are the option fields both adapters take, by reference: Fill sets
// the defaults of the zero ones and checks them.
type Options struct {
	Dim    int             // checked: not negative
	Metric twostage.Metric // checked: empty or valid
	// TextKey, IDKey, BatchSize and Retry point at the adapter's fields,
	// which Fill sets when they are zero.
	TextKey   *string
	IDKey     *string
	BatchSize *int
	Retry     *retry.Policy
}

// Fill sets the defaults of o's zero fields and checks what every adapter
// requires: a non-negative dimension, a known or empty metric, and distinct
// text and id keys. Errors wrap twostage.ErrInvalidInput and start with pkg.
func (o Options) Fill(pkg string) error {
	if *o.TextKey == "" {
		*o.TextKey = TextKey
	}
	if *o.IDKey == "" {
		*o.IDKey = IDKey
	}
	if *o.BatchSize <= 0 {
		*o.BatchSize = BatchSize
	}
	*o.Retry = o.Retry.WithDefaults(defaultRetry)
	switch {
	case o.Dim < 0:
		return fmt.Errorf("%s: dimension %d: %w", pkg, o.Dim, twostage.ErrInvalidInput)
	case o.Metric != "" && !o.Metric.Valid():
		return fmt.Errorf("%s: unknown metric %q: %w", pkg, o.Metric, twostage.ErrInvalidInput)
	case *o.TextKey == *o.IDKey:
		return fmt.Errorf("%s: TextKey and IDKey are both %q: %w", pkg, *o.TextKey, twostage.ErrInvalidInput)
	}
	return nil
}

// Created returns the Info of a store that an adapter's Open creates, from
// the options' Dim and Metric (want): the dimension is required, the metric
// defaults to Cosine. kind and name name the store in the error ("collection",
// "docs"), which wraps twostage.ErrInvalidInput and starts with pkg.
func Created(pkg, kind, name string, want twostage.Info) (twostage.Info, error) {
	if want.Dim == 0 {
		return twostage.Info{}, fmt.Errorf("%s: %s %q does not exist and Options.Dim is not set: %w", pkg, kind, name, twostage.ErrInvalidInput)
	}
	if want.Metric == "" {
		want.Metric = twostage.Cosine
	}
	return want, nil
}

// Attached checks the Info of an existing store (got) against the options'
// Dim and Metric (want): a non-zero Dim that differs fails with
// twostage.ErrDimension, a non-empty Metric that differs with
// twostage.ErrInvalidInput. kind, name and pkg are as for Created.
func Attached(pkg, kind, name string, want, got twostage.Info) error {
	if want.Dim != 0 && want.Dim != got.Dim {
		return fmt.Errorf("%s: %s %q holds %d-dimensional vectors, options say %d: %w", pkg, kind, name, got.Dim, want.Dim, twostage.ErrDimension)
	}
	if want.Metric != "" && want.Metric != got.Metric {
		return fmt.Errorf("%s: %s %q uses %s, options say %s: %w", pkg, kind, name, got.Metric, want.Metric, twostage.ErrInvalidInput)
	}
	return nil
}

// BatchMessage is the message of an adapter's BatchError: "pkg: op: N of
// total documents failed (ids)", then ": err" when err is not nil. The ids
// are quoted, each followed by ": "+cause(id) when cause is not nil and
// gives one; after eight of them the rest are counted ("and 3 more").
func BatchMessage(pkg, op string, failed []string, total int, cause func(id string) string, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: %d of %d documents failed (", pkg, op, len(failed), total)
	for i, id := range failed {
		if i == 8 {
			fmt.Fprintf(&b, ", and %d more", len(failed)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(id))
		if cause != nil {
			if c := cause(id); c != "" {
				fmt.Fprintf(&b, ": %s", c)
			}
		}
	}
	b.WriteString(")")
	if err != nil {
		fmt.Fprintf(&b, ": %v", err)
	}
	return b.String()
}

// UUID maps a document id to a backend UUID: a canonical lower-case UUID
// maps to itself, anything else to UUIDv5(NameSpaceURL, "twostage:"+id).
// The mapping is deterministic, so any client can find a document by its
// id.
func UUID(id string) string {
	if u, err := uuid.Parse(id); err == nil && u.String() == id {
		return id
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("twostage:"+id)).String()
}

// Strings reads a list whose elements should all be strings: ok is false
// when one is not (the metadata it came from is then not twostage's).
func Strings[E any](list []E, str func(E) (string, bool)) (ss []string, ok bool) {
	ss = make([]string, 0, len(list)) // an empty list stays non-nil, as Upsert kept it
	for _, e := range list {
		s, isStr := str(e)
		if !isStr {
			return nil, false
		}
		ss = append(ss, s)
	}
	return ss, true
}

// Put sets (*md)[k] = v, making the map when it is nil: a document read back
// without metadata keeps a nil map.
func Put(md *map[string]any, k string, v any) {
	if *md == nil {
		*md = map[string]any{}
	}
	(*md)[k] = v
}

// Distinct refuses a batch in which two documents would land in one backend
// record: key maps a document id to its record id (UUID for weaviatestore,
// PointID for qdrantstore), and a canonical UUID id is its own record id, so
// it can equal another id's derived one. Without the check the backend keeps
// the later document and the earlier one is lost without an error. The error
// wraps twostage.ErrInvalidInput and starts with pkg.
func Distinct(pkg string, docs []twostage.Document, key func(id string) string) error {
	seen := make(map[string]string, len(docs))
	for _, doc := range docs {
		k := key(doc.ID)
		if other, dup := seen[k]; dup {
			return fmt.Errorf("%s: ids %q and %q map to the same record %s: %w", pkg, other, doc.ID, k, twostage.ErrInvalidInput)
		}
		seen[k] = doc.ID
	}
	return nil
}
