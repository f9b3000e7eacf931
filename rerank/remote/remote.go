// Package remote holds rerankers that call a reranking service over HTTP:
// ZeroEntropy (zerank-2), Cohere v2, Jina, vLLM, Hugging Face Text
// Embeddings Inference (TEI) and another twostage server. Each is a
// twostage.Reranker with the same contract as the local engine: one score
// per document, aligned with the input.
//
// Every reranker splits a call into requests of at most the service's
// document limit (sent concurrently, merged back in input order), bounds each
// request with a timeout, and retries 429 and 5xx answers and transport
// errors with exponential backoff and jitter, honouring Retry-After. Errors
// wrap the twostage sentinels: ErrInvalidInput for a request the service
// rejects (400, 413, 422) or bad input caught before sending, ErrOverloaded
// when 429 persists, ErrUnavailable for everything else that fails (5xx
// after retries, timeouts, refused connections, malformed answers, wrong
// credentials).
//
// API keys come from environment variables (ZEROENTROPY_API_KEY,
// COHERE_API_KEY, JINA_API_KEY, VLLM_API_KEY, TEI_API_KEY,
// TWOSTAGE_API_KEY), never from command-line flags.
package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"twostage"
	"twostage/driver"
	"twostage/internal/httpjson"
	"twostage/internal/par"
	"twostage/retry"
)

// Kind names a reranking API.
type Kind string

// The supported APIs.
const (
	// ZeroEntropy is POST https://api.zeroentropy.dev/v1/models/rerank.
	ZeroEntropy Kind = "zeroentropy"
	// Cohere is the Cohere v2 API, POST {base}/v2/rerank.
	Cohere Kind = "cohere"
	// Jina is POST {base}/v1/rerank.
	Jina Kind = "jina"
	// VLLM is vLLM's Jina/Cohere-compatible POST {base}/v1/rerank.
	VLLM Kind = "vllm"
	// TEI is Text Embeddings Inference, POST {base}/rerank, answered with a
	// bare array of {index, score}.
	TEI Kind = "tei"
	// Twostage is another twostage server, POST {base}/v1/rerank.
	Twostage Kind = "twostage"
)

// Kinds lists every supported API.
func Kinds() []Kind { return []Kind{ZeroEntropy, Cohere, Jina, VLLM, TEI, Twostage} }

// Options configure a remote Reranker. Nil options, and zero fields, mean the
// documented defaults.
type Options struct {
	// Model is sent as "model" (default per API: zerank-2, rerank-v3.5,
	// jina-reranker-v2-base-multilingual; none for vLLM, TEI and twostage,
	// which serve one model).
	Model string
	// APIKeyEnv names the environment variable holding the API key (default
	// per API, see the package comment). The CLI and the server only ever
	// read keys this way.
	APIKeyEnv string
	// APIKey, when set, is used instead of the environment: for programs that
	// fetch keys from a secret store. Never put it on a command line.
	APIKey string
	// MaxDocuments is the most documents sent in one request (default per
	// API: 1000, TEI 32, its default --max-client-batch-size). Larger calls
	// are split.
	MaxDocuments int
	// Concurrency is the most requests of one call in flight at once
	// (default 4).
	Concurrency int
	// Timeout bounds each HTTP attempt (default 30s).
	Timeout time.Duration
	// Retry bounds the retries of 429, 5xx and transport errors (default:
	// 4 attempts, 250ms doubling to 8s). A Retry-After from the service
	// takes the backoff's place up to MaxRetryAfter (default 30s). LongWait
	// defaults to retry.FailFast: a longer Retry-After ends the call at once
	// with ErrOverloaded (for a 429) or ErrUnavailable, and so does a wait
	// that would outlast the caller's deadline, so a fallback chain moves on
	// instead of waiting. Retries are logged to Logger at debug level unless
	// Retry.OnRetry is set.
	Retry retry.Policy
	// Client is the HTTP client (default: a client with no overall timeout;
	// Timeout bounds each attempt).
	Client *http.Client
	// Logger receives one line per retry (default slog.Default()).
	Logger *slog.Logger
	// Latency is ZeroEntropy's "latency" mode: "fast" (default: a call over
	// the fast rate limit gets 429 at once, so a fallback chain moves on
	// instead of waiting), "slow" (higher limits, answers in seconds) or
	// "auto" (the field is left out: fast, else slow). Other APIs refuse it.
	Latency string
}

