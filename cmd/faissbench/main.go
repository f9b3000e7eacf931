//go:build faiss

// Command faissbench measures faisslocal against FAISS called directly from
// C++ on the same generated data: build time, resident memory per vector,
// search QPS at batch 1 and 64, recall@10 of the approximate kinds against
// Flat, and the time to reopen a saved store. It prints the two side by side
// with their ratios. Run it with scripts/faissbench.sh, which builds the C++
// baseline (cmd/faissbench/cpp) and this command:
//
//	scripts/faissbench.sh -n 100000
//
// Each index is built and searched in child processes (this binary with
// -child), so resident memory is measured in a clean process. The search
// child runs the C++ baseline beside it (faissbench-cpp serve) and has both
// search the same chunk of queries back to back, alternating which goes
// first: on a shared machine, load then falls on both sides alike, and the
// per-chunk ratios give a median that drift cannot move.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"twostage"
	"twostage/faisslocal"
)

type config struct {
	N, Dim, NQ      int
	Kinds           string
	Work, CPP       string
	M, EfC, EfS     int
	NList, NProbe   int
	PQM, NBits      int
	Train, Refine   int
	Child, Kind     string
	Batch, Clusters int
	Rounds, Chunk   int
	Keep            bool
	Layout          string
	Serve, ServeAs  string
}

