package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"twostage"
)

// Config is the server's configuration, read from YAML by LoadConfig or
// ParseConfig. Stores, embedders and rerankers are named by the same spec
// strings as the CLI's --store, --embedder and --reranker flags.
//
//	listen: "127.0.0.1:8080"            # beyond loopback needs tokens or auth.disabled
//	max_body_bytes: 8388608
//	max_documents: 1000
//	request_timeout: 30s
//	shutdown_timeout: 30s
//	shutdown_drain: 5s                   # /readyz 503 but still serving, before the listener closes
//	max_in_flight: 256                  # default max(64, 8*GOMAXPROCS)
//	max_query_bytes: 16384               # and the other Limits
//	allowed_hosts: [search.example.com]  # and the other Security options
//	auth:
//	  tokens_env: TWOSTAGE_AUTH_TOKENS   # comma-separated bearer tokens
//	  required: true                     # refuse to start without tokens
//	rerankers:                           # name: spec; one instance per spec
//	  default: "chain:zerank:/models/zerank-2|zeroentropy"
//	embedders:
//	  default: "hash:384"
//	rerank:
//	  reranker: default                  # what /v1/rerank and /v2/rerank use
//	collections:
//	  docs:
//	    store: "mem:/var/lib/twostage/docs.snap"
//	    embedder: default                # a name above, or a spec
//	    reranker: default                # a name above, a spec, or none
//	    metric: cosine
//	    candidate_k: 50
//	    rerank_timeout: 2s
//	    on_rerank_error: degrade         # or fail
//
// References of the form ${NAME} inside a value are replaced by the
// environment variable NAME after parsing, so a variable can only ever be
// (part of) one value, never add keys; an unset or empty NAME is an error
// naming it and its line, and ${NAME:-default} gives default instead. Then
// these variables override
// the file: TWOSTAGE_LISTEN, TWOSTAGE_MAX_BODY_BYTES,
// TWOSTAGE_MAX_DOCUMENTS, TWOSTAGE_REQUEST_TIMEOUT,
// TWOSTAGE_SHUTDOWN_TIMEOUT, TWOSTAGE_SHUTDOWN_DRAIN, TWOSTAGE_MAX_IN_FLIGHT, and
// TWOSTAGE_RERANKER_<NAME> / TWOSTAGE_EMBEDDER_<NAME> (the spec of the
// named reranker or embedder; NAME upper-cased, '-' as '_').
type Config struct {
	// Listen is the address to listen on (default "127.0.0.1:8080").
	Listen string `yaml:"listen"`
	// MaxBodyBytes limits request bodies (default 8 MiB); larger ones get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDocuments limits documents per rerank or upsert request (default
	// 1000); more get 400 too_many_documents.
	MaxDocuments int `yaml:"max_documents"`
	// RequestTimeout bounds each request (default 30s); a request that runs
	// out gets 504.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout bounds how long a graceful shutdown waits for requests
	// in flight (default 30s).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ShutdownDrain is how long, once shutdown begins, /readyz answers 503
	// while requests are still accepted and served, so that load balancers
	// stop routing here before the listener closes (default 5s when the file
	// leaves it out; 0s: close at once).
	ShutdownDrain time.Duration `yaml:"shutdown_drain"`
	// MaxInFlight limits concurrent API requests; more get 429 overloaded
	// (default max(64, 8*GOMAXPROCS)).
	MaxInFlight int `yaml:"max_in_flight"`
	// Auth configures bearer-token authentication.
	Auth AuthConfig `yaml:"auth"`
	// Rerankers maps names to reranker specs.
	Rerankers map[string]string `yaml:"rerankers"`
	// Embedders maps names to embedder specs.
	Embedders map[string]string `yaml:"embedders"`
	// Rerank configures /v1/rerank and /v2/rerank.
	Rerank RerankConfig `yaml:"rerank"`
	// Collections maps collection names to their stages.
	Collections map[string]CollectionConfig `yaml:"collections"`
	// Limits bound each request's cost and the memory held at once.
	Limits `yaml:",inline"`
	// Security decides who may reach the server and what it may open.
	Security `yaml:",inline"`

	// Tokens are the accepted bearer tokens, read from the environment
	// variable Auth.TokensEnv; never from the file. Empty means no auth.
	Tokens []string `yaml:"-"`
}

