package weaviatestore

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/go-openapi/strfmt"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

	"twostage"
	"twostage/driver"
	"twostage/internal/par"
)

var _ driver.Checker = (*Driver)(nil)

const (
	// checkPage is the number of objects one cursor request reads.
	checkPage = 500
	// probeSize is the number of objects one probe query checks.
	probeSize = 100
	// checkWorkers is the default number of probe queries in flight.
	checkWorkers = 4
	// distTolerance bounds |reported - expected| distance, relative to
	// max(1, |expected|), for a probe hit to count as the stored vector.
	distTolerance = 1e-3
)

// Check implements driver.Checker. It reads the class with the REST
// objects cursor (the object store: every object Weaviate holds, with its
// vector, checkPage at a time) and probes the vector index for each
// object: one nearVector query per probeSize objects, with the vector of
// one of them and a where filter on their ids, limit probeSize. With an
// allow list that small Weaviate searches exactly over the index's own
// entries (HNSW's flat search skips ids that have no graph node), so the
// query returns exactly the probed objects the index holds, each with its
// distance to the query vector, which the check compares with the distance
// it computes from the stored vectors. An object the probe does not return
// is missing (its index entry, or its id's inverted-index entry, is lost);
// one returned at another distance is mismatched. Objects without a vector
// are counted but not probed.
//
// A crash can also keep a graph node and lose the links to it: the object
// is then found by the probe but not by a search. Such nodes are among the
// last the server indexed before the crash (it loses a suffix of its HNSW
// log), so the check searches with their own vectors (without a filter,
// limit reachLimit; 25 searches per request) for the reachRecent most
// recently updated objects and, when the probe found objects missing, for
// every object updated since reachSlack before the earliest of them (a
// second cursor pass when those are more). With
// CheckOptions.Exhaustive it searches for every object, about one query
// per object. Not under Dot, where an object need not rank high for its
// own vector.
//
// Extra index entries (a graph node whose object is gone) cannot be
// listed through Weaviate's API; Extra stays empty.
//
// Repair deletes each finding over REST and imports it again, unchanged (an
// unchanged re-import alone does not re-index it), page by page as the
// check goes, each object read again just before. Weaviate has no
// conditional write, so a write to the same id in the moment between that
// read and the re-import can be undone; repair while no writer overwrites
// the ids being repaired (the usual case after a crash: new writes go to
// new ids or come after).
func (d *Driver) Check(ctx context.Context, opts twostage.CheckOptions) (twostage.CheckReport, error) {
	c := &checkRun{d: d, opts: opts, first: opts.FirstIDsOrDefault(), workers: opts.Workers, lostSince: math.MaxInt64}
	if c.workers == 0 {
		c.workers = checkWorkers
	}
	reachAll := opts.Exhaustive
	if d.info.Metric == twostage.Dot {
		reachAll = false
	}
	err := d.cursor(ctx, func(page []*models.Object) error {
		reach := func(*models.Object) bool { return false }
		if reachAll {
			reach = nil
		}
		missing, mismatched, err := d.probe(ctx, page, c.workers, reach)
		if err != nil {
			return err
		}
		c.rep.Checked += len(page)
		if err := c.found(ctx, missing, mismatched); err != nil {
			return err
		}
		if !reachAll {
			c.remember(page, missing, mismatched)
		}
		if opts.Progress != nil {
			opts.Progress(c.rep.Checked)
		}
		return nil
	})
	if err != nil || reachAll || d.info.Metric == twostage.Dot {
		return c.rep, err
	}
	return c.rep, c.searchRecent(ctx)
}

const (
	// reachRecent is the number of most recently updated objects a check
	// searches for with their own vectors.
	reachRecent = 1024
	// reachSlack widens the searched window before the earliest object
	// found missing (milliseconds of lastUpdateTimeUnix).
	reachSlack = 60_000
)

// checkRun is the state of one Check.
type checkRun struct {
	d       *Driver
	opts    twostage.CheckOptions
	first   int
	workers int
	rep     twostage.CheckReport
	// recent holds the reachRecent most recently updated objects found by
	// the probe (a min-heap on lastUpdateTimeUnix); lostSince is the
	// earliest update time of an object found missing.
	recent    objHeap
	lostSince int64
	reported  map[strfmt.UUID]bool // findings so far, each reported once
}