func main() {
	var c config
	flag.IntVar(&c.N, "n", 100000, "vectors")
	flag.IntVar(&c.Dim, "dim", 384, "dimension")
	flag.IntVar(&c.NQ, "nq", 1024, "queries (a multiple of 64)")
	flag.StringVar(&c.Kinds, "kinds", "flat,hnsw,ivfflat,ivfpq,ivfpq-mem", "index kinds (ivfpq re-scores from docs.db, ivfpq-mem from vectors kept in memory)")
	flag.StringVar(&c.Work, "work", filepath.Join(os.TempDir(), "faissbench"), "work directory (data files and stores)")
	flag.StringVar(&c.CPP, "cpp", "", "the C++ baseline binary (built by scripts/faissbench.sh)")
	flag.IntVar(&c.M, "hnsw-m", 32, "HNSW M")
	flag.IntVar(&c.EfC, "hnsw-efc", 40, "HNSW efConstruction")
	flag.IntVar(&c.EfS, "hnsw-efs", 64, "HNSW efSearch")
	flag.IntVar(&c.NList, "nlist", 1024, "IVF lists")
	flag.IntVar(&c.NProbe, "nprobe", 16, "IVF lists probed")
	flag.IntVar(&c.PQM, "pq-m", 48, "PQ sub-quantizers")
	flag.IntVar(&c.NBits, "pq-nbits", 8, "PQ bits per code")
	flag.IntVar(&c.Train, "train", 0, "IVF train size (default 39*max(nlist, 2^nbits))")
	flag.IntVar(&c.Refine, "refine", 4, "IVFPQ refine factor")
	flag.IntVar(&c.Batch, "upsert-batch", 10000, "documents per Upsert")
	flag.IntVar(&c.Clusters, "clusters", 1000, "clusters in the generated data")
	flag.IntVar(&c.Rounds, "rounds", 2, "reopen rounds (the best counts) and search passes over the queries")
	flag.IntVar(&c.Chunk, "chunk", 16, "queries per timed chunk at batch 1")
	flag.BoolVar(&c.Keep, "keep", false, "keep the stores and index files in -work, and reuse kept ones instead of building")
	flag.StringVar(&c.Layout, "layout", "", "comma-separated C++ baseline binaries: search with each (kinds from -kinds), batch 1, side by side (scripts/faisslayout.sh)")
	flag.StringVar(&c.Serve, "serve", "", "another baseline for the searches: a program speaking faissbench-cpp's serve protocol on the C++-built index (scripts/faissbench-cpu.sh: faiss-cpu)")
	flag.StringVar(&c.ServeAs, "serve-name", "", "the -serve baseline's name in the report")
	flag.StringVar(&c.Child, "child", "", "internal: build, reopen or search")
	flag.StringVar(&c.Kind, "kind", "", "internal: the kind a child runs")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("faissbench: ")
	if c.Train == 0 {
		c.Train = 39 * max(c.NList, 1<<c.NBits)
	}
	var err error
	switch c.Child {
	case "build":
		err = childBuild(c)
	case "search":
		err = childSearch(c)
	case "reopen", "reopen-cpp-first":
		err = childReopen(c, c.Child == "reopen-cpp-first")
	case "":
		if c.Layout != "" {
			err = layout(c)
		} else {
			err = run(c)
		}
	default:
		err = fmt.Errorf("unknown -child %q", c.Child)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func (c config) base() string {
	return filepath.Join(c.Work, fmt.Sprintf("base-%d-%d.f32", c.N, c.Dim))
}
func (c config) queries() string {
	return filepath.Join(c.Work, fmt.Sprintf("queries-%d-%d.f32", c.NQ, c.Dim))
}
func (c config) store(kind string) string {
	return filepath.Join(c.Work, fmt.Sprintf("store-%s-%d", kind, c.N))
}

func (c config) spec(kind string) faisslocal.IndexSpec {
	switch kind {
	case "hnsw":
		return faisslocal.HNSW{M: c.M, EfConstruction: c.EfC, EfSearch: c.EfS}
	case "ivfflat":
		return faisslocal.IVFFlat{NList: c.NList, NProbe: c.NProbe, TrainSize: c.Train}
	case "ivfpq", "ivfpq-mem":
		return faisslocal.IVFPQ{NList: c.NList, NProbe: c.NProbe, M: c.PQM, NBits: c.NBits, TrainSize: c.Train,
			RefineFactor: c.Refine, RefineInMemory: kind == "ivfpq-mem"}
	}
	return faisslocal.Flat{}
}

// generate writes unit vectors drawn around random cluster centres (so that
// nearest neighbours mean something), the queries from the same mixture.
func generate(c config) error {
	r := rand.New(rand.NewPCG(1, 2))
	centres := make([][]float32, c.Clusters)
	for i := range centres {
		centres[i] = make([]float32, c.Dim)
		for j := range centres[i] {
			centres[i][j] = float32(r.NormFloat64())
		}
	}
	write := func(path string, n int) error {
		if st, err := os.Stat(path); err == nil && st.Size() == int64(n*c.Dim*4) {
			return nil
		}
		log.Printf("generating %d vectors of dimension %d into %s", n, c.Dim, path)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		v := make([]float32, c.Dim)
		b := make([]byte, 4*c.Dim)
		for i := 0; i < n; i++ {
			ctr := centres[r.IntN(len(centres))]
			var s float64
			for j := range v {
				v[j] = ctr[j] + 0.6*float32(r.NormFloat64())
				s += float64(v[j]) * float64(v[j])
			}
			inv := float32(1 / math.Sqrt(s))
			for j := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v[j]*inv))
			}
			w.Write(b)
		}
		return errors.Join(w.Flush(), f.Close())
	}
	if err := os.MkdirAll(c.Work, 0o755); err != nil {
		return err
	}
	if err := write(c.base(), c.N); err != nil {
		return err
	}
	r = rand.New(rand.NewPCG(3, 4)) // queries: fresh draws from the same clusters
	return write(c.queries(), c.NQ)
}

