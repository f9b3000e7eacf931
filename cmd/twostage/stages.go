package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"twostage"
	"twostage/embed"
	"twostage/faisslocal"
	"twostage/rerank"
	"twostage/spec"
)

// The stage specs ("faiss:DIR", "zerank-2", "chain:A|B") are package spec's
// language; this file wires them to the flags. Errors in a spec as written
// are usage errors (exit 2).

// defaultStore is where index and search keep their data: the embedded
// FAISS store when built with -tags faiss, else a mem: snapshot.
var defaultStore = "mem:.twostage/index.snap"

func init() {
	if faisslocal.Enabled {
		defaultStore = "faiss:" + filepath.Join(".twostage", "faiss")
		demoStore = func(dir string) string { return "faiss:" + filepath.Join(dir, "faiss") }
	}
}

// specErr makes an error in a spec as written (spec.ErrBadSpec) a usage
// error; other errors are returned as they are.
func specErr(err error) error {
	if errors.Is(err, spec.ErrBadSpec) {
		return fmt.Errorf("%w: %w", err, errUsage)
	}
	return err
}

// openStore, openEmbedder and openReranker open a stage with package spec,
// errors in the spec being usage errors.
func openStore(ctx context.Context, s string, info twostage.Info) (*twostage.Store, error) {
	st, err := spec.OpenStore(ctx, s, info)
	return st, storeErr(s, err)
}

// storeErr is specErr for a store: an invalid option of a server or FAISS
// store (ErrInvalidInput when it opens: a value the backend refuses, or one
// that differs from what the collection, class or index was created with,
// e.g. a weaviate ?ef= other than the class's) is a usage error too. A mem
// store's ErrInvalidInput is its snapshot's content, not the command line.
func storeErr(s string, err error) error {
	if err != nil && !errors.Is(err, errUsage) && errors.Is(err, twostage.ErrInvalidInput) && spec.SchemeOf(s) != "mem" {
		return fmt.Errorf("%w: %w", err, errUsage)
	}
	return specErr(err)
}

func openEmbedder(ctx context.Context, s string) (twostage.Embedder, error) {
	e, err := spec.OpenEmbedder(ctx, s)
	return e, specErr(err)
}

func openReranker(ctx context.Context, s string) (twostage.Reranker, error) {
	r, err := spec.OpenReranker(ctx, s)
	return r, specErr(err)
}

// openStore opens the store, read-only when the command only reads (search,
// info) and the scheme can (spec.OpenStoreReadOnly).
func (s *stageFlags) openStore(ctx context.Context, info twostage.Info) (*twostage.Store, error) {
	if s.readOnly {
		st, err := spec.OpenStoreReadOnly(ctx, s.store, info)
		return st, storeErr(s.store, err)
	}
	return openStore(ctx, s.store, info)
}

// printSpecs lists the registered schemes of --store, --embedder and
// --reranker with their help, for `twostage help`.
func printSpecs(w io.Writer) {
	for _, k := range []struct {
		flag string
		l    []spec.Scheme
	}{{"--store", spec.Stores()}, {"--embedder", spec.Embedders()}, {"--reranker", spec.Rerankers()}} {
		fmt.Fprintf(w, "\n%s specs:\n", k.flag)
		for _, s := range k.l {
			fmt.Fprintf(w, "  %-11s %s\n", s.Name, s.Help)
		}
	}
	fmt.Fprintln(w, "  none        no rerank stage (--reranker only)")
	fmt.Fprintln(w, "\nA model pulled with `twostage pull` is named by itself: --reranker zerank-2.")
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

// stageFlags are the --store, --embedder and --reranker choices shared by
// index, search, demo and eval.
type stageFlags struct {
	store, embedder, reranker, metric string

	fs *flag.FlagSet
	// mustExist: the command reads a store and never creates one (search,
	// info, eval without --reindex).
	mustExist bool
	// readOnly: the command only reads (search, info); embedded stores are
	// opened read-only (see spec.OpenStoreReadOnly).
	readOnly bool
	// settings are the embedded store's recorded settings, set by open;
	// created reports that open made a new store.
	settings *storeSettings
	created  bool
}

func addStageFlags(fs *flag.FlagSet, withReranker bool) *stageFlags {
	s := &stageFlags{fs: fs}
	fs.StringVar(&s.store, "store", defaultStore, "vector store: "+spec.Names(spec.Stores()))
	fs.StringVar(&s.embedder, "embedder", "hash", "embedder: "+spec.Names(spec.Embedders()))
	fs.StringVar(&s.metric, "metric", "cosine", "similarity for a new collection: cosine, dot or l2")
	if withReranker {
		fs.StringVar(&s.reranker, "reranker", "lexical", "reranker: none, "+spec.Names(spec.Rerankers()))
	}
	return s
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
	if exists && rec == nil && !s.explicit("metric") && spec.SchemeOf(s.store) == "faiss" {
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
