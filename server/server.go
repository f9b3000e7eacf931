// Package server is twostage's HTTP server: one process that holds the
// stores, embedders and rerankers (above all the GPU reranker engine) and
// shares them with every client. Server is an http.Handler:
//
//	POST   /v1/search                          retrieve and rerank in a collection
//	POST   /v1/rerank, /v2/rerank              Cohere v2 / Jina compatible reranking
//	POST   /v1/collections/{name}/documents    upsert (embedding texts without vectors)
//	DELETE /v1/collections/{name}/documents    delete by ids
//	GET    /healthz, /readyz, /metrics         liveness, readiness, Prometheus
//
// Errors are JSON: {"error": {"code": "...", "message": "..."}, "message":
// "...", "id": "..."} (id: the request id, also the X-Request-Id header) with
// a 4xx status for the caller's mistakes and 5xx for the server's. Bodies are
// limited in size, requests in time, and bearer-token authentication is
// optional. Serve shuts down gracefully, finishing requests in flight.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"twostage"
	"twostage/spec"
)

// Openers turn the config's spec strings into stages. A nil field opens
// with package spec (spec.OpenStore, spec.OpenEmbedder, spec.OpenReranker),
// so the zero Openers takes the same specs as the twostage command's flags;
// a program sets a field to open its own stages, or to check a store before
// opening it as the twostage command does.
type Openers struct {
	Store    func(ctx context.Context, spec string, info twostage.Info) (*twostage.Store, error)
	Embedder func(ctx context.Context, spec string) (twostage.Embedder, error)
	// Reranker may return nil, nil for "none".
	Reranker func(ctx context.Context, spec string) (twostage.Reranker, error)
}

// withDefaults fills the nil fields with package spec's openers.
func (op Openers) withDefaults() Openers {
	if op.Store == nil {
		op.Store = spec.OpenStore
	}
	if op.Embedder == nil {
		op.Embedder = spec.OpenEmbedder
	}
	if op.Reranker == nil {
		op.Reranker = spec.OpenReranker
	}
	return op
}

// Options are the server's runtime options; nil means the defaults.
type Options struct {
	// Logger receives request errors and lifecycle lines (default
	// slog.Default()).
	Logger *slog.Logger
	// Registry receives the server's metrics (default: a new registry with
	// the Go and process collectors). /metrics serves this registry.
	Registry *prometheus.Registry
}

// Server serves the twostage HTTP API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics
	mux     *http.ServeMux

	collections  map[string]*collection
	rerankers    map[string]twostage.Reranker // by configured name and by spec
	rerankName   string                       // the rerank endpoints' default
	allRerankers map[string]twostage.Reranker // every one opened, by name or spec: for /metrics
	owned        []any                        // opened here; Close closes them
	sem          chan struct{}                // nil when MaxInFlight is 0
	buffers      *budget                      // bodies and answers held at once

	draining  atomic.Bool
	closeOnce sync.Once
	closed    atomic.Bool

	// drainAfter, when set (tests only), replaces the drain's timer.
	drainAfter func(time.Duration) <-chan time.Time
}

type collection struct {
	name     string
	cfg      CollectionConfig
	store    *twostage.Store
	pipeline *twostage.Pipeline
	reranker string // spec or name, for responses
}

