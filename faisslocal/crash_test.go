//go:build faiss

package faisslocal_test

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"twostage"
	"twostage/adapters/storetest"
	"twostage/faisslocal"
)

// The crash test re-runs this test binary as a child (TestCrashChild) that
// writes to a store and prints every write before it starts ("B ...") and
// after it is acknowledged ("A"). The parent SIGKILLs it at a random moment,
// reopens the store and checks that it holds every acknowledged write, and
// the write in flight either entirely or not at all.

const (
	crashDirEnv  = "FAISSLOCAL_CRASH_DIR"
	crashKindEnv = "FAISSLOCAL_CRASH_KIND"
	crashSeedEnv = "FAISSLOCAL_CRASH_SEED"
	lockDirEnv   = "FAISSLOCAL_LOCK_DIR"
	crashDim     = 8
	crashIDs     = 300
)

func crashKinds() map[string]faisslocal.IndexSpec {
	return map[string]faisslocal.IndexSpec{
		"flat":    faisslocal.Flat{},
		"hnsw":    faisslocal.HNSW{M: 8},
		"ivfflat": faisslocal.IVFFlat{NList: 4, NProbe: 4, TrainSize: 120},
	}
}

// versionVector is the vector of version v of document id.
func versionVector(id string, v int) []float32 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", id, v)
	r := rand.New(rand.NewPCG(h.Sum64(), 1))
	return storetest.RandomVector(r, crashDim)
}

// TestCrashChild is the child process of TestCrashRecovery.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as a child of TestCrashRecovery")
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	spec := crashKinds()[os.Getenv(crashKindEnv)]
	d, err := faisslocal.OpenDriver(dir, &faisslocal.Options{Dim: crashDim, Metric: twostage.L2, Index: spec, CompactRatio: 0.1})
	if err != nil {
		fmt.Printf("E open: %v\n", err)
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(seed, 3))
	fmt.Println("R")
	for op := 0; ; op++ {
		switch x := r.IntN(20); {
		case x == 0:
			fmt.Println("B save")
			err = d.Save(ctx)
		case x < 4:
			var ids []string
			for range 1 + r.IntN(4) {
				ids = append(ids, fmt.Sprint("c", r.IntN(crashIDs)))
			}
			fmt.Println("B delete", strings.Join(ids, " "))
			err = d.Delete(ctx, ids)
		default:
			var docs []twostage.Document
			var desc []string
			seen := map[string]bool{}
			for range 1 + r.IntN(8) {
				id := fmt.Sprint("c", r.IntN(crashIDs))
				if seen[id] {
					continue
				}
				seen[id] = true
				docs = append(docs, twostage.Document{ID: id, Text: strconv.Itoa(op), Vector: versionVector(id, op),
					Metadata: map[string]any{"op": int64(op)}})
				desc = append(desc, id)
			}
			fmt.Printf("B upsert %d %s\n", op, strings.Join(desc, " "))
			err = d.Upsert(ctx, docs)
		}
		if err != nil {
			fmt.Printf("E %v\n", err)
			os.Exit(2)
		}
		fmt.Println("A")
	}
}

// crashState is the documents' expected versions: id -> op (absent when
// deleted).
type crashState map[string]int

func (s crashState) apply(line string) {
	f := strings.Fields(line)
	switch f[1] {
	case "delete":
		for _, id := range f[2:] {
			delete(s, id)
		}
	case "upsert":
		op, _ := strconv.Atoi(f[2])
		for _, id := range f[3:] {
			s[id] = op
		}
	}
}

// crashKillSeedEnv replays a TestCrashRecovery run: the kill times come
// from this seed (logged by every run), the children's writes from the
// round number.
const crashKillSeedEnv = "FAISSLOCAL_CRASH_KILL_SEED"

func TestCrashRecovery(t *testing.T) {
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashKillSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashKillSeedEnv, s, err)
		}
	}
	t.Logf("kill times from seed %d (%s=%d replays them)", seed, crashKillSeedEnv, seed)
	for kind := range crashKinds() {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			acked := crashState{}
			h := fnv.New64a()
			h.Write([]byte(kind))
			kills := rand.New(rand.NewPCG(seed, h.Sum64()))
			for round := range rounds {
				killAfter := time.Duration(30+kills.IntN(300)) * time.Millisecond
				t.Logf("round %d: kill after %v", round, killAfter)
				inflight := runCrashChild(t, dir, kind, round, killAfter, acked)
				verifyCrashState(t, dir, acked, inflight, round)
			}
		})
	}
}