// cursor calls f for each page of the class's objects (with vectors).
func (d *Driver) cursor(ctx context.Context, f func([]*models.Object) error) error {
	after := ""
	for {
		var page []*models.Object
		err := d.do(ctx, "check: read objects", func(ctx context.Context) error {
			if err := d.repair(ctx); err != nil {
				return err
			}
			var err error
			g := d.client.Data().ObjectsGetter().WithClassName(d.class).WithLimit(checkPage).WithVector()
			if after != "" {
				g = g.WithAfter(after)
			}
			page, err = g.Do(ctx)
			return err
		})
		if err != nil || len(page) == 0 {
			return err
		}
		after = string(page[len(page)-1].ID)
		if err := f(page); err != nil {
			return err
		}
	}
}

// found reports findings and, with Repair, re-imports them.
func (c *checkRun) found(ctx context.Context, missing, mismatched []*models.Object) error {
	if c.reported == nil {
		c.reported = map[strfmt.UUID]bool{}
	}
	for _, o := range append(slices.Clip(missing), mismatched...) {
		c.reported[o.ID] = true
	}
	for _, o := range missing {
		c.rep.Missing.Add(c.d.docID(o), c.first)
		c.lostSince = min(c.lostSince, o.LastUpdateTimeUnix)
	}
	for _, o := range mismatched {
		c.rep.Mismatched.Add(c.d.docID(o), c.first)
	}
	if !c.opts.Repair || len(missing)+len(mismatched) == 0 {
		return nil
	}
	// Re-read them just before: a write since the cursor read must not be
	// undone by re-importing the older version.
	bad := append(slices.Clip(missing), mismatched...)
	uuids := make([]string, len(bad))
	for i, o := range bad {
		uuids[i] = string(o.ID)
	}
	fresh, err := c.d.restObjects(ctx, uuids)
	if err != nil {
		return err
	}
	n, err := c.d.reimport(ctx, fresh)
	c.rep.Repaired += n + len(bad) - len(fresh) // deleted meanwhile: nothing to repair
	return err
}

// remember keeps the most recently updated objects of page the probe found.
func (c *checkRun) remember(page, missing, mismatched []*models.Object) {
	bad := map[strfmt.UUID]bool{}
	for _, o := range append(slices.Clip(missing), mismatched...) {
		bad[o.ID] = true
	}
	for _, o := range page {
		if len(o.Vector) == 0 || bad[o.ID] {
			continue
		}
		if len(c.recent) < reachRecent {
			heap.Push(&c.recent, o)
		} else if o.LastUpdateTimeUnix > c.recent[0].LastUpdateTimeUnix {
			c.recent[0] = o
			heap.Fix(&c.recent, 0)
		}
	}
}

// searchRecent searches for the remembered objects with their own vectors
// and, when objects were found missing earlier than the oldest of those,
// makes a second cursor pass for the objects updated since.
func (c *checkRun) searchRecent(ctx context.Context) error {
	since := c.lostSince - reachSlack
	var objs []*models.Object
	oldest := int64(math.MaxInt64)
	for _, o := range c.recent {
		objs = append(objs, o)
		oldest = min(oldest, o.LastUpdateTimeUnix)
	}
	if err := c.reach(ctx, objs); err != nil {
		return err
	}
	if c.lostSince == math.MaxInt64 || len(c.recent) < reachRecent || since >= oldest {
		return nil // the remembered objects cover the window
	}
	done := map[strfmt.UUID]bool{}
	for _, o := range c.recent {
		done[o.ID] = true
	}
	return c.d.cursor(ctx, func(page []*models.Object) error {
		var objs []*models.Object
		for _, o := range page {
			if o.LastUpdateTimeUnix >= since && len(o.Vector) > 0 && !done[o.ID] && !c.reported[o.ID] {
				objs = append(objs, o)
			}
		}
		return c.reach(ctx, objs)
	})
}

// reach searches for objs with their own vectors and reports (and
// repairs) the ones not found as missing.
func (c *checkRun) reach(ctx context.Context, objs []*models.Object) error {
	unreachable, _, err := c.d.probe(ctx, objs, c.workers, nil)
	if err != nil {
		return err
	}
	return c.found(ctx, unreachable, nil)
}

// objHeap is a min-heap of objects by lastUpdateTimeUnix.
type objHeap []*models.Object