// Open builds a Server from cfg, opening every stage with op (the zero
// Openers: package spec). A reranker or embedder named by several
// collections (or by the same spec) is opened once and shared. If Open
// fails it closes what it opened; an error in a spec as written wraps
// spec.ErrBadSpec.
func Open(ctx context.Context, cfg *Config, op Openers, opts *Options) (_ *Server, err error) {
	if cfg == nil {
		return nil, fmt.Errorf("server: nil config: %w", twostage.ErrInvalidInput)
	}
	op = op.withDefaults()
	s := &Server{cfg: *cfg, collections: map[string]*collection{}, rerankers: map[string]twostage.Reranker{}, allRerankers: map[string]twostage.Reranker{}}
	if opts != nil {
		s.log, s.reg = opts.Logger, opts.Registry
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.reg == nil {
		s.reg = newRegistry()
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.closeOwned())
		}
	}()

	bySpec := map[string]twostage.Reranker{}
	openReranker := func(ref string) (twostage.Reranker, string, error) {
		spec := ref
		if named, ok := cfg.Rerankers[ref]; ok {
			spec = named
		}
		if spec == "none" {
			return nil, spec, nil
		}
		if r, ok := bySpec[spec]; ok {
			if r != nil {
				s.allRerankers[ref] = r
			}
			return r, spec, nil
		}
		r, err := op.Reranker(ctx, spec)
		if err != nil {
			return nil, spec, fmt.Errorf("server: reranker %q: %w", ref, err)
		}
		if r != nil {
			s.owned = append(s.owned, r)
			s.allRerankers[ref] = r
		}
		bySpec[spec] = r
		return r, spec, nil
	}
	for _, name := range names(cfg.Rerankers) {
		r, _, err := openReranker(name)
		if err != nil {
			return nil, err
		}
		if r != nil {
			s.rerankers[name] = r
		}
	}
	if cfg.Rerank.Reranker != "" {
		r, _, err := openReranker(cfg.Rerank.Reranker)
		if err != nil {
			return nil, err
		}
		if r != nil {
			s.rerankers[cfg.Rerank.Reranker] = r
			s.rerankName = cfg.Rerank.Reranker
		}
	}

	embBySpec := map[string]twostage.Embedder{}
	for _, name := range names(cfg.Collections) {
		cc := cfg.Collections[name]
		espec := cc.Embedder
		if named, ok := cfg.Embedders[espec]; ok {
			espec = named
		}
		emb, ok := embBySpec[espec]
		if !ok {
			if emb, err = op.Embedder(ctx, espec); err != nil {
				return nil, fmt.Errorf("server: collection %q: embedder %q: %w", name, cc.Embedder, err)
			}
			s.owned = append(s.owned, emb)
			embBySpec[espec] = emb
		}
		rr, _, err := openReranker(cc.Reranker)
		if err != nil {
			return nil, fmt.Errorf("server: collection %q: %w", name, err)
		}
		store, err := op.Store(ctx, cc.Store, twostage.Info{Dim: emb.Dim(), Metric: twostage.Metric(cc.Metric)})
		if err != nil {
			return nil, fmt.Errorf("server: collection %q: store %q: %w", name, cc.Store, err)
		}
		s.owned = append(s.owned, store)
		po := &twostage.PipelineOptions{RerankTimeout: cc.RerankTimeout}
		if cc.OnRerankError == "degrade" {
			po.OnRerankError = twostage.DegradeOnRerankError
		}
		p, err := twostage.NewPipeline(store, emb, rr, po)
		if err != nil {
			return nil, fmt.Errorf("server: collection %q: %w", name, err)
		}
		s.collections[name] = &collection{name: name, cfg: cc, store: store, pipeline: p, reranker: cc.Reranker}
	}

	if s.cfg.MaxInFlight > 0 {
		s.sem = make(chan struct{}, s.cfg.MaxInFlight)
	}
	s.buffers = &budget{cap: s.cfg.Limits.MaxBufferedBytes}
	s.metrics, err = newMetrics(s.reg, s.engineSources)
	if err != nil {
		return nil, fmt.Errorf("server: metrics: %w", err)
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.Handle("/v1/search", s.api("search", false, http.MethodPost, s.handleSearch))
	s.mux.Handle("/v1/rerank", s.api("rerank_v1", false, http.MethodPost, s.handleRerank))
	s.mux.Handle("/v2/rerank", s.api("rerank_v2", false, http.MethodPost, s.handleRerank))
	s.mux.Handle("/v1/collections/{name}/documents", s.api("documents", false, "", s.handleDocuments))
	s.mux.Handle("/healthz", s.api("healthz", true, http.MethodGet, s.handleHealth))
	s.mux.Handle("/readyz", s.api("readyz", true, http.MethodGet, s.handleReady))
	s.mux.Handle("/metrics", s.api("metrics", s.cfg.Auth.OpenMetrics && !s.cfg.Auth.ProtectMetrics, http.MethodGet, s.handleMetrics))
	s.mux.Handle("/", s.api("unknown", true, "", func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint"}
	}))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Registry returns the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Store returns the store of the named collection.
func (s *Server) Store(collection string) (*twostage.Store, bool) {
	c, ok := s.collections[collection]
	if !ok {
		return nil, false
	}
	return c.store, true
}