// Reranker calls one reranking service. It is safe for concurrent use and
// holds no resources beyond idle HTTP connections (Close releases those).
type Reranker struct {
	kind   Kind
	api    api
	url    string // full endpoint URL
	key    string
	opts   Options
	client *http.Client

	mu     sync.Mutex
	closed bool
}

// api is what differs between services.
type api struct {
	path       string // appended to the base URL
	defaultURL string // base URL when none is given ("" means required)
	model      string // default model ("" means the field is not sent)
	keyEnv     []string
	keyNeeded  bool // a key is required when defaultURL is used
	maxDocs    int
	encode     func(query string, docs []string, o *Options) any
	decode     func(body []byte, n int) ([]twostage.Score, error)
}

var apis = map[Kind]api{
	ZeroEntropy: {
		path: "/v1/models/rerank", defaultURL: "https://api.zeroentropy.dev", model: "zerank-2",
		keyEnv: []string{"ZEROENTROPY_API_KEY", "ZERO_ENTROPY_API_KEY"}, keyNeeded: true, maxDocs: 1000,
		encode: encodeZeroEntropy, decode: decodeResults,
	},
	Cohere: {
		path: "/v2/rerank", defaultURL: "https://api.cohere.com", model: "rerank-v3.5",
		keyEnv: []string{"COHERE_API_KEY", "CO_API_KEY"}, keyNeeded: true, maxDocs: 1000,
		encode: encodeStrings, decode: decodeResults,
	},
	Jina: {
		path: "/v1/rerank", defaultURL: "https://api.jina.ai", model: "jina-reranker-v2-base-multilingual",
		keyEnv: []string{"JINA_API_KEY"}, keyNeeded: true, maxDocs: 1000,
		encode: encodeJina, decode: decodeResults,
	},
	VLLM: {
		path: "/v1/rerank", keyEnv: []string{"VLLM_API_KEY"}, maxDocs: 1000,
		encode: encodeStrings, decode: decodeResults,
	},
	TEI: {
		path: "/rerank", keyEnv: []string{"TEI_API_KEY"}, maxDocs: 32,
		encode: encodeTEI, decode: decodeTEI,
	},
	Twostage: {
		path: "/v1/rerank", keyEnv: []string{"TWOSTAGE_API_KEY"}, maxDocs: 1000,
		encode: encodeJina, decode: decodeResults,
	},
}

