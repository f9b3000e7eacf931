//go:build faiss

package faisslocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"twostage"
	"twostage/driver"
)

var (
	bucketDocs = []byte("docs") // id -> document record (codec.go)
	bucketVecs = []byte("vecs") // id -> vector
	bucketLog  = []byte("log")  // seq -> op, id: the write-ahead log since the last snapshot
	bucketMeta = []byte("meta") // "seq" -> last sequence number (uint64 BE)
	keySeq     = []byte("seq")
)

// maxIDBytes is bbolt's key size limit.
const maxIDBytes = bolt.MaxKeySize

// addChunk is the number of vectors added to FAISS per call while rebuilding.
const addChunk = 16384

// Driver is the faisslocal backend of a twostage.Store. Most callers use
// Open; OpenDriver (or Store.As) gives the extra methods: Save, Compact,
// Train and Stats. Batch searches go through twostage.Store.SearchBatch
// (Driver implements driver.BatchSearcher).
//
// Searches run in parallel; writes, Save and Train are serialised and
// exclude searches while they change the index. A compaction builds its
// index beside searches and writes and excludes them only to replay the
// writes made meanwhile and swap the index in.
//
// Its state comes in parts, by concern: settings (fixed at Open), the
// files, the index with its slot table (built, slots.go), the write-ahead
// log's position (wal.go), the background compaction (compact.go) and the
// warm-up (warm.go). mu guards the state from closed on.
type Driver struct {
	settings
	files

	mu     sync.RWMutex
	closed bool
	broken error // the in-memory index no longer matches docs.db; reopen to replay

	built                   // the index and its slot table
	cache      *recordCache // document records of slots, for hydrating hits
	epoch      uint64       // counts index replacements
	walState                // where the log and the saved snapshot stand
	compaction              // the background compaction
	warmup                  // the warm-up goroutine
}

// settings are a Driver's parameters, fixed at Open.
type settings struct {
	dir          string
	man          manifest
	info         twostage.Info
	l2           bool
	threads      int
	compactRatio float64
	saveEvery    int
	readOnly     bool // Options.ReadOnly: writes fail, Close saves nothing
}

// useManifest sets the manifest and the settings derived from it.
func (s *settings) useManifest(man manifest) {
	s.man = man
	s.info = twostage.Info{Dim: man.Dim, Metric: man.Metric}
	s.l2 = man.Metric == twostage.L2
}

// files are what a Driver holds open: the directory lock and docs.db.
type files struct {
	lock *dirLock
	db   *bolt.DB
}

// walState is where the write-ahead log and the saved snapshot stand.
type walState struct {
	seq     uint64 // last sequence number committed
	snapSeq uint64 // sequence number the saved snapshot holds
	gen     uint64 // generation of the saved index file
	dirty   bool   // the index differs from the saved snapshot
}

// compaction is the state of the background compaction (compact.go).
type compaction struct {
	compacting  chan struct{} // closed when the running background compaction ends; nil when none runs
	compactFrom uint64        // the running compaction's start sequence: the log keeps the entries after it
	compactErr  error         // the last background compaction's error
	closing     bool          // Close waits for the compaction; no new one starts
}

// warmup is the warm-up goroutine's channels (see warm).
type warmup struct {
	warmStop, warmDone chan struct{}
}

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.BatchSearcher = (*Driver)(nil)
)

// Enabled reports whether this build has FAISS support (the faiss build tag).
const Enabled = true

// Open creates the store in dir (which it creates if needed) or reopens it,
// and returns it as a twostage.Store. For a new store opts.Dim is required;
// reopening reads the parameters from the store (see Options).
func Open(dir string, opts *Options) (*twostage.Store, error) {
	d, err := OpenDriver(dir, opts)
	if err != nil {
		return nil, err
	}
	return twostage.NewStore(d), nil
}

