//go:build faiss

package faisslocal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"twostage"
	"twostage/errdefs"
)

// ErrReadOnly is returned by the writing methods of a store opened with
// Options.ReadOnly.
var ErrReadOnly = errdefs.New("faisslocal: store opened read-only", twostage.ErrInvalidInput)

// readOnlyTries bounds the attempts at a consistent view beside a writer.
const readOnlyTries = 8

// openReadOnly opens an existing store for reading (Options.ReadOnly). It
// creates and writes nothing, so it works in a read-only directory, and it
// never waits for a writer:
//
//   - With no writer, it takes a shared lock on LOCK (other readers share
//     it; a writer that starts meanwhile gets ErrLocked) and opens docs.db
//     read-only.
//   - Beside a writer (which holds LOCK exclusively, and docs.db with it),
//     it reads a consistent copy of docs.db, taken while at most the
//     writer's in-flight transaction changed the file (bbolt's meta pages
//     say so; else it copies again), then the snapshot; the view is the
//     store as of the copy. The copy is unlinked once open.
//
// Either way the view is fixed at Open: later writes by the writer are not
// seen until the store is opened again.
func openReadOnly(dir string, opts *Options) (d *Driver, err error) {
	if _, err := os.Stat(filepath.Join(dir, manifestName)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("faisslocal: no store in %s: %w", dir, twostage.ErrNotFound)
		}
		return nil, fmt.Errorf("faisslocal: open %s: %w", dir, err)
	}
	ro := *opts
	ro.Index = nil // the stored index; search settings are applied below
	man, _, err := resolveManifest(dir, &ro)
	if err != nil {
		return nil, err
	}
	if opts.Index != nil {
		// Index parameters must match; search settings (efSearch, nprobe)
		// may differ, as for a writer.
		if man, _, err = resolveManifest(dir, opts); err != nil {
			return nil, err
		}
	}
	lock, shared, err := sharedLock(dir)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < readOnlyTries; try++ {
		d, err = openView(dir, opts, man, lock, shared)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, errMoved) {
			return nil, errors.Join(err, lock.release())
		}
		lastErr = err
		time.Sleep(time.Duration(try+1) * 10 * time.Millisecond)
	}
	return nil, errors.Join(fmt.Errorf("faisslocal: open %s read-only: the writer kept changing the store: %w", dir, twostage.ErrUnavailable), lastErr, lock.release())
}

// errMoved marks a view that a concurrent writer changed while it was read.
var errMoved = errors.New("faisslocal: the store changed while it was read")

// sharedLock takes LOCK shared when no writer holds it. shared is false
// beside a writer (the returned lock is nil then) and when the directory
// has no LOCK (a copied store that was never opened for writing).
func sharedLock(dir string) (*dirLock, bool, error) {
	f, err := os.Open(filepath.Join(dir, lockName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("faisslocal: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil // a writer has the store open
		}
		return nil, false, fmt.Errorf("faisslocal: lock %s: %w", dir, err)
	}
	return &dirLock{f: f}, true, nil
}

// openView opens docs.db (or a consistent copy of it beside a writer) and
// loads the index as of it.
func openView(dir string, opts *Options, man manifest, lock *dirLock, shared bool) (d *Driver, err error) {
	d = &Driver{settings: settings{dir: dir, threads: opts.threads(), compactRatio: opts.compactRatio(), readOnly: true},
		files: files{lock: lock}, cache: newRecordCache(opts.recordCacheBytes())}
	defer func() {
		if err != nil {
			d.lock = nil // kept for the next try, or released by the caller
			err = errors.Join(err, d.release())
			d = nil
		}
	}()
	defer guard("open "+dir, &err)()
	d.useManifest(man)
	dbPath := filepath.Join(dir, dbName)
	if !shared {
		if dbPath, err = copyDB(dbPath); err != nil {
			return d, err
		}
		defer os.RemoveAll(filepath.Dir(dbPath)) // open files stay readable
	}
	d.db, err = bolt.Open(dbPath, 0o444, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return d, fmt.Errorf("faisslocal: open %s: %v: %w", dbPath, err, ErrCorrupt)
	}
	if err := d.loadView(!shared); err != nil {
		return d, err
	}
	d.lock = lock
	d.warmStop, d.warmDone = make(chan struct{}), make(chan struct{})
	go d.warm(d.seq)
	return d, nil
}

// loadView is load without writing: no training, no log trimming. moving
// says a writer may have saved a snapshot newer than the copy of docs.db,
// which is then errMoved (the caller copies again).
func (d *Driver) loadView(moving bool) error {
	snap, err := readSnapshot(d.dir)
	if err != nil {
		if moving {
			return fmt.Errorf("%w: %w", errMoved, err)
		}
		return err
	}
	err = d.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDocs, bucketVecs, bucketLog, bucketMeta} {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("faisslocal: %s has no %s bucket: %w", dbName, b, ErrCorrupt)
			}
		}
		return d.readSeq(tx)
	})
	if err != nil {
		return err
	}
	if snap == nil {
		if err := d.resetIndex(); err != nil {
			return err
		}
		return d.rebuild(context.Background(), false)
	}
	if moving && snap.seq > d.seq {
		return errMoved // saved after the copy
	}
	if err := d.loadSnapshot(snap); err != nil {
		if moving {
			return fmt.Errorf("%w: %w", errMoved, err) // e.g. its index file replaced meanwhile
		}
		return err
	}
	return d.replayFrom(d.snapSeq)
}

