//go:build faiss

package faisslocal

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"twostage"
)

// This file holds index rebuilds: IVF training and compaction (in the
// background, beside searches and writes).

// maybeTrain trains an IVF index once it holds TrainSize vectors.
func (d *Driver) maybeTrain(ctx context.Context) error {
	if !d.isIVF() || d.trained || len(d.slotOf) < d.man.Index.TrainSize {
		return nil
	}
	slog.Info("faisslocal: training IVF index", "dir", d.dir, "vectors", len(d.slotOf), "nlist", d.man.Index.NList)
	return d.rebuild(ctx, true)
}

// rebuild replaces the index with one built from the stored vectors, in
// slot order by id, without dead slots. train trains an IVF index first (it
// must be possible: at least minTrain vectors). On error the current index
// stays. The caller holds d.mu exclusively.
func (d *Driver) rebuild(ctx context.Context, train bool) error {
	nx, ivf, err := d.emptyIndex(train)
	if err != nil {
		return err
	}
	b, err := d.fill(ctx, nx, ivf)
	if err != nil {
		nx.free()
		return err
	}
	var nd int
	err = d.db.View(func(tx *bolt.Tx) error {
		nd = tx.Bucket(bucketDocs).Stats().KeyN
		return nil
	})
	if err == nil && nd != len(b.slots) {
		err = fmt.Errorf("faisslocal: database holds %d documents but %d vectors: %w", nd, len(b.slots), ErrCorrupt)
	}
	if err != nil {
		nx.free()
		return err
	}
	d.install(b)
	return nil
}

// emptyIndex returns an empty index to rebuild into: a copy of the trained
// IVF index, or a new one, trained first when train is set. ivf reports
// whether it is the IVF index (not the flat buffer). The caller holds d.mu
// (exclusively: the copy reads the index).
func (d *Driver) emptyIndex(train bool) (nx *faissIndex, ivf bool, err error) {
	dim := d.man.Dim
	ivf = d.isIVF() && (d.trained || train)
	if ivf && d.trained {
		nx, err = d.index.cloneEmpty()
	} else {
		nx, err = newIndex(dim, d.l2, d.man.Index, ivf)
	}
	if err != nil {
		return nil, false, err
	}
	nx.setEfSearch(d.man.Index.EfSearch)
	if !ivf || d.trained {
		return nx, ivf, nil
	}
	err = d.db.View(func(tx *bolt.Tx) error {
		vb := tx.Bucket(bucketVecs)
		n := vb.Stats().KeyN
		if n < d.man.Index.minTrain() {
			return fmt.Errorf("faisslocal: %s index needs at least %d vectors, the store holds %d: %w",
				d.man.Index.Kind, d.man.Index.minTrain(), n, ErrTooFewVectors)
		}
		// FAISS's k-means samples at most 256 points per centroid.
		limit := 256 * d.man.Index.minTrain()
		stride := max(1, n/limit)
		sample := make([]float32, 0, min(n, limit+stride)*dim)
		i := 0
		c := vb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if i%stride == 0 {
				var err error
				if sample, err = decodeVector(sample, v, dim); err != nil {
					return fmt.Errorf("document %q: %w", k, err)
				}
			}
			i++
		}
		if d.info.Metric == twostage.Cosine {
			sample = normalized(sample, dim)
		}
		start := time.Now()
		if err := nx.train(sample, dim, d.threads); err != nil {
			return err
		}
		slog.Debug("faisslocal: trained", "dir", d.dir, "sample", len(sample)/dim, "took", time.Since(start))
		return nil
	})
	if err != nil {
		nx.free()
		return nil, false, err
	}
	return nx, ivf, nil
}

// fill adds the stored vectors to nx in id order and returns it with its
// slot table. It reads them addChunk at a time, each chunk in its own read
// transaction, so a long build holds neither one read transaction (which
// would stall a write that grows the file: bbolt remaps it under a lock
// readers hold) nor the driver's lock. Without the driver's lock the
// chunks may see writes made after fill began; a background compaction
// then replays the log from where it began (see compactIn), which makes the
// result exact.
func (d *Driver) fill(ctx context.Context, nx *faissIndex, ivf bool) (*built, error) {
	dim := d.man.Dim
	b := &built{index: nx, trained: ivf, slotOf: map[string]int64{}}
	buf := make([]float32, 0, addChunk*dim)
	var fids []int64
	var after []byte // the last key read
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("faisslocal: rebuild: %w", err)
		}
		buf, fids = buf[:0], fids[:0]
		err := d.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketVecs).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && string(k) == string(after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(buf) < cap(buf); k, v = c.Next() {
				var err error
				if buf, err = decodeVector(buf, v, dim); err != nil {
					return fmt.Errorf("document %q: %w", k, err)
				}
				slot := int64(len(b.slots))
				id := string(k)
				b.slots = append(b.slots, id)
				b.slotOf[id] = slot
				fids = append(fids, slot)
				after = append(after[:0], k...)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(buf) == 0 {
			break
		}
		v := buf
		if d.info.Metric == twostage.Cosine {
			v = normalized(buf, dim)
		}
		var ids []int64
		if ivf {
			ids = fids
		}
		if err := nx.add(v, ids, dim, d.threads); err != nil {
			return nil, err
		}
	}
	b.live = make([]byte, (len(b.slots)+7)/8)
	for i := range b.slots {
		b.live[i/8] |= 1 << (i % 8)
	}
	return b, nil
}

