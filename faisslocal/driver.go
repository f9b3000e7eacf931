//go:build faiss

package faisslocal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
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
// Train, Stats and SearchBatch.
//
// Searches run in parallel; writes, Save and Train are serialised and
// exclude searches while they change the index. A compaction builds its
// index beside searches and writes and excludes them only to replay the
// writes made meanwhile and swap the index in.
type Driver struct {
	dir          string
	man          manifest
	info         twostage.Info
	l2           bool
	threads      int
	compactRatio float64
	saveEvery    int

	lock     *dirLock
	db       *bolt.DB
	readOnly bool // Options.ReadOnly: writes fail, Close saves nothing

	mu      sync.RWMutex
	closed  bool
	broken  error // the in-memory index no longer matches docs.db; reopen to replay
	index   *faissIndex
	trained bool             // IVF kinds: the index is the trained IVF, not the flat buffer
	slots   []string         // FAISS id -> document id; "" when dead
	live    []byte           // bitmap of live slots, for FAISS's IDSelectorBitmap
	slotOf  map[string]int64 // document id -> its live slot
	dead    int              // dead slots
	seq     uint64           // last sequence number committed
	snapSeq uint64           // sequence number the saved snapshot holds
	gen     uint64           // generation of the saved index file
	dirty   bool             // the index differs from the saved snapshot
	cache   *recordCache     // document records of slots, for hydrating hits
	epoch   uint64           // counts index replacements

	compacting  chan struct{} // closed when the running background compaction ends; nil when none runs
	compactFrom uint64        // the running compaction's start sequence: the log keeps the entries after it
	compactErr  error         // the last background compaction's error
	closing     bool          // Close waits for the compaction; no new one starts

	warmStop, warmDone chan struct{} // the warm-up goroutine (see warm)
}

var (
	_ driver.Driver = (*Driver)(nil)
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
	d = &Driver{dir: dir, lock: lock, threads: opts.threads(), compactRatio: opts.compactRatio(),
		cache: newRecordCache(opts.recordCacheBytes())}
	if opts != nil {
		d.saveEvery = opts.SaveEvery
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("faisslocal: open %s: %v: %w", dir, r, ErrCorrupt)
		}
		if err != nil {
			err = errors.Join(err, d.release())
			d = nil
		}
	}()
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
	d.man = man
	d.info = twostage.Info{Dim: man.Dim, Metric: man.Metric}
	d.l2 = man.Metric == twostage.L2
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

// warm reads every document record once, in the background, so that the
// pages of docs.db that searches read to hydrate hits are mapped before
// the first searches need them (a fresh process otherwise takes a page
// fault for each), and fills the record cache while it has room. Vectors
// are not touched: they stay on disk until read. It exits when done or when
// Close asks it to. seq is the store's sequence number when it starts.
func (d *Driver) warm(seq uint64) {
	defer close(d.warmDone)
	defer func() { recover() }() // a damaged page: the search that reads it reports it
	debug.SetPanicOnFault(true)
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
	err := d.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySeq); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("faisslocal: sequence record: %w", ErrCorrupt)
			}
			d.seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if snap == nil {
		d.index, err = newIndex(d.man.Dim, d.l2, d.man.Index, false)
		if err != nil {
			return err
		}
		d.index.setEfSearch(d.man.Index.EfSearch)
		d.slotOf = map[string]int64{}
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

// built is an index with its slot table: one built from the stored
// vectors, or the driver's current one (see swap).
type built struct {
	index   *faissIndex
	trained bool
	slots   []string
	live    []byte
	slotOf  map[string]int64
	dead    int
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

// install makes b the index, freeing the old one. The caller holds d.mu
// exclusively.
func (d *Driver) install(b *built) { d.retire(d.swap(b)) }

// swap makes b the index and slot table and returns the previous ones,
// not freed. The caller holds d.mu exclusively.
func (d *Driver) swap(b *built) (old *built) {
	old = &built{index: d.index, trained: d.trained, slots: d.slots, live: d.live, slotOf: d.slotOf, dead: d.dead}
	d.index, d.trained = b.index, b.trained
	d.slots, d.live, d.slotOf, d.dead = b.slots, b.live, b.slotOf, b.dead
	return old
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
		defer recoverCorrupt("compact", &err)
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
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

func (d *Driver) check() error {
	if d.closed {
		return fmt.Errorf("faisslocal: %w", twostage.ErrClosed)
	}
	return d.broken
}

// recoverCorrupt turns a panic inside bbolt (a damaged database page) into
// an error wrapping ErrCorrupt.
//
// Methods that read the database also call debug.SetPanicOnFault, so a
// fault on bbolt's memory map (a file truncated under it) panics instead of
// crashing the process, and is recovered here.
func recoverCorrupt(op string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("faisslocal: %s: %v: %w", op, r, ErrCorrupt)
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
	defer recoverCorrupt("upsert", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	for _, doc := range docs {
		if len(doc.ID) > maxIDBytes {
			return fmt.Errorf("faisslocal: id of %d bytes exceeds %d: %w", len(doc.ID), maxIDBytes, twostage.ErrInvalidInput)
		}
		if len(doc.Vector) != d.man.Dim {
			return fmt.Errorf("faisslocal: document %q: vector has %d dimensions, want %d: %w", doc.ID, len(doc.Vector), d.man.Dim, twostage.ErrDimension)
		}
	}
	recs := make([][]byte, len(docs))
	for i, doc := range docs {
		if recs[i], err = encodeDoc(nil, 0, doc.Text, doc.Metadata); err != nil {
			return fmt.Errorf("document %q: %w", doc.ID, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faisslocal: upsert: %w", err)
	}
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
	if err := d.writable(); err != nil {
		return err
	}
	defer recoverCorrupt("delete", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("faisslocal: delete: %w", err)
	}
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
	defer recoverCorrupt("get", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("faisslocal: get: %w", err)
	}
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
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("faisslocal: count: %w", err)
	}
	return len(d.slotOf), nil
}

// Save writes a snapshot of the index (compacting it first when more than
// Options.CompactRatio of its slots are dead) and trims the write-ahead log,
// so the next Open replays nothing. Close saves too.
func (d *Driver) Save(ctx context.Context) (err error) {
	if err := d.writable(); err != nil {
		return err
	}
	defer recoverCorrupt("save", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if err := d.compact(ctx, false); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return err
	}
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

// Compact rebuilds the index from the live vectors, dropping the slots of
// deleted and overwritten documents, and returns when it is done. Searches
// and writes go on meanwhile (see Options.CompactRatio). Save persists the
// result.
func (d *Driver) Compact(ctx context.Context) (err error) {
	if err := d.writable(); err != nil {
		return err
	}
	defer recoverCorrupt("compact", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
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
	if err := d.writable(); err != nil {
		return err
	}
	defer recoverCorrupt("train", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return err
	}
	if !d.isIVF() || d.trained {
		return nil
	}
	return d.rebuild(ctx, true)
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
	defer recoverCorrupt("close", &err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
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
