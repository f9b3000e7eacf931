//go:build faiss

package faisslocal

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// This file holds durability: loading the snapshot, replaying and trimming
// the write-ahead log, and saving a snapshot.

// load builds the in-memory index: the snapshot plus a replay of the log
// after it, or a rebuild from the documents.
func (d *Driver) load(rebuild bool) error {
	var snap *snapshot
	if !rebuild {
		var err error
		if snap, err = readSnapshot(d.dir); err != nil {
			return fmt.Errorf("%w (open with Options.RebuildIndex to rebuild the index from the documents)", err)
		}
	}
	if err := d.db.View(d.readSeq); err != nil {
		return err
	}
	if snap == nil {
		if err := d.resetIndex(); err != nil {
			return err
		}
		if err := d.rebuild(context.Background(), false); err != nil {
			return err
		}
		return d.maybeTrain(context.Background())
	}
	if err := d.loadSnapshot(snap); err != nil {
		return fmt.Errorf("%w (open with Options.RebuildIndex to rebuild the index from the documents)", err)
	}
	if err := d.replayFrom(d.snapSeq); err != nil {
		return err
	}
	if err := d.maybeTrain(context.Background()); err != nil {
		return err
	}
	return d.trimLog()
}

// readSeq reads the sequence number of the last logged write into d.seq.
func (d *Driver) readSeq(tx *bolt.Tx) error {
	if v := tx.Bucket(bucketMeta).Get(keySeq); v != nil {
		if len(v) != 8 {
			return fmt.Errorf("faisslocal: sequence record: %w", ErrCorrupt)
		}
		d.seq = binary.BigEndian.Uint64(v)
	}
	return nil
}

// resetIndex gives d a new, empty index and slot map, for a rebuild from
// the documents.
func (d *Driver) resetIndex() (err error) {
	if d.index, err = newIndex(d.man.Dim, d.l2, d.man.Index, false); err != nil {
		return err
	}
	d.index.setEfSearch(d.man.Index.EfSearch)
	d.slotOf = map[string]int64{}
	return nil
}

func (d *Driver) loadSnapshot(snap *snapshot) error {
	if snap.seq > d.seq {
		return fmt.Errorf("faisslocal: snapshot holds sequence %d but the database ends at %d (files from different stores?): %w", snap.seq, d.seq, ErrCorrupt)
	}
	// The slot map is built while the index file is checked and read
	// (most of a reopen; FAISS reads on the cgo call's thread).
	var b *built
	var berr error
	tabled := make(chan struct{})
	go func() {
		defer close(tabled)
		b, berr = slotTable(snap.slots)
	}()
	path, err := snap.checkIndexFile(d.dir)
	if err != nil {
		<-tabled
		return err
	}
	ix, err := readIndex(path)
	<-tabled
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrCorrupt)
	}
	if berr != nil {
		ix.free()
		return berr
	}
	wantKind := kindFlat
	switch {
	case d.man.Index.Kind == "hnsw":
		wantKind = kindHNSW
	case d.isIVF() && snap.trained:
		wantKind = kindIVF
	}
	refined := d.man.Index.RefineInMemory && wantKind == kindIVF
	if ix.kind() != wantKind || ix.refined() != refined || ix.dim() != d.man.Dim || ix.l2() != d.l2 || ix.ntotal() != int64(len(snap.slots)) {
		ix.free()
		return fmt.Errorf("faisslocal: index file %s does not match the manifest and snapshot: %w", path, ErrCorrupt)
	}
	ix.setEfSearch(d.man.Index.EfSearch)
	b.index, b.trained = ix, snap.trained
	d.swap(b) // nothing to retire: the driver holds no index yet
	d.snapSeq, d.gen = snap.seq, snap.gen
	return nil
}

