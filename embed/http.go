package embed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"twostage"
	"twostage/driver"
	"twostage/errdefs"
	"twostage/internal/httpjson"
	"twostage/internal/par"
	"twostage/retry"
)

// HTTPOptions configures the HTTP embedders (NewOpenAI, NewTEI). Nil means
// every default.
type HTTPOptions struct {
	// APIKey is sent as "Authorization: Bearer KEY" when set. The CLI reads
	// it from the environment (TWOSTAGE_EMBED_API_KEY, then OPENAI_API_KEY),
	// never from a flag.
	APIKey string
	// Dim is the dimension the server is expected to return. 0 means: learn
	// it by embedding one short probe text when the embedder is created.
	// Either way, a response of any other length later fails with an error
	// wrapping twostage.ErrDimension.
	Dim int
	// BatchSize caps the texts sent in one request. 0 means the server's
	// limit: 2048 for the OpenAI API (its documented maximum), and TEI's
	// max_client_batch_size from GET /info (32 when /info cannot be read).
	// When the server still answers 413 (payload too large), the batch is
	// halved and retried, and later requests use the smaller size.
	BatchSize int
	// MaxBatchChars caps the characters (bytes of UTF-8) of one request's
	// texts, a stand-in for the server's tokens-per-request limit. 0 means
	// 1,000,000 for the OpenAI API (under its 300,000-token limit at the
	// usual 4 or more bytes per token) and no cap for TEI; negative means no
	// cap. A single longer text is still sent alone.
	MaxBatchChars int
	// Concurrency is the number of requests in flight at once for one
	// EmbedDocuments call (default 4).
	Concurrency int
	// Timeout bounds each HTTP request (default 60s). A request that times
	// out is retried like a 5xx.
	Timeout time.Duration
	// Retry bounds the retries after a 429, a 5xx, a timeout or a
	// connection error (default: 5 attempts, 250ms doubling to 10s). A
	// Retry-After header from the server takes the backoff's place, shortened
	// to MaxRetryAfter (default 60s; LongWait default retry.Shorten).
	// Retries are logged to Logger at debug level unless Retry.OnRetry is
	// set.
	Retry retry.Policy
	// QueryPrefix and PassagePrefix are prepended to queries and documents
	// (for example "query: " and "passage: " for e5 models).
	QueryPrefix, PassagePrefix string
	// Client is the HTTP client (default: a client of its own). Its Timeout,
	// if any, applies in addition to Timeout.
	Client *http.Client
	// Logger receives retry notices (default slog.Default()).
	Logger *slog.Logger
}