// New returns a Reranker for the API kind at baseURL: scheme, host and an
// optional path prefix, to which the API's path is appended, minus the part
// of it the base already ends with, so the official SDKs' form of a base URL
// (https://api.cohere.com/v2, http://vllm:8000/v1) and the bare host reach
// the same endpoint. An empty baseURL means the vendor's public endpoint for
// ZeroEntropy, Cohere and Jina and is an error for the self-hosted ones. A
// vendor endpoint needs an API key.
func New(kind Kind, baseURL string, opts *Options) (*Reranker, error) {
	a, ok := apis[kind]
	if !ok {
		return nil, fmt.Errorf("remote: unknown api %q: %w", kind, twostage.ErrInvalidInput)
	}
	r := &Reranker{kind: kind, api: a}
	if opts != nil {
		r.opts = *opts
	}
	o := &r.opts
	if o.Model == "" {
		o.Model = a.model
	}
	if o.MaxDocuments <= 0 {
		o.MaxDocuments = a.maxDocs
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	o.Retry = o.Retry.WithDefaults(retry.Policy{Attempts: 4, Initial: 250 * time.Millisecond, Max: 8 * time.Second,
		MaxRetryAfter: 30 * time.Second, LongWait: retry.FailFast})
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Retry.OnRetry == nil {
		o.Retry.OnRetry = func(attempt int, wait time.Duration, err error) {
			o.Logger.Debug("remote rerank: retrying", "api", kind, "attempt", attempt, "wait", wait, "err", err)
		}
	}
	r.client = o.Client
	if r.client == nil {
		r.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}

	vendor := baseURL == ""
	if vendor {
		if a.defaultURL == "" {
			return nil, fmt.Errorf("remote: %s needs a URL (%s:http://host:port): %w", kind, kind, twostage.ErrInvalidInput)
		}
		baseURL = a.defaultURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote: %s: %q is not an http(s) URL: %w", kind, baseURL, twostage.ErrInvalidInput)
	}
	r.url = joinPath(strings.TrimSuffix(u.String(), "/"), a.path)
	switch {
	case o.Latency == "" && kind == ZeroEntropy:
		o.Latency = "fast"
	case o.Latency == "":
	case kind != ZeroEntropy:
		return nil, fmt.Errorf("remote: %s: latency is a zeroentropy option: %w", kind, twostage.ErrInvalidInput)
	case o.Latency != "fast" && o.Latency != "slow" && o.Latency != "auto":
		return nil, fmt.Errorf("remote: %s: latency %q: want fast, slow or auto: %w", kind, o.Latency, twostage.ErrInvalidInput)
	}

	r.key = o.APIKey
	if r.key == "" {
		envs := a.keyEnv
		if o.APIKeyEnv != "" {
			envs = []string{o.APIKeyEnv}
		}
		for _, e := range envs {
			if v := strings.TrimSpace(os.Getenv(e)); v != "" {
				r.key = v
				break
			}
		}
		if r.key == "" && vendor && a.keyNeeded {
			return nil, fmt.Errorf("remote: %s needs an API key: set %s: %w", kind, envs[0], twostage.ErrInvalidInput)
		}
	}
	return r, nil
}

// Kind returns the API the reranker calls.
func (r *Reranker) Kind() Kind { return r.kind }

// URL returns the endpoint the reranker posts to.
func (r *Reranker) URL() string { return r.url }

// String names the reranker for logs: kind and endpoint, never the key.
func (r *Reranker) String() string { return string(r.kind) + ":" + r.url }

// Close releases idle connections. Later calls return ErrClosed; calls in
// flight finish.
func (r *Reranker) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("remote: %s: %w", r.kind, twostage.ErrClosed)
	}
	r.closed = true
	r.client.CloseIdleConnections()
	return nil
}

// Rerank implements twostage.Reranker. Score is the service's relevance
// score when it lies in [0,1] and its logistic sigmoid otherwise (services
// configured to return logits); Raw is the value the service returned (the
// logit for TEI, which is asked for raw scores).
func (r *Reranker) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("remote: %s: %w", r.kind, twostage.ErrClosed)
	}
	if strings.TrimSpace(query) == "" {
		return nil, fmt.Errorf("remote: %s: empty query: %w", r.kind, twostage.ErrInvalidInput)
	}
	if err := driver.CheckText("query", query); err != nil {
		return nil, fmt.Errorf("remote: %s: %w", r.kind, err)
	}
	for i, d := range docs {
		if err := driver.CheckText(fmt.Sprintf("document %d", i), d); err != nil {
			return nil, fmt.Errorf("remote: %s: %w", r.kind, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("remote: %s: %w", r.kind, err)
	}
	if len(docs) == 0 {
		return []twostage.Score{}, nil
	}

	out := make([]twostage.Score, len(docs))
	step := r.opts.MaxDocuments
	if len(docs) <= step {
		scores, err := r.call(ctx, query, docs)
		if err != nil {
			return nil, err
		}
		copy(out, scores)
		return out, nil
	}

	err := par.Pieces(ctx, len(docs), r.opts.Concurrency, func(start int) int {
		return min(start+step, len(docs))
	}, func(ctx context.Context, start, end int) error {
		scores, err := r.call(ctx, query, docs[start:end])
		if err != nil {
			return fmt.Errorf("documents %d-%d: %w", start, end-1, err)
		}
		copy(out[start:end], scores)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remote: %s: %w", r.kind, err)
	}
	return out, nil
}

// StatusError is the error of a request the service answered with a
// non-2xx status; reach it with errors.As.
type StatusError struct {
	Code    int
	Message string // the service's error text, cut to 300 bytes
}

// Error returns the status and the service's message.
func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("status %d", e.Code)
	}
	return fmt.Sprintf("status %d: %s", e.Code, e.Message)
}

