//go:build faiss

package faisslocal

import (
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// This file holds the warm-up: a background read of docs.db after Open.

// warm reads every document record once, in the background, so that the
// pages of docs.db that searches read to hydrate hits are mapped before
// the first searches need them (a fresh process otherwise takes a page
// fault for each), and fills the record cache while it has room. Vectors
// are not touched: they stay on disk until read. It exits when done or when
// Close asks it to. seq is the store's sequence number when it starts.
func (d *Driver) warm(seq uint64) {
	defer close(d.warmDone)
	var err error // a damaged page: the search that reads it reports it
	defer guard("warm", &err)()
	type kv struct{ k, v []byte }
	batch := make([]kv, 0, 1024)
	fill := true
	// cacheBatch caches the records of batch under their slots while no
	// write has happened since the read transaction began (so the records
	// are those of the slots). It never waits for the lock: a writer holding
	// it may be waiting for this read transaction to end (bbolt remaps the
	// file under its own lock), and Close holds it while it stops warm.
	cacheBatch := func() {
		if !d.mu.TryRLock() {
			fill = false
			return
		}
		defer d.mu.RUnlock()
		if d.closed || d.seq != seq {
			fill = false
			return
		}
		for _, e := range batch {
			if d.cache.full(len(e.v)) {
				fill = false
				return
			}
			if slot, ok := d.slotOf[string(e.k)]; ok {
				d.cache.put(slot, e.v)
			}
		}
	}
	d.db.View(func(tx *bolt.Tx) error {
		var sink byte
		c := tx.Bucket(bucketDocs).Cursor()
		i := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) > 0 {
				sink ^= v[len(v)-1]
			}
			if fill {
				batch = append(batch, kv{k, v})
			}
			if i++; i%cap(batch) == 0 {
				if fill {
					cacheBatch()
				}
				batch = batch[:0]
				select {
				case <-d.warmStop:
					return nil
				default:
				}
			}
		}
		if fill && len(batch) > 0 {
			cacheBatch()
		}
		warmSink.Add(uint32(sink)) // keeps the reads
		return nil
	})
}

var warmSink atomic.Uint32

// stopWarm stops the warm-up goroutine and waits for it.
func (d *Driver) stopWarm() {
	if d.warmStop != nil {
		close(d.warmStop)
		<-d.warmDone
		d.warmStop = nil
	}
}
