// Package spec opens stores, embedders and rerankers from spec strings, the
// one language the CLI's flags, the server's config and Go programs share:
//
//	stores     mem:  mem:FILE.snap  faiss:DIR[?index=hnsw&...]  qdrant://HOST:PORT/COLLECTION  weaviate://HOST:PORT/CLASS
//	embedders  hash:DIM  onnx:DIR[,key=value...]  openai:URL,model=NAME  tei:URL  all-MiniLM-L6-v2 (a pulled name)
//	rerankers  lexical  none  zerank:DIR  onnx:DIR  zerank-2 (a pulled name)  cohere:URL  jina:URL  tei:URL  vllm:URL
//	           zeroentropy:URL#model=M&latency=L  twostage:URL  chain:A|B|C
//
// The engine's rerankers (zerank:DIR, onnx:DIR, a pulled name) take
// ,key=value options: max_length, instruction, batch, batch_tokens,
// threads, provider, device, platform, compute, family, and the
// long-document defaults long_documents=truncate|chunk, chunk_tokens=N,
// chunk_overlap=N (below chunk_tokens) and max_chunks=N (see
// rerank.EngineOptions; 0 means the default). Stores take ?key=value
// options (weaviate://HOST:PORT/CLASS?ef=N&ef_construction=N&max_connections=N
// sets the HNSW index of a class it creates); Stores, Embedders and
// Rerankers list them all.
//
// A model's DIR is a directory written by `twostage convert` or the name of
// a model pulled by `twostage pull`.
//
// A spec is SCHEME:ARG (or SCHEME://ARG, or a bare SCHEME); its scheme picks
// the opener, registered in the shape of database/sql's Register and Open:
// the package registers the schemes of the module's backends, each from its
// own file (faiss: opens only in builds with -tags faiss and says so
// otherwise), and a program adds its own with RegisterStore,
// RegisterEmbedder and RegisterReranker. Stores, Embedders and Rerankers
// list what is registered, with one line of help each, for --help texts.
//
// A bare name that is not a scheme but names a model pulled by `twostage
// pull` (zerank-2, ORG/NAME[@REV]) opens as onnx:NAME: its directory is found
// in the local cache, without any request.
//
// Errors: a spec that cannot be opened as written (unknown scheme, with the
// list of known ones; missing target; unknown or malformed option; a model
// of the wrong family; a remote API without its key) wraps ErrBadSpec, which
// matches twostage.ErrInvalidInput as well. Other failures (a file that
// cannot be read, a server that does not answer) are the backend's errors.
//
// API keys of remote services come from the environment only (see package
// rerank/remote and the embedders' help); a spec never holds one.
package spec

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"twostage"
)

// ErrBadSpec marks a spec that cannot be opened as written. It reads as
// twostage.ErrInvalidInput and matches it with errors.Is, so callers that
// only know the module's sentinels still see an invalid input; a command
// line uses ErrBadSpec to tell a usage error from a runtime failure.
var ErrBadSpec error = badSpec{}

type badSpec struct{}

func (badSpec) Error() string        { return twostage.ErrInvalidInput.Error() }
func (badSpec) Is(target error) bool { return target == twostage.ErrInvalidInput }

// badf returns an error wrapping ErrBadSpec, prefixed "spec: ".
func badf(format string, args ...any) error {
	return fmt.Errorf("spec: "+format+": %w", append(args, ErrBadSpec)...)
}

// StoreOpener opens the store a spec names. info gives the dimension and
// metric a new collection is created with; an existing store checks them
// (a zero Info accepts what an embedded store recorded).
type StoreOpener func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error)

// EmbedderOpener opens the embedder a spec names.
type EmbedderOpener func(ctx context.Context, spec string) (twostage.Embedder, error)

// RerankerOpener opens the reranker a spec names.
type RerankerOpener func(ctx context.Context, spec string) (twostage.Reranker, error)