func (o *HTTPOptions) withDefaults() (HTTPOptions, error) {
	var c HTTPOptions
	if o != nil {
		c = *o
	}
	if c.Dim < 0 || c.BatchSize < 0 || c.Concurrency < 0 || c.Timeout < 0 || c.Retry.Initial < 0 || c.Retry.Max < 0 || c.Retry.MaxRetryAfter < 0 {
		return c, fmt.Errorf("embed: negative http option: %w", twostage.ErrInvalidInput)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	c.Retry = c.Retry.WithDefaults(retry.Policy{Attempts: 5, Initial: 250 * time.Millisecond, Max: 10 * time.Second,
		MaxRetryAfter: 60 * time.Second, LongWait: retry.Shorten})
	if c.Client == nil {
		c.Client = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// api is what differs between the HTTP embedding APIs: the request body for
// a batch and how to read the response.
type api interface {
	name() string
	endpoint() string
	body(texts []string) ([]byte, error)
	// parse returns one vector per text, in order.
	parse(body []byte, n int) ([][]float32, error)
	// errorMessage extracts the server's error text from an error body.
	errorMessage(body []byte) string
}

// remote is the API-independent half of the HTTP embedders: batching,
// retries, timeouts, dimension checks.
type remote struct {
	api  api
	opts HTTPOptions

	mu        sync.Mutex
	batchSize int // current batch size; shrinks on 413
	dim       int
	closed    bool
}

func (r *remote) errf(format string, args ...any) error {
	return fmt.Errorf("embed: "+r.api.name()+": "+format, args...)
}

// probe learns the dimension by embedding one text.
func (r *remote) probe(ctx context.Context) error {
	vs, err := r.send(ctx, []string{"dimension probe"})
	if err != nil {
		return err
	}
	if len(vs[0]) == 0 {
		return r.errf("server returned an empty embedding: %w", twostage.ErrUnavailable)
	}
	r.dim = len(vs[0])
	return nil
}

// Dim implements twostage.Embedder.
func (r *remote) Dim() int { return r.dim }

// EmbedQuery implements twostage.Embedder.
func (r *remote) EmbedQuery(ctx context.Context, text string) ([]float32, error) {
	if err := driver.CheckText("query", text); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	vs, err := r.embed(ctx, []string{r.opts.QueryPrefix + text})
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// EmbedDocuments implements twostage.Embedder.
func (r *remote) EmbedDocuments(ctx context.Context, texts []string) ([][]float32, error) {
	in := make([]string, len(texts))
	for i, t := range texts {
		if err := driver.CheckText(fmt.Sprintf("text %d", i), t); err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		in[i] = r.opts.PassagePrefix + t
	}
	return r.embed(ctx, in)
}

// Close marks the embedder closed (later calls give twostage.ErrClosed) and
// closes idle connections of its own client.
func (r *remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return r.errf("%w", twostage.ErrClosed)
	}
	r.closed = true
	r.opts.Client.CloseIdleConnections()
	return nil
}

// embed splits texts into batches and sends up to Concurrency at once.
func (r *remote) embed(ctx context.Context, texts []string) ([][]float32, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, r.errf("%w", twostage.ErrClosed)
	}
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	err := par.Pieces(ctx, len(texts), r.opts.Concurrency, func(start int) int {
		size := r.currentBatch()
		end, chars := start, 0
		for end < len(texts) && end-start < size {
			chars += len(texts[end])
			if end > start && r.opts.MaxBatchChars > 0 && chars > r.opts.MaxBatchChars {
				break
			}
			end++
		}
		return end
	}, func(ctx context.Context, start, end int) error {
		return r.sendSplit(ctx, texts[start:end], out[start:end])
	})
	switch {
	case err == nil:
		return out, nil
	case err == ctx.Err(): // ctx ended before any batch failed
		return nil, r.errf("%w", err)
	}
	return nil, err // already prefixed by the batch that failed
}

func (r *remote) currentBatch() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.batchSize
}

// errTooLarge marks a 413 answer.
var errTooLarge = errdefs.New("request too large", twostage.ErrInvalidInput)

// sendSplit sends one batch, halving it when the server says it is too large.
func (r *remote) sendSplit(ctx context.Context, texts []string, out [][]float32) error {
	vs, err := r.send(ctx, texts)
	if errors.Is(err, errTooLarge) && len(texts) > 1 {
		half := len(texts) / 2
		r.mu.Lock()
		if half < r.batchSize {
			r.batchSize = half
			r.opts.Logger.Warn("embed: server refused the batch as too large; using smaller batches", "api", r.api.name(), "batch", half)
		}
		r.mu.Unlock()
		if err := r.sendSplit(ctx, texts[:half], out[:half]); err != nil {
			return err
		}
		return r.sendSplit(ctx, texts[half:], out[half:])
	}
	if err != nil {
		return err
	}
	for i, v := range vs {
		if r.dim != 0 && len(v) != r.dim {
			return r.errf("server returned %d dimensions, expected %d (did the model behind the endpoint change?): %w", len(v), r.dim, twostage.ErrDimension)
		}
		if err := driver.CheckVector(v, len(v)); err != nil {
			return r.errf("malformed response: %v: %w", err, twostage.ErrUnavailable)
		}
		out[i] = v
	}
	return nil
}

// send posts one batch with retries.
func (r *remote) send(ctx context.Context, texts []string) ([][]float32, error) {
	body, err := r.api.body(texts)
	if err != nil {
		return nil, r.errf("encode request: %v: %w", err, twostage.ErrInvalidInput)
	}
	var vs [][]float32
	p := r.opts.Retry
	if p.OnRetry == nil {
		p.OnRetry = func(attempt int, wait time.Duration, err error) {
			r.opts.Logger.Debug("embed: retrying", "api", r.api.name(), "attempt", attempt, "wait", wait, "err", err)
		}
	}
	err = retry.Do(ctx, p, retry.Classify, func(ctx context.Context) error {
		var err error
		vs, err = r.post(ctx, body, len(texts))
		return err
	})
	var re *retry.Error
	if !errors.As(err, &re) {
		return vs, err // nil, or a failure not worth retrying
	}
	if !retry.Classify(re.Err).Retry {
		return nil, re.Err // ctx ended, and post said so
	}
	if re.Reason == retry.Canceled {
		return nil, r.errf("%w (while retrying after: %v)", re.Ctx, re.Err)
	}
	return nil, r.errf("%v (gave up after %d attempts): %w", re.Err, re.Attempts, twostage.ErrUnavailable)
}

// maxResponse bounds the response body read (a 2048 x 3072 float batch in
// JSON is about 130 MB).
const maxResponse = 512 << 20

// post makes one request. A failure worth retrying comes back marked
// with retry.Transient or retry.AfterHeader.
func (r *remote) post(ctx context.Context, body []byte, n int) ([][]float32, error) {
	resp, err := httpjson.Post(ctx, r.opts.Client, httpjson.Request{URL: r.api.endpoint(), Body: body,
		APIKey: r.opts.APIKey, Timeout: r.opts.Timeout, MaxResponse: maxResponse})
	if err != nil {
		if retry.Classify(err).Retry {
			return nil, err
		}
		return nil, r.errf("%w", err)
	}
	if resp.Status == http.StatusOK {
		vs, err := r.api.parse(resp.Body, n)
		if err != nil {
			return nil, r.errf("malformed response (%s): %v: %w", snippet(resp.Body), err, twostage.ErrUnavailable)
		}
		return vs, nil
	}
	msg := r.api.errorMessage(resp.Body)
	status := fmt.Sprintf("HTTP %d", resp.Status)
	if msg != "" {
		status += ": " + msg
	}
	switch c := resp.Status; {
	case c == http.StatusTooManyRequests || c >= 500:
		return nil, retry.AfterHeader(errors.New(status), resp.Header.Get("Retry-After"))
	case c == http.StatusRequestEntityTooLarge:
		return nil, r.errf("%s: %w", status, errTooLarge)
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return nil, r.errf("%s (check the API key: TWOSTAGE_EMBED_API_KEY or OPENAI_API_KEY): %w", status, twostage.ErrUnavailable)
	case c == http.StatusNotFound:
		return nil, r.errf("%s (wrong URL %s or model name?): %w", status, r.api.endpoint(), twostage.ErrNotFound)
	case c >= 400 && c < 500:
		return nil, r.errf("%s: %w", status, twostage.ErrInvalidInput)
	default:
		return nil, r.errf("unexpected %s: %w", status, twostage.ErrUnavailable)
	}
}

// noNulls refuses a JSON null in an array of numbers (an embedding, or
// TEI's whole answer), which encoding/json decodes as 0 without a word:
// a vector with a made-up component would be stored as if the server had
// sent it.
func noNulls(numbers []byte) error {
	if bytes.Contains(numbers, []byte("null")) {
		return errors.New("null where a number belongs")
	}
	return nil
}

// snippet is the start of a body, for error messages.
func snippet(b []byte) string {
	const n = 80
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strconv.Quote(s)
}

// joinURL appends suffix to base unless base already ends with it.
func joinURL(base, suffix string) string {
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, suffix) {
		return base
	}
	return base + suffix
}