// writable refuses writes to a read-only store.
func (d *Driver) writable() error {
	if d.readOnly {
		return ErrReadOnly
	}
	return nil
}

// copyDB copies the bbolt file at path into a new temporary directory and
// returns the copy's path. The copy is consistent when the newest committed
// transaction in it is the newest in the file after copying: bbolt writes a
// transaction's pages into pages free as of the last commit, never over
// that commit's tree, so only a second commit during the copy can tear the
// tree the copy's meta page points to. Otherwise it returns errMoved.
func copyDB(path string) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("faisslocal: read %s: %w", path, err)
	}
	defer src.Close()
	tmp, err := os.MkdirTemp("", "faisslocal-view-")
	if err != nil {
		return "", fmt.Errorf("faisslocal: read-only view: %w", err)
	}
	dst := filepath.Join(tmp, dbName)
	f, err := os.Create(dst)
	if err == nil {
		_, err = io.Copy(f, src)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("faisslocal: read-only view: copy %s: %w", path, err)
	}
	copied, err1 := lastTxid(dst)
	now, err2 := lastTxid(path)
	if err := errors.Join(err1, err2); err != nil || copied != now {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("%w (transaction %d copied, %d now): %w", errMoved, copied, now, err)
	}
	return dst, nil
}

// lastTxid returns the newest transaction id among the valid meta pages of
// the bbolt file at path (bbolt's file format 2: two meta pages, each a
// 16-byte page header then magic, version, page size, flags, root bucket,
// freelist, high-water page, txid and an FNV-64a checksum of the fields
// before it, in the machine's byte order, little-endian here).
func lastTxid(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const (
		hdr     = 16
		magic   = 0xED0CDAED
		txidOff = hdr + 48
		sumOff  = hdr + 56
	)
	var best uint64
	found := false
	pageSize := int64(0)
	for i := int64(0); i < 2; i++ {
		buf := make([]byte, sumOff+8)
		off := i * pageSize
		if i == 1 && pageSize == 0 {
			off = int64(os.Getpagesize())
		}
		if _, err := f.ReadAt(buf, off); err != nil {
			continue
		}
		le := binary.LittleEndian
		if le.Uint32(buf[hdr:]) != magic || le.Uint32(buf[hdr+4:]) != 2 {
			continue
		}
		h := fnv.New64a()
		h.Write(buf[hdr:sumOff])
		if h.Sum64() != le.Uint64(buf[sumOff:]) {
			continue // torn: bbolt ignores it too
		}
		if i == 0 {
			pageSize = int64(le.Uint32(buf[hdr+8:]))
		}
		if t := le.Uint64(buf[txidOff:]); !found || t > best {
			best, found = t, true
		}
	}
	if !found {
		return 0, fmt.Errorf("faisslocal: %s has no valid meta page: %w", path, ErrCorrupt)
	}
	return best, nil
}