// call sends one request with retries and decodes the scores.
func (r *Reranker) call(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	body, err := json.Marshal(r.api.encode(query, docs, &r.opts))
	if err != nil {
		return nil, fmt.Errorf("remote: %s: encode request: %w", r.kind, err)
	}
	var scores []twostage.Score
	err = retry.Do(ctx, r.opts.Retry, retry.Classify, func(ctx context.Context) error {
		var err error
		scores, err = r.attempt(ctx, body, len(docs))
		return err
	})
	var re *retry.Error
	if !errors.As(err, &re) {
		if err != nil {
			return nil, fmt.Errorf("remote: %s: %w", r.kind, err)
		}
		return scores, nil
	}
	last := re.Err
	switch re.Reason {
	case retry.Canceled:
		return nil, fmt.Errorf("remote: %s: %w (last error: %v)", r.kind, re.Ctx, last)
	case retry.WaitTooLong:
		return nil, fmt.Errorf("remote: %s: service asks to wait %v, more than %v: %w", r.kind, re.Wait, r.opts.Retry.MaxRetryAfter, exhausted(last))
	case retry.NoTimeLeft:
		return nil, fmt.Errorf("remote: %s: no time left to retry after %v: %w", r.kind, re.Wait, exhausted(last))
	}
	return nil, fmt.Errorf("remote: %s: gave up after %d attempts: %w", r.kind, re.Attempts, exhausted(last))
}