// needsCompaction reports whether more than Options.CompactRatio of the
// slots are dead.
func (d *Driver) needsCompaction() bool {
	return d.compactRatio >= 0 && d.dead > 0 && float64(d.dead) > d.compactRatio*float64(len(d.slots))
}

// startCompaction starts a compaction in the background unless one runs
// (or the store is closing), and returns the channel its end closes (nil
// when none runs). The caller holds d.mu exclusively.
//
// Searches go on against the current index while the new one is built, and
// so do writes: the compaction then replays the log entries written since
// it began (the log keeps them until it ends), takes the lock, and swaps the
// index in.
func (d *Driver) startCompaction() (chan struct{}, error) {
	if d.compacting != nil || d.closing || d.closed || d.broken != nil {
		return d.compacting, nil
	}
	nx, ivf, err := d.emptyIndex(false)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	d.compacting, d.compactFrom, d.compactErr = done, d.seq, nil
	go d.compactIn(nx, ivf, d.compactFrom, d.epoch, done)
	return done, nil
}

// compactHook, when set (by tests), runs after a background compaction has
// built its index and before it takes the lock to replay and swap.
var compactHook func()

// compactIn is startCompaction's goroutine.
func (d *Driver) compactIn(nx *faissIndex, ivf bool, from, epoch uint64, done chan struct{}) {
	err := func() (err error) {
		defer guard("compact", &err)()
		start := time.Now()
		b, err := d.fill(context.Background(), nx, ivf)
		if err != nil {
			nx.free()
			return err
		}
		if compactHook != nil {
			compactHook()
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.closed || d.broken != nil || d.epoch != epoch {
			b.index.free() // superseded (another rebuild installed an index)
			return nil
		}
		// Swap in, replay the writes made since from, swap back on error.
		dirty := d.dirty
		old := d.swap(b)
		if err := d.replayFrom(from); err != nil {
			d.swap(old).index.free()
			d.dirty = dirty
			d.broken = nil // fail() may have set it about the new index
			return err
		}
		d.retire(old)
		slog.Debug("faisslocal: compacted", "dir", d.dir, "slots", len(d.slots), "took", time.Since(start))
		return nil
	}()
	d.mu.Lock()
	d.compacting, d.compactErr = nil, err
	d.mu.Unlock()
	if err != nil {
		slog.Warn("faisslocal: compaction failed; the index keeps its dead slots", "dir", d.dir, "err", err)
	}
	close(done)
}

// waitCompaction waits for a running compaction to end and returns its
// error. The caller must not hold d.mu.
func (d *Driver) waitCompaction(ctx context.Context) error {
	d.mu.RLock()
	done := d.compacting
	d.mu.RUnlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("faisslocal: waiting for compaction: %w", ctx.Err())
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.compactErr
}

// Compact rebuilds the index from the live vectors, dropping the slots of
// deleted and overwritten documents, and returns when it is done. Searches
// and writes go on meanwhile (see Options.CompactRatio). Save persists the
// result.
func (d *Driver) Compact(ctx context.Context) (err error) {
	if err := d.writable(); err != nil {
		return err
	}
	defer guard("compact", &err)()
	return d.compact(ctx, true)
}

// compact waits for a running compaction, then, when any slot is dead
// (force) or more than Options.CompactRatio of them, runs one and waits for
// it. The caller must not hold d.mu.
func (d *Driver) compact(ctx context.Context, force bool) error {
	if err := d.waitCompaction(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	if err := d.check(); err != nil {
		d.mu.Unlock()
		return err
	}
	if d.dead == 0 || !force && !d.needsCompaction() {
		d.mu.Unlock()
		return nil
	}
	_, err := d.startCompaction()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	return d.waitCompaction(ctx)
}

// Train trains an IVF index now on the vectors held (otherwise it trains
// when it holds TrainSize vectors). It returns an error wrapping
// ErrTooFewVectors when there are fewer vectors than centroids (or PQ
// codewords), and nil for the other kinds or when already trained.
func (d *Driver) Train(ctx context.Context) (err error) {
	defer guard("train", &err)()
	unlock, err := d.lockWrite(ctx, "train")
	if err != nil {
		return err
	}
	defer unlock()
	if !d.isIVF() || d.trained {
		return nil
	}
	return d.rebuild(ctx, true)
}
