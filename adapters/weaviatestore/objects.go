package weaviatestore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/fault"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

	"twostage"
	"twostage/adapters/internal/layout"
	"twostage/internal/par"
)

// ObjectID returns the Weaviate object id of a document id: a canonical
// lower-case UUID maps to itself, anything else to
// UUIDv5(NameSpaceURL, "twostage:"+id).
func ObjectID(id string) string {
	return layout.UUID(id)
}

const encodedPrefix = "tsk_"

func (d *Driver) reservedProp(p string) bool {
	switch p {
	case d.opts.TextKey, d.opts.IDKey, keysProp, intsProp, floatsProp, "id", "_id", "_additional":
		return true
	}
	return false
}

// propName maps a metadata key to its property name: the key itself when
// Weaviate accepts it unchanged, else "tsk_" + hex(key).
func (d *Driver) propName(key string) (string, error) {
	if d.metaKeys != nil {
		return key, nil // attached: the keys are the class's own properties
	}
	if p, ok := d.propNames.Load(key); ok {
		return p.(string), nil
	}
	p, err := d.encodeKey(key)
	if err == nil {
		d.propNames.Store(key, p)
	}
	return p, err
}

func (d *Driver) encodeKey(key string) (string, error) {
	if propRE.MatchString(key) && key[0] != '_' && key == lowerFirst(key) &&
		!d.reservedProp(key) && !strings.HasPrefix(key, encodedPrefix) {
		return key, nil
	}
	p := encodedPrefix + hex.EncodeToString([]byte(key))
	if len(p) > 230 {
		return "", fmt.Errorf("weaviatestore: metadata key %q is too long to encode as a property name: %w", key, twostage.ErrInvalidInput)
	}
	return p, nil
}

// keyOf is the inverse of propName.
func keyOf(prop string) string {
	if rest, ok := strings.CutPrefix(prop, encodedPrefix); ok {
		if b, err := hex.DecodeString(rest); err == nil && utf8.Valid(b) {
			return string(b)
		}
	}
	return prop
}

// isMetaProp reports whether a schema property holds metadata.
func (d *Driver) isMetaProp(p string) bool {
	if d.reservedProp(p) {
		return false
	}
	return d.metaKeys == nil || d.metaKeys[p]
}

func dataType(v any) string {
	switch v.(type) {
	case string:
		return "text"
	case []string:
		return "text[]"
	case bool:
		return "boolean"
	case int64:
		// Weaviate's GraphQL answers int properties outside the 32-bit
		// range with null, so an int64 key becomes a number property
		// (exact to 2^53) marked as holding int64 values.
		return int64Type
	default:
		return "number"
	}
}

// int64Type is the type propType gives a number property created for an
// int64 key: its values read back as int64 unless the object lists the
// key in floatsProp, so searches need no per-object hint for the common
// case of integer metadata.
const int64Type = "int64"

// int64Desc marks, in its description, a number property created for
// int64 values.
const int64Desc = "twostage: number property holding int64 values"

// hint names the bookkeeping list a numeric value needs on a property of
// type dt (as propType gives it): an int64 on a plain number property (it
// would read back as float64), an integral float64 on an int or int64
// property (it would read back as int64).
func hint(v any, dt string) string {
	switch x := v.(type) {
	case int64:
		if dt == "number" {
			return intsProp
		}
	case float64:
		if intTyped(dt) && x == math.Trunc(x) {
			return floatsProp
		}
	}
	return ""
}

// intTyped reports whether values of a property of type dt read back as
// int64 by default.
func intTyped(dt string) bool { return dt == "int" || dt == int64Type }

// propType is a property's data type, int64Type for a number property
// created for int64 values.
func propType(p *models.Property) string {
	if p == nil || len(p.DataType) == 0 {
		return ""
	}
	if p.DataType[0] == "number" && p.Description == int64Desc {
		return int64Type
	}
	return p.DataType[0]
}

