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
var defaultStore = "mem:.twostage/index.jsonl"

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
	registerStore("mem", "exact in-memory store; mem:FILE.jsonl loads FILE and saves it on close", openMem)
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

func openMem(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	d, err := memstore.NewDriver(info.Dim, info.Metric)
	if err != nil {
		return nil, err
	}
	path := specArg(spec)
	if path == "" {
		return twostage.NewStore(d), nil
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
}

func addStageFlags(fs *flag.FlagSet, withReranker bool) *stageFlags {
	s := &stageFlags{}
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
	m := twostage.Metric(s.metric)
	if !m.Valid() {
		return nil, usageErr("unknown metric %q (cosine, dot or l2)", s.metric)
	}
	st := &stages{}
	var err error
	if st.embedder, err = openEmbedder(ctx, s.embedder); err != nil {
		return nil, err
	}
	if s.reranker != "" {
		if st.reranker, err = openReranker(ctx, s.reranker); err != nil {
			return nil, errors.Join(err, closeAll(st.embedder))
		}
	}
	if st.store, err = openStore(ctx, s.store, twostage.Info{Dim: st.embedder.Dim(), Metric: m}); err != nil {
		return nil, errors.Join(err, closeAll(st.embedder, st.reranker))
	}
	_, hashing := st.embedder.(*embed.Hashing)
	_, lexical := st.reranker.(*rerank.Lexical)
	if hashing || lexical {
		fmt.Fprintln(stderr, modelFreeNotice)
	}
	return st, nil
}

const modelFreeNotice = "twostage: using the model-free stages (hashing embedder, BM25 reranker); " +
	"for zerank-2 convert a checkpoint with `twostage convert` and pass --reranker zerank:DIR (README: Real models)"

func (st *stages) Close() error { return closeAll(st.store, st.embedder, st.reranker) }

// describe names the stages in one line.
func (s *stageFlags) describe() string {
	r := s.reranker
	if r == "" {
		r = "none"
	}
	return fmt.Sprintf("store %s, embedder %s, reranker %s", s.store, s.embedder, r)
}