// OpenDriver is Open returning the backend itself.
func OpenDriver(dir string, opts *Options) (d *Driver, err error) {
	if dir == "" {
		return nil, fmt.Errorf("faisslocal: empty directory: %w", twostage.ErrInvalidInput)
	}
	if opts != nil && opts.ReadOnly {
		return openReadOnly(dir, opts)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("faisslocal: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	d = &Driver{settings: settings{dir: dir, threads: opts.threads(), compactRatio: opts.compactRatio()}, files: files{lock: lock},
		cache: newRecordCache(opts.recordCacheBytes())}
	if opts != nil {
		d.saveEvery = opts.SaveEvery
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.release())
			d = nil
		}
	}()
	defer guard("open "+dir, &err)()
	man, created, err := resolveManifest(dir, opts)
	if err != nil {
		return d, err
	}
	dbPath := filepath.Join(dir, dbName)
	if created {
		if err := writeManifest(dir, man); err != nil {
			return d, err
		}
	}
	d.useManifest(man)
	d.db, err = bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return d, fmt.Errorf("faisslocal: open %s: %v: %w", dbPath, err, ErrCorrupt)
	}
	err = d.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDocs, bucketVecs, bucketLog, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("faisslocal: open %s: %w", dbPath, err)
	}
	rebuild := opts != nil && opts.RebuildIndex
	if err := d.load(rebuild); err != nil {
		return d, err
	}
	d.warmStop, d.warmDone = make(chan struct{}), make(chan struct{})
	go d.warm(d.seq)
	return d, nil
}

// release frees what Open acquired.
func (d *Driver) release() error {
	var errs []error
	if d.index != nil {
		d.index.free()
		d.index = nil
	}
	if d.db != nil {
		errs = append(errs, d.db.Close())
		d.db = nil
	}
	errs = append(errs, d.lock.release())
	return errors.Join(errs...)
}

func (d *Driver) check() error {
	if d.closed {
		return fmt.Errorf("faisslocal: %w", twostage.ErrClosed)
	}
	return d.broken
}

// lockWrite starts a write: it fails with ErrReadOnly on a read-only
// driver, takes d.mu exclusively and checks that the driver is usable
// (d.check) and ctx not done (an error "faisslocal: op: ..."). It returns
// the unlock to defer, or the error with d.mu released.
func (d *Driver) lockWrite(ctx context.Context, op string) (unlock func(), err error) {
	if err := d.writable(); err != nil {
		return nil, err
	}
	return d.enter(ctx, op, d.mu.Lock, d.mu.Unlock)
}

// lockRead is lockWrite for a read: d.mu held for reading, on any driver.
func (d *Driver) lockRead(ctx context.Context, op string) (unlock func(), err error) {
	return d.enter(ctx, op, d.mu.RLock, d.mu.RUnlock)
}

func (d *Driver) enter(ctx context.Context, op string, lock, unlock func()) (func(), error) {
	lock()
	if err := d.check(); err != nil {
		unlock()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		unlock()
		return nil, fmt.Errorf("faisslocal: %s: %w", op, err)
	}
	return unlock, nil
}

// guard makes a fault on bbolt's memory map (a file truncated under it)
// panic instead of crashing the process, and turns that panic, or one inside
// bbolt (a damaged database page), into an error wrapping ErrCorrupt. Every
// method that reads the database, and each goroutine that does, starts with
//
//	defer guard("search", &err)()
//
// (recover works there: the function guard returns is the deferred one).
func guard(op string, err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			*err = fmt.Errorf("faisslocal: %s: %v: %w", op, r, ErrCorrupt)
		}
	}
}

// Info implements driver.Driver.
func (d *Driver) Info() twostage.Info { return d.info }

