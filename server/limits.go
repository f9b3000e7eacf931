package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"
	"unicode"

	"twostage"
)

// Limits bound what one request may cost and what the server holds at once.
// They are fields of Config, written at the top level of the YAML file.
type Limits struct {
	// MaxQueryBytes and MaxQueryWords bound a search or rerank query
	// (defaults 16384 bytes and 2048 words, as counted by the model-free
	// stages: runs of letters and digits); longer queries get 400
	// query_too_long.
	MaxQueryBytes int `yaml:"max_query_bytes"`
	MaxQueryWords int `yaml:"max_query_words"`
	// MaxTextBytes bounds the text of one document, upserted or sent to
	// rerank (default 1 MiB); longer ones get 400 text_too_long.
	MaxTextBytes int `yaml:"max_text_bytes"`
	// BodyTimeout bounds the time to receive a request body (default 10s);
	// a slower body gets 408. Bodies are read whole, bounded in size and
	// time, before the request takes an in-flight slot.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxBufferedBytes bounds the request bodies and response bodies the
	// server holds in memory at once, summed over all requests (default
	// max(64 MiB, 8 * max_body_bytes)); a request that would go beyond it
	// gets 429 overloaded.
	MaxBufferedBytes int64 `yaml:"max_buffered_bytes"`
	// MaxResponseBytes bounds one response body (default 32 MiB); a larger
	// answer gets 400 response_too_large (ask for fewer hits or set
	// "omit_text").
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
}

// defaultMaxInFlight is max_in_flight when the config leaves it out.
func defaultMaxInFlight() int { return max(64, 8*runtime.GOMAXPROCS(0)) }

// fillLimits sets the defaults of the limits and validates them.
func (c *Config) fillLimits() error {
	l := &c.Limits
	if l.MaxQueryBytes == 0 {
		l.MaxQueryBytes = 16 << 10
	}
	if l.MaxQueryWords == 0 {
		l.MaxQueryWords = 2048
	}
	if l.MaxTextBytes == 0 {
		l.MaxTextBytes = 1 << 20
	}
	if l.BodyTimeout == 0 {
		l.BodyTimeout = 10 * time.Second
	}
	if l.MaxBufferedBytes == 0 {
		l.MaxBufferedBytes = max(64<<20, 8*c.MaxBodyBytes)
	}
	if l.MaxResponseBytes == 0 {
		l.MaxResponseBytes = 32 << 20
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = defaultMaxInFlight()
	}
	if l.MaxQueryBytes < 0 || l.MaxQueryWords < 0 || l.MaxTextBytes < 0 || l.BodyTimeout < 0 || l.MaxBufferedBytes < 0 || l.MaxResponseBytes < 0 {
		return fmt.Errorf("server: config: negative limit: %w", twostage.ErrInvalidInput)
	}
	if l.MaxBufferedBytes < c.MaxBodyBytes {
		return fmt.Errorf("server: config: max_buffered_bytes %d is below max_body_bytes %d: %w", l.MaxBufferedBytes, c.MaxBodyBytes, twostage.ErrInvalidInput)
	}
	return nil
}

// checkQuery enforces max_query_bytes and max_query_words.
func (s *Server) checkQuery(q string) error {
	l := s.cfg.Limits
	if len(q) > l.MaxQueryBytes {
		return badRequest("query_too_long", "query has %d bytes; at most %d (max_query_bytes)", len(q), l.MaxQueryBytes)
	}
	if n := countWords(q, l.MaxQueryWords+1); n > l.MaxQueryWords {
		return badRequest("query_too_long", "query has more than %d words (max_query_words)", l.MaxQueryWords)
	}
	return nil
}

// countWords counts the words of s as textfeat.Words splits them, stopping
// at limit.
func countWords(s string, limit int) int {
	n, in := 0, false
	for _, r := range s {
		w := isWordRune(r)
		if w && !in {
			if n++; n >= limit {
				return n
			}
		}
		in = w
	}
	return n
}