// readVectors reads rows [from, from+n) of a data file.
func readVectors(f *os.File, from, n, dim int) ([]float32, error) {
	b := make([]byte, n*dim*4)
	if _, err := f.ReadAt(b, int64(from)*int64(dim)*4); err != nil && err != io.EOF {
		return nil, err
	}
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

func docID(i int) string { return fmt.Sprintf("d%08d", i) }

// cpuSeconds is the process's user and system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// readRSS returns the process's resident memory (VmRSS) in KiB.
func readRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// result is what a child reports.
type result struct {
	BuildS, SaveS, ReopenS float64
	BytesPerVec            float64
	Labels                 []int64 `json:",omitempty"`
	Threads                int
	DiskBytes              int64
	// B1 and B64: faisslocal against the C++ baseline, chunk by chunk.
	B1, B64 paired
	// CPP holds the baseline's figures from the same runs.
	CPP struct {
		BuildS, SaveS, ReopenS, BytesPerVec float64
		Labels                              []int64
	}
}

// paired holds the searches both sides ran on the same chunks of queries,
// alternating which side went first.
type paired struct {
	Queries               int
	GoWall, GoCPU         float64 // seconds, summed over the chunks
	CWall, CCPU           float64
	MedianWall, MedianCPU float64 // median over chunks of go QPS / C++ QPS
}

func (p *paired) add(n int, gw, gc, cw, cc float64, wall, cpu *[]float64) {
	p.Queries += n
	p.GoWall, p.GoCPU, p.CWall, p.CCPU = p.GoWall+gw, p.GoCPU+gc, p.CWall+cw, p.CCPU+cc
	*wall = append(*wall, cw/gw)
	*cpu = append(*cpu, cc/gc)
}

func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func childBuild(c config) error {
	dir := c.store(c.Kind)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	f, err := os.Open(c.base())
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	d, err := faisslocal.OpenDriver(dir, &faisslocal.Options{Dim: c.Dim, Metric: twostage.Cosine, Index: c.spec(c.Kind)})
	if err != nil {
		return err
	}
	store := twostage.NewStore(d)
	ctx := context.Background()
	last := time.Now()
	for i := 0; i < c.N; i += c.Batch {
		n := min(c.Batch, c.N-i)
		v, err := readVectors(f, i, n, c.Dim)
		if err != nil {
			return err
		}
		docs := make([]twostage.Document, n)
		for j := range docs {
			docs[j] = twostage.Document{ID: docID(i + j), Text: "document " + strconv.Itoa(i+j),
				Vector: v[j*c.Dim : (j+1)*c.Dim], Metadata: map[string]any{"bucket": int64((i + j) % 10)}}
		}
		if err := store.Upsert(ctx, docs); err != nil {
			return err
		}
		if time.Since(last) > 10*time.Second {
			log.Printf("  %s: %d/%d upserted (%s)", c.Kind, i+n, c.N, time.Since(start).Round(time.Second))
			last = time.Now()
		}
	}
	build := time.Since(start)
	s := time.Now()
	if err := store.Close(); err != nil {
		return err
	}
	var disk int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			disk += fi.Size()
		}
		return nil
	})
	return json.NewEncoder(os.Stdout).Encode(result{BuildS: build.Seconds(), SaveS: time.Since(s).Seconds(), DiskBytes: disk})
}

// cppServer is the C++ baseline in serve mode (see faissbench.cpp).
type cppServer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startCPP(c config, kind string) (*cppServer, []byte, error) {
	cmd := exec.Command(c.CPP, "serve", c.cppIndex(kind), strconv.Itoa(c.Dim), strconv.Itoa(c.NQ), c.queries(),
		c.cppLabels(kind), strconv.Itoa(c.EfS), strconv.Itoa(c.NProbe), strconv.Itoa(c.Refine))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("C++ baseline: %w", err)
	}
	s := &cppServer{cmd: cmd, in: in, out: bufio.NewReader(out)}
	hello, err := s.out.ReadBytes('\n')
	if err != nil {
		s.close()
		return nil, nil, fmt.Errorf("C++ baseline did not start: %w", err)
	}
	return s, hello, nil
}

// run has the baseline search queries [from, to) on CPU pin (-1: any) and
// returns its wall and CPU seconds.
func (s *cppServer) run(op string, from, to, pin int) (wall, cpu float64, err error) {
	if _, err := fmt.Fprintf(s.in, "%s %d %d %d\n", op, from, to, pin); err != nil {
		return 0, 0, fmt.Errorf("C++ baseline: %w", err)
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("C++ baseline: %w", err)
	}
	_, err = fmt.Sscan(line, &wall, &cpu)
	return wall, cpu, err
}

// pinThread binds the calling thread to CPU cpu, or to every CPU the
// process may use when cpu < 0.
func pinThread(cpu int) error {
	var set unix.CPUSet
	if cpu < 0 {
		for i := range runtime.NumCPU() {
			set.Set(i)
		}
	} else {
		set.Set(cpu)
	}
	return unix.SchedSetaffinity(0, &set)
}

