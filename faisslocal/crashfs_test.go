//go:build faiss

package faisslocal_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"twostage"
	"twostage/faisslocal"
)

// The SIGKILL test (TestCrashRecovery) cannot see a missing fsync: a killed
// process leaves the page cache, and so every write it made, intact. This
// test models what a power cut leaves instead, in the way crash-consistency
// tools (ALICE, CrashMonkey) do: a recorder on faisslocal's file-system
// seam tracks which file contents have been fsync'd and which directory
// entries have been made durable by an fsync of the directory, and at every
// durable operation (before it runs) writes a copy of the store holding
// only that: files whose entries are durable, with their last synced
// contents. Each copy must reopen holding every acknowledged write.
//
// The model: a file's data is durable once the file is fsync'd; creating,
// renaming and removing names is durable once the directory is fsync'd. A
// file rewritten in place without an fsync (the same name and inode as its
// durable entry, other content) may come back empty or with its old content:
// each crash point is tried both ways. docs.db is copied as it is: bbolt
// makes its own commits durable, and its durability is bbolt's to test.

// crashFS records the durable state of one store directory.
type crashFS struct {
	dir string
	t   *testing.T

	mu      sync.Mutex
	inode   int
	cur     map[string]int // name -> inode, as the process sees it
	durable map[string]int // name -> inode, as a crash leaves it
	synced  map[int][]byte // inode -> its last fsync'd content
	points  []crashPoint
	acked   map[string][]float32 // the acknowledged state, kept by the test
}

// crashPoint is a copy of the store as a crash at one moment leaves it.
type crashPoint struct {
	what  string
	files map[string][]byte // name -> content: what the crash leaves
	torn  []string          // files rewritten in place without an fsync
	acked map[string][]float32
}

// newCrashFS starts recording dir, whose current files all count as durable.
func newCrashFS(t *testing.T, dir string) *crashFS {
	c := &crashFS{dir: dir, t: t, cur: map[string]int{}, durable: map[string]int{}, synced: map[int][]byte{}, acked: map[string][]float32{}}
	for _, name := range c.realNames() {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		c.inode++
		c.cur[name], c.durable[name], c.synced[c.inode] = c.inode, c.inode, b
	}
	return c
}

// realNames lists dir's files except bbolt's and the lock.
func (c *crashFS) realNames() []string {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() && n != "docs.db" && n != "LOCK" {
			out = append(out, n)
		}
	}
	return out
}

// mine reports whether path is a file directly in the recorded directory.
func (c *crashFS) mine(path string) (string, bool) {
	if filepath.Dir(path) != c.dir {
		return "", false
	}
	return filepath.Base(path), true
}

func (c *crashFS) Sync(f *os.File) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Name() == c.dir {
		c.point("fsync directory")
		if err := f.Sync(); err != nil {
			return err
		}
		// The directory's entries, as they are now, become durable; names
		// created outside the seam (written by os or by FAISS's C++) get a
		// new inode with no synced data.
		now := map[string]int{}
		for _, n := range c.realNames() {
			ino, ok := c.cur[n]
			if !ok {
				c.inode++
				ino = c.inode
			}
			now[n] = ino
		}
		c.cur, c.durable = now, cloneMap(now)
		return nil
	}
	name, ok := c.mine(f.Name())
	if !ok {
		return f.Sync()
	}
	c.point("fsync " + name)
	if err := f.Sync(); err != nil {
		return err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	ino, ok := c.cur[name]
	if !ok {
		c.inode++
		ino = c.inode
		c.cur[name] = ino
	}
	c.synced[ino] = b
	return nil
}

func (c *crashFS) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	on, ok1 := c.mine(oldpath)
	nn, ok2 := c.mine(newpath)
	if ok1 && ok2 {
		c.point("rename " + on + " " + nn)
	}
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	if ok1 && ok2 {
		ino, ok := c.cur[on]
		if !ok {
			c.inode++
			ino = c.inode
		}
		delete(c.cur, on)
		c.cur[nn] = ino
	}
	return nil
}