// AuthConfig configures bearer-token authentication.
type AuthConfig struct {
	// TokensEnv names the environment variable with comma-separated tokens
	// (default TWOSTAGE_AUTH_TOKENS).
	TokensEnv string `yaml:"tokens_env"`
	// Required makes a missing or empty token list an error at start.
	Required bool `yaml:"required"`
	// ProtectMetrics puts /metrics behind the tokens too (health checks
	// are always open). It is the default now that OpenMetrics exists;
	// kept so older files still load.
	ProtectMetrics bool `yaml:"protect_metrics"`
	// OpenMetrics serves /metrics without a token even when tokens are set
	// (by default /metrics then needs one, as if ProtectMetrics were set).
	OpenMetrics bool `yaml:"open_metrics"`
	// Disabled lets the server listen beyond loopback without tokens; it
	// logs a warning at start. Without it, Serve refuses (ErrExposed).
	Disabled bool `yaml:"disabled"`
}

// RerankConfig configures the rerank endpoints.
type RerankConfig struct {
	// Reranker is the name (in Rerankers) or spec used when a request's
	// "model" names no configured reranker. Default: "default" when defined,
	// else the only reranker.
	Reranker string `yaml:"reranker"`
}

// CollectionConfig is one searchable collection.
type CollectionConfig struct {
	Store    string `yaml:"store"`
	Embedder string `yaml:"embedder"`
	// Reranker is a name in Rerankers, a spec, or "none".
	Reranker string `yaml:"reranker"`
	// Metric for a new collection: cosine (default), dot or l2.
	Metric string `yaml:"metric"`
	// TopN and CandidateK are the defaults for requests that leave them out
	// (10 and 50).
	TopN       int `yaml:"top_n"`
	CandidateK int `yaml:"candidate_k"`
	// RerankTimeout bounds the rerank stage (0: the request timeout).
	RerankTimeout time.Duration `yaml:"rerank_timeout"`
	// OnRerankError is "degrade" (default: first-stage order, marked
	// degraded, cause given) or "fail".
	OnRerankError string `yaml:"on_rerank_error"`
}

// LoadConfig reads the YAML file at path with the environment overrides.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server: config: %w", err)
	}
	return ParseConfig(data, os.Getenv)
}

// ParseConfig parses YAML, expanding ${NAME} with getenv and applying the
// TWOSTAGE_* overrides (see Config), then fills defaults and validates.
func ParseConfig(data []byte, getenv func(string) string) (*Config, error) {
	expanded, err := expandYAML(data, func(v string) (string, error) { return expandVars(v, getenv) })
	if err != nil {
		return nil, fmt.Errorf("server: config: %w", err)
	}
	c := Config{ShutdownDrain: unsetDrain} // left out of the file: fill sets the default
	dec := yaml.NewDecoder(strings.NewReader(string(expanded)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("server: config: %v: %w", err, twostage.ErrInvalidInput)
	}
	if err := c.applyEnv(getenv); err != nil {
		return nil, err
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv("TWOSTAGE_LISTEN"); v != "" {
		c.Listen = v
	}
	ints := []struct {
		env string
		dst *int
	}{{"TWOSTAGE_MAX_DOCUMENTS", &c.MaxDocuments}, {"TWOSTAGE_MAX_IN_FLIGHT", &c.MaxInFlight}}
	for _, it := range ints {
		if v := getenv(it.env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("server: config: %s=%q is not a number: %w", it.env, v, twostage.ErrInvalidInput)
			}
			*it.dst = n
		}
	}
	if v := getenv("TWOSTAGE_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("server: config: TWOSTAGE_MAX_BODY_BYTES=%q is not a number: %w", v, twostage.ErrInvalidInput)
		}
		c.MaxBodyBytes = n
	}
	durs := []struct {
		env string
		dst *time.Duration
	}{{"TWOSTAGE_REQUEST_TIMEOUT", &c.RequestTimeout}, {"TWOSTAGE_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout}}
	for _, it := range durs {
		if v := getenv(it.env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("server: config: %s=%q: %v: %w", it.env, v, err, twostage.ErrInvalidInput)
			}
			*it.dst = d
		}
	}
	if v := getenv("TWOSTAGE_SHUTDOWN_DRAIN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("server: config: TWOSTAGE_SHUTDOWN_DRAIN=%q: %v: %w", v, err, twostage.ErrInvalidInput)
		}
		c.ShutdownDrain = d
	}
	for _, m := range []struct {
		prefix string
		dst    *map[string]string
	}{{"TWOSTAGE_RERANKER_", &c.Rerankers}, {"TWOSTAGE_EMBEDDER_", &c.Embedders}} {
		for name := range *m.dst {
			if v := getenv(m.prefix + envName(name)); v != "" {
				(*m.dst)[name] = v
			}
		}
	}
	if c.Auth.TokensEnv == "" {
		c.Auth.TokensEnv = "TWOSTAGE_AUTH_TOKENS"
	}
	for _, t := range strings.Split(getenv(c.Auth.TokensEnv), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.Tokens = append(c.Tokens, t)
		}
	}
	return nil
}

