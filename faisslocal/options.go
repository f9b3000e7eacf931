package faisslocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"twostage"
	"twostage/errdefs"
)

// Errors of this package, matched with errors.Is.
var (
	// ErrNotBuilt is returned by Open when the package was built without the
	// faiss build tag.
	ErrNotBuilt = errdefs.New("faisslocal: FAISS support not compiled in: build with -tags faiss (needs libfaiss-dev, libopenblas-dev, liblapack-dev)", twostage.ErrUnsupported)
	// ErrLocked reports a store directory that another process (or another
	// Open in this one) holds.
	ErrLocked = errdefs.New("faisslocal: store directory is locked by another process", twostage.ErrUnavailable)
	// ErrCorrupt reports a store file that is truncated, damaged, or
	// inconsistent with the others.
	ErrCorrupt = errors.New("faisslocal: corrupt store")
	// ErrTooFewVectors reports an IVF index asked to train on fewer vectors
	// than it has centroids or PQ codewords.
	ErrTooFewVectors = errdefs.New("faisslocal: too few vectors to train the index", twostage.ErrInvalidInput)
)

// Options configure a new store. Reopening an existing store needs none: the
// build parameters (Dim, Metric, Index except its search parameters) are read
// from the store's MANIFEST, and any that are set here must match it.
type Options struct {
	// ReadOnly opens an existing store for reading only (search, count,
	// get): it creates and writes nothing, works in a read-only directory,
	// shares the store with other readers and with one writer, and sees the
	// store as it was at Open. A missing store is an error wrapping
	// twostage.ErrNotFound; writes return ErrReadOnly. See openReadOnly.
	ReadOnly bool
	// Dim is the vector dimension; required when creating a store.
	Dim int
	// Metric is the similarity; default twostage.Cosine.
	Metric twostage.Metric
	// Index is the index kind: Flat (default), HNSW, IVFFlat or IVFPQ.
	Index IndexSpec
	// Threads is the number of OpenMP threads for batch searches, training
	// and index builds; default runtime.NumCPU(). Single-query searches
	// always use one.
	Threads int
	// CompactRatio: when more than this fraction of the index's slots hold
	// deleted or overwritten vectors, a compaction starts in the background
	// (see the package comment); Save and Close wait for it. Default 0.2;
	// negative disables automatic compaction (Compact still runs one).
	CompactRatio float64
	// SaveEvery: when the write-ahead log holds this many writes since the
	// last snapshot, the write that reaches it also saves (see Driver.Save),
	// bounding the replay work of the next Open. That write takes as long as
	// a Save. 0 (the default) saves only on Save and Close.
	SaveEvery int
	// RecordCacheBytes bounds the memory that keeps document records (text
	// and metadata, encoded) for hydrating search hits without a bbolt
	// lookup each; default DefaultRecordCacheBytes, negative disables it.
	// It is filled in the background after Open and by searches.
	RecordCacheBytes int
	// RebuildIndex ignores the saved index snapshot and rebuilds the index
	// from the stored documents (use it after ErrCorrupt names the snapshot).
	RebuildIndex bool
}

// IndexSpec is one of Flat, HNSW, IVFFlat or IVFPQ.
type IndexSpec interface {
	spec() indexManifest
}

// Flat is an exact index: every search compares the query with every vector.
type Flat struct{}

// HNSW is a hierarchical navigable small-world graph (approximate).
type HNSW struct {
	// M is the number of neighbours per node; default 32.
	M int
	// EfConstruction is the candidate list size while building; default 40.
	EfConstruction int
	// EfSearch is the candidate list size while searching (at least k is
	// used); default 64. It may be changed on reopen.
	EfSearch int
}

// IVFFlat is an inverted-file index over full vectors (approximate).
type IVFFlat struct {
	// NList is the number of clusters; default 1024.
	NList int
	// NProbe is the number of clusters searched; default 16. It may be
	// changed on reopen.
	NProbe int
	// TrainSize is the number of vectors at which the index trains; until
	// then vectors live in an exact flat index. Default 39*NList (FAISS's
	// advice); at least NList.
	TrainSize int
}

// IVFPQ is an inverted-file index over product-quantized vectors
// (approximate, compact).
type IVFPQ struct {
	// NList is the number of clusters; default 1024.
	NList int
	// NProbe is the number of clusters searched; default 16. It may be
	// changed on reopen.
	NProbe int
	// M is the number of PQ sub-quantizers; it must divide the dimension.
	// Default: the largest of 48, 32, 16, 8, 4, 2, 1 that does.
	M int
	// NBits is the bits per sub-quantizer code; default 8.
	NBits int
	// TrainSize is the number of vectors at which the index trains; default
	// 39 * max(NList, 2^NBits); at least max(NList, 2^NBits).
	TrainSize int
	// RefineFactor: searches fetch RefineFactor*k candidates and re-score
	// them exactly from the stored vectors. Default 4; it may be changed on
	// reopen.
	RefineFactor int
	// RefineInMemory keeps every vector in memory beside the PQ codes (as
	// FAISS's IndexRefineFlat does: 4*dim more bytes a vector, saved in the
	// index snapshot) and re-scores the candidates there, inside FAISS.
	// Without it the candidates' vectors are read from the document
	// database (docs.db), which keeps memory at the PQ codes' size but
	// costs a read per candidate. Fixed when the store is created.
	RefineInMemory bool
}