func (c *crashFS) Remove(path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name, ok := c.mine(path)
	if ok {
		c.point("remove " + name)
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	if ok {
		delete(c.cur, name)
	}
	return nil
}

// point records what a crash now would leave. The caller holds c.mu.
func (c *crashFS) point(what string) {
	p := crashPoint{what: what, files: map[string][]byte{}, acked: cloneMap(c.acked)}
	for name, ino := range c.durable {
		data := c.synced[ino] // nil: nothing synced, the file comes back empty
		if c.cur[name] == ino {
			// The same file as the durable entry: unsynced changes to it
			// are torn.
			if now, err := os.ReadFile(filepath.Join(c.dir, name)); err == nil && !bytes.Equal(now, data) {
				p.torn = append(p.torn, name)
			}
		}
		p.files[name] = data
	}
	db, err := os.ReadFile(filepath.Join(c.dir, "docs.db"))
	if err != nil {
		c.t.Fatalf("crash point %q: %v", what, err)
	}
	p.files["docs.db"] = db
	slices.Sort(p.torn)
	c.points = append(c.points, p)
}

// ack records an acknowledged state: id -> vector, nil for deleted.
func (c *crashFS) ack(docs []twostage.Document, deleted []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range docs {
		c.acked[d.ID] = d.Vector
	}
	for _, id := range deleted {
		delete(c.acked, id)
	}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestCrashConsistency writes to a store through the recorder and reopens
// every crash point's copy, each torn file both empty and with its old
// content.
func TestCrashConsistency(t *testing.T) {
	for name, spec := range map[string]faisslocal.IndexSpec{
		"flat": faisslocal.Flat{},
		"hnsw": faisslocal.HNSW{M: 8},
	} {
		t.Run(name, func(t *testing.T) { testCrashConsistency(t, spec) })
	}
}

func testCrashConsistency(t *testing.T, spec faisslocal.IndexSpec) {
	dir := t.TempDir()
	opts := &faisslocal.Options{Dim: crashDim, Metric: twostage.L2, Index: spec}
	docs := func(from, to, version int) []twostage.Document {
		var out []twostage.Document
		for i := from; i < to; i++ {
			id := fmt.Sprint("c", i)
			out = append(out, twostage.Document{ID: id, Text: id, Vector: versionVector(id, version)})
		}
		return out
	}
	// The store as it was before the recording: durable.
	d, err := faisslocal.OpenDriver(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	first := docs(0, 20, 0)
	if err := d.Upsert(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	rec := newCrashFS(t, dir)
	rec.ack(first, nil)
	old := faisslocal.SetFileSystem(rec)
	func() {
		defer faisslocal.SetFileSystem(old)
		d, err := faisslocal.OpenDriver(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		step := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		// upsert and remove record a write as acknowledged once it returns.
		upsert := func(what string, docs []twostage.Document) {
			t.Helper()
			step(what, d.Upsert(ctx, docs))
			rec.ack(docs, nil)
		}
		remove := func(ids ...string) {
			t.Helper()
			step("delete", d.Delete(ctx, ids))
			rec.ack(nil, ids)
		}
		upsert("upsert", docs(20, 40, 0))
		step("save", d.Save(ctx))
		upsert("overwrite", docs(5, 15, 1))
		remove("c1", "c2", "c30")
		step("save again", d.Save(ctx))
		upsert("upsert", docs(40, 45, 0))
		step("close", d.Close())
	}()
	rec.mu.Lock()
	rec.point("after close")
	rec.mu.Unlock()

	if len(rec.points) < 8 {
		t.Errorf("recorded %d crash points, want at least 8 (two saves and a close)", len(rec.points))
	}
	for i, p := range rec.points {
		variants := []string{"as synced"}
		if len(p.torn) > 0 {
			variants = append(variants, "torn files empty")
		}
		for _, v := range variants {
			t.Run(fmt.Sprintf("%02d %s: %s", i, p.what, v), func(t *testing.T) {
				img := t.TempDir()
				for name, b := range p.files {
					if v == "torn files empty" && slices.Contains(p.torn, name) {
						b = nil
					}
					if err := os.WriteFile(filepath.Join(img, name), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				checkCrashImage(t, img, p)
			})
		}
	}
}

// checkCrashImage reopens a crash point's copy: it must open and hold every
// acknowledged write, in the documents and in the index.
func checkCrashImage(t *testing.T, img string, p crashPoint) {
	t.Helper()
	d, err := faisslocal.OpenDriver(img, nil)
	if err != nil {
		t.Fatalf("reopen (torn: %v): %v", p.torn, err)
	}
	defer d.Close()
	if n, err := d.Count(ctx); err != nil || n != len(p.acked) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(p.acked))
	}
	ids := make([]string, 0, len(p.acked))
	for id := range p.acked {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	got, err := d.Get(ctx, ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("Get of %d acknowledged ids: %d found, %v", len(ids), len(got), err)
	}
	for _, g := range got {
		if !slices.Equal(g.Vector, p.acked[g.ID]) {
			t.Errorf("%s: vector %v, want the acknowledged %v", g.ID, g.Vector, p.acked[g.ID])
		}
	}
	for _, id := range ids {
		hits, err := d.Search(ctx, twostage.Query{Vector: p.acked[id], K: len(ids)})
		i := slices.IndexFunc(hits, func(h twostage.Hit) bool { return h.ID == id })
		if err != nil || i < 0 || hits[i].RetrievalScore < -1e-6 {
			t.Fatalf("search for %s's own vector: found at %d, %v", id, i, errors.Join(err))
		}
	}
}
