package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/embed"
	"twostage/rerank"
)

// A stage scheme turns a spec such as "faiss:DIR" or "qdrant://h:p/c" into a
// store, embedder or reranker. Files register their schemes from init, so a
// backend behind a build tag adds itself only when built.
type (
	storeOpener    func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error)
	embedderOpener func(ctx context.Context, spec string) (twostage.Embedder, error)
	rerankerOpener func(ctx context.Context, spec string) (twostage.Reranker, error)
)

type scheme[T any] struct {
	help string
	open T
}

var (
	storeSchemes    = map[string]scheme[storeOpener]{}
	embedderSchemes = map[string]scheme[embedderOpener]{}
	rerankerSchemes = map[string]scheme[rerankerOpener]{}
)

// defaultStore is where index and search keep their data; store_faiss.go
// makes it the embedded FAISS store when built with -tags faiss.
var defaultStore = "mem:.twostage/index.snap"

// readOnlyStores open an existing store for reading only, for the commands
// that never write (search, info): beside a writer, in a read-only
// directory, without rewriting anything on close.
var readOnlyStores = map[string]storeOpener{}

// openStore opens the store, read-only when the command only reads and the
// scheme can.
func (s *stageFlags) openStore(ctx context.Context, info twostage.Info) (*twostage.Store, error) {
	if open, ok := readOnlyStores[schemeOf(s.store)]; ok && s.readOnly {
		return open(ctx, s.store, info)
	}
	return openStore(ctx, s.store, info)
}

func registerStore(name, help string, open storeOpener) {
	storeSchemes[name] = scheme[storeOpener]{help, open}
}

func registerEmbedder(name, help string, open embedderOpener) {
	embedderSchemes[name] = scheme[embedderOpener]{help, open}
}

func registerReranker(name, help string, open rerankerOpener) {
	rerankerSchemes[name] = scheme[rerankerOpener]{help, open}
}

// schemeOf returns the scheme of a spec: the text before "://" or ":", or
// the whole spec.
func schemeOf(spec string) string {
	if i := strings.Index(spec, ":"); i >= 0 {
		return spec[:i]
	}
	return spec
}

// specArg returns what follows the scheme: "DIR" for "faiss:DIR",
// "h:p/c" for "qdrant://h:p/c", "" for "lexical".
func specArg(spec string) string {
	s := schemeOf(spec)
	rest := strings.TrimPrefix(spec, s)
	rest = strings.TrimPrefix(rest, ":")
	return strings.TrimPrefix(rest, "//")
}

func lookup[T any](kind string, m map[string]scheme[T], spec string) (T, error) {
	s, ok := m[schemeOf(spec)]
	if !ok {
		var zero T
		names := make([]string, 0, len(m))
		for n, sc := range m {
			names = append(names, n+" ("+sc.help+")")
		}
		sort.Strings(names)
		return zero, usageErr("unknown %s %q; choose one of: %s", kind, spec, strings.Join(names, ", "))
	}
	return s.open, nil
}

func openStore(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	open, err := lookup("store", storeSchemes, spec)
	if err != nil {
		return nil, err
	}
	return open(ctx, spec, info)
}

func openEmbedder(ctx context.Context, spec string) (twostage.Embedder, error) {
	spec = pulledSpec(spec, func(s string) bool { _, ok := embedderSchemes[s]; return ok })
	open, err := lookup("embedder", embedderSchemes, spec)
	if err != nil {
		return nil, err
	}
	return open(ctx, spec)
}

func openReranker(ctx context.Context, spec string) (twostage.Reranker, error) {
	if spec == "none" {
		return nil, nil
	}
	spec = pulledSpec(spec, func(s string) bool { _, ok := rerankerSchemes[s]; return ok })
	open, err := lookup("reranker", rerankerSchemes, spec)
	if err != nil {
		return nil, err
	}
	return open(ctx, spec)
}