// exhausted marks the last error of a retried request: 429 means the service
// is overloaded, anything else that it is unavailable.
func exhausted(err error) error {
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusTooManyRequests {
		return fmt.Errorf("%w: %w", twostage.ErrOverloaded, err)
	}
	if errors.Is(err, twostage.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", twostage.ErrUnavailable, err)
}

// maxResponse bounds the response body read.
const maxResponse = 64 << 20

// attempt sends one HTTP request. A failure worth retrying comes back
// marked with retry.Transient or retry.AfterHeader.
func (r *Reranker) attempt(ctx context.Context, body []byte, n int) ([]twostage.Score, error) {
	resp, err := httpjson.Post(ctx, r.client, httpjson.Request{URL: r.url, Body: body, APIKey: r.key,
		Timeout: r.opts.Timeout, MaxResponse: maxResponse})
	if err != nil {
		return nil, err
	}
	if resp.Status/100 != 2 {
		se := &StatusError{Code: resp.Status, Message: errorText(resp.Body)}
		ra := resp.Header.Get("Retry-After")
		switch {
		case resp.Status == http.StatusTooManyRequests:
			return nil, retry.AfterHeader(se, ra)
		case resp.Status >= 500:
			return nil, retry.AfterHeader(fmt.Errorf("%w: %w", twostage.ErrUnavailable, se), ra)
		case resp.Status == http.StatusBadRequest, resp.Status == http.StatusRequestEntityTooLarge,
			resp.Status == http.StatusUnprocessableEntity:
			return nil, fmt.Errorf("service rejected the request: %w: %w", twostage.ErrInvalidInput, se)
		default: // 401, 403, 404, 424 (TEI model error) ...: not the caller's input
			return nil, fmt.Errorf("%w: %w", twostage.ErrUnavailable, se)
		}
	}
	scores, err := r.api.decode(resp.Body, n)
	if err != nil {
		return nil, fmt.Errorf("malformed response: %w: %w", twostage.ErrUnavailable, err)
	}
	return scores, nil
}

// errorText pulls a message out of an error body: {"message"},
// {"error": "..."}, {"error": {"message"}}, {"detail"}, or the raw text.
func errorText(data []byte) string {
	var v struct {
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Error   json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(data, &v) == nil {
		var s string
		var obj struct {
			Message string `json:"message"`
		}
		switch {
		case v.Message != "":
			msg = v.Message
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			msg = s
		case json.Unmarshal(v.Error, &obj) == nil && obj.Message != "":
			msg = obj.Message
		case json.Unmarshal(v.Detail, &s) == nil && s != "":
			msg = s
		}
	}
	if msg == "" {
		msg = strings.TrimSpace(string(data))
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return strings.ToValidUTF8(msg, "?")
}

// calibrated maps a service score to [0,1]: scores already in range are
// kept, others are taken as logits.
func calibrated(x float64) float64 {
	if x >= 0 && x <= 1 {
		return x
	}
	return 1 / (1 + math.Exp(-x))
}

// request is the body of every API but TEI's; a field an API does not
// take stays out of its requests.
type request struct {
	Model     string   `json:"model,omitempty"`
	Query     string   `json:"query"`
	Documents []string `json:"documents"`
	// Latency is ZeroEntropy's latency mode.
	Latency string `json:"latency,omitempty"`
	// ReturnDocuments is sent (false) to Jina and twostage, which return
	// the documents unless told not to.
	ReturnDocuments *bool `json:"return_documents,omitempty"`
}

// encodeStrings is the Cohere v2 / vLLM request: no top_n, so every
// document comes back scored.
func encodeStrings(query string, docs []string, o *Options) any {
	return request{Model: o.Model, Query: query, Documents: docs}
}

// encodeZeroEntropy is encodeStrings with ZeroEntropy's latency mode.
func encodeZeroEntropy(query string, docs []string, o *Options) any {
	latency := o.Latency
	if latency == "auto" {
		latency = ""
	}
	return request{Model: o.Model, Query: query, Documents: docs, Latency: latency}
}

// encodeJina is Jina's request, and twostage's: both return the documents
// on /v1/rerank unless told not to.
func encodeJina(query string, docs []string, o *Options) any {
	no := false
	return request{Model: o.Model, Query: query, Documents: docs, ReturnDocuments: &no}
}

// decodeResults reads {"results": [{"index", "relevance_score"}]} (Cohere,
// Jina, ZeroEntropy, vLLM, twostage; twostage adds "raw_score").
func decodeResults(body []byte, n int) ([]twostage.Score, error) {
	var resp struct {
		Results []struct {
			Index          *int            `json:"index"`
			RelevanceScore *float64        `json:"relevance_score"`
			RawScore       json.RawMessage `json:"raw_score"` // absent (nil) unless twostage; never null
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	if resp.Results == nil {
		return nil, errors.New(`no "results" array`)
	}
	items := make([]scored, len(resp.Results))
	for i, res := range resp.Results {
		if res.Index == nil || res.RelevanceScore == nil {
			return nil, fmt.Errorf("result %d lacks index or relevance_score", i)
		}
		raw := *res.RelevanceScore
		if res.RawScore != nil {
			var r *float64
			if err := json.Unmarshal(res.RawScore, &r); err != nil || r == nil {
				return nil, fmt.Errorf("result %d has raw_score %s, want a number", i, res.RawScore)
			}
			raw = *r
		}
		items[i] = scored{*res.Index, *res.RelevanceScore, raw}
	}
	return align(items, n)
}

func encodeTEI(query string, docs []string, _ *Options) any {
	return struct {
		Query      string   `json:"query"`
		Texts      []string `json:"texts"`
		RawScores  bool     `json:"raw_scores"`
		ReturnText bool     `json:"return_text"`
		Truncate   bool     `json:"truncate"`
	}{query, docs, true, false, true}
}

// decodeTEI reads TEI's bare array [{"index", "score"}]; it asked for raw
// scores, so Score is their sigmoid (what TEI returns without raw_scores for
// a single-label reranker).
func decodeTEI(body []byte, n int) ([]twostage.Score, error) {
	var resp []struct {
		Index *int     `json:"index"`
		Score *float64 `json:"score"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	items := make([]scored, len(resp))
	for i, res := range resp {
		if res.Index == nil || res.Score == nil {
			return nil, fmt.Errorf("result %d lacks index or score", i)
		}
		items[i] = scored{*res.Index, 1 / (1 + math.Exp(-*res.Score)), *res.Score}
	}
	return align(items, n)
}

type scored struct {
	index      int
	score, raw float64
}

// align puts results back in input order, checking that every document got
// exactly one finite score.
func align(items []scored, n int) ([]twostage.Score, error) {
	if len(items) != n {
		return nil, fmt.Errorf("%d results for %d documents", len(items), n)
	}
	out := make([]twostage.Score, n)
	seen := make([]bool, n)
	for _, it := range items {
		if it.index < 0 || it.index >= n {
			return nil, fmt.Errorf("result index %d out of range [0,%d)", it.index, n)
		}
		if seen[it.index] {
			return nil, fmt.Errorf("index %d scored twice", it.index)
		}
		if math.IsNaN(it.score) || math.IsInf(it.score, 0) || math.IsNaN(it.raw) || math.IsInf(it.raw, 0) {
			return nil, fmt.Errorf("index %d has a non-finite score", it.index)
		}
		seen[it.index] = true
		out[it.index] = twostage.Score{Score: calibrated(it.score), Raw: it.raw}
	}
	return out, nil
}