// Reranker returns the reranker configured under name (or opened from that
// spec), if any.
func (s *Server) Reranker(name string) (twostage.Reranker, bool) {
	r, ok := s.rerankers[name]
	return r, ok
}

// api wraps a handler with the shared concerns: method check, panic
// recovery, auth, the in-flight limit, the request timeout, the body limit,
// JSON errors and metrics. An empty method accepts any (the handler checks).
func (s *Server) api(route string, open bool, method string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w}
		setRequestID(rw, r)
		s.metrics.inFlight.Inc()
		defer func() {
			s.metrics.inFlight.Dec()
			if p := recover(); p != nil {
				s.log.Error("server: panic", "route", route, "panic", p)
				if !rw.wrote {
					s.writeError(rw, route, &apiError{Status: 500, Code: "internal", Message: "internal error"})
				}
			}
			s.metrics.observeRequest(route, rw.status(), time.Since(start))
		}()
		err := s.serve(rw, r, route, open, method, h)
		if err != nil && !rw.wrote {
			s.writeError(rw, route, err)
		}
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, route string, open bool, method string, h func(http.ResponseWriter, *http.Request) error) error {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := s.checkHost(r); err != nil {
		return err
	}
	if method != "" && r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", method)
		return &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: r.Method + " is not allowed; use " + method}
	}
	if !open && len(s.cfg.Tokens) > 0 {
		if err := s.authorize(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="twostage"`)
			return err
		}
	}
	if s.closed.Load() {
		return &apiError{Status: http.StatusServiceUnavailable, Code: "shutting_down", Message: "server is closed"}
	}
	hold := &held{b: s.buffers}
	defer hold.release()
	if !open {
		if err := checkContentType(r); err != nil {
			return err
		}
		if err := s.readBounded(w, r, hold); err != nil {
			return err
		}
		w = &limitedWriter{ResponseWriter: w, hold: hold, limit: s.cfg.Limits.MaxResponseBytes}
	}
	if s.sem != nil && !open {
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
		default:
			return &apiError{Status: http.StatusTooManyRequests, Code: "overloaded",
				Message: fmt.Sprintf("more than %d requests in flight; retry later", s.cfg.MaxInFlight)}
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	if r.Body != nil && open { // the others' bodies are read and bounded above
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	}
	return h(w, r)
}

func (s *Server) authorize(r *http.Request) error {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "missing bearer token"}
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "authorization must be: Bearer TOKEN"}
	}
	token = strings.TrimSpace(token)
	match := 0
	for _, t := range s.cfg.Tokens {
		match |= subtle.ConstantTimeCompare([]byte(token), []byte(t))
	}
	if match != 1 {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "invalid bearer token"}
	}
	return nil
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) status() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.code
}

// Serve accepts connections on ln until ctx is done, then shuts down
// gracefully: /readyz answers 503 while requests are still served for
// Config.ShutdownDrain, then it stops accepting, waits up to
// Config.ShutdownTimeout for requests in flight to finish, and returns. It
// does not close the stages; call Close after Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.RequestTimeout + 10*time.Second, // a body trickling in cannot hold a connection forever
		WriteTimeout:      s.cfg.RequestTimeout + s.cfg.Limits.BodyTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if err := s.checkExposure(ln.Addr()); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.serveConns(hs, ln) }() // exits when hs is shut down
	s.log.Info("server: listening", "addr", ln.Addr().String(), "collections", names(s.collections))
	select {
	case err := <-errc:
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	if err := s.drain(errc); err != nil {
		return err
	}
	s.log.Info("server: shutting down, finishing requests in flight", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}

// ListenAndServe listens on Config.Listen and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Close closes every stage Open opened. Requests arriving later get 503.
// Later calls return ErrClosed.
func (s *Server) Close() error {
	err := fmt.Errorf("server: %w", twostage.ErrClosed)
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.draining.Store(true)
		err = s.closeOwned()
	})
	return err
}

func (s *Server) closeOwned() error {
	var errs []error
	for i := len(s.owned) - 1; i >= 0; i-- {
		if c, ok := s.owned[i].(interface{ Close() error }); ok {
			if err := c.Close(); err != nil && !errors.Is(err, twostage.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	s.owned = nil
	return errors.Join(errs...)
}