func (h objHeap) Len() int           { return len(h) }
func (h objHeap) Less(i, j int) bool { return h[i].LastUpdateTimeUnix < h[j].LastUpdateTimeUnix }
func (h objHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *objHeap) Push(x any)        { *h = append(*h, x.(*models.Object)) }
func (h *objHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// docID is the document id of an object (its IDKey property, else its
// UUID).
func (d *Driver) docID(o *models.Object) string {
	if m, ok := o.Properties.(map[string]any); ok {
		if s, ok := m[d.opts.IDKey].(string); ok && s != "" {
			return s
		}
	}
	return string(o.ID)
}

// probe checks objs (with their vectors) against the vector index and
// returns those it misses and those it holds at another vector, in the
// order of objs. The own-vector searches run for the objects reach accepts
// (nil: all).
func (d *Driver) probe(ctx context.Context, objs []*models.Object, workers int, reach func(*models.Object) bool) (missing, mismatched []*models.Object, err error) {
	var withVec []*models.Object
	for _, o := range objs {
		if len(o.Vector) > 0 {
			withVec = append(withVec, o)
		}
	}
	n := (len(withVec) + probeSize - 1) / probeSize
	state := make([]probeState, len(withVec))
	err = par.For(n, workers, func(b int) error {
		lo, hi := b*probeSize, min((b+1)*probeSize, len(withVec))
		return d.probeBatch(ctx, withVec[lo:hi], state[lo:hi])
	})
	if err != nil {
		return nil, nil, err
	}
	// An object the index holds can still be unreachable: the crash can
	// lose the links to a node and keep the node. Search for each with its
	// own vector, without a filter.
	if d.info.Metric == twostage.Dot {
		// Under the dot product an object need not be near the top of a
		// search with its own vector: only the filtered probe applies.
		missing, mismatched = split(withVec, state)
		return missing, mismatched, nil
	}
	var todo []int
	for i, o := range withVec {
		if state[i] == probeFound && (reach == nil || reach(o)) {
			todo = append(todo, i)
		}
	}
	n = (len(todo) + reachBatch - 1) / reachBatch
	err = par.For(n, workers, func(b int) error {
		part := todo[b*reachBatch : min((b+1)*reachBatch, len(todo))]
		objs := make([]*models.Object, len(part))
		for j, i := range part {
			objs[j] = withVec[i]
		}
		found, err := d.reachable(ctx, objs)
		for j, i := range part {
			if err == nil && !found[j] {
				state[i] = probeMissing
			}
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	missing, mismatched = split(withVec, state)
	return missing, mismatched, nil
}

// probeState is what probe found for an object.
type probeState byte

const (
	probeFound probeState = iota
	probeMissing
	probeMismatched
)

// split sorts probed objects by their state.
func split(objs []*models.Object, state []probeState) (missing, mismatched []*models.Object) {
	for i, o := range objs {
		switch state[i] {
		case probeMissing:
			missing = append(missing, o)
		case probeMismatched:
			mismatched = append(mismatched, o)
		}
	}
	return missing, mismatched
}

func (d *Driver) probeBatch(ctx context.Context, objs []*models.Object, state []probeState) error {
	q := []float32(objs[0].Vector)
	uuids := make([]string, len(objs))
	for i, o := range objs {
		uuids[i] = string(o.ID)
	}
	var resp *models.GraphQLResponse
	err := d.do(ctx, "check: probe", func(ctx context.Context) error {
		var err error
		resp, err = d.client.GraphQL().Get().WithClassName(d.class).
			WithFields(graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "id"}, {Name: "distance"}}}).
			WithNearVector(d.client.GraphQL().NearVectorArgBuilder().WithVector(q)).
			WithWhere(idFilter(uuids)).WithLimit(len(uuids)).Do(ctx)
		return gqlErr(resp, err)
	})
	if err != nil {
		return err
	}
	got := map[string]float64{}
	for _, o := range d.objects(resp, "Get") {
		add, _ := o["_additional"].(map[string]any)
		id, _ := add["id"].(string)
		if dist, ok := num(add["distance"]); ok {
			got[id] = dist
		}
	}
	for i, o := range objs {
		dist, ok := got[string(o.ID)]
		switch {
		case !ok:
			state[i] = probeMissing
		case len(o.Vector) != len(q):
			state[i] = probeMismatched
		default:
			want := d.distance(q, o.Vector)
			if math.Abs(dist-want) > distTolerance*math.Max(1, math.Abs(want)) {
				state[i] = probeMismatched
			}
		}
	}
	return nil
}

// reachLimit is the limit of the unfiltered search with an object's own
// vector: the object must be among these hits (a few, for duplicates).
const reachLimit = 5

// reachBatch is the number of own-vector searches sent in one GraphQL
// request (as aliased Get queries): it saves a request per search.
const reachBatch = 25

// reachable reports, for each of objs, whether an unfiltered nearVector
// search with its own vector returns it. The searches go in one request.
func (d *Driver) reachable(ctx context.Context, objs []*models.Object) ([]bool, error) {
	var q strings.Builder
	q.WriteString("{Get{")
	for i, o := range objs {
		fmt.Fprintf(&q, "q%d:%s(nearVector:{vector:[", i, d.class)
		for j, x := range o.Vector {
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 32))
		}
		fmt.Fprintf(&q, "]} limit:%d){_additional{id}}\n", reachLimit)
	}
	q.WriteString("}}")
	var resp *models.GraphQLResponse
	err := d.do(ctx, "check: search", func(ctx context.Context) error {
		var err error
		resp, err = d.client.GraphQL().Raw().WithQuery(q.String()).Do(ctx)
		return gqlErr(resp, err)
	})
	if err != nil {
		return nil, err
	}
	get, _ := resp.Data["Get"].(map[string]any)
	out := make([]bool, len(objs))
	for i, o := range objs {
		hits, _ := get[fmt.Sprintf("q%d", i)].([]any)
		for _, h := range hits {
			m, _ := h.(map[string]any)
			add, _ := m["_additional"].(map[string]any)
			if id, _ := add["id"].(string); id == string(o.ID) {
				out[i] = true
			}
		}
	}
	return out, nil
}

