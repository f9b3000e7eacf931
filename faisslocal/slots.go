//go:build faiss

package faisslocal

import (
	"fmt"
	"math"

	"twostage"
)

// This file holds the slot table: FAISS ids to document ids, the live
// bitmap, and how the index and its table are added to and replaced.

func (d *Driver) isIVF() bool { return d.man.Index.Kind == "ivfflat" || d.man.Index.Kind == "ivfpq" }

// exact reports whether the current index answers searches exactly.
func (d *Driver) exact() bool {
	return d.man.Index.Kind == "flat" || (d.isIVF() && !d.trained)
}

// refineFactor is the trained IVFPQ index's refine factor, 0 for the
// other indexes.
func (d *Driver) refineFactor() int {
	if d.man.Index.Kind == "ivfpq" && d.trained {
		return d.man.Index.RefineFactor
	}
	return 0
}

// refine is the refine factor of searches that re-score candidates from
// the vectors in docs.db (IVFPQ without RefineInMemory).
func (d *Driver) refine() int {
	if d.man.Index.RefineInMemory {
		return 0
	}
	return d.refineFactor()
}

// memRefine is the refine factor FAISS applies itself, from the vectors the
// index keeps (IVFPQ with RefineInMemory).
func (d *Driver) memRefine() int {
	if !d.man.Index.RefineInMemory {
		return 0
	}
	return d.refineFactor()
}

// slotTable returns a snapshot's slot table (slot -> id, "" when dead) with
// the map and bitmap derived from it, as a built without its index.
func slotTable(slots []string) (*built, error) {
	b := &built{slots: slots, slotOf: make(map[string]int64, len(slots)), live: make([]byte, (len(slots)+7)/8)}
	for i, id := range slots {
		if id == "" {
			b.dead++
			continue
		}
		if _, dup := b.slotOf[id]; dup {
			return nil, fmt.Errorf("faisslocal: snapshot maps id %q to two slots: %w", id, ErrCorrupt)
		}
		b.slotOf[id] = int64(i)
		b.live[i/8] |= 1 << (i % 8)
	}
	return b, nil
}

// kill marks slot dead.
func (d *Driver) kill(slot int64) {
	id := d.slots[slot]
	if id == "" {
		return
	}
	d.slots[slot] = ""
	d.cache.drop(slot)
	d.live[slot/8] &^= 1 << (slot % 8)
	d.dead++
	delete(d.slotOf, id)
}

// appendVectors adds the vectors of ids (raw, as stored) to the index in new
// slots. For flat and HNSW the FAISS id is the position, so the index must
// hold exactly len(d.slots) vectors.
func (d *Driver) appendVectors(ids []string, vecs []float32, threads int) error {
	if len(ids) == 0 {
		return nil
	}
	dim := d.man.Dim
	if d.info.Metric == twostage.Cosine {
		vecs = normalized(vecs, dim)
	}
	first := int64(len(d.slots))
	var fids []int64
	if d.isIVF() && d.trained {
		fids = make([]int64, len(ids))
		for i := range fids {
			fids[i] = first + int64(i)
		}
	} else if d.index.ntotal() != first {
		return d.fail(fmt.Errorf("faisslocal: index holds %d vectors, slot table %d", d.index.ntotal(), first))
	}
	if err := d.index.add(vecs, fids, dim, threads); err != nil {
		return d.fail(err)
	}
	for i, id := range ids {
		slot := first + int64(i)
		d.slots = append(d.slots, id)
		if len(d.live) <= int(slot/8) {
			d.live = append(d.live, 0)
		}
		d.live[slot/8] |= 1 << (slot % 8)
		d.slotOf[id] = slot
	}
	d.dirty = true
	return nil
}

// fail records that the in-memory index lost sync with the database.
func (d *Driver) fail(err error) error {
	d.broken = fmt.Errorf("faisslocal: in-memory index out of sync after %v; reopen the store to replay the log: %w", err, twostage.ErrUnavailable)
	return d.broken
}

// normalized returns unit-length copies of the dim-sized vectors in vecs.
func normalized(vecs []float32, dim int) []float32 {
	out := make([]float32, len(vecs))
	for i := 0; i < len(vecs); i += dim {
		v := vecs[i : i+dim]
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		inv := 1.0
		if s > 0 {
			inv = 1 / math.Sqrt(s)
		}
		for j, x := range v {
			out[i+j] = float32(float64(x) * inv)
		}
	}
	return out
}

// built is an index with its slot table: one built from the stored
// vectors, or the driver's current one (see swap).
type built struct {
	index   *faissIndex
	trained bool             // IVF kinds: the index is the trained IVF, not the flat buffer
	slots   []string         // FAISS id -> document id; "" when dead
	live    []byte           // bitmap of live slots, for FAISS's IDSelectorBitmap
	slotOf  map[string]int64 // document id -> its live slot
	dead    int              // dead slots
}

// install makes b the index, freeing the old one. The caller holds d.mu
// exclusively.
func (d *Driver) install(b *built) { d.retire(d.swap(b)) }

// swap makes b the index and slot table and returns the previous ones,
// not freed. The caller holds d.mu exclusively.
func (d *Driver) swap(b *built) (old *built) {
	prev := d.built
	d.built = *b
	return &prev
}

// retire frees the index a swap replaced and marks the new one unsaved;
// the slots are renumbered, so the record cache starts over.
func (d *Driver) retire(old *built) {
	if old.index != nil {
		old.index.free()
	}
	d.cache.reset()
	d.dirty = true
	d.epoch++
}