func envName(name string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// fill sets defaults and validates.
func (c *Config) fill() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("server: config: %s: %w", fmt.Sprintf(format, args...), twostage.ErrInvalidInput)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.MaxDocuments == 0 {
		c.MaxDocuments = 1000
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.ShutdownDrain == unsetDrain {
		c.ShutdownDrain = 5 * time.Second
	}
	if c.ShutdownDrain < 0 {
		return bad("negative shutdown_drain")
	}
	switch {
	case c.MaxBodyBytes < 0:
		return bad("max_body_bytes %d is negative", c.MaxBodyBytes)
	case c.MaxDocuments < 0:
		return bad("max_documents %d is negative", c.MaxDocuments)
	case c.RequestTimeout < 0 || c.ShutdownTimeout < 0:
		return bad("negative timeout")
	case c.MaxInFlight < 0:
		return bad("max_in_flight %d is negative", c.MaxInFlight)
	}
	if c.Auth.Required && len(c.Tokens) == 0 {
		return bad("auth.required is set but %s holds no tokens", c.Auth.TokensEnv)
	}
	if err := c.fillLimits(); err != nil {
		return err
	}
	if err := c.fillSecurity(); err != nil {
		return err
	}
	if c.Rerankers == nil {
		c.Rerankers = map[string]string{}
	}
	if c.Embedders == nil {
		c.Embedders = map[string]string{}
	}
	for name, spec := range c.Rerankers {
		if name == "" || strings.TrimSpace(spec) == "" {
			return bad("reranker %q has no spec", name)
		}
	}
	for name, spec := range c.Embedders {
		if name == "" || strings.TrimSpace(spec) == "" {
			return bad("embedder %q has no spec", name)
		}
	}
	if c.Rerank.Reranker == "" {
		if _, ok := c.Rerankers["default"]; ok {
			c.Rerank.Reranker = "default"
		} else if len(c.Rerankers) == 1 {
			for n := range c.Rerankers {
				c.Rerank.Reranker = n
			}
		}
	}
	for name, cc := range c.Collections {
		if name == "" || strings.ContainsAny(name, "/ ") {
			return bad("collection name %q is empty or has '/' or a space", name)
		}
		if cc.Store == "" {
			return bad("collection %q has no store", name)
		}
		if cc.Embedder == "" {
			if _, ok := c.Embedders["default"]; ok {
				cc.Embedder = "default"
			} else {
				return bad("collection %q has no embedder", name)
			}
		}
		if cc.Reranker == "" {
			cc.Reranker = c.Rerank.Reranker
			if cc.Reranker == "" {
				cc.Reranker = "none"
			}
		}
		if cc.Metric == "" {
			cc.Metric = string(twostage.Cosine)
		}
		if !twostage.Metric(cc.Metric).Valid() {
			return bad("collection %q: unknown metric %q (cosine, dot or l2)", name, cc.Metric)
		}
		if cc.TopN == 0 {
			cc.TopN = 10
			if cc.CandidateK > 0 {
				cc.TopN = min(10, cc.CandidateK)
			}
		}
		if cc.CandidateK == 0 {
			cc.CandidateK = max(cc.TopN, 50)
		}
		if cc.TopN < 0 || cc.CandidateK < cc.TopN {
			return bad("collection %q: top_n %d and candidate_k %d: want 0 < top_n <= candidate_k", name, cc.TopN, cc.CandidateK)
		}
		if cc.RerankTimeout < 0 {
			return bad("collection %q: negative rerank_timeout", name)
		}
		switch cc.OnRerankError {
		case "":
			cc.OnRerankError = "degrade"
		case "degrade", "fail":
		default:
			return bad("collection %q: on_rerank_error %q: want degrade or fail", name, cc.OnRerankError)
		}
		c.Collections[name] = cc
	}
	if len(c.Collections) == 0 && c.Rerank.Reranker == "" {
		return bad("nothing to serve: configure collections or rerankers")
	}
	return nil
}

// names returns m's keys sorted.
func names[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// unsetDrain marks shutdown_drain as absent while the file is decoded.
const unsetDrain time.Duration = -1