// distance is Weaviate's distance between a and b under the class's
// metric.
func (d *Driver) distance(a, b []float32) float64 {
	s := d.info.Metric.Similarity(a, b)
	switch d.info.Metric {
	case twostage.Dot, twostage.L2:
		return -s
	}
	return 1 - s
}

// reimport deletes objs over REST and imports them again as they are,
// which makes Weaviate index them anew. It returns how many were
// re-imported.
func (d *Driver) reimport(ctx context.Context, objs []*models.Object) (int, error) {
	clean := make([]*models.Object, len(objs))
	uuids := make([]string, len(objs))
	for i, o := range objs {
		clean[i] = &models.Object{Class: d.class, ID: o.ID, Properties: o.Properties, Vector: o.Vector, Tenant: o.Tenant}
		uuids[i] = string(o.ID)
	}
	done := 0
	for start := 0; start < len(clean); start += d.opts.BatchSize {
		chunk := clean[start:min(start+d.opts.BatchSize, len(clean))]
		ids := uuids[start:min(start+d.opts.BatchSize, len(clean))]
		err := d.do(ctx, "repair", func(ctx context.Context) error {
			if err := d.deleteObjects(ctx, ids); err != nil {
				return err
			}
			resp, err := d.client.Batch().ObjectsBatcher().WithObjects(chunk...).Do(ctx)
			if err != nil {
				return err
			}
			var errs []string
			for _, r := range resp {
				if r.Result != nil && r.Result.Errors != nil && len(r.Result.Errors.Error) > 0 {
					errs = append(errs, fmt.Sprintf("%s: %s", r.ID, r.Result.Errors.Error[0].Message))
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("weaviatestore: repair: %d objects rejected (%s): %w", len(errs), strings.Join(errs[:min(3, len(errs))], "; "), ErrRejected)
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

// vectorsOf reads objects by UUID with their vectors through GraphQL (only
// the id and vector); the UUIDs the id filter misses are read whole over
// REST, and returned wrapped: an object whose Properties is the
// *models.Object read (its id's inverted-index entry is lost). Deleted
// objects are left out.
func (d *Driver) vectorsOf(ctx context.Context, uuids []string) (objs []*models.Object, err error) {
	found := map[string]bool{}
	for start := 0; start < len(uuids); start += maxIDsPerQuery {
		part := uuids[start:min(start+maxIDsPerQuery, len(uuids))]
		var resp *models.GraphQLResponse
		err := d.do(ctx, "read vectors", func(ctx context.Context) error {
			var err error
			resp, err = d.client.GraphQL().Get().WithClassName(d.class).
				WithFields(graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "id"}, {Name: "vector"}}}).
				WithWhere(idFilter(part)).WithLimit(len(part)).Do(ctx)
			return gqlErr(resp, err)
		})
		if err != nil {
			return nil, err
		}
		for _, o := range d.objects(resp, "Get") {
			add, _ := o["_additional"].(map[string]any)
			id, _ := add["id"].(string)
			raw, _ := add["vector"].([]any)
			found[id] = true
			objs = append(objs, &models.Object{ID: strfmt.UUID(id), Vector: gqlVector(raw)})
		}
	}
	var lost []string
	for _, u := range uuids {
		if !found[u] {
			lost = append(lost, u)
		}
	}
	// Ids the filter did not return: deleted, or stored with their id's
	// inverted-index entry lost. The latter are read whole over REST and
	// marked with a nil vector (missing: the probe cannot find them).
	full, err := d.restObjects(ctx, lost)
	if err != nil {
		return nil, err
	}
	for _, o := range full {
		objs = append(objs, &models.Object{ID: o.ID, Vector: nil, Properties: o})
	}
	return objs, nil
}

// restObject reads the whole object with uuid over REST: nil, nil when
// it is missing.
func (d *Driver) restObject(ctx context.Context, uuid string) (*models.Object, error) {
	var objs []*models.Object
	err := d.do(ctx, "get object", func(ctx context.Context) error {
		var err error
		objs, err = d.client.Data().ObjectsGetter().WithClassName(d.class).WithID(uuid).WithVector().Do(ctx)
		return err
	})
	if errors.Is(err, twostage.ErrNotFound) || (err == nil && len(objs) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return objs[0], nil
}

// restObjects reads whole objects by UUID over REST (parallel, bounded);
// missing ones are left out.
func (d *Driver) restObjects(ctx context.Context, uuids []string) ([]*models.Object, error) {
	out := make([]*models.Object, len(uuids))
	err := par.For(len(uuids), restParallel, func(i int) error {
		o, err := d.restObject(ctx, uuids[i])
		out[i] = o
		return err
	})
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(out, func(o *models.Object) bool { return o == nil }), nil
}

// verify checks the objects with uuids against the vector index and, with
// repair, re-imports the ones missing or mismatched. It returns the
// document ids found wrong. The own-vector searches (see Check) run for the
// objects in tail only, unless the filtered probe finds something wrong:
// a crash loses a suffix of Weaviate's HNSW log, so a node that lost its
// links but not itself is among the last written (tail), or, when nodes
// were lost, near them; then every object is searched for. A nil tail
// searches for every object.
func (d *Driver) verify(ctx context.Context, uuids []string, tail map[string]bool, repair bool) (wrong []string, err error) {
	objs, err := d.vectorsOf(ctx, uuids)
	if err != nil {
		return nil, err
	}
	var probed, lost []*models.Object
	for _, o := range objs {
		if full, ok := o.Properties.(*models.Object); ok {
			lost = append(lost, full)
		} else if len(o.Vector) > 0 {
			probed = append(probed, o)
		}
	}
	none := func(*models.Object) bool { return false }
	missing, mismatched, err := d.probe(ctx, probed, checkWorkers, none)
	if err != nil {
		return nil, err
	}
	reach := func(o *models.Object) bool { return tail[string(o.ID)] }
	if tail == nil || len(missing)+len(mismatched)+len(lost) > 0 {
		reach = nil
	}
	var ok []*models.Object
	bad := map[strfmt.UUID]bool{}
	for _, o := range append(missing, mismatched...) {
		bad[o.ID] = true
	}
	for _, o := range probed {
		if !bad[o.ID] {
			ok = append(ok, o)
		}
	}
	unreachable, _, err := d.probe(ctx, ok, checkWorkers, reach)
	if err != nil {
		return nil, err
	}
	missing = append(missing, unreachable...)
	if len(missing)+len(mismatched)+len(lost) == 0 {
		return nil, nil
	}
	// The probed objects carry only their vectors: read them whole.
	var need []string
	for _, o := range append(missing, mismatched...) {
		need = append(need, string(o.ID))
	}
	full, err := d.restObjects(ctx, need)
	if err != nil {
		return nil, err
	}
	full = append(full, lost...)
	for _, o := range full {
		wrong = append(wrong, d.docID(o))
	}
	if repair {
		if _, err := d.reimport(ctx, full); err != nil {
			return wrong, err
		}
	}
	return wrong, nil
}