// fits reports whether Weaviate takes the portable value v on a property of
// type dt (as propType gives it). A type twostage never creates (an
// attached class's date or uuid) is left to the server.
func fits(v any, dt string) bool {
	switch dt {
	case "text", "string":
		_, ok := v.(string)
		return ok
	case "text[]", "string[]":
		_, ok := v.([]string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number", int64Type:
		switch v.(type) {
		case int64, float64:
			return true
		}
		return false
	case "int":
		// Weaviate rejects a fraction, and its GraphQL answers a value
		// outside the 32-bit range with null: it would be lost on read.
		switch x := v.(type) {
		case int64:
			return x >= math.MinInt32 && x <= math.MaxInt32
		case float64:
			return x == math.Trunc(x) && x >= math.MinInt32 && x <= math.MaxInt32
		}
		return false
	}
	return true
}

// portableType names a metadata value's type for an error: its Go type,
// "list" for a []string.
func portableType(v any) string {
	if _, ok := v.([]string); ok {
		return "list"
	}
	return fmt.Sprintf("%T", v)
}

// ensureProps adds the properties docs need that the class lacks. It
// refuses, before changing anything, a value whose type the key's property
// cannot hold.
func (d *Driver) ensureProps(ctx context.Context, docs []twostage.Document) error {
	props, _, err := d.schema(ctx, false)
	if err != nil {
		return err
	}
	need := map[string]string{}
	for _, doc := range docs {
		for k, v := range doc.Metadata {
			if d.metaKeys != nil && !d.metaKeys[k] {
				return fmt.Errorf("weaviatestore: document %q: metadata key %q is not in Options.MetadataKeys: %w", doc.ID, k, twostage.ErrInvalidInput)
			}
			p, err := d.propName(k)
			if err != nil {
				return err
			}
			dt := propType(props[p])
			if dt == "" {
				if dt = need[p]; dt == "" {
					dt = dataType(v)
					need[p] = dt
				}
			}
			if !fits(v, dt) {
				return fmt.Errorf("weaviatestore: document %q: metadata %q: a %s value on a %s property (a key keeps one type per class): %w",
					doc.ID, k, portableType(v), dt, twostage.ErrInvalidInput)
			}
			if h := hint(v, dt); h != "" && props[h] == nil {
				need[h] = "text[]" // created the first time a key mixes ints and floats
			}
		}
	}
	for _, p := range []string{d.opts.TextKey, d.opts.IDKey, keysProp} {
		if _, ok := props[p]; !ok {
			need[p] = "text" // attached classes lack the bookkeeping properties
			if p == keysProp {
				need[p] = "text[]"
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	d.schemaMu.Lock() // one schema change at a time
	defer d.schemaMu.Unlock()
	if props, _, err = d.schema(ctx, true); err != nil {
		return err
	}
	names := make([]string, 0, len(need))
	for p := range need {
		names = append(names, p)
	}
	slices.Sort(names)
	f, t := false, true
	for _, p := range names {
		if _, ok := props[p]; ok {
			continue
		}
		prop := &models.Property{Name: p, DataType: []string{need[p]}, IndexFilterable: &t, IndexSearchable: &f}
		if need[p] == int64Type {
			prop.DataType, prop.Description = []string{"number"}, int64Desc
		}
		if p == intsProp || p == floatsProp {
			prop.IndexFilterable = &f
		}
		if strings.HasPrefix(need[p], "text") {
			prop.Tokenization = "field"
		}
		if p == d.opts.TextKey {
			prop.Tokenization, prop.IndexFilterable, prop.IndexSearchable = "word", &f, &t
		}
		err := d.do(ctx, "add property", func(ctx context.Context) error {
			return d.client.Schema().PropertyCreator().WithClassName(d.class).WithProperty(prop).Do(ctx)
		})
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
	}
	_, _, err = d.schema(ctx, true)
	return err
}

// object converts a validated document; props is the schema after
// ensureProps.
func (d *Driver) object(doc twostage.Document, props map[string]*models.Property) (*models.Object, error) {
	out := map[string]any{d.opts.TextKey: doc.Text, d.opts.IDKey: doc.ID}
	keys := make([]string, 0, len(doc.Metadata))
	var hints map[string][]string
	for k, v := range doc.Metadata {
		p, err := d.propName(k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
		if h := hint(v, propType(props[p])); h != "" {
			if hints == nil {
				hints = map[string][]string{}
			}
			hints[h] = append(hints[h], k)
		}
		if ss, ok := v.([]string); ok && ss == nil {
			v = []string{} // JSON [] rather than null
		}
		out[p] = v
	}
	slices.Sort(keys)
	out[keysProp] = keys
	for h, ks := range hints {
		slices.Sort(ks)
		out[h] = ks
	}
	return &models.Object{
		Class:      d.class,
		ID:         strfmt.UUID(ObjectID(doc.ID)),
		Properties: out,
		Vector:     models.C11yVector(doc.Vector),
	}, nil
}

// maxExactInt is the largest magnitude of an int64 a number property holds
// exactly (2^53): Weaviate keeps numbers as float64.
const maxExactInt = 1 << 53

// checkInts refuses, before anything is written, an int64 metadata value
// that a number property would round (or read back as a float64).
func checkInts(docs []twostage.Document) error {
	for _, doc := range docs {
		for k, v := range doc.Metadata {
			if x, ok := v.(int64); ok && (x > maxExactInt || x < -maxExactInt) {
				return fmt.Errorf("weaviatestore: document %q: metadata %q: integer %d is beyond ±2^53, which Weaviate cannot hold exactly: %w", doc.ID, k, x, twostage.ErrInvalidInput)
			}
		}
	}
	return nil
}

// Upsert implements driver.Driver: batch imports of Options.BatchSize
// objects. Objects the server rejects are named in a *BatchError; the rest
// of the batch is written.
func (d *Driver) Upsert(ctx context.Context, docs []twostage.Document) error {
	if err := checkInts(docs); err != nil {
		return err
	}
	if err := layout.Distinct("weaviatestore: upsert", docs, ObjectID); err != nil {
		return err
	}
	if err := d.ensureProps(ctx, docs); err != nil {
		return err
	}
	props, _, err := d.schema(ctx, false)
	if err != nil {
		return err
	}
	objs := make([]*models.Object, len(docs))
	byUUID := make(map[strfmt.UUID]string, len(docs))
	for i, doc := range docs {
		o, err := d.object(doc, props)
		if err != nil {
			return err
		}
		objs[i] = o
		byUUID[o.ID] = doc.ID
	}
	be := &BatchError{Op: "upsert", Total: len(docs), Causes: map[string]string{}}
	for start := 0; start < len(objs); start += d.opts.BatchSize {
		end := min(start+d.opts.BatchSize, len(objs))
		chunk := objs[start:end]
		var resp []models.ObjectsGetResponse
		attempt := 0
		err := d.do(ctx, "batch import", func(ctx context.Context) error {
			attempt++
			// A crash in the middle of a batch can leave objects stored but
			// missing from the vector and inverted indexes, and Weaviate
			// skips re-indexing an object re-imported unchanged. So when an
			// earlier attempt (or an earlier failed Upsert) may have been cut
			// off mid-way, delete those objects before importing them again.
			if err := d.repair(ctx); err != nil {
				return err
			}
			if err := d.deleteSuspect(ctx, chunk, attempt > 1); err != nil {
				return err
			}
			var err error
			resp, err = d.client.Batch().ObjectsBatcher().WithObjects(chunk...).Do(ctx)
			return err
		})
		if err != nil {
			for _, o := range objs[start:] {
				d.suspect.Store(o.ID, true)
			}
			for _, doc := range docs[start:] {
				be.Failed = append(be.Failed, doc.ID)
			}
			be.Err = err
			return be
		}
		for _, o := range chunk {
			d.suspect.Delete(o.ID)
		}
		d.remember(chunk)
		if err := d.record(ctx, chunk); err != nil {
			for _, doc := range docs[start:] {
				be.Failed = append(be.Failed, doc.ID)
			}
			be.Err = err
			return be
		}
		for _, r := range resp {
			if r.Result == nil || r.Result.Errors == nil || len(r.Result.Errors.Error) == 0 {
				continue
			}
			id := byUUID[r.ID]
			if id == "" {
				id = string(r.ID)
			}
			var msgs []string
			for _, e := range r.Result.Errors.Error {
				msgs = append(msgs, e.Message)
			}
			be.Failed = append(be.Failed, id)
			be.Causes[id] = strings.Join(msgs, "; ")
		}
	}
	if len(be.Failed) > 0 {
		be.Err = ErrRejected
		return be
	}
	return nil
}

// deleteSuspect deletes, one by one through REST (which does not depend on
// the indexes), the objects of chunk whose state is unknown: all of them
// when all is set, else those an earlier failed Upsert left suspect.
func (d *Driver) deleteSuspect(ctx context.Context, chunk []*models.Object, all bool) error {
	var uuids []string
	for _, o := range chunk {
		if _, ok := d.suspect.Load(o.ID); all || ok {
			uuids = append(uuids, string(o.ID))
		}
	}
	return d.deleteObjects(ctx, uuids)
}

// deleteObjects deletes objects one by one through REST; missing ones are
// ignored.
func (d *Driver) deleteObjects(ctx context.Context, uuids []string) error {
	if len(uuids) == 0 {
		return nil
	}
	errs := make([]error, len(uuids))
	par.For(len(uuids), restParallel, func(i int) error {
		err := d.client.Data().Deleter().WithClassName(d.class).WithID(uuids[i]).Do(ctx)
		var we *fault.WeaviateClientError
		if errors.As(err, &we) && we.StatusCode == 404 {
			err = nil
		}
		errs[i] = err
		return nil // every delete is tried; errs collects the failures
	})
	return errors.Join(errs...)
}

// restParallel bounds the REST requests one call has in flight.
const restParallel = 8

// replayKeep is the number of recently acknowledged chunks kept for replay.
const replayKeep = 2

// remember records an acknowledged chunk for replay after an outage; a
// newer write of an id supersedes its pending replay (the write deleted and
// re-imported it, see deleteSuspect).
func (d *Driver) remember(chunk []*models.Object) {
	d.replayMu.Lock()
	defer d.replayMu.Unlock()
	for _, o := range chunk {
		delete(d.replay, o.ID)
	}
	d.recent = append(d.recent, chunk)
	if len(d.recent) > replayKeep {
		d.recent = d.recent[len(d.recent)-replayKeep:]
	}
}

// outage notes that the server was unreachable: it may have crashed, losing
// the index entries of the writes it acknowledged last, so those are queued
// for replay.
func (d *Driver) outage() {
	d.journal.pending.Store(true) // see afterOutage
	d.replayMu.Lock()
	defer d.replayMu.Unlock()
	for _, chunk := range d.recent {
		for _, o := range chunk {
			if d.replay == nil {
				d.replay = map[strfmt.UUID]*models.Object{}
			}
			d.replay[o.ID] = o
		}
	}
	d.recent = nil
}

// repair deletes and re-imports the writes queued by outage, once the server
// answers again. Calls run it first; it does nothing when nothing is queued.
func (d *Driver) repair(ctx context.Context) error {
	if err := d.afterOutage(ctx); err != nil {
		return err
	}
	d.replayMu.Lock()
	defer d.replayMu.Unlock()
	if len(d.replay) == 0 {
		return nil
	}
	objs := make([]*models.Object, 0, len(d.replay))
	uuids := make([]string, 0, len(d.replay))
	for _, o := range d.replay {
		objs = append(objs, o)
		uuids = append(uuids, string(o.ID))
	}
	slices.SortFunc(objs, func(a, b *models.Object) int { return strings.Compare(string(a.ID), string(b.ID)) })
	if err := d.deleteObjects(ctx, uuids); err != nil {
		return err
	}
	for start := 0; start < len(objs); start += d.opts.BatchSize {
		end := min(start+d.opts.BatchSize, len(objs))
		resp, err := d.client.Batch().ObjectsBatcher().WithObjects(objs[start:end]...).Do(ctx)
		if err != nil {
			return err
		}
		for _, r := range resp {
			if r.Result != nil && r.Result.Errors != nil && len(r.Result.Errors.Error) > 0 {
				slog.Warn("weaviatestore: replay after an outage: object rejected", "class", d.class, "id", r.ID, "error", r.Result.Errors.Error[0].Message)
			}
		}
	}
	d.replay = nil
	return nil
}

// maxIDsPerQuery keeps id lists under Weaviate's QUERY_MAXIMUM_RESULTS.
const maxIDsPerQuery = 1000

func idFilter(uuids []string) *filters.WhereBuilder {
	return filters.Where().WithPath([]string{"id"}).WithOperator(filters.ContainsAny).WithValueText(uuids...)
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, ids []string) error {
	for start := 0; start < len(ids); start += maxIDsPerQuery {
		end := min(start+maxIDsPerQuery, len(ids))
		uuids := make([]string, 0, end-start)
		for _, id := range ids[start:end] {
			uuids = append(uuids, ObjectID(id))
		}
		err := d.do(ctx, "batch delete", func(ctx context.Context) error {
			_, err := d.client.Batch().ObjectsBatchDeleter().WithClassName(d.class).
				WithWhere(idFilter(uuids)).WithOutput("minimal").Do(ctx)
			return err
		})
		if err != nil {
			return &BatchError{Op: "delete", Failed: slices.Clone(ids[start:]), Total: len(ids), Err: err}
		}
	}
	return nil
}

// fields lists the properties to read plus _additional. The key list is
// not read (GraphQL returns "" and [] as such, and null for absent
// properties); the hint lists only when they exist and can matter.
func (d *Driver) fields(props map[string]*models.Property, additional ...string) []graphql.Field {
	key := strings.Join(additional, ",")
	id := reflect.ValueOf(props).Pointer() // a refreshed schema is a new map
	d.mu.Lock()
	if f, ok := d.fieldCache[key]; ok && d.fieldProps == id {
		d.mu.Unlock()
		return f
	}
	d.mu.Unlock()
	out := d.buildFields(props, additional)
	d.mu.Lock()
	if d.fieldProps != id {
		d.fieldCache, d.fieldProps = map[string][]graphql.Field{}, id
	}
	d.fieldCache[key] = out
	d.mu.Unlock()
	return out
}

func (d *Driver) buildFields(props map[string]*models.Property, additional []string) []graphql.Field {
	var out []graphql.Field
	names := make([]string, 0, len(props))
	numbers, ints := false, false
	for p, prop := range props {
		if d.isMetaProp(p) || p == d.opts.TextKey || p == d.opts.IDKey {
			names = append(names, p)
			numbers = numbers || (d.isMetaProp(p) && propType(prop) == "number")
			ints = ints || (d.isMetaProp(p) && intTyped(propType(prop)))
		}
	}
	if _, ok := props[intsProp]; ok && numbers {
		names = append(names, intsProp)
	}
	if _, ok := props[floatsProp]; ok && ints {
		names = append(names, floatsProp)
	}
	slices.Sort(names)
	for _, p := range names {
		out = append(out, graphql.Field{Name: p})
	}
	add := graphql.Field{Name: "_additional"}
	for _, a := range append([]string{"id"}, additional...) {
		add.Fields = append(add.Fields, graphql.Field{Name: a})
	}
	return append(out, add)
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, ids []string) ([]twostage.Document, error) {
	props, _, err := d.schema(ctx, false)
	if err != nil {
		return nil, err
	}
	var out []twostage.Document
	for start := 0; start < len(ids); start += maxIDsPerQuery {
		end := min(start+maxIDsPerQuery, len(ids))
		uuids := make([]string, 0, end-start)
		for _, id := range ids[start:end] {
			uuids = append(uuids, ObjectID(id))
		}
		var resp *models.GraphQLResponse
		err := d.do(ctx, "get", func(ctx context.Context) error {
			if err := d.repair(ctx); err != nil {
				return err
			}
			var err error
			resp, err = d.client.GraphQL().Get().WithClassName(d.class).
				WithFields(d.fields(props, "vector")...).
				WithWhere(idFilter(uuids)).WithLimit(len(uuids)).Do(ctx)
			return gqlErr(resp, err)
		})
		if err != nil {
			return nil, err
		}
		found := map[string]bool{}
		for _, o := range d.objects(resp, "Get") {
			doc := d.document(o, props, true)
			if add, ok := o["_additional"].(map[string]any); ok {
				id, _ := add["id"].(string)
				found[id] = true
			}
			out = append(out, doc)
		}
		var missing []string
		for _, u := range uuids {
			if !found[u] {
				missing = append(missing, u)
			}
		}
		more, err := d.getREST(ctx, missing, props)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// getREST reads objects one by one through the REST objects endpoint,
// which reads the object store rather than the inverted index that GraphQL
// id filters use. Get falls back to it for ids the filter did not return:
// after a crash in the middle of a batch, Weaviate can hold objects whose
// id index entries were lost (and an identical re-import does not restore
// them). Missing objects are simply absent from the result.
func (d *Driver) getREST(ctx context.Context, uuids []string, props map[string]*models.Property) ([]twostage.Document, error) {
	if len(uuids) == 0 {
		return nil, nil
	}
	type result struct {
		doc   twostage.Document
		found bool
		err   error
	}
	results := make([]result, len(uuids))
	par.For(len(uuids), restParallel, func(i int) error {
		o, err := d.restObject(ctx, uuids[i])
		if err != nil {
			results[i].err = err
			return nil
		}
		if o == nil {
			return nil
		}
		m, _ := o.Properties.(map[string]any)
		conv := make(map[string]any, len(m)+1)
		for k, v := range m {
			conv[k] = v
		}
		vec := make([]any, len(o.Vector))
		for j, x := range o.Vector {
			vec[j] = float64(x)
		}
		conv["_additional"] = map[string]any{"id": string(o.ID), "vector": vec}
		results[i] = result{doc: d.document(conv, props, true), found: true}
		return nil // every get is tried; results hold the errors
	})
	var out []twostage.Document
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		if r.found {
			out = append(out, r.doc)
		}
	}
	return out, nil
}

// Search implements driver.Driver: nearVector with a where filter.
func (d *Driver) Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error) {
	props, where, none, err := d.prepare(ctx, q.Filter)
	if err != nil || none {
		return nil, err
	}
	add := []string{"distance"}
	if q.WithVectors {
		add = append(add, "vector")
	}
	get := d.client.GraphQL().Get().WithClassName(d.class).WithFields(d.fields(props, add...)...).
		WithNearVector(d.client.GraphQL().NearVectorArgBuilder().WithVector(q.Vector)).WithLimit(q.K)
	objs, err := d.get(ctx, "search", get, where)
	if err != nil {
		return nil, err
	}
	hits := make([]twostage.Hit, 0, len(objs))
	for _, o := range objs {
		add, _ := o["_additional"].(map[string]any)
		dist, ok := num(add["distance"])
		if !ok {
			return nil, fmt.Errorf("weaviatestore: search: hit without a distance")
		}
		hits = append(hits, twostage.Hit{Document: d.document(o, props, q.WithVectors), RetrievalScore: d.score(dist)})
	}
	return hits, nil
}

// get runs a GraphQL Get query (with the filter, when there is one) under
// the retry policy, after repairing what an outage may have left, and
// returns the objects found.
func (d *Driver) get(ctx context.Context, op string, get *graphql.GetBuilder, where *filters.WhereBuilder) ([]map[string]any, error) {
	if where != nil {
		get = get.WithWhere(where)
	}
	var resp *models.GraphQLResponse
	err := d.do(ctx, op, func(ctx context.Context) error {
		if err := d.repair(ctx); err != nil {
			return err
		}
		var err error
		resp, err = get.Do(ctx)
		return gqlErr(resp, err)
	})
	if err != nil {
		return nil, err
	}
	return d.objects(resp, "Get"), nil
}

func (d *Driver) score(dist float64) float64 {
	if d.info.Metric == twostage.Cosine {
		return 1 - dist
	}
	return -dist // dot: -dot product; l2-squared: the squared distance
}

// HybridSearch implements driver.HybridSearcher with Weaviate's hybrid
// query: BM25 over the text property fused with vector search. Alpha 1 is
// pure vector search, 0 pure BM25. RetrievalScore is Weaviate's fused score.
func (d *Driver) HybridSearch(ctx context.Context, q twostage.HybridQuery) ([]twostage.Hit, error) {
	props, where, none, err := d.prepare(ctx, q.Filter)
	if err != nil || none {
		return nil, err
	}
	h := (&graphql.HybridArgumentBuilder{}).WithQuery(q.Text).WithVector(q.Vector).
		WithAlpha(float32(q.Alpha)).WithProperties([]string{d.opts.TextKey})
	get := d.client.GraphQL().Get().WithClassName(d.class).WithFields(d.fields(props, "score")...).
		WithHybrid(h).WithLimit(q.K)
	objs, err := d.get(ctx, "hybrid search", get, where)
	if err != nil {
		return nil, err
	}
	hits := make([]twostage.Hit, 0, len(objs))
	for _, o := range objs {
		add, _ := o["_additional"].(map[string]any)
		s, _ := num(add["score"])
		hits = append(hits, twostage.Hit{Document: d.document(o, props, false), RetrievalScore: s})
	}
	return hits, nil
}

// Count implements driver.Driver.
func (d *Driver) Count(ctx context.Context) (int, error) {
	var resp *models.GraphQLResponse
	err := d.do(ctx, "count", func(ctx context.Context) error {
		if err := d.repair(ctx); err != nil {
			return err
		}
		var err error
		resp, err = d.client.GraphQL().Aggregate().WithClassName(d.class).
			WithFields(graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}}).Do(ctx)
		return gqlErr(resp, err)
	})
	if err != nil {
		return 0, err
	}
	objs := d.objects(resp, "Aggregate")
	if len(objs) == 0 {
		return 0, fmt.Errorf("weaviatestore: count: empty aggregate for class %q", d.class)
	}
	meta, _ := objs[0]["meta"].(map[string]any)
	n, ok := num(meta["count"])
	if !ok {
		return 0, fmt.Errorf("weaviatestore: count: no count in the aggregate for class %q", d.class)
	}
	return int(n), nil
}

// gqlErr turns GraphQL errors (which come with status 200) into an error.
func gqlErr(resp *models.GraphQLResponse, err error) error {
	if err != nil || resp == nil || len(resp.Errors) == 0 {
		return err
	}
	msgs := make([]string, len(resp.Errors))
	for i, e := range resp.Errors {
		msgs[i] = e.Message
	}
	return &GraphQLError{Messages: msgs}
}

// GraphQLError is an error reported in a GraphQL response body.
type GraphQLError struct {
	Messages []string
}

// Error joins the messages.
func (e *GraphQLError) Error() string { return "graphql: " + strings.Join(e.Messages, "; ") }

func (d *Driver) objects(resp *models.GraphQLResponse, kind string) []map[string]any {
	if resp == nil {
		return nil
	}
	top, _ := resp.Data[kind].(map[string]any)
	list, _ := top[d.class].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, o := range list {
		if m, ok := o.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string: // _additional.score is a string
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// document converts a GraphQL object back.
func (d *Driver) document(o map[string]any, props map[string]*models.Property, withVector bool) twostage.Document {
	add, _ := o["_additional"].(map[string]any)
	doc := twostage.Document{}
	doc.ID, _ = add["id"].(string)
	if s, ok := o[d.opts.IDKey].(string); ok && s != "" {
		doc.ID = s
	}
	doc.Text, _ = o[d.opts.TextKey].(string)
	ints, floats := stringSet(o[intsProp]), stringSet(o[floatsProp])
	for p, prop := range props {
		if !d.isMetaProp(p) {
			continue
		}
		key := p
		if d.metaKeys == nil {
			key = keyOf(p)
		}
		dt := propType(prop)
		var mv any
		switch x := o[p].(type) {
		case nil:
			continue // absent
		case string:
			mv = x
		case bool:
			mv = x
		case float64:
			asInt := (intTyped(dt) && !floats[key]) || (!intTyped(dt) && ints[key])
			if asInt && x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				mv = int64(x)
			} else {
				mv = x
			}
		case []any:
			ss, ok := layout.Strings(x, func(e any) (string, bool) { s, isStr := e.(string); return s, isStr })
			if !ok {
				continue
			}
			mv = ss
		default:
			continue
		}
		layout.Put(&doc.Metadata, key, mv)
	}
	if withVector {
		if v, ok := add["vector"].([]any); ok {
			doc.Vector = gqlVector(v)
		}
	}
	return doc
}

// gqlVector converts a vector as GraphQL's JSON decodes it (numbers as
// float64) to float32s; an element that is not a number reads as 0.
func gqlVector(raw []any) []float32 {
	v := make([]float32, len(raw))
	for i, x := range raw {
		f, _ := x.(float64)
		v[i] = float32(f)
	}
	return v
}

// stringSet reads a text[] hint list; nil when absent or empty.
func stringSet(v any) map[string]bool {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil
	}
	set := make(map[string]bool, len(l))
	for _, k := range l {
		if s, ok := k.(string); ok {
			set[s] = true
		}
	}
	return set
}
