//go:build faiss

package faisslocal_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/faisslocal"
	"twostage/internal/testassets"
)

// diskFullEnv marks the child process of TestDiskFull: it runs in its own
// mount namespace (and user namespace when not root), where it may mount a
// small tmpfs that disappears with it.
const diskFullEnv = "FAISSLOCAL_DISKFULL_CHILD"

// TestDiskFull fills a small file system (a 1 MiB tmpfs) under a store:
// writes must fail with an error naming ENOSPC, nothing acknowledged may be
// lost, and once space is back the store must reopen with every
// acknowledged document and accept writes again.
func TestDiskFull(t *testing.T) {
	if os.Getenv(diskFullEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFull$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), diskFullEnv+"=1")
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		if os.Geteuid() != 0 {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		}
		cmd.SysProcAttr = attr
		out, err := cmd.CombinedOutput()
		switch {
		case err != nil && strings.Contains(string(out), "cannot mount"):
			testassets.Missing(t, "a small file system: "+lastLine(out))
		case err != nil && cmd.ProcessState == nil:
			testassets.Missing(t, fmt.Sprintf("a mount namespace for a small file system: %v", err))
		case err != nil:
			t.Fatalf("child: %v\n%s", err, out)
		case !strings.Contains(string(out), "--- PASS: TestDiskFull"):
			t.Fatalf("child did not run the test:\n%s", out)
		}
		t.Logf("child:\n%s", out)
		return
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Fatalf("cannot mount: make / private: %v", err)
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	// Ballast: freed to give the space back.
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "store")
	const dim = 32
	ctx := context.Background()
	s, err := faisslocal.Open(dir, &faisslocal.Options{Dim: dim, RecordCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	acked := map[string][]float32{}
	batch := func(b int) []twostage.Document {
		var docs []twostage.Document
		for i := range 20 {
			id := fmt.Sprintf("b%03d-%02d", b, i)
			docs = append(docs, twostage.Document{ID: id, Text: strings.Repeat("x", 200), Vector: storetest.RandomVector(r, dim)})
		}
		return docs
	}
	var full error
	b := 0
	for ; b < 1000 && full == nil; b++ {
		docs := batch(b)
		if full = s.Upsert(ctx, docs); full == nil {
			for _, d := range docs {
				acked[d.ID] = d.Vector
			}
		}
	}
	if full == nil {
		t.Fatalf("1000 batches fit in 1 MiB: the disk never filled")
	}
	if !errors.Is(full, syscall.ENOSPC) || !strings.Contains(full.Error(), "no space left on device") {
		t.Errorf("upsert on a full disk: %v, want an error wrapping ENOSPC that says so", full)
	}
	t.Logf("disk full after %d documents: %v", len(acked), full)
	// Still full: later writes fail the same way; reads go on.
	if err := s.Upsert(ctx, batch(b)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("a second upsert on the full disk: %v, want ENOSPC", err)
	}
	for id, v := range acked {
		hits, err := s.Search(ctx, twostage.Query{Vector: v, K: 1})
		if err != nil || len(hits) != 1 || hits[0].ID != id {
			t.Fatalf("search for acknowledged %s on the full disk: %v, %v", id, hits, err)
		}
		break
	}
	closeErr := s.Close() // saving the index may fail too; the log keeps every write
	t.Logf("close on the full disk: %v", closeErr)

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	verify := func(s *twostage.Store) {
		t.Helper()
		if n, err := s.Count(ctx); err != nil || n != len(acked) {
			t.Errorf("count = %d, %v; want the %d acknowledged", n, err, len(acked))
		}
		for id, v := range acked {
			hits, err := s.Search(ctx, twostage.Query{Vector: v, K: 1})
			if err != nil || len(hits) != 1 || hits[0].ID != id {
				t.Errorf("acknowledged %s is not found by its own vector: %v, %v", id, hits, err)
			}
		}
		if rep, err := s.Check(ctx, twostage.CheckOptions{}); err != nil || !rep.OK() {
			t.Errorf("check = %v, %v; want nothing wrong", rep, err)
		}
	}
	s, err = faisslocal.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen once space is back: %v", err)
	}
	verify(s)
	docs := batch(b + 1)
	if err := s.Upsert(ctx, docs); err != nil {
		t.Fatalf("upsert once space is back: %v", err)
	}
	for _, d := range docs {
		acked[d.ID] = d.Vector
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close once space is back: %v", err)
	}
	s, err = faisslocal.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	verify(s)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
