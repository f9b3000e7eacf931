package weaviatestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/google/uuid"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
	"github.com/weaviate/weaviate/entities/models"

	"twostage"
)

// The journal: a durable record, kept in Weaviate itself, of the objects a
// Driver wrote last, so that any process opening the class (not only the
// one that wrote them) can check those objects against the vector index and
// re-index the ones a crash dropped from it.
//
// Why: Weaviate writes an object to its object store and inverted indexes
// through write-ahead logs that survive a SIGKILL, but buffers its HNSW
// commit log (32 KiB in 1.27-1.35) in the process: the index entries of the
// last writes it acknowledged, up to the buffer's worth, are lost when the
// process is killed (weaviate/weaviate#4262). The objects are still
// counted and read, but vector search no longer returns them, and an
// unchanged re-import does not index them again. The buffer holds a few
// hundred bytes per insert (the node and its links), so it covers fewer
// than a few hundred objects; the journal covers the last journalCover.
//
// Layout: class JournalClass (no vectors: its vector index is skipped)
// holds, per written class, journalSlots writer slots of journalPages pages
// of up to journalPageSize object UUIDs. A Driver picks a random slot when
// it opens and fills its pages in turn, overwriting the oldest page, so a
// slot holds at least the last journalCover UUIDs acknowledged by its
// writer. Each acknowledged batch costs one more request: the import of the
// current page (at most journalPageSize UUIDs).
//
// On Open: the pages are read (one query), every listed object is probed
// in the vector index (one filtered query per 100), and each slot's last
// journalTail objects are searched for with their own vectors; once
// anything is found lost, all of them are. After re-indexing, every listed
// object is searched for again with its own vector, until a check finds
// nothing, at most journalRounds times more (re-indexing changes the
// approximate HNSW graph and can leave another object unreachable). After
// an outage (see afterOutage), every listed object is searched for from
// the first check on. What the check costs is in the package's README.md.
//
// Covered: objects a Driver acknowledged, among the last journalCover its
// slot recorded, whose vector-index entries (node or links) a Weaviate
// crash lost, whichever process opens the class next. Not covered: losses
// larger than journalCover objects per writer; more than journalSlots
// concurrent writers on a class (two writers that pick the same slot
// overwrite each other's pages); objects written by other tools or with
// Options.NoJournal; a writer killed between the batch import and its
// journal write (its Upsert did not return, so nothing was acknowledged);
// a process that opened the class before Weaviate restarted and made no
// call while it was down (one that did runs the check again, see
// afterOutage); older objects, outside the journal, whose graph links the
// crash or the re-indexing changed so that a search no longer reaches them
// (seen: up to 16 of 2,000 after a crash that lost 53). Driver.Check
// covers all of these with a full scan, the last only with
// CheckOptions.Exhaustive (an own-vector search per object).
const (
	// JournalClass is the Weaviate class holding the journal.
	JournalClass    = "TwostageJournal"
	journalSlots    = 16
	journalPages    = 5
	journalPageSize = 256
	// journalCover is the number of most recent objects a slot is sure to
	// list.
	journalCover = (journalPages - 1) * journalPageSize
)

type journal struct {
	pending atomic.Bool // the server was unreachable: check the journal (see afterOutage)
	checkMu sync.Mutex  // one journal check at a time

	mu       sync.Mutex
	slot     int
	page     int
	pages    [journalPages][]string
	created  bool
	disabled bool // the journal class could not be created
}

func journalID(class string, slot, page int) strfmt.UUID {
	return strfmt.UUID(uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "twostage-journal:%s:%d:%d", class, slot, page)).String())
}