// Scheme is one registered scheme, for listings.
type Scheme struct {
	Name string // the scheme: "faiss", "zerank", "lexical"
	Help string // one line: what it opens and how its spec is written
}

type storeScheme struct {
	help           string
	open, readOnly StoreOpener
}

type entry[T any] struct {
	help string
	open T
}

var (
	mu        sync.RWMutex
	stores    = map[string]storeScheme{}
	embedders = map[string]entry[EmbedderOpener]{}
	rerankers = map[string]entry[RerankerOpener]{}
)

// RegisterStore makes scheme open stores with open. readOnly, when not nil,
// opens an existing store for reading only (see OpenStoreReadOnly). It
// returns an error wrapping twostage.ErrInvalidInput for an empty or
// already registered scheme or a nil open.
func RegisterStore(scheme, help string, open, readOnly StoreOpener) error {
	mu.Lock()
	defer mu.Unlock()
	if err := checkScheme("store", scheme, open == nil, has(stores, scheme)); err != nil {
		return err
	}
	stores[scheme] = storeScheme{help, open, readOnly}
	return nil
}

// RegisterEmbedder makes scheme open embedders with open, with the errors
// of RegisterStore.
func RegisterEmbedder(scheme, help string, open EmbedderOpener) error {
	mu.Lock()
	defer mu.Unlock()
	if err := checkScheme("embedder", scheme, open == nil, has(embedders, scheme)); err != nil {
		return err
	}
	embedders[scheme] = entry[EmbedderOpener]{help, open}
	return nil
}

// RegisterReranker makes scheme open rerankers with open, with the errors
// of RegisterStore. "none" is not a scheme: OpenReranker answers it.
func RegisterReranker(scheme, help string, open RerankerOpener) error {
	mu.Lock()
	defer mu.Unlock()
	if err := checkScheme("reranker", scheme, open == nil || scheme == "none", has(rerankers, scheme)); err != nil {
		return err
	}
	rerankers[scheme] = entry[RerankerOpener]{help, open}
	return nil
}