// Upsert implements driver.Driver: one fsync'd bbolt transaction holds the
// documents and their log entries; then the index is updated.
func (d *Driver) Upsert(ctx context.Context, docs []twostage.Document) (err error) {
	if err := d.writable(); err != nil {
		return err
	}
	defer guard("upsert", &err)()
	for _, doc := range docs {
		if len(doc.ID) > maxIDBytes {
			return fmt.Errorf("faisslocal: id of %d bytes exceeds %d: %w", len(doc.ID), maxIDBytes, twostage.ErrInvalidInput)
		}
	}
	recs := make([][]byte, len(docs))
	for i, doc := range docs {
		if recs[i], err = encodeDoc(nil, 0, doc.Text, doc.Metadata); err != nil {
			return fmt.Errorf("document %q: %w", doc.ID, err)
		}
	}
	unlock, err := d.lockWrite(ctx, "upsert")
	if err != nil {
		return err
	}
	defer unlock()
	seq := d.seq
	err = d.db.Update(func(tx *bolt.Tx) error {
		db, vb, lb := tx.Bucket(bucketDocs), tx.Bucket(bucketVecs), tx.Bucket(bucketLog)
		for i, doc := range docs {
			seq++
			rec, _ := encodeDoc(make([]byte, 0, len(recs[i])+8), seq, doc.Text, doc.Metadata)
			id := []byte(doc.ID)
			if err := db.Put(id, rec); err != nil {
				return err
			}
			if err := vb.Put(id, encodeVector(make([]byte, 0, 4*len(doc.Vector)+4), doc.Vector)); err != nil {
				return err
			}
			if err := lb.Put(seqKey(seq), encodeLog(opUpsert, doc.ID)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySeq, seqKey(seq))
	})
	if err != nil {
		return fmt.Errorf("faisslocal: upsert: write %s: %w", dbName, err)
	}
	d.seq = seq
	ids := make([]string, len(docs))
	vecs := make([]float32, 0, len(docs)*d.man.Dim)
	for i, doc := range docs {
		if old, ok := d.slotOf[doc.ID]; ok {
			d.kill(old)
		}
		ids[i] = doc.ID
		vecs = append(vecs, doc.Vector...)
	}
	if err := d.appendVectors(ids, vecs, d.threads); err != nil {
		return err
	}
	if err := d.maybeTrain(ctx); err != nil {
		// The documents are stored and searched exactly; training is retried
		// on the next write and on open.
		slog.Warn("faisslocal: training failed; searches stay exact", "dir", d.dir, "err", err)
	}
	d.autoSave(ctx)
	return nil
}

// autoSave starts a background compaction when more than
// Options.CompactRatio of the slots are dead, and saves when the log holds
// Options.SaveEvery writes. The write that calls it is already durable, so
// a failure is logged, not returned.
func (d *Driver) autoSave(ctx context.Context) {
	if d.needsCompaction() {
		if _, err := d.startCompaction(); err != nil {
			slog.Warn("faisslocal: compaction not started", "dir", d.dir, "err", err)
		}
	}
	if d.saveEvery <= 0 || d.seq-d.snapSeq < uint64(d.saveEvery) {
		return
	}
	if err := d.save(ctx); err != nil {
		slog.Warn("faisslocal: automatic save failed; the write-ahead log keeps the writes", "dir", d.dir, "err", err)
	}
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, ids []string) (err error) {
	defer guard("delete", &err)()
	unlock, err := d.lockWrite(ctx, "delete")
	if err != nil {
		return err
	}
	defer unlock()
	seq := d.seq
	var gone []string
	err = d.db.Update(func(tx *bolt.Tx) error {
		db, vb, lb := tx.Bucket(bucketDocs), tx.Bucket(bucketVecs), tx.Bucket(bucketLog)
		for _, id := range ids {
			k := []byte(id)
			if len(k) > maxIDBytes || db.Get(k) == nil {
				continue
			}
			seq++
			if err := errors.Join(db.Delete(k), vb.Delete(k), lb.Put(seqKey(seq), encodeLog(opDelete, id))); err != nil {
				return err
			}
			gone = append(gone, id)
		}
		if len(gone) == 0 {
			return nil
		}
		return tx.Bucket(bucketMeta).Put(keySeq, seqKey(seq))
	})
	if err != nil {
		return fmt.Errorf("faisslocal: delete: write %s: %w", dbName, err)
	}
	d.seq = seq
	for _, id := range gone {
		if slot, ok := d.slotOf[id]; ok {
			d.kill(slot)
			d.dirty = true
		}
	}
	d.autoSave(ctx)
	return nil
}

// Get implements driver.Driver.
func (d *Driver) Get(ctx context.Context, ids []string) (out []twostage.Document, err error) {
	defer guard("get", &err)()
	unlock, err := d.lockRead(ctx, "get")
	if err != nil {
		return nil, err
	}
	defer unlock()
	err = d.db.View(func(tx *bolt.Tx) error {
		db, vb := tx.Bucket(bucketDocs), tx.Bucket(bucketVecs)
		for _, id := range ids {
			if len(id) > maxIDBytes {
				continue
			}
			rec := db.Get([]byte(id))
			if rec == nil {
				continue
			}
			_, text, md, err := decodeDoc(rec, true)
			if err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
			vec, err := decodeVector(make([]float32, 0, d.man.Dim), vb.Get([]byte(id)), d.man.Dim)
			if err != nil {
				return fmt.Errorf("document %q: %w", id, err)
			}
			out = append(out, twostage.Document{ID: id, Text: text, Vector: vec, Metadata: md})
		}
		return nil
	})
	return out, err
}

// Count implements driver.Driver.
func (d *Driver) Count(ctx context.Context) (int, error) {
	unlock, err := d.lockRead(ctx, "count")
	if err != nil {
		return 0, err
	}
	defer unlock()
	return len(d.slotOf), nil
}

// Stats describes the index.
type Stats struct {
	Kind      string // flat, hnsw, ivfflat or ivfpq
	Documents int    // live documents
	Slots     int    // vectors in the FAISS index, dead ones included
	Dead      int    // slots of deleted or overwritten documents
	Trained   bool   // IVF kinds: trained (else the vectors are in an exact flat buffer)
	Seq       uint64 // last write's sequence number
	LogSeq    uint64 // sequence number of the saved snapshot; the log holds the writes after it
	// CachedRecords and CacheBytes describe the record cache (see
	// Options.RecordCacheBytes).
	CachedRecords, CacheBytes int
	Compacting                bool // a compaction runs in the background
}

// Stats returns the index's statistics.
func (d *Driver) Stats() Stats {
	d.mu.RLock()
	defer d.mu.RUnlock()
	st := Stats{Kind: d.man.Index.Kind, Documents: len(d.slotOf), Slots: len(d.slots), Dead: d.dead,
		Trained: d.trained || !d.isIVF(), Seq: d.seq, LogSeq: d.snapSeq, Compacting: d.compacting != nil}
	d.cache.mu.Lock()
	st.CachedRecords, st.CacheBytes = len(d.cache.recs), d.cache.bytes
	d.cache.mu.Unlock()
	return st
}

// Close implements driver.Driver: it saves (see Save), then releases the
// index, the database and the directory lock. Later calls return ErrClosed.
func (d *Driver) Close() (err error) {
	defer guard("close", &err)()
	d.mu.Lock()
	if d.closed || d.closing {
		d.mu.Unlock()
		return fmt.Errorf("faisslocal: close: %w", twostage.ErrClosed)
	}
	// Compact when due, waiting for it (writes may go on meanwhile; no new
	// compaction starts).
	if d.broken == nil && !d.readOnly && d.needsCompaction() {
		if _, err := d.startCompaction(); err != nil {
			slog.Warn("faisslocal: compaction on close failed", "dir", d.dir, "err", err)
		}
	}
	d.closing = true
	done := d.compacting
	d.mu.Unlock()
	if done != nil {
		<-done
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.stopWarm()
	var errs []error
	if d.broken == nil && !d.readOnly {
		errs = append(errs, d.save(context.Background()))
	}
	errs = append(errs, d.release())
	return errors.Join(errs...)
}