// ensureJournalClass creates JournalClass unless it exists.
func (d *Driver) ensureJournalClass(ctx context.Context) error {
	var exists bool
	err := d.do(ctx, "journal class exists", func(ctx context.Context) error {
		var err error
		exists, err = d.client.Schema().ClassExistenceChecker().WithClassName(JournalClass).Do(ctx)
		return err
	})
	if err != nil || exists {
		return err
	}
	f := false
	class := &models.Class{
		Class:             JournalClass,
		Description:       "twostage: the objects each writer acknowledged last, checked against the vector index on open",
		Vectorizer:        "none",
		VectorIndexConfig: map[string]any{"skip": true},
		Properties: []*models.Property{
			{Name: "target", DataType: []string{"text"}, Tokenization: "field", IndexFilterable: &f, IndexSearchable: &f},
			{Name: "ids", DataType: []string{"text[]"}, Tokenization: "field", IndexFilterable: &f, IndexSearchable: &f},
			{Name: "written", DataType: []string{"number"}, IndexFilterable: &f},
		},
	}
	err = d.do(ctx, "create journal class", func(ctx context.Context) error {
		return d.client.Schema().ClassCreator().WithClass(class).Do(ctx)
	})
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// record adds an acknowledged chunk to the journal and writes the pages it
// changed. Upsert reports success only after this.
func (d *Driver) record(ctx context.Context, chunk []*models.Object) error {
	if d.opts.NoJournal {
		return nil
	}
	j := &d.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.disabled {
		return nil
	}
	if !j.created {
		if err := d.ensureJournalClass(ctx); err != nil {
			if errors.Is(err, twostage.ErrUnavailable) || ctx.Err() != nil {
				return err
			}
			// For example a user without the right to change the schema:
			// writes go on without the journal, and say so once.
			slog.Warn("weaviatestore: cannot create the journal class; writes go on without it (set Options.NoJournal to silence this)",
				"class", d.class, "journal", JournalClass, "err", err)
			j.disabled = true
			return nil
		}
		j.created = true
	}
	changed := map[int]bool{}
	for _, o := range chunk {
		if len(j.pages[j.page]) == journalPageSize {
			j.page = (j.page + 1) % journalPages
			j.pages[j.page] = j.pages[j.page][:0]
		}
		j.pages[j.page] = append(j.pages[j.page], string(o.ID))
		changed[j.page] = true
	}
	objs := make([]*models.Object, 0, len(changed))
	for p := range changed {
		objs = append(objs, &models.Object{Class: JournalClass, ID: journalID(d.class, j.slot, p),
			Properties: map[string]any{"target": d.class, "ids": append([]string{}, j.pages[p]...), "written": float64(time.Now().UnixMicro())}})
	}
	return d.do(ctx, "journal", func(ctx context.Context) error {
		resp, err := d.client.Batch().ObjectsBatcher().WithObjects(objs...).Do(ctx)
		if err != nil {
			return err
		}
		for _, r := range resp {
			if r.Result != nil && r.Result.Errors != nil && len(r.Result.Errors.Error) > 0 {
				return fmt.Errorf("weaviatestore: journal page rejected: %s: %w", r.Result.Errors.Error[0].Message, ErrRejected)
			}
		}
		return nil
	})
}

// journalTail is the number of most recent objects per writer slot that
// the journal check searches for with their own vectors even when nothing
// else is wrong (see verify).
const journalTail = 128

// journaled returns the UUIDs the journal lists for the class, from every
// writer slot, and the set of each slot's journalTail most recent ones.
func (d *Driver) journaled(ctx context.Context) (all []string, tail map[string]bool, err error) {
	var exists bool
	err = d.do(ctx, "journal class exists", func(ctx context.Context) error {
		var err error
		exists, err = d.client.Schema().ClassExistenceChecker().WithClassName(JournalClass).Do(ctx)
		return err
	})
	if err != nil || !exists {
		return nil, nil, err
	}
	var pageIDs []string
	slotOf := map[string]int{}
	for s := range journalSlots {
		for p := range journalPages {
			id := string(journalID(d.class, s, p))
			pageIDs = append(pageIDs, id)
			slotOf[id] = s
		}
	}
	var resp *models.GraphQLResponse
	err = d.do(ctx, "read journal", func(ctx context.Context) error {
		var err error
		resp, err = d.client.GraphQL().Get().WithClassName(JournalClass).
			WithFields(graphql.Field{Name: "ids"}, graphql.Field{Name: "written"},
				graphql.Field{Name: "_additional", Fields: []graphql.Field{{Name: "id"}}}).
			WithWhere(idFilter(pageIDs)).WithLimit(len(pageIDs)).Do(ctx)
		return gqlErr(resp, err)
	})
	if err != nil {
		return nil, nil, err
	}
	type page struct {
		written float64
		ids     []string
	}
	slots := make([][]page, journalSlots)
	top, _ := resp.Data["Get"].(map[string]any)
	list, _ := top[JournalClass].([]any)
	for _, o := range list {
		m, _ := o.(map[string]any)
		add, _ := m["_additional"].(map[string]any)
		pid, _ := add["id"].(string)
		var pg page
		pg.written, _ = num(m["written"])
		raw, _ := m["ids"].([]any)
		for _, x := range raw {
			if s, ok := x.(string); ok {
				pg.ids = append(pg.ids, s)
			}
		}
		slots[slotOf[pid]] = append(slots[slotOf[pid]], pg)
	}
	seen := map[string]bool{}
	tail = map[string]bool{}
	for _, pages := range slots {
		// Newest page first, newest id first within it.
		slices.SortFunc(pages, func(a, b page) int { return cmp.Compare(b.written, a.written) })
		n := 0
		for _, pg := range pages {
			for i := len(pg.ids) - 1; i >= 0; i-- {
				id := pg.ids[i]
				if n < journalTail {
					tail[id] = true
					n++
				}
				if !seen[id] {
					seen[id] = true
					all = append(all, id)
				}
			}
		}
	}
	return all, tail, nil
}

// recoverJournal checks the objects the journal lists against the vector
// index and re-indexes those a crash dropped from it. NewDriver calls it
// (unless Options.NoJournal); it then picks the writer slot this Driver
// records into.
func (d *Driver) recoverJournal(ctx context.Context) error {
	d.journal.slot = rand.IntN(journalSlots)
	if d.opts.NoJournal {
		return nil
	}
	uuids, tail, err := d.journaled(ctx)
	if err != nil || len(uuids) == 0 {
		return err
	}
	wrong, err := d.repairJournal(ctx, uuids, tail)
	if err != nil {
		return fmt.Errorf("weaviatestore: open: re-indexing the journal's objects: %w", err)
	}
	if len(wrong) > 0 {
		slog.Warn("weaviatestore: re-indexed objects missing from the vector index (lost in a crash)",
			"class", d.class, "count", len(wrong), "first", wrong[:min(5, len(wrong))])
	}
	return nil
}

// RecoverJournal runs the check NewDriver runs on open (see JournalClass)
// again: it checks the objects the journal lists against the vector index,
// re-indexes those missing or mismatched, and returns their document ids.
func (d *Driver) RecoverJournal(ctx context.Context) ([]string, error) {
	uuids, tail, err := d.journaled(ctx)
	if err != nil || len(uuids) == 0 {
		return nil, err
	}
	return d.repairJournal(ctx, uuids, tail)
}

// journalRounds bounds the checks repairJournal runs.
const journalRounds = 3

// repairJournal checks the journaled objects (own-vector searches for those
// in tail, or for all with a nil tail; see verify) and re-indexes those
// lost, then checks all of them again, with own-vector searches for every
// one, until a check finds nothing, at most journalRounds checks after the
// first (then it logs what is left and returns no error): re-indexing changes Weaviate's approximate HNSW graph, and can
// leave another journaled object unreachable. It returns the document ids
// it re-indexed, each once, in the order found.
func (d *Driver) repairJournal(ctx context.Context, uuids []string, tail map[string]bool) ([]string, error) {
	var all []string
	seen := map[string]bool{}
	for round := 0; ; round++ {
		wrong, err := d.verify(ctx, uuids, tail, true)
		for _, id := range wrong {
			if !seen[id] {
				seen[id] = true
				all = append(all, id)
			}
		}
		if err != nil || len(wrong) == 0 {
			return all, err
		}
		if round == journalRounds {
			// The objects are stored and re-imported; only the graph
			// misses them. Not an error: Open and the caller's call go on.
			slog.Warn("weaviatestore: journaled objects still unreachable after re-indexing; run twostage check --repair",
				"class", d.class, "rounds", journalRounds, "count", len(wrong), "first", wrong[:min(5, len(wrong))])
			return all, nil
		}
		tail = nil
	}
}

// deferCheck handles a failed journal check after an outage: the caller's
// own call goes on, and the next call tries the check again (a restarted
// Weaviate can answer ready and still refuse deletes for a moment while it
// loads its shards).
func (d *Driver) deferCheck(err error) error {
	slog.Warn("weaviatestore: journal check after an outage failed; the next call retries it", "class", d.class, "err", err)
	return nil
}

// afterOutage runs the journal check of Open again once the server answers
// after this Driver found it unreachable (it may have restarted and lost
// index entries, of this writer's or another's). Calls run it first, as
// they run repair; it does nothing otherwise. A Driver that made no call
// while the server was down cannot tell it restarted: see JournalClass.
func (d *Driver) afterOutage(ctx context.Context) error {
	if d.opts.NoJournal || !d.journal.pending.Load() {
		return nil
	}
	d.journal.checkMu.Lock()
	defer d.journal.checkMu.Unlock()
	if !d.journal.pending.Load() {
		return nil // another call did it
	}
	// One probe, no retries: while the server is still down the caller's
	// own call fails and is retried, and this runs again before it.
	if ready, err := d.client.Misc().ReadyChecker().Do(ctx); err != nil || !ready {
		return nil
	}
	uuids, _, err := d.journaled(ctx)
	if err != nil {
		return d.deferCheck(err)
	}
	if len(uuids) > 0 {
		// The server was unreachable, so it may have restarted: every
		// journaled object is searched for with its own vector (the
		// crash can lose the links of a node and not the node, which the
		// filtered probe does not see), not only each slot's tail.
		wrong, err := d.repairJournal(ctx, uuids, nil)
		if err != nil {
			return d.deferCheck(err)
		}
		if len(wrong) > 0 {
			slog.Warn("weaviatestore: after an outage, re-indexed objects missing from the vector index",
				"class", d.class, "count", len(wrong), "first", wrong[:min(5, len(wrong))])
		}
	}
	d.journal.pending.Store(false)
	return nil
}
