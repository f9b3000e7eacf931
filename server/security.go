package server

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"twostage"
)

// Security holds the options that decide who may reach the server and
// what it may open. They are fields of Config, written at the top level of
// the YAML file (auth.disabled and auth.open_metrics live under auth).
type Security struct {
	// AllowedHosts lists the host names (without port) that requests may
	// name in their Host header besides IP literals and localhost. Without
	// tokens, a request naming any other host gets 421: a web page that
	// rebinds its own DNS name to this server's address cannot use it. With
	// tokens and no list, any Host is accepted.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowMemFile lets a collection use the store "mem:FILE", which keeps
	// documents in memory and writes FILE only at a clean shutdown: an
	// acknowledged write is lost on a crash. Off by default.
	AllowMemFile bool `yaml:"allow_mem_file"`
	// TLS serves HTTPS with the given certificate and key files (PEM).
	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig names a certificate and its private key; both or neither.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// fillSecurity validates the security options.
func (c *Config) fillSecurity() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("server: config: %s: %w", fmt.Sprintf(format, args...), twostage.ErrInvalidInput)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return bad("tls needs both cert_file and key_file")
	}
	for i, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, ":/ ") {
			return bad("allowed_hosts: %q is not a host name (leave out scheme and port)", h)
		}
		c.AllowedHosts[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
	if c.Auth.Disabled && len(c.Tokens) > 0 {
		return bad("auth.disabled is set but %s holds tokens", c.Auth.TokensEnv)
	}
	for name, cc := range c.Collections {
		if file, ok := strings.CutPrefix(cc.Store, "mem:"); ok && file != "" && !c.AllowMemFile {
			return bad("collection %q: store %q loses acknowledged writes on a crash; set allow_mem_file: true to use it", name, cc.Store)
		}
	}
	return nil
}

// ErrExposed is returned by Serve when the listener reaches beyond
// loopback, no tokens are configured and auth.disabled is not set.
var ErrExposed = errors.New("server: listening beyond loopback without tokens")

// checkExposure refuses an open server on a non-loopback address, logs a
// warning when auth.disabled allows it, and says at start that a loopback
// server without tokens is open.
func (s *Server) checkExposure(addr net.Addr) error {
	if len(s.cfg.Tokens) > 0 {
		return nil
	}
	if isLoopback(addr) {
		s.log.Info("server: no tokens: every route is open to local processes", "addr", addr.String(), "tokens_env", s.cfg.Auth.TokensEnv)
		return nil
	}
	if !s.cfg.Auth.Disabled {
		return fmt.Errorf("%w: %s is reachable from other machines; set tokens in %s, listen on 127.0.0.1, or set auth.disabled: true", ErrExposed, addr, s.cfg.Auth.TokensEnv)
	}
	s.log.Warn("server: authentication is disabled and the server listens beyond loopback: anyone who can reach it can read and write every collection", "addr", addr.String())
	return nil
}

func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHost is the DNS-rebinding defence: see Security.AllowedHosts.
func (s *Server) checkHost(r *http.Request) error {
	if len(s.cfg.Tokens) > 0 && len(s.cfg.AllowedHosts) == 0 {
		return nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || net.ParseIP(host) != nil || slices.Contains(s.cfg.AllowedHosts, host) {
		return nil
	}
	return &apiError{Status: http.StatusMisdirectedRequest, Code: "misdirected_request",
		Message: "this server does not answer for that Host; add it to allowed_hosts"}
}

// checkContentType requires application/json on requests that carry a
// body, so a cross-site form or text/plain post (which a
// browser sends without a preflight) is refused.
func checkContentType(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && mt == "application/json" {
		return nil
	}
	return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
		Message: "send the body as Content-Type: application/json"}
}

// redact replaces the message of a 5xx answer with a generic one naming
// the request id, and logs the cause under that id.
func (s *Server) redact(w http.ResponseWriter, route string, ae *apiError, cause error) *apiError {
	if ae.Status < 500 {
		return ae
	}
	id := responseID(w)
	s.log.Warn("server: request failed", "route", route, "status", ae.Status, "request_id", id, "err", cause)
	return &apiError{Status: ae.Status, Code: ae.Code,
		Message: fmt.Sprintf("%s (request id %s; the cause is in the server log)", strings.ToLower(http.StatusText(ae.Status)), id)}
}

// limitedWriter carries a request's response limits to writeJSON.
type limitedWriter struct {
	http.ResponseWriter
	hold  *held
	limit int64
}

// Unwrap lets http.ResponseController reach the connection.
func (w *limitedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher when the connection does.
func (w *limitedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// responseBuffer is where writeJSON encodes a response: bounded by
// max_response_bytes and by the buffered-bytes budget.
type responseBuffer struct {
	bytes.Buffer
	hold  *held
	limit int64
	err   *apiError
}

func newResponseBuffer(w http.ResponseWriter) *responseBuffer {
	if lw, ok := w.(*limitedWriter); ok {
		return &responseBuffer{hold: lw.hold, limit: lw.limit}
	}
	return &responseBuffer{limit: -1}
}

// Write implements io.Writer, failing once a limit is passed.
func (b *responseBuffer) Write(p []byte) (int, error) {
	if b.limit >= 0 {
		n := int64(b.Len() + len(p))
		if n > b.limit {
			b.err = &apiError{Status: http.StatusBadRequest, Code: "response_too_large",
				Message: fmt.Sprintf("the answer exceeds %d bytes (max_response_bytes); ask for fewer results or set \"omit_text\"", b.limit)}
			return 0, b.err
		}
		if grow := int64(b.Len()+len(p)) - int64(b.Cap()); grow > 0 && b.hold != nil {
			grow = max(grow, int64(b.Cap())) // the buffer doubles
			if !b.hold.take(grow) {
				b.err = overloadedBuffers(b.hold.b.cap)
				return 0, b.err
			}
		}
	}
	return b.Buffer.Write(p)
}

// failure is the status and body writeJSON sends when encoding fails; id
// is the request id, as every error body carries.
func (b *responseBuffer) failure(id string) (int, []byte) {
	status, code, msg := http.StatusInternalServerError, "internal", "encode response"
	if b.err != nil {
		status, code, msg = b.err.Status, b.err.Code, b.err.Message
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, `{"error":{"code":%q,"message":%q},"message":%q,"id":%q}`+"\n", code, msg, msg, id)
	return status, out.Bytes()
}

// serveConns serves hs on ln, with TLS when it is configured.
func (s *Server) serveConns(hs *http.Server, ln net.Listener) error {
	if s.cfg.TLS.CertFile != "" {
		return hs.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
	}
	return hs.Serve(ln)
}