func (Flat) spec() indexManifest { return indexManifest{Kind: "flat"} }
func (h HNSW) spec() indexManifest {
	return indexManifest{Kind: "hnsw", M: h.M, EfConstruction: h.EfConstruction, EfSearch: h.EfSearch}
}
func (v IVFFlat) spec() indexManifest {
	return indexManifest{Kind: "ivfflat", NList: v.NList, NProbe: v.NProbe, TrainSize: v.TrainSize}
}
func (v IVFPQ) spec() indexManifest {
	return indexManifest{Kind: "ivfpq", NList: v.NList, NProbe: v.NProbe, PQM: v.M, NBits: v.NBits,
		TrainSize: v.TrainSize, RefineFactor: v.RefineFactor, RefineInMemory: v.RefineInMemory}
}

// indexManifest is the index part of the MANIFEST file.
type indexManifest struct {
	Kind           string `json:"kind"`
	M              int    `json:"m,omitempty"`
	EfConstruction int    `json:"ef_construction,omitempty"`
	EfSearch       int    `json:"ef_search,omitempty"`
	NList          int    `json:"nlist,omitempty"`
	NProbe         int    `json:"nprobe,omitempty"`
	PQM            int    `json:"pq_m,omitempty"`
	NBits          int    `json:"nbits,omitempty"`
	TrainSize      int    `json:"train_size,omitempty"`
	RefineFactor   int    `json:"refine_factor,omitempty"`
	RefineInMemory bool   `json:"refine_in_memory,omitempty"`
}

// manifest is the MANIFEST file.
type manifest struct {
	Format string          `json:"format"`
	Dim    int             `json:"dim"`
	Metric twostage.Metric `json:"metric"`
	Index  indexManifest   `json:"index"`
}

const manifestFormat = "faisslocal/1"