// checkTexts enforces max_text_bytes on the texts of a request's documents.
func (s *Server) checkTexts(texts func(yield func(int, string) bool)) error {
	for i, t := range texts {
		if len(t) > s.cfg.Limits.MaxTextBytes {
			return badRequest("text_too_long", "document %d has %d bytes of text; at most %d (max_text_bytes)", i, len(t), s.cfg.Limits.MaxTextBytes)
		}
	}
	return nil
}

// budget counts bytes held in memory against a fixed capacity.
type budget struct {
	mu        sync.Mutex
	used, cap int64
}

// take reserves n bytes, or reports false when they do not fit.
func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.cap {
		return false
	}
	b.used += n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// held is what one request has reserved from the server's budget.
type held struct {
	b *budget
	n int64
}

func (h *held) take(n int64) bool {
	if !h.b.take(n) {
		return false
	}
	h.n += n
	return true
}

func (h *held) release() {
	h.b.give(h.n)
	h.n = 0
}

func overloadedBuffers(limit int64) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Code: "overloaded",
		Message: fmt.Sprintf("the server holds its limit of %d buffered bytes; retry later", limit)}
}

// readBounded reads r's whole body before the request takes an in-flight
// slot: at most max_body_bytes, within body_timeout, reserving its bytes
// from the buffered-bytes budget before they are read. The body is replaced
// by the bytes read; h holds them until the request ends.
func (s *Server) readBounded(w http.ResponseWriter, r *http.Request, h *held) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(s.cfg.Limits.BodyTimeout)) == nil
	limit := s.cfg.MaxBodyBytes
	size := int64(4 << 10) // a chunked body grows from here
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit}
	} else if r.ContentLength >= 0 {
		size = r.ContentLength + 1 // one more byte to see EOF without growing
	}
	if !h.take(size) {
		return overloadedBuffers(s.cfg.Limits.MaxBufferedBytes)
	}
	data := make([]byte, 0, size)
	for {
		if len(data) == cap(data) {
			grow := min(int64(cap(data)), limit+1-int64(cap(data)))
			if !h.take(grow) {
				return overloadedBuffers(s.cfg.Limits.MaxBufferedBytes)
			}
			data = slices.Grow(data, int(grow))
		}
		n, err := r.Body.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return &http.MaxBytesError{Limit: limit}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// The deadline stays: net/http must not wait for the rest of
				// the body before answering, and the connection closes.
				w.Header().Set("Connection", "close")
				return &apiError{Status: http.StatusRequestTimeout, Code: "body_timeout",
					Message: fmt.Sprintf("request body not received within %v (body_timeout)", s.cfg.Limits.BodyTimeout)}
			}
			return badRequest("bad_request", "read body: %v", err)
		}
	}
	if deadline {
		rc.SetReadDeadline(time.Time{})
	}
	r.Body = &bufferedBody{Reader: bytes.NewReader(data), data: data}
	return nil
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) }

// checkRerank enforces the query and text limits on a rerank request.
func (s *Server) checkRerank(req *RerankRequest) error {
	if err := s.checkQuery(*req.Query); err != nil {
		return err
	}
	return s.checkTexts(func(yield func(int, string) bool) {
		for i, d := range req.Documents {
			if !yield(i, d.Text) {
				return
			}
		}
	})
}

// checkUpsert enforces max_text_bytes on an upsert request.
func (s *Server) checkUpsert(req *UpsertRequest) error {
	return s.checkTexts(func(yield func(int, string) bool) {
		for i, d := range req.Documents {
			if !yield(i, d.Text) {
				return
			}
		}
	})
}

// omitText blanks the hits' text when the request asked for it.
func omitText(hits []twostage.Hit, omit bool) {
	if !omit {
		return
	}
	for i := range hits {
		hits[i].Text = ""
	}
}

// bufferedBody is a body readBounded has read whole; readBody takes its
// bytes without a second copy.
type bufferedBody struct {
	*bytes.Reader
	data []byte
}

// Close implements io.Closer.
func (b *bufferedBody) Close() error { return nil }