// runCrashChild runs the child until it is killed, updating acked with the
// acknowledged writes; it returns the write in flight ("" if none).
func runCrashChild(t *testing.T, dir, kind string, round int, killAfter time.Duration, acked crashState) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashKindEnv+"="+kind, fmt.Sprint(crashSeedEnv, "=", round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var timer <-chan time.Time
	inflight := ""
	for line := range lines {
		switch {
		case line == "R":
			timer = time.After(killAfter)
		case strings.HasPrefix(line, "B "):
			inflight = line
		case line == "A":
			acked.apply(inflight)
			inflight = ""
		case strings.HasPrefix(line, "E"):
			t.Fatalf("child: %s", line)
		}
		select {
		case <-timer:
			cmd.Process.Signal(syscall.SIGKILL)
			timer = nil
		default:
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	return inflight
}

func verifyCrashState(t *testing.T, dir string, acked crashState, inflight string, round int) {
	t.Helper()
	d, err := faisslocal.OpenDriver(dir, nil)
	if err != nil {
		t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
	}()
	ids := make([]string, crashIDs)
	for i := range ids {
		ids[i] = fmt.Sprint("c", i)
	}
	docs, err := d.Get(ctx, ids)
	if err != nil {
		t.Fatalf("round %d: Get: %v", round, err)
	}
	got := crashState{}
	for _, doc := range docs {
		op, _ := strconv.Atoi(doc.Text)
		got[doc.ID] = op
		if !slices.Equal(doc.Vector, versionVector(doc.ID, op)) || doc.Metadata["op"] != int64(op) {
			t.Fatalf("round %d: document %s version %d has the wrong vector or metadata", round, doc.ID, op)
		}
	}
	want := crashState{}
	for k, v := range acked {
		want[k] = v
	}
	if !equalState(got, want) && inflight != "" {
		with := crashState{}
		for k, v := range acked {
			with[k] = v
		}
		with.apply(inflight)
		if equalState(got, with) {
			want = with
			acked.apply(inflight) // it reached the disk: later rounds expect it
		}
	}
	if !equalState(got, want) {
		t.Fatalf("round %d: reopened store holds %d documents, acknowledged state %d (in flight: %q); first difference: %s",
			round, len(got), len(want), inflight, firstDiff(got, want))
	}
	if n, _ := d.Count(ctx); n != len(want) {
		t.Fatalf("round %d: Count = %d, want %d", round, n, len(want))
	}
	// The index agrees with the documents: searching a document's own
	// vector finds it at distance 0 (the store is L2), so the index holds
	// its current vector under its slot. K covers every document: HNSW is approximate,
	// and with tombstones a top-3 search missed its own vector about one
	// run in twenty-five.
	for id, op := range want {
		hits, err := d.Search(ctx, twostage.Query{Vector: versionVector(id, op), K: len(want)})
		i := slices.IndexFunc(hits, func(h twostage.Hit) bool { return h.ID == id })
		if err != nil || i < 0 || hits[i].RetrievalScore < -1e-6 {
			t.Fatalf("round %d: search for %s's own vector: %v, %v", round, id, hitIDs(hits[:min(3, len(hits))]), err)
		}
	}
	t.Logf("round %d: %d documents, stats %+v", round, len(want), d.Stats())
}

func equalState(a, b crashState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func firstDiff(got, want crashState) string {
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return fmt.Sprintf("%s: got version %d (present %v), want %d", k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%s: present (version %d), want absent", k, v)
		}
	}
	return "none"
}

// TestLockChild is the child of TestLock: it exits 3 when the store is
// locked, 0 when it opened it.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockDirEnv)
	if dir == "" {
		t.Skip("runs only as a child of TestLock")
	}
	d, err := faisslocal.OpenDriver(dir, nil)
	if errors.Is(err, faisslocal.ErrLocked) {
		os.Exit(3)
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	d.Close()
	os.Exit(0)
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	d, err := faisslocal.OpenDriver(dir, &faisslocal.Options{Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	child := func() int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockChild$")
		cmd.Env = append(os.Environ(), lockDirEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("child: %v: %s", err, out)
		}
		return 0
	}
	if code := child(); code != 3 {
		t.Fatalf("second process opening a held store: exit %d, want 3 (ErrLocked)", code)
	}
	if _, err := faisslocal.OpenDriver(dir, nil); !errors.Is(err, faisslocal.ErrLocked) || !errors.Is(err, twostage.ErrUnavailable) {
		t.Fatalf("second Open in the same process: %v, want ErrLocked", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); !errors.Is(err, twostage.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	if code := child(); code != 0 {
		t.Fatalf("opening a released store: exit %d, want 0", code)
	}
}
