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
// -child), so resident memory is measured in a clean process.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
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
	"strconv"
	"strings"
	"syscall"
	"time"

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
	Rounds          int
	Keep            bool
}

func main() {
	var c config
	flag.IntVar(&c.N, "n", 100000, "vectors")
	flag.IntVar(&c.Dim, "dim", 384, "dimension")
	flag.IntVar(&c.NQ, "nq", 1024, "queries (a multiple of 64)")
	flag.StringVar(&c.Kinds, "kinds", "flat,hnsw,ivfflat,ivfpq", "index kinds")
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
	flag.IntVar(&c.Rounds, "rounds", 2, "search rounds per side, alternating; the best counts")
	flag.BoolVar(&c.Keep, "keep", false, "keep the stores and index files in -work")
	flag.StringVar(&c.Child, "child", "", "internal: build or search")
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
	case "":
		err = run(c)
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
	case "ivfpq":
		return faisslocal.IVFPQ{NList: c.NList, NProbe: c.NProbe, M: c.PQM, NBits: c.NBits, TrainSize: c.Train, RefineFactor: c.Refine}
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
		return errorsJoin(w.Flush(), f.Close())
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

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
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

type rss struct{ total, anon, file int64 } // KiB

func readRSS() rss {
	b, _ := os.ReadFile("/proc/self/status")
	var r rss
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			r.total = n
		case "RssAnon:":
			r.anon = n
		case "RssFile:":
			r.file = n
		}
	}
	return r
}

// result is what a child reports.
type result struct {
	BuildS, SaveS, ReopenS  float64
	BytesPerVec, AnonPerVec float64
	QPS1, QPS64             float64
	Labels                  []int64 `json:",omitempty"`
	QPS1T1, QPS1TN          float64 // C++ only: batch 1 on 1 and on all threads
	CPUQPS1, CPUQPS64       float64 // queries per CPU-second of the process
	Threads                 int
	DiskBytes               int64
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

func childSearch(c config) error {
	runtime.GC()
	r0 := readRSS()
	start := time.Now()
	d, err := faisslocal.OpenDriver(c.store(c.Kind), nil)
	if err != nil {
		return err
	}
	reopen := time.Since(start)
	store := twostage.NewStore(d)
	defer store.Close()
	runtime.GC()
	debug.FreeOSMemory()
	r1 := readRSS()
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
	if _, err := store.Search(ctx, twostage.Query{Vector: q(0), K: k}); err != nil { // warm up
		return err
	}
	labels := make([]int64, 0, c.NQ*k)
	s, cpu0 := time.Now(), cpuSeconds()
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
			labels = append(labels, l)
		}
	}
	qps1 := float64(c.NQ) / time.Since(s).Seconds()
	cpuqps1 := float64(c.NQ) / (cpuSeconds() - cpu0)
	s, cpu0 = time.Now(), cpuSeconds()
	done := 0
	for i := 0; i+64 <= c.NQ; i += 64 {
		qs := make([]twostage.Query, 64)
		for j := range qs {
			qs[j] = twostage.Query{Vector: q(i + j), K: k}
		}
		if _, err := d.SearchBatch(ctx, qs); err != nil {
			return err
		}
		done += 64
	}
	qps64 := float64(done) / time.Since(s).Seconds()
	cpuqps64 := float64(done) / (cpuSeconds() - cpu0)
	return json.NewEncoder(os.Stdout).Encode(result{
		ReopenS: reopen.Seconds(), QPS1: qps1, QPS64: qps64, Labels: labels, Threads: runtime.NumCPU(),
		CPUQPS1: cpuqps1, CPUQPS64: cpuqps64,
		BytesPerVec: float64(r1.total-r0.total) * 1024 / float64(c.N),
		AnonPerVec:  float64(r1.anon-r0.anon) * 1024 / float64(c.N),
	})
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