// replayFrom applies the log entries written after sequence number from
// (at Open, the snapshot's; for a compaction, where it began).
func (d *Driver) replayFrom(from uint64) error {
	var ids []string
	var vecs []float32
	n := 0
	err := d.db.View(func(tx *bolt.Tx) error {
		docs, vb := tx.Bucket(bucketDocs), tx.Bucket(bucketVecs)
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(seqKey(from + 1)); k != nil; k, v = c.Next() {
			seq, op, id, err := decodeLog(k, v)
			if err != nil {
				return err
			}
			if seq > d.seq {
				return fmt.Errorf("faisslocal: log entry %d beyond the last sequence %d: %w", seq, d.seq, ErrCorrupt)
			}
			n++
			if old, ok := d.slotOf[id]; ok {
				d.kill(old)
			}
			if op != opUpsert {
				continue
			}
			rec := docs.Get([]byte(id))
			if rec == nil {
				continue // deleted later
			}
			cur, err := decodeSeq(rec)
			if err != nil {
				return fmt.Errorf("faisslocal: document %q: %w", id, ErrCorrupt)
			}
			if cur != seq {
				continue // overwritten later; a later entry adds it
			}
			if vecs, err = decodeVector(vecs, vb.Get([]byte(id)), d.man.Dim); err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n > 0 {
		slog.Debug("faisslocal: replayed write-ahead log", "dir", d.dir, "entries", n, "added", len(ids))
		d.dirty = true
	}
	for i := 0; i < len(ids); i += addChunk {
		j := min(i+addChunk, len(ids))
		if err := d.appendVectors(ids[i:j], vecs[i*d.man.Dim:j*d.man.Dim], d.threads); err != nil {
			return err
		}
	}
	var count int
	err = d.db.View(func(tx *bolt.Tx) error {
		count = tx.Bucket(bucketDocs).Stats().KeyN
		return nil
	})
	if err != nil {
		return err
	}
	if count != len(d.slotOf) {
		return fmt.Errorf("faisslocal: index holds %d documents after replay, the database %d (open with Options.RebuildIndex to rebuild it): %w",
			len(d.slotOf), count, ErrCorrupt)
	}
	return nil
}

// trimLog deletes the log entries the saved snapshot holds; without a
// snapshot (d.gen == 0) it keeps them all, and during a background
// compaction it keeps those the compaction will replay.
func (d *Driver) trimLog() error {
	if d.gen == 0 {
		return nil
	}
	upTo := d.snapSeq
	if d.compacting != nil {
		upTo = min(upTo, d.compactFrom)
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		if k, _ := c.Last(); k == nil || binary.BigEndian.Uint64(k) <= upTo {
			// The snapshot holds the whole log (the usual case: writes wait
			// for Save): dropping the bucket beats deleting key by key.
			if k == nil {
				return nil
			}
			if err := tx.DeleteBucket(bucketLog); err != nil {
				return err
			}
			_, err := tx.CreateBucket(bucketLog)
			return err
		}
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= upTo; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Save writes a snapshot of the index (compacting it first when more than
// Options.CompactRatio of its slots are dead) and trims the write-ahead log,
// so the next Open replays nothing. Close saves too.
func (d *Driver) Save(ctx context.Context) (err error) {
	if err := d.writable(); err != nil { // before compacting
		return err
	}
	defer guard("save", &err)()
	if err := d.compact(ctx, false); err != nil {
		return err
	}
	unlock, err := d.lockWrite(ctx, "save")
	if err != nil {
		return err
	}
	defer unlock()
	return d.save(ctx)
}

// save writes the snapshot. The caller holds d.mu exclusively.
func (d *Driver) save(ctx context.Context) error {
	if !d.dirty && d.gen != 0 {
		return nil
	}
	gen := d.gen + 1
	path := filepath.Join(d.dir, indexFileName(gen))
	if err := d.index.write(path); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil { // FAISS creates it 0666 less the umask
		return fmt.Errorf("faisslocal: save: %w", err)
	}
	if err := syncFile(path); err != nil {
		return fmt.Errorf("faisslocal: save: %w", err)
	}
	size, sum, err := fileCRC(path)
	if err != nil {
		return fmt.Errorf("faisslocal: save: %w", err)
	}
	snap := snapshot{seq: d.seq, gen: gen, indexSize: size, indexCRC: sum, trained: d.trained, slots: d.slots}
	if err := writeFileAtomic(d.dir, snapshotName, snap.encode()); err != nil {
		return err
	}
	d.gen, d.snapSeq, d.dirty = gen, d.seq, false
	removeStaleIndexFiles(d.dir, gen)
	return d.trimLog()
}