func (s *cppServer) close() error {
	s.in.Close()
	return s.cmd.Wait()
}

// childReopen opens the saved store, then the baseline reads its index
// (cppFirst: the other way round), and reports the time each took and the
// resident memory it added. Which goes first alternates between rounds: the
// first to take memory from a fresh virtual machine pays more for it.
func childReopen(c config, cppFirst bool) error {
	var res result
	goSide := func() error {
		runtime.GC()
		r0 := readRSS()
		start := time.Now()
		d, err := faisslocal.OpenDriver(c.store(c.Kind), nil)
		if err != nil {
			return err
		}
		reopen := time.Since(start)
		runtime.GC()
		debug.FreeOSMemory()
		res.ReopenS, res.BytesPerVec = reopen.Seconds(), float64(readRSS()-r0)*1024/float64(c.N)
		return d.Close()
	}
	cppSide := func() error {
		cs, hello, err := startCPP(c, c.Kind)
		if err != nil {
			return err
		}
		var raw struct {
			ReopenS float64 `json:"reopen_s"`
			RSSOpen int64   `json:"rss_open_kb"`
			RSS0    int64   `json:"rss0_kb"`
		}
		if err := json.Unmarshal(hello, &raw); err != nil {
			cs.close()
			return fmt.Errorf("C++ baseline output %q: %w", hello, err)
		}
		res.CPP.ReopenS, res.CPP.BytesPerVec = raw.ReopenS, float64(raw.RSSOpen-raw.RSS0)*1024/float64(c.N)
		return cs.close()
	}
	sides := []func() error{goSide, cppSide}
	if cppFirst {
		sides[0], sides[1] = cppSide, goSide
	}
	for _, side := range sides {
		if err := side(); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// childSearch reads both sides' top-10 labels (a pass that also warms both
// up), then times the searches of both sides on the same chunks of queries,
// alternating which goes first, c.Rounds passes over the queries.
func childSearch(c config) error {
	d, err := faisslocal.OpenDriver(c.store(c.Kind), nil)
	if err != nil {
		return err
	}
	store := twostage.NewStore(d)
	defer store.Close()
	sc := c
	if c.Serve != "" {
		sc = c.withCPP(c.Serve)
	}
	cs, _, err := startCPP(sc, c.Kind)
	if err != nil {
		return err
	}
	defer cs.close()
	f, err := os.Open(c.queries())
	if err != nil {
		return err
	}
	qv, err := readVectors(f, 0, c.NQ, c.Dim)
	f.Close()
	if err != nil {
		return err
	}
	ctx := context.Background()
	const k = 10
	q := func(i int) []float32 { return qv[i*c.Dim : (i+1)*c.Dim] }
	res := result{Threads: runtime.NumCPU()}
	for i := 0; i < c.NQ; i++ {
		hits, err := store.Search(ctx, twostage.Query{Vector: q(i), K: k})
		if err != nil {
			return err
		}
		for j := 0; j < k; j++ {
			l := int64(-1)
			if j < len(hits) {
				l, _ = strconv.ParseInt(hits[j].ID[1:], 10, 64)
			}
			res.Labels = append(res.Labels, l)
		}
	}
	if _, _, err := cs.run("labels", 0, c.NQ, -1); err != nil {
		return err
	}
	lb, err := os.ReadFile(c.cppLabels(c.Kind))
	if err != nil {
		return err
	}
	for i := 0; i+8 <= len(lb); i += 8 {
		res.CPP.Labels = append(res.CPP.Labels, int64(binary.LittleEndian.Uint64(lb[i:])))
	}

	goB1 := func(from, to, pin int) (float64, float64, error) {
		// The searches run on this goroutine's thread (cgo calls stay on
		// it), pinned like the baseline's.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := pinThread(pin); err != nil {
			return 0, 0, err
		}
		defer pinThread(-1)
		s, c0 := time.Now(), cpuSeconds()
		for i := from; i < to; i++ {
			if _, err := store.Search(ctx, twostage.Query{Vector: q(i), K: k}); err != nil {
				return 0, 0, err
			}
		}
		return time.Since(s).Seconds(), cpuSeconds() - c0, nil
	}
	goB64 := func(from, to, _ int) (float64, float64, error) {
		s, c0 := time.Now(), cpuSeconds()
		for i := from; i < to; i += 64 {
			qs := make([]twostage.Query, 0, 64)
			for j := i; j < min(i+64, to); j++ {
				qs = append(qs, twostage.Query{Vector: q(j), K: k})
			}
			if _, err := store.SearchBatch(ctx, qs); err != nil {
				return 0, 0, err
			}
		}
		return time.Since(s).Seconds(), cpuSeconds() - c0, nil
	}
	var w1, c1, w64, c64 []float64
	n := 0
	for pass := 0; pass < c.Rounds; pass++ {
		for _, m := range []struct {
			op    string
			chunk int
			goRun func(from, to, pin int) (float64, float64, error)
			p     *paired
			w, c  *[]float64
		}{
			{"b1", c.Chunk, goB1, &res.B1, &w1, &c1},
			{"b64", 64, goB64, &res.B64, &w64, &c64},
		} {
			for from := 0; from+m.chunk <= c.NQ; from += m.chunk {
				to := from + m.chunk
				// Batch 1: both sides on the same CPU, a different one
				// each chunk; batch 64 uses them all.
				pin := -1
				if m.op == "b1" {
					pin = (from / m.chunk) % runtime.NumCPU()
				}
				var gw, gc, cw, cc float64
				var gerr, cerr error
				if n++; n%2 == 0 {
					gw, gc, gerr = m.goRun(from, to, pin)
					cw, cc, cerr = cs.run(m.op, from, to, pin)
				} else {
					cw, cc, cerr = cs.run(m.op, from, to, pin)
					gw, gc, gerr = m.goRun(from, to, pin)
				}
				if err := errors.Join(gerr, cerr); err != nil {
					return err
				}
				m.p.add(to-from, gw, gc, cw, cc, m.w, m.c)
				if os.Getenv("FB_DEBUG") != "" {
					fmt.Fprintf(os.Stderr, "%s %d first=%v go %.4f c %.4f ratio %.2f\n", m.op, from, n%2 == 0, gw, cw, cw/gw)
				}
			}
		}
	}
	res.B1.MedianWall, res.B1.MedianCPU = medianOf(w1), medianOf(c1)
	res.B64.MedianWall, res.B64.MedianCPU = medianOf(w64), medianOf(c64)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// child runs this binary as a child and decodes its result.
func child(c config, mode, kind string) (result, error) {
	args := append([]string{"-child", mode, "-kind", kind}, os.Args[1:]...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("%s %s child: %w", mode, kind, err)
	}
	var r result
	return r, json.Unmarshal(out, &r)
}

// cppKind is the baseline's index for kind: both IVF-PQ variants compare
// with FAISS's IndexIVFPQ wrapped in an IndexRefineFlat.
func cppKind(kind string) string { return strings.TrimSuffix(kind, "-mem") }

func (c config) cppIndex(kind string) string {
	return filepath.Join(c.Work, fmt.Sprintf("cpp-%s-%d.faiss", cppKind(kind), c.N))
}

func (c config) cppLabels(kind string) string {
	return filepath.Join(c.Work, fmt.Sprintf("labels-cpp-%s-%d", kind, c.N))
}

func cppExec(c config, args ...string) ([]byte, error) {
	cmd := exec.Command(c.CPP, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("C++ baseline %s: %w", strings.Join(args[:2], " "), err)
	}
	return bytes.TrimSpace(out), nil
}

// cppBuilt holds the baseline builds of this run by cppKind.
var cppBuilt = map[string]result{}

func cppBuild(c config, kind string) (result, error) {
	if r, ok := cppBuilt[cppKind(kind)]; ok {
		return r, nil
	}
	out, err := cppExec(c, "build", cppKind(kind), strconv.Itoa(c.Dim), strconv.Itoa(c.N), c.base(), "ip", c.cppIndex(kind),
		strconv.Itoa(c.M), strconv.Itoa(c.EfC), strconv.Itoa(c.NList), strconv.Itoa(c.PQM), strconv.Itoa(c.NBits),
		strconv.Itoa(c.Train), strconv.Itoa(c.Refine))
	if err != nil {
		return result{}, err
	}
	var raw struct {
		BuildS float64 `json:"build_s"`
		SaveS  float64 `json:"save_s"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return result{}, fmt.Errorf("C++ baseline output %q: %w", out, err)
	}
	cppBuilt[cppKind(kind)] = result{BuildS: raw.BuildS, SaveS: raw.SaveS}
	return cppBuilt[cppKind(kind)], nil
}

func recall(got, truth []int64, k int) float64 {
	if len(truth) == 0 || len(got) != len(truth) {
		return math.NaN()
	}
	hit := 0
	for q := 0; q < len(truth)/k; q++ {
		set := map[int64]bool{}
		for _, l := range truth[q*k : (q+1)*k] {
			set[l] = true
		}
		for _, l := range got[q*k : (q+1)*k] {
			if set[l] {
				hit++
			}
		}
	}
	return float64(hit) / float64(len(truth))
}

func run(c config) error {
	if c.CPP == "" {
		return fmt.Errorf("-cpp is required (run scripts/faissbench.sh)")
	}
	if c.NQ%64 != 0 || c.NQ%c.Chunk != 0 {
		return fmt.Errorf("-nq %d is not a multiple of 64 and of -chunk %d", c.NQ, c.Chunk)
	}
	if err := generate(c); err != nil {
		return err
	}
	kinds := strings.Split(c.Kinds, ",")
	res := map[string]result{}
	for i, kind := range kinds {
		b, cb, err := build(c, kind)
		if err != nil {
			return err
		}
		var r result
		for round := 1; round <= c.Rounds; round++ {
			mode, order := "reopen", "faisslocal, then C++"
			if round%2 == 0 {
				mode, order = "reopen-cpp-first", "C++, then faisslocal"
			}
			log.Printf("%s: reopen %d/%d (%s)", kind, round, c.Rounds, order)
			o, err := child(c, mode, kind)
			if err != nil {
				return err
			}
			if round > 1 { // the machine is shared: keep the least disturbed
				o.ReopenS, o.CPP.ReopenS = min(o.ReopenS, r.ReopenS), min(o.CPP.ReopenS, r.CPP.ReopenS)
			}
			r = o
		}
		log.Printf("%s: searching, both sides alternating chunk by chunk (%d passes)", kind, c.Rounds)
		sr, err := child(c, "search", kind)
		if err != nil {
			return err
		}
		sr.ReopenS, sr.BytesPerVec = r.ReopenS, r.BytesPerVec
		sr.CPP.ReopenS, sr.CPP.BytesPerVec = r.CPP.ReopenS, r.CPP.BytesPerVec
		sr.BuildS, sr.SaveS, sr.DiskBytes = b.BuildS, b.SaveS, b.DiskBytes
		sr.CPP.BuildS, sr.CPP.SaveS = cb.BuildS, cb.SaveS
		res[kind] = sr
		if !c.Keep {
			os.RemoveAll(c.store(kind)) // keep the disk free for the next kind
			if !slices.ContainsFunc(kinds[i+1:], func(k string) bool { return cppKind(k) == cppKind(kind) }) {
				os.Remove(c.cppIndex(kind))
				delete(cppBuilt, cppKind(kind))
			}
		}
	}
	report(os.Stdout, c, kinds, res)
	return nil
}

// build builds both sides' indexes, or with -keep reuses those a previous
// run kept (with its build figures).
func build(c config, kind string) (g, x result, err error) {
	saved := filepath.Join(c.Work, fmt.Sprintf("build-%s-%d.json", kind, c.N))
	if c.Keep {
		if b, err := os.ReadFile(saved); err == nil && json.Unmarshal(b, &[]*result{&g, &x}) == nil {
			_, e1 := os.Stat(c.store(kind))
			_, e2 := os.Stat(c.cppIndex(kind))
			if e1 == nil && e2 == nil {
				log.Printf("%s: reusing the indexes kept by an earlier run (-keep)", kind)
				cppBuilt[cppKind(kind)] = x
				return g, x, nil
			}
		}
	}
	log.Printf("%s: building with faisslocal", kind)
	if g, err = child(c, "build", kind); err != nil {
		return g, x, err
	}
	log.Printf("%s: building with FAISS from C++", kind)
	if x, err = cppBuild(c, kind); err != nil {
		return g, x, err
	}
	if c.Keep {
		b, _ := json.Marshal([]result{g, x})
		if err := os.WriteFile(saved, b, 0o644); err != nil {
			return g, x, err
		}
	}
	return g, x, nil
}

// report prints the table: every cell faisslocal/C++ and their ratio.
func report(w io.Writer, c config, kinds []string, res map[string]result) {
	if c.Serve != "" {
		fmt.Fprintf(w, "\nQPS, QPS/CPU-s and recall@10 columns: the baseline is %s (-serve), searching the index file FAISS from C++ built\n", c.ServeAs)
	}
	fmt.Fprintf(w, "\nfaisslocal vs FAISS from C++: n=%d dim=%d queries=%d k=10 cosine, %d CPUs (OpenMP %d threads at batch 64)\n",
		c.N, c.Dim, c.NQ, runtime.NumCPU(), res[kinds[0]].Threads)
	fmt.Fprintf(w, "distance kernels: %s in faisslocal and the C++ baseline (faisslocal.SIMD; TWOSTAGE_FAISS_SIMD=scalar for FAISS's own)\n", faisslocal.SIMD())
	fmt.Fprintf(w, "HNSW M=%d efC=%d efS=%d; IVF nlist=%d nprobe=%d train=%d; PQ m=%d nbits=%d refine=%d; %d passes, chunks of %d (b1) and 64 (b64)\n\n",
		c.M, c.EfC, c.EfS, c.NList, c.NProbe, c.Train, c.PQM, c.NBits, c.Refine, c.Rounds, c.Chunk)
	row := func(cols ...any) {
		fmt.Fprintf(w, "%-10s %-18s %-11s %-19s %-7s %-19s %-7s %-17s %-17s %-12s %s\n", cols...)
	}
	ratio := func(g, x float64, prec int) string {
		return fmt.Sprintf("%.*f/%.*f =%.2f", prec, g, prec, x, g/x)
	}
	qps := func(p paired, cpu bool) string {
		g, x := float64(p.Queries)/p.GoWall, float64(p.Queries)/p.CWall
		if cpu {
			g, x = float64(p.Queries)/p.GoCPU, float64(p.Queries)/p.CCPU
		}
		prec := 0
		if min(g, x) < 100 {
			prec = 1
		}
		return ratio(g, x, prec)
	}
	row("kind", "build s", "RSS B/vec", "QPS b1", "med b1", "QPS b64", "med b64", "QPS/CPU-s b1", "QPS/CPU-s b64", "recall@10", "reopen s")
	for _, kind := range kinds {
		g := res[kind]
		row(kind, ratio(g.BuildS, g.CPP.BuildS, 1), fmt.Sprintf("%.0f/%.0f", g.BytesPerVec, g.CPP.BytesPerVec),
			qps(g.B1, false), fmt.Sprintf("%.2f", g.B1.MedianWall), qps(g.B64, false), fmt.Sprintf("%.2f", g.B64.MedianWall),
			qps(g.B1, true), qps(g.B64, true),
			fmt.Sprintf("%.3f/%.3f", recall(g.Labels, res["flat"].Labels, 10), recall(g.CPP.Labels, res["flat"].CPP.Labels, 10)),
			fmt.Sprintf("%.2f/%.2f", g.ReopenS, g.CPP.ReopenS))
	}
	if f, ok := res["flat"]; ok {
		fmt.Fprintf(w, "\nflat agreement (faisslocal vs C++ exact top-10): %.4f\n", recall(f.Labels, f.CPP.Labels, 10))
	}
	fmt.Fprint(w, `every cell is faisslocal/C++ =ratio; med: the median over chunks of the per-chunk QPS ratio.
QPS: both sides search the same chunk of queries back to back, alternating which goes first, at batch 1
    both pinned to the same CPU (the next one each chunk), so machine load falls on both alike; the
    binding's overhead is the gap. QPS/CPU-s: queries per CPU-second of
    the whole process. recall@10: against the same side's Flat.
go: Store.Search (validation, FAISS, the hits' text and metadata from the record cache or docs.db) at
    batch 1 on one OpenMP thread; Store.SearchBatch at batch 64. ivfpq re-scores its candidates from
    the vectors in docs.db, ivfpq-mem inside FAISS from vectors kept in memory (IVFPQ.RefineInMemory).
    RSS B/vec: resident growth of a process reopening the store.
c++: Index::search at batch 1 on one OpenMP thread, at batch 64 on all (IVF-PQ: IndexIVFPQ in an
    IndexRefineFlat); RSS: growth on read_index. Both link FAISS from .deps/faiss/faiss.o.
reopen: best of the rounds, which alternate the side that goes first. build: go includes the fsync'd bbolt writes; its snapshot is written on Close.
`)
	for _, kind := range kinds {
		fmt.Fprintf(w, "  %s: go save on close %.2fs, store on disk %.0f B/vec; c++ write_index %.2fs\n",
			kind, res[kind].SaveS, float64(res[kind].DiskBytes)/float64(c.N), res[kind].CPP.SaveS)
	}
}

// layout runs the same batch-1 searches through several builds of the C++
// baseline (scripts/faisslayout.sh links them with FAISS's code at
// different offsets), chunk by chunk, rotating which goes first, each chunk
// pinned to one CPU for all, and prints each one's QPS and its median
// per-chunk ratio to the first build's.
func layout(c config) error {
	if c.NQ%c.Chunk != 0 {
		return fmt.Errorf("-nq %d is not a multiple of -chunk %d", c.NQ, c.Chunk)
	}
	if err := generate(c); err != nil {
		return err
	}
	bins := strings.Split(c.Layout, ",")
	for _, kind := range strings.Split(c.Kinds, ",") {
		if err := layoutKind(c, bins, kind); err != nil {
			return err
		}
	}
	return nil
}

// layoutKind runs the layout comparison for one index kind; its baseline
// servers exit before the next kind starts its own.
func layoutKind(c config, bins []string, kind string) error {
	if _, err := os.Stat(c.cppIndex(kind)); err != nil {
		log.Printf("%s: building the index with FAISS from C++", kind)
		if _, err := cppBuild(c.withCPP(bins[0]), kind); err != nil {
			return err
		}
	}
	servers := make([]*cppServer, 0, len(bins))
	defer func() {
		for _, s := range servers {
			s.close()
		}
	}()
	for _, b := range bins {
		s, _, err := startCPP(c.withCPP(b), kind)
		if err != nil {
			return err
		}
		servers = append(servers, s)
		if _, _, err := s.run("b1", 0, c.NQ, -1); err != nil { // warm up
			return err
		}
	}
	wall := make([]float64, len(bins))
	ratios := make([][]float64, len(bins))
	n := 0
	for pass := 0; pass < c.Rounds; pass++ {
		for from := 0; from+c.Chunk <= c.NQ; from += c.Chunk {
			pin := (from / c.Chunk) % runtime.NumCPU()
			w := make([]float64, len(bins))
			for j := range servers {
				i := (j + n) % len(servers)
				var err error
				if w[i], _, err = servers[i].run("b1", from, from+c.Chunk, pin); err != nil {
					return err
				}
				wall[i] += w[i]
			}
			n++
			for i := range servers {
				ratios[i] = append(ratios[i], w[0]/w[i])
			}
		}
	}
	fmt.Printf("\n%s, n=%d dim=%d, batch 1, %d passes over %d queries, chunks of %d:\n", kind, c.N, c.Dim, c.Rounds, c.NQ, c.Chunk)
	for i, b := range bins {
		fmt.Printf("  %-22s QPS %8.1f  vs the first: %.2f (median chunk %.2f)\n", filepath.Base(b),
			float64(c.Rounds*c.NQ)/wall[i], wall[0]/wall[i], medianOf(ratios[i]))
	}
	return nil
}

func (c config) withCPP(bin string) config {
	c.CPP = bin
	return c
}