func (c config) cppIndex(kind string) string {
	return filepath.Join(c.Work, fmt.Sprintf("cpp-%s-%d.faiss", kind, c.N))
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

func cppBuild(c config, kind string) (result, error) {
	out, err := cppExec(c, "build", kind, strconv.Itoa(c.Dim), strconv.Itoa(c.N), c.base(), "ip", c.cppIndex(kind),
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
	return result{BuildS: raw.BuildS, SaveS: raw.SaveS}, nil
}

func cppSearch(c config, kind string) (result, error) {
	lpath := filepath.Join(c.Work, "labels-cpp-"+kind)
	out, err := cppExec(c, "search", c.cppIndex(kind), strconv.Itoa(c.Dim), strconv.Itoa(c.NQ), c.queries(), lpath,
		strconv.Itoa(c.EfS), strconv.Itoa(c.NProbe), strconv.Itoa(c.Refine))
	if err != nil {
		return result{}, err
	}
	var raw struct {
		ReopenS float64 `json:"reopen_s"`
		RSSOpen int64   `json:"rss_open_kb"`
		RSS0    int64   `json:"rss0_kb"`
		QPS1T1  float64 `json:"qps1_t1"`
		QPS1TN  float64 `json:"qps1_tn"`
		QPS64   float64 `json:"qps64"`
		CPU1    float64 `json:"cpuqps1"`
		CPU64   float64 `json:"cpuqps64"`
		Threads int     `json:"threads"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return result{}, fmt.Errorf("C++ baseline output %q: %w", out, err)
	}
	lb, err := os.ReadFile(lpath)
	if err != nil {
		return result{}, err
	}
	labels := make([]int64, len(lb)/8)
	for i := range labels {
		labels[i] = int64(binary.LittleEndian.Uint64(lb[8*i:]))
	}
	return result{ReopenS: raw.ReopenS, BytesPerVec: float64(raw.RSSOpen-raw.RSS0) * 1024 / float64(c.N),
		QPS1: max(raw.QPS1T1, raw.QPS1TN), QPS1T1: raw.QPS1T1, QPS1TN: raw.QPS1TN, QPS64: raw.QPS64,
		CPUQPS1: raw.CPU1, CPUQPS64: raw.CPU64, Threads: raw.Threads, Labels: labels}, nil
}

// best keeps the better figures of two search rounds: the machine is shared,
// so each side's best round is its least disturbed one.
func best(a, b result) result {
	if a.Labels == nil {
		return b
	}
	a.QPS1, a.QPS64 = max(a.QPS1, b.QPS1), max(a.QPS64, b.QPS64)
	a.QPS1T1, a.QPS1TN = max(a.QPS1T1, b.QPS1T1), max(a.QPS1TN, b.QPS1TN)
	a.CPUQPS1, a.CPUQPS64 = max(a.CPUQPS1, b.CPUQPS1), max(a.CPUQPS64, b.CPUQPS64)
	a.ReopenS = min(a.ReopenS, b.ReopenS)
	return a
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
	if c.NQ%64 != 0 {
		return fmt.Errorf("-nq %d is not a multiple of 64", c.NQ)
	}
	if err := generate(c); err != nil {
		return err
	}
	kinds := strings.Split(c.Kinds, ",")
	goRes, cppRes := map[string]result{}, map[string]result{}
	for _, kind := range kinds {
		log.Printf("%s: building with faisslocal", kind)
		b, err := child(c, "build", kind)
		if err != nil {
			return err
		}
		log.Printf("%s: building with FAISS from C++", kind)
		cb, err := cppBuild(c, kind)
		if err != nil {
			return err
		}
		var g, x result
		for round := 1; round <= c.Rounds; round++ {
			log.Printf("%s: search round %d/%d (faisslocal, then C++)", kind, round, c.Rounds)
			s, err := child(c, "search", kind)
			if err != nil {
				return err
			}
			g = best(g, s)
			cs, err := cppSearch(c, kind)
			if err != nil {
				return err
			}
			x = best(x, cs)
		}
		g.BuildS, g.SaveS, g.DiskBytes = b.BuildS, b.SaveS, b.DiskBytes
		x.BuildS, x.SaveS = cb.BuildS, cb.SaveS
		goRes[kind], cppRes[kind] = g, x
		if !c.Keep {
			os.RemoveAll(c.store(kind)) // keep the disk free for the next kind
			os.Remove(c.cppIndex(kind))
		}
	}
	fmt.Printf("\nfaisslocal vs FAISS from C++: n=%d dim=%d queries=%d k=10 cosine, %d CPUs (OpenMP %d threads)\n",
		c.N, c.Dim, c.NQ, runtime.NumCPU(), cppRes[kinds[0]].Threads)
	fmt.Printf("HNSW M=%d efC=%d efS=%d; IVF nlist=%d nprobe=%d train=%d; PQ m=%d nbits=%d refine=%d\n\n",
		c.M, c.EfC, c.EfS, c.NList, c.NProbe, c.Train, c.PQM, c.NBits, c.Refine)
	row := func(cols ...string) {
		fmt.Printf("%-8s %-20s %-12s %-20s %-20s %-24s %-24s %-12s %-11s %-11s\n", cols[0], cols[1], cols[2], cols[3],
			cols[4], cols[5], cols[6], cols[7], cols[8], cols[9])
	}
	ratio := func(g, x float64, prec int) string {
		return fmt.Sprintf("%.*f/%.*f =%.2f", prec, g, prec, x, g/x)
	}
	row("kind", "build s", "RSS B/vec", "QPS b1 wall", "QPS b64 wall", "QPS/CPU-s b1", "QPS/CPU-s b64",
		"recall@10", "reopen s", "c++ b1 1t/nt")
	for _, kind := range kinds {
		g, x := goRes[kind], cppRes[kind]
		row(kind, ratio(g.BuildS, x.BuildS, 1),
			fmt.Sprintf("%.0f/%.0f", g.BytesPerVec, x.BytesPerVec),
			ratio(g.QPS1, x.QPS1, 0), ratio(g.QPS64, x.QPS64, 0),
			ratio(g.CPUQPS1, x.CPUQPS1, 0), ratio(g.CPUQPS64, x.CPUQPS64, 0),
			fmt.Sprintf("%.3f/%.3f", recall(g.Labels, goRes["flat"].Labels, 10), recall(x.Labels, cppRes["flat"].Labels, 10)),
			fmt.Sprintf("%.2f/%.2f", g.ReopenS, x.ReopenS),
			fmt.Sprintf("%.0f/%.0f", x.QPS1T1, x.QPS1TN))
	}
	if gf, xf := goRes["flat"].Labels, cppRes["flat"].Labels; gf != nil && xf != nil {
		fmt.Printf("\nflat agreement (faisslocal vs C++ exact top-10): %.4f\n", recall(gf, xf, 10))
	}
	fmt.Printf("every cell is faisslocal/C++ =ratio. QPS/CPU-s: queries per CPU-second of the whole process (robust on a\n" +
		"    shared machine; the binding's overhead is the gap). recall@10: against the same side's Flat.\n")
	fmt.Printf("go: Store.Search (validation, FAISS, bbolt hydration of text and metadata) at batch 1 on one OpenMP thread;\n" +
		"    Driver.SearchBatch at batch 64. RSS B/vec: resident growth of a process reopening the saved store.\n" +
		"c++: Index::search; batch 1 is the faster of 1 and all OpenMP threads; RSS: growth on read_index.\n" +
		"QPS and reopen: best of the alternating rounds (the machine is shared).\n" +
		"build: go includes the fsync'd bbolt writes and the snapshot-free build; save s (go) is written on Close.\n")
	for _, kind := range kinds {
		fmt.Printf("  %s: go save on close %.2fs, store on disk %.0f B/vec; c++ write_index %.2fs\n",
			kind, goRes[kind].SaveS, float64(goRes[kind].DiskBytes)/float64(c.N), cppRes[kind].SaveS)
	}
	return nil
}