// closeAll closes every value that has a Close method, joining the errors.
func closeAll(vs ...any) error {
	var errs []error
	for _, v := range vs {
		if c, ok := v.(interface{ Close() error }); ok && c != nil {
			if err := c.Close(); err != nil && !errors.Is(err, twostage.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func init() {
	registerStore("mem", "exact in-memory store; mem:FILE.snap loads FILE and saves it on close (a binary snapshot)", openMem)
	readOnlyStores["mem"] = openMemReadOnly
	registerEmbedder("hash", "model-free hashing embedder; hash:DIM, default 384", func(ctx context.Context, spec string) (twostage.Embedder, error) {
		dim := 0
		if a := specArg(spec); a != "" {
			var err error
			if dim, err = strconv.Atoi(a); err != nil {
				return nil, usageErr("embedder %q: dimension %q is not a number", spec, a)
			}
		}
		return embed.NewHashing(dim)
	})
	registerReranker("lexical", "model-free BM25 over the candidates", func(ctx context.Context, spec string) (twostage.Reranker, error) {
		return rerank.NewLexical(), nil
	})
}

// memFile is a memstore that saves its documents to a file on Close. It
// holds FILE.lock while open.
type memFile struct {
	*memstore.Driver
	path string
	lock *os.File
}

// openMemReadOnly loads a mem:FILE snapshot without saving it on close.
func openMemReadOnly(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	st, err := openMem(ctx, spec, info)
	if err != nil {
		return nil, err
	}
	var mf *memFile
	if st.As(&mf) {
		// A read-only view holds no lock: the snapshot is already loaded.
		if err := closeLock(mf.lock); err != nil {
			return nil, errors.Join(fmt.Errorf("mem store: %w", err), mf.Driver.Close())
		}
		return twostage.NewStore(mf.Driver), nil
	}
	return st, nil
}

func openMem(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	d, err := memstore.NewDriver(info.Dim, info.Metric)
	if err != nil {
		return nil, err
	}
	path := specArg(spec)
	if path == "" {
		return twostage.NewStore(d), nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json", ".csv", ".txt":
		// The file is a binary snapshot: a name that promises text would
		// be read by people and programs as what it is not.
		return nil, errors.Join(d.Close(), usageErr("mem store %s: the file is a binary snapshot, not %s; name it like FILE.snap (twostage index --file reads JSON lines and CSV)",
			path, strings.TrimPrefix(filepath.Ext(path), ".")))
	}
	lock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, errors.Join(fmt.Errorf("mem store: %w", err), closeLock(lock))
	default:
		_, err = d.ReadFrom(f)
		f.Close()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("mem store %s: %w", path, err), closeLock(lock))
		}
	}
	return twostage.NewStore(&memFile{d, path, lock}), nil
}

func closeLock(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}

// Close writes the snapshot atomically (temporary file, then rename) and
// releases the lock.
func (m *memFile) Close() error {
	err := m.save()
	return errors.Join(err, closeLock(m.lock))
}

func (m *memFile) save() error {
	if err := os.MkdirAll(filepath.Dir(m.path), 0o700); err != nil {
		return fmt.Errorf("mem store: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(m.path), ".snapshot-*")
	if err != nil {
		return fmt.Errorf("mem store: %w", err)
	}
	_, err = m.Driver.WriteTo(tmp)
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), m.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mem store: save %s: %w", m.path, err)
	}
	return m.Driver.Close()
}

// stageFlags are the --store, --embedder and --reranker choices shared by
// index, search, demo and eval.
type stageFlags struct {
	store, embedder, reranker, metric string

	fs *flag.FlagSet
	// mustExist: the command reads a store and never creates one (search,
	// info, eval without --reindex).
	mustExist bool
	// readOnly: the command only reads (search, info); embedded stores are
	// opened read-only (see readOnlyStores).
	readOnly bool
	// settings are the embedded store's recorded settings, set by open;
	// created reports that open made a new store.
	settings *storeSettings
	created  bool
}

func addStageFlags(fs *flag.FlagSet, withReranker bool) *stageFlags {
	s := &stageFlags{fs: fs}
	fs.StringVar(&s.store, "store", defaultStore, "vector store: "+schemeList(storeSchemes))
	fs.StringVar(&s.embedder, "embedder", "hash", "embedder: "+schemeList(embedderSchemes))
	fs.StringVar(&s.metric, "metric", "cosine", "similarity for a new collection: cosine, dot or l2")
	if withReranker {
		fs.StringVar(&s.reranker, "reranker", "lexical", "reranker: none, "+schemeList(rerankerSchemes))
	}
	return s
}

func schemeList[T any](m map[string]scheme[T]) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// stages is an opened set of stages; Close releases all of them.
type stages struct {
	store    *twostage.Store
	embedder twostage.Embedder
	reranker twostage.Reranker
}

func (s *stageFlags) open(ctx context.Context, stderr io.Writer) (*stages, error) {
	rec, exists, err := s.resolveStore()
	if err != nil {
		return nil, err
	}
	s.settings = rec
	m := twostage.Metric(s.metric)
	if !m.Valid() {
		return nil, usageErr("unknown metric %q (cosine, dot or l2)", s.metric)
	}
	if exists && rec == nil && !s.explicit("metric") && schemeOf(s.store) == "faiss" {
		m = "" // an unrecorded FAISS store: the metric its manifest holds
	}
	st := &stages{}
	if st.embedder, err = openEmbedder(ctx, s.embedder); err != nil {
		return nil, err
	}
	if s.reranker != "" {
		if st.reranker, err = openReranker(ctx, s.reranker); err != nil {
			return nil, errors.Join(err, closeAll(st.embedder))
		}
	}
	if st.store, err = s.openStore(ctx, twostage.Info{Dim: st.embedder.Dim(), Metric: m}); err != nil {
		return nil, errors.Join(err, closeAll(st.embedder, st.reranker))
	}
	if _, setPath, ok := embeddedStore(s.store); ok && !exists {
		s.created = true
		s.settings = &storeSettings{Embedder: s.embedder, Metric: m, Dim: st.embedder.Dim(), CreatedBy: commandName(s.fs), Created: time.Now().UTC()}
		if err := writeSettings(setPath, s.settings); err != nil {
			return nil, errors.Join(fmt.Errorf("record the store's settings: %w", err), st.Close())
		}
	}
	_, hashing := st.embedder.(*embed.Hashing)
	_, lexical := st.reranker.(*rerank.Lexical)
	if n := modelFreeNotice(hashing, lexical); n != "" {
		fmt.Fprintln(stderr, n)
	}
	return st, nil
}

// modelFreeNotice names the stages in use that are model-free, and how to
// use a model instead; "" when none is.
func modelFreeNotice(hashing, lexical bool) string {
	const (
		emb = "for a real embedder run `twostage pull all-MiniLM-L6-v2` and pass --embedder onnx:all-MiniLM-L6-v2"
		rr  = "for zerank-2 run `twostage pull zerank-2` and pass --reranker zerank-2"
	)
	switch {
	case hashing && lexical:
		return "twostage: using the model-free stages (hashing embedder, BM25 reranker); " + rr + ", " + emb + " (README: Real models)"
	case hashing:
		return "twostage: using the model-free hashing embedder; " + emb + " (README: Real models)"
	case lexical:
		return "twostage: using the model-free BM25 reranker; " + rr + " (README: Real models)"
	}
	return ""
}

func (st *stages) Close() error { return closeAll(st.store, st.embedder, st.reranker) }

// describe names the stages in one line; a command without a rerank stage
// (index) names no reranker.
func (s *stageFlags) describe() string {
	if s.reranker == "" {
		return fmt.Sprintf("store %s, embedder %s", s.store, s.embedder)
	}
	return fmt.Sprintf("store %s, embedder %s, reranker %s", s.store, s.embedder, s.reranker)
}