func has[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

func checkScheme(kind, scheme string, bad, dup bool) error {
	switch {
	case scheme == "" || strings.ContainsAny(scheme, ":/,|#? ") || bad:
		return fmt.Errorf("spec: register %s scheme %q: want a name without ':/,|#? ' and an opener: %w", kind, scheme, twostage.ErrInvalidInput)
	case dup:
		return fmt.Errorf("spec: %s scheme %q registered twice: %w", kind, scheme, twostage.ErrInvalidInput)
	}
	return nil
}

// mustRegister is for this package's own schemes, registered from init.
func mustRegister(err error) {
	if err != nil {
		panic(err)
	}
}

// Stores lists the registered store schemes, sorted by name.
func Stores() []Scheme {
	mu.RLock()
	defer mu.RUnlock()
	l := make([]Scheme, 0, len(stores))
	for n, s := range stores {
		l = append(l, Scheme{n, s.help})
	}
	return sorted(l)
}

// Embedders lists the registered embedder schemes, sorted by name.
func Embedders() []Scheme {
	mu.RLock()
	defer mu.RUnlock()
	return list(embedders)
}

// Rerankers lists the registered reranker schemes, sorted by name ("none"
// is not among them).
func Rerankers() []Scheme {
	mu.RLock()
	defer mu.RUnlock()
	return list(rerankers)
}

func list[T any](m map[string]entry[T]) []Scheme {
	l := make([]Scheme, 0, len(m))
	for n, e := range m {
		l = append(l, Scheme{n, e.help})
	}
	return sorted(l)
}

func sorted(l []Scheme) []Scheme {
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return l
}

// Names returns the schemes' names joined by ", ", for a flag's help.
func Names(l []Scheme) string {
	n := make([]string, len(l))
	for i, s := range l {
		n[i] = s.Name
	}
	return strings.Join(n, ", ")
}

// SchemeOf returns the scheme of a spec: the text before the first ":", or
// the whole spec ("lexical").
func SchemeOf(spec string) string {
	if i := strings.Index(spec, ":"); i >= 0 {
		return spec[:i]
	}
	return spec
}

// Arg returns what follows the scheme: "DIR" for "faiss:DIR", "h:p/c" for
// "qdrant://h:p/c", "" for "lexical".
func Arg(spec string) string {
	s := SchemeOf(spec)
	rest := strings.TrimPrefix(spec, s)
	rest = strings.TrimPrefix(rest, ":")
	return strings.TrimPrefix(rest, "//")
}

// unknown is the error for a scheme nobody registered: it lists the known
// ones with their help.
func unknown(kind, spec string, l []Scheme) error {
	names := make([]string, len(l))
	for i, s := range l {
		names[i] = s.Name + " (" + s.Help + ")"
	}
	return badf("unknown %s %q; choose one of: %s", kind, spec, strings.Join(names, ", "))
}

// OpenStore opens the store spec names, creating it (with info's dimension
// and metric) where the backend creates collections. An unknown scheme is
// an error wrapping ErrBadSpec that lists the registered ones.
func OpenStore(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	open, err := storeOpener(spec, false)
	if err != nil {
		return nil, err
	}
	return open(ctx, spec, info)
}

// OpenStoreReadOnly opens the store spec names for reading only where its
// scheme has a read-only mode, for programs that never write: faiss:DIR
// opens beside a process that writes it and in a read-only directory;
// mem:FILE loads the snapshot, then holds no lock and saves nothing on
// close. A scheme without one (a server's collection) opens as with
// OpenStore.
func OpenStoreReadOnly(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error) {
	open, err := storeOpener(spec, true)
	if err != nil {
		return nil, err
	}
	return open(ctx, spec, info)
}

// storeOpener returns the opener registered for spec's scheme: its
// read-only one when readOnly and it has one.
func storeOpener(spec string, readOnly bool) (StoreOpener, error) {
	mu.RLock()
	s, ok := stores[SchemeOf(spec)]
	mu.RUnlock()
	if !ok {
		return nil, unknown("store", spec, Stores())
	}
	if readOnly && s.readOnly != nil {
		return s.readOnly, nil
	}
	return s.open, nil
}

// OpenEmbedder opens the embedder spec names; a bare pulled model name
// opens as onnx:NAME. An unknown scheme is an error wrapping ErrBadSpec
// that lists the registered ones.
func OpenEmbedder(ctx context.Context, spec string) (twostage.Embedder, error) {
	open, spec, err := modelOpener("embedder", spec, embedders, Embedders)
	if err != nil {
		return nil, err
	}
	return open(ctx, spec)
}

// OpenReranker opens the reranker spec names; "none" gives a nil Reranker
// and a nil error (a pipeline without a rerank stage), and a bare pulled
// model name opens as onnx:NAME. An unknown scheme is an error wrapping
// ErrBadSpec that lists the registered ones.
func OpenReranker(ctx context.Context, spec string) (twostage.Reranker, error) {
	if spec == "none" {
		return nil, nil
	}
	open, spec, err := modelOpener("reranker", spec, rerankers, Rerankers)
	if err != nil {
		return nil, err
	}
	return open(ctx, spec)
}

// modelOpener returns the opener registered in m (embedders or rerankers)
// for spec's scheme, and the spec it opens: a bare pulled model name reads
// as onnx:NAME. An unknown scheme is an error listing all() by kind.
func modelOpener[T any](kind, spec string, m map[string]entry[T], all func() []Scheme) (T, string, error) {
	mu.RLock()
	spec = pulledSpec(spec, func(s string) bool { return has(m, s) })
	e, ok := m[SchemeOf(spec)]
	mu.RUnlock()
	if !ok {
		var none T
		return none, spec, unknown(kind, spec, all())
	}
	return e.open, spec, nil
}