// withDefaults fills zero index parameters for dimension dim and checks them.
func (m indexManifest) withDefaults(dim int) (indexManifest, error) {
	bad := func(format string, a ...any) (indexManifest, error) {
		return m, fmt.Errorf("faisslocal: %s index: "+format+": %w", append(append([]any{m.Kind}, a...), twostage.ErrInvalidInput)...)
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	switch m.Kind {
	case "flat":
	case "hnsw":
		def(&m.M, 32)
		def(&m.EfConstruction, 40)
		def(&m.EfSearch, 64)
		if m.M < 2 || m.EfConstruction < 1 || m.EfSearch < 1 {
			return bad("M %d, efConstruction %d, efSearch %d must be positive (M at least 2)", m.M, m.EfConstruction, m.EfSearch)
		}
	case "ivfflat", "ivfpq":
		def(&m.NList, 1024)
		def(&m.NProbe, 16)
		if m.NList < 1 || m.NProbe < 1 {
			return bad("nlist %d and nprobe %d must be positive", m.NList, m.NProbe)
		}
		minTrain := m.NList
		if m.Kind == "ivfpq" {
			if m.PQM == 0 {
				for _, c := range []int{48, 32, 16, 8, 4, 2, 1} {
					if dim%c == 0 {
						m.PQM = c
						break
					}
				}
			}
			def(&m.NBits, 8)
			def(&m.RefineFactor, 4)
			if m.PQM < 1 || dim%m.PQM != 0 {
				return bad("M %d must divide the dimension %d", m.PQM, dim)
			}
			if m.NBits < 1 || m.NBits > 16 {
				return bad("nbits %d outside 1..16", m.NBits)
			}
			if m.RefineFactor < 1 {
				return bad("refine factor %d must be positive", m.RefineFactor)
			}
			minTrain = max(minTrain, 1<<m.NBits)
		}
		def(&m.TrainSize, 39*minTrain)
		if m.TrainSize < minTrain {
			return bad("train size %d is below %d, the number of centroids to learn", m.TrainSize, minTrain)
		}
	default:
		return bad("unknown kind")
	}
	return m, nil
}

// minTrain is the fewest vectors the index can train on.
func (m indexManifest) minTrain() int {
	if m.Kind == "ivfpq" {
		return max(m.NList, 1<<m.NBits)
	}
	return m.NList
}

func (o *Options) threads() int {
	if o != nil && o.Threads > 0 {
		return o.Threads
	}
	return runtime.NumCPU()
}

// DefaultRecordCacheBytes is the default Options.RecordCacheBytes.
const DefaultRecordCacheBytes = 64 << 20

func (o *Options) recordCacheBytes() int {
	if o == nil || o.RecordCacheBytes == 0 {
		return DefaultRecordCacheBytes
	}
	return o.RecordCacheBytes
}

func (o *Options) compactRatio() float64 {
	if o == nil || o.CompactRatio == 0 {
		return 0.2
	}
	return o.CompactRatio
}

// resolveManifest returns the manifest for dir: the stored one (checked
// against opts) or, for a new store, one built from opts. created reports
// whether the manifest is new (not yet written).
func resolveManifest(dir string, opts *Options) (m manifest, created bool, err error) {
	if opts == nil {
		opts = &Options{}
	}
	var want indexManifest
	if opts.Index != nil {
		want = opts.Index.spec()
	}
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat(filepath.Join(dir, dbName)); err == nil {
			return m, false, fmt.Errorf("faisslocal: %s holds %s but no %s: %w", dir, dbName, manifestName, ErrCorrupt)
		}
		if opts.Dim <= 0 {
			return m, false, fmt.Errorf("faisslocal: new store in %s needs Options.Dim > 0, got %d: %w", dir, opts.Dim, twostage.ErrInvalidInput)
		}
		m = manifest{Format: manifestFormat, Dim: opts.Dim, Metric: opts.Metric, Index: want}
		if m.Metric == "" {
			m.Metric = twostage.Cosine
		}
		if !m.Metric.Valid() {
			return m, false, fmt.Errorf("faisslocal: unknown metric %q: %w", m.Metric, twostage.ErrInvalidInput)
		}
		if m.Index.Kind == "" {
			m.Index.Kind = "flat"
		}
		m.Index, err = m.Index.withDefaults(m.Dim)
		return m, true, err
	case err != nil:
		return m, false, fmt.Errorf("faisslocal: read manifest: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, false, fmt.Errorf("faisslocal: manifest %s: %v: %w", filepath.Join(dir, manifestName), err, ErrCorrupt)
	}
	if m.Format != manifestFormat || m.Dim <= 0 || !m.Metric.Valid() {
		return m, false, fmt.Errorf("faisslocal: manifest %s: format %q, dim %d, metric %q: %w",
			filepath.Join(dir, manifestName), m.Format, m.Dim, m.Metric, ErrCorrupt)
	}
	if m.Index, err = m.Index.withDefaults(m.Dim); err != nil {
		return m, false, fmt.Errorf("faisslocal: manifest: %v: %w", err, ErrCorrupt)
	}
	mismatch := func(what string, got, stored any) error {
		return fmt.Errorf("faisslocal: store %s was created with %s %v, options ask for %v: %w", dir, what, stored, got, twostage.ErrInvalidInput)
	}
	if opts.Dim != 0 && opts.Dim != m.Dim {
		return m, false, mismatch("dimension", opts.Dim, m.Dim)
	}
	if opts.Metric != "" && opts.Metric != m.Metric {
		return m, false, mismatch("metric", opts.Metric, m.Metric)
	}
	if opts.Index != nil {
		if want.Kind != m.Index.Kind {
			return m, false, mismatch("index kind", want.Kind, m.Index.Kind)
		}
		check := []struct {
			name          string
			got, stored   int
			searchSetting bool
			dst           *int
		}{
			{"M", want.M, m.Index.M, false, nil},
			{"efConstruction", want.EfConstruction, m.Index.EfConstruction, false, nil},
			{"nlist", want.NList, m.Index.NList, false, nil},
			{"PQ M", want.PQM, m.Index.PQM, false, nil},
			{"nbits", want.NBits, m.Index.NBits, false, nil},
			{"train size", want.TrainSize, m.Index.TrainSize, false, nil},
			{"efSearch", want.EfSearch, m.Index.EfSearch, true, &m.Index.EfSearch},
			{"nprobe", want.NProbe, m.Index.NProbe, true, &m.Index.NProbe},
			{"refine factor", want.RefineFactor, m.Index.RefineFactor, true, &m.Index.RefineFactor},
		}
		if want.RefineInMemory != m.Index.RefineInMemory && want.Kind == "ivfpq" {
			return m, false, mismatch("RefineInMemory", want.RefineInMemory, m.Index.RefineInMemory)
		}
		for _, c := range check {
			if c.got == 0 || c.got == c.stored {
				continue
			}
			if !c.searchSetting {
				return m, false, mismatch(c.name, c.got, c.stored)
			}
			if c.got < 0 {
				return m, false, fmt.Errorf("faisslocal: %s %d must be positive: %w", c.name, c.got, twostage.ErrInvalidInput)
			}
			*c.dst = c.got
		}
	}
	return m, false, nil
}

// writeManifest writes m to dir atomically.
func writeManifest(dir string, m manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("faisslocal: encode manifest: %w", err)
	}
	return writeFileAtomic(dir, manifestName, append(data, '\n'))
}

// File names inside a store directory.
const (
	manifestName = "MANIFEST"
	lockName     = "LOCK"
	dbName       = "docs.db"
	snapshotName = "SNAPSHOT"
)
