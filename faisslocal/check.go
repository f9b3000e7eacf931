//go:build faiss

package faisslocal

/*
#include <stdlib.h>
#include "check_bridge.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"twostage"
	"twostage/driver"
	"twostage/internal/par"
)

var _ driver.Checker = (*Driver)(nil)

// checkChunk is the number of documents read from docs.db and compared
// with the index per step of a check.
const checkChunk = 4096

// vecTolerance bounds the difference, relative to the vector's largest
// element (at least 1), between a stored vector and the index's copy for
// them to count as equal (float32 rounding of the normalization).
const vecTolerance = 1e-4

// finding kinds, in the order of CheckReport's fields.
const (
	foundMissing = iota
	foundExtra
	foundMismatched
)

type finding struct {
	kind int
	id   string
	slot int64 // for extras: the slot to drop
}

// Check implements driver.Checker: it walks docs.db with a cursor and
// reads the index's copy of each document's vector back from FAISS. A
// document is missing when the slot table has no live slot for it (or
// FAISS has no entry at that slot), mismatched when the slot holds another
// id, FAISS holds a different vector (for IVF-PQ, whose codes are lossy,
// only presence is checked) or the entry more than once, and extra when a
// live slot names a document docs.db does not hold or a tombstone (a dead
// slot) is still marked live for searches. With Repair the findings are
// fixed from docs.db (re-added, dropped) and a snapshot is saved.
//
// The check holds the store's read lock: searches go on, writes wait until
// it ends. Memory: one chunk of vectors plus the findings' ids.
func (d *Driver) Check(ctx context.Context, opts twostage.CheckOptions) (rep twostage.CheckReport, err error) {
	defer guard("check", &err)()
	var found []finding
	rep, found, err = d.checkScan(ctx, opts)
	if err != nil || !opts.Repair || len(found) == 0 {
		return rep, err
	}
	if err := d.waitCompaction(ctx); err != nil {
		return rep, err
	}
	rep.Repaired, err = d.checkRepair(ctx, found)
	return rep, err
}

func (d *Driver) checkScan(ctx context.Context, opts twostage.CheckOptions) (rep twostage.CheckReport, found []finding, err error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(); err != nil {
		return rep, nil, err
	}
	first := opts.FirstIDsOrDefault()
	var mu sync.Mutex // guards rep and found: the comparing goroutine notes too
	note := func(f finding) {
		mu.Lock()
		defer mu.Unlock()
		found = append(found, f)
		label := f.id
		if label == "" {
			label = fmt.Sprintf("slot %d", f.slot)
		}
		[]*twostage.CheckIDs{&rep.Missing, &rep.Extra, &rep.Mismatched}[f.kind].Add(label, first)
	}
	checked := func(n int) {
		mu.Lock()
		rep.Checked += n
		mu.Unlock()
	}
	workers := opts.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var loc C.fl_locator
	if err := cerr("check: locate", C.fl_locate(d.index.p, C.int64_t(len(d.slots)), &loc)); err != nil {
		return rep, nil, err
	}
	defer C.fl_locator_free(loc)
	dim := d.man.Dim
	matched := 0
	err = d.db.View(func(tx *bolt.Tx) (err error) {
		vb := tx.Bucket(bucketVecs)
		c := tx.Bucket(bucketDocs).Cursor()
		// The cursor reads the next chunk while one goroutine compares the
		// last with the index (on up to workers goroutines of its own). It
		// exits when work is closed, which this function does on return.
		type chunk struct {
			ids   []string
			slots []int64
			vecs  []float32
		}
		work := make(chan chunk, 1)
		free := make(chan chunk, 3) // buffers: one read, one queued, one compared
		for range 3 {
			free <- chunk{make([]string, 0, checkChunk), make([]int64, 0, checkChunk), make([]float32, 0, checkChunk*dim)}
		}
		var cmpErr error
		var failed atomic.Bool // cmpErr is set: stop reading
		cmpDone := make(chan struct{})
		go func() {
			defer close(cmpDone)
			for ch := range work {
				if cmpErr != nil {
					free <- ch // drain
					continue
				}
				res, err := d.compareChunk(loc, ch.slots, ch.vecs, workers)
				if err != nil {
					cmpErr = err
					failed.Store(true)
					free <- ch
					continue
				}
				for i, r := range res {
					if r != foundNothing {
						note(finding{kind: r, id: ch.ids[i], slot: ch.slots[i]})
					}
				}
				checked(len(ch.ids))
				if opts.Progress != nil {
					mu.Lock()
					n := rep.Checked
					mu.Unlock()
					opts.Progress(n)
				}
				free <- chunk{ch.ids[:0], ch.slots[:0], ch.vecs[:0]}
			}
		}()
		defer func() {
			close(work)
			<-cmpDone
			if err == nil || err == errCompareFailed {
				err = cmpErr
			}
		}()
		cur := <-free
		flush := func() error {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("faisslocal: check: %w", err)
			}
			if failed.Load() {
				return errCompareFailed // the deferred function returns cmpErr
			}
			work <- cur
			cur = <-free
			return nil
		}
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			id := string(k)
			slot, ok := d.slotOf[id]
			switch {
			case !ok || d.live[slot/8]&(1<<(slot%8)) == 0:
				checked(1)
				if ok {
					matched++
				}
				note(finding{kind: foundMissing, id: id, slot: -1})
				continue
			case d.slots[slot] != id:
				checked(1)
				matched++
				note(finding{kind: foundMismatched, id: id, slot: slot})
				continue
			}
			matched++
			var err error
			if cur.vecs, err = decodeVector(cur.vecs, vb.Get(k), dim); err != nil {
				return fmt.Errorf("faisslocal: check: document %q: %w", id, err)
			}
			cur.ids, cur.slots = append(cur.ids, id), append(cur.slots, slot)
			if len(cur.ids) == checkChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if len(cur.ids) > 0 {
			if err := flush(); err != nil {
				return err
			}
		}
		// Live slots without a document: only looked for when the counts
		// say there are some.
		if matched != len(d.slotOf) {
			docs := tx.Bucket(bucketDocs)
			for id, slot := range d.slotOf {
				if docs.Get([]byte(id)) == nil {
					note(finding{kind: foundExtra, id: id, slot: slot})
				}
			}
		}
		return nil
	})
	if err != nil {
		return rep, nil, err
	}
	// Tombstones: a dead slot must be off in the bitmap searches use.
	for i, id := range d.slots {
		if id == "" && d.live[i/8]&(1<<(i%8)) != 0 {
			note(finding{kind: foundExtra, slot: int64(i)})
		}
	}
	return rep, found, nil
}

// errCompareFailed stops the cursor of a check whose comparison failed; the
// check returns the comparison's error.
var errCompareFailed = errors.New("faisslocal: check: comparison failed")

// foundNothing is compareChunk's result for a document the index holds as
// stored.
const foundNothing = -1

// compareChunk reads the index's copies of slots back and compares them
// with vecs (as stored), on up to workers goroutines.
func (d *Driver) compareChunk(loc C.fl_locator, slots []int64, vecs []float32, workers int) ([]int, error) {
	dim := d.man.Dim
	want := vecs
	if d.info.Metric == twostage.Cosine {
		want = normalized(vecs, dim)
	}
	res := make([]int, len(slots))
	const piece = 512
	pieces := (len(slots) + piece - 1) / piece
	err := par.For(pieces, workers, func(p int) error {
		lo, hi := p*piece, min((p+1)*piece, len(slots))
		n := hi - lo
		got := make([]float32, n*dim)
		count := make([]int32, n)
		var exact C.int
		err := cerr("check: reconstruct", C.fl_reconstruct(d.index.p, loc, C.int64_t(n),
			(*C.int64_t)(unsafe.Pointer(&slots[lo])), (*C.float)(unsafe.Pointer(&got[0])),
			(*C.int32_t)(unsafe.Pointer(&count[0])), &exact))
		if err != nil {
			return err
		}
		for i := range n {
			switch {
			case count[i] == 0:
				res[lo+i] = foundMissing
			case count[i] > 1:
				res[lo+i] = foundMismatched
			case exact != 0 && !sameVector(got[i*dim:(i+1)*dim], want[(lo+i)*dim:(lo+i+1)*dim]):
				res[lo+i] = foundMismatched
			default:
				res[lo+i] = foundNothing
			}
		}
		return nil
	})
	return res, err
}

func sameVector(a, b []float32) bool {
	var scale float32 = 1
	for _, x := range b {
		scale = max(scale, x, -x)
	}
	tol := vecTolerance * scale
	for i := range a {
		if d := a[i] - b[i]; d > tol || -d > tol {
			return false
		}
	}
	return true
}

// checkRepair fixes the findings of a scan under the write lock, re-reading
// docs.db (writes may have come in between): a document still stored is
// added again in a new slot (its old slot, if any, dies); a slot whose
// document is gone dies; a tombstone is cleared from the bitmap. The
// repaired index is saved, so a reopen loads it.
func (d *Driver) checkRepair(ctx context.Context, found []finding) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return 0, err
	}
	var ids []string
	var vecs []float32
	repaired := 0
	err := d.db.View(func(tx *bolt.Tx) error {
		docs, vb := tx.Bucket(bucketDocs), tx.Bucket(bucketVecs)
		for _, f := range found {
			switch {
			case f.id == "": // a live tombstone
				if d.slots[f.slot] == "" && d.live[f.slot/8]&(1<<(f.slot%8)) != 0 {
					d.live[f.slot/8] &^= 1 << (f.slot % 8)
					d.dirty = true
				}
				repaired++
				continue
			case docs.Get([]byte(f.id)) == nil: // gone (an extra, or deleted meanwhile)
				if slot, ok := d.slotOf[f.id]; ok {
					d.kill(slot)
					d.dirty = true
				}
				repaired++
				continue
			}
			var err error
			if vecs, err = decodeVector(vecs, vb.Get([]byte(f.id)), d.man.Dim); err != nil {
				return fmt.Errorf("faisslocal: check: document %q: %w", f.id, err)
			}
			if slot, ok := d.slotOf[f.id]; ok {
				if d.slots[slot] == f.id {
					d.kill(slot)
				} else {
					delete(d.slotOf, f.id) // the slot is another document's
				}
			}
			ids = append(ids, f.id)
		}
		return nil
	})
	if err != nil {
		return repaired, err
	}
	for i := 0; i < len(ids); i += addChunk {
		j := min(i+addChunk, len(ids))
		if err := d.appendVectors(ids[i:j], vecs[i*d.man.Dim:j*d.man.Dim], d.threads); err != nil {
			return repaired, err
		}
		repaired += j - i
	}
	if err := d.save(ctx); err != nil {
		return repaired, fmt.Errorf("faisslocal: check: repaired in memory, but saving failed (reopening replays the log, which may bring the damage back; check again): %w", err)
	}
	return repaired, nil
}
