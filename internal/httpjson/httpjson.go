// Package httpjson sends the JSON requests of the module's HTTP clients
// (embed's OpenAI and TEI embedders, rerank/remote's rerankers): one POST
// with its headers, bounded by a timeout of its own, its answer read up to a
// limit, and the failures worth another try marked for retry.Do. What an
// answer's status means stays with each client.
package httpjson

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"twostage/errdefs"
	"twostage/retry"
)

// Request is one POST of a JSON body.
type Request struct {
	// URL is the endpoint.
	URL string
	// Body is the JSON request body.
	Body []byte
	// APIKey, when set, is sent as "Authorization: Bearer KEY".
	APIKey string
	// Timeout bounds the request and the read of its answer; 0 leaves only
	// ctx (and the client's own Timeout).
	Timeout time.Duration
	// MaxResponse is the most bytes of an answer read; a longer answer is
	// an error.
	MaxResponse int64
}

// Response is the server's answer, whatever its status.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Post sends r with client and reads the answer. Its errors:
//   - ctx ended: ctx.Err() itself, unmarked (retry.Do then stops with
//     Reason Canceled);
//   - the request timed out, the connection failed or the answer broke off:
//     marked retry.Transient, wrapping the transport's error;
//   - the request cannot be built: wraps errdefs.ErrInvalidInput;
//   - an answer longer than r.MaxResponse: wraps errdefs.ErrUnavailable.
func Post(ctx context.Context, client *http.Client, r Request) (*Response, error) {
	rctx := ctx
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidInput)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if r.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+r.APIKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, transportError(ctx, rctx, "request", r.Timeout, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.MaxResponse+1))
	if err != nil {
		return nil, transportError(ctx, rctx, "reading the response", r.Timeout, err)
	}
	if int64(len(data)) > r.MaxResponse {
		return nil, fmt.Errorf("response larger than %d bytes: %w", r.MaxResponse, errdefs.ErrUnavailable)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// transportError classifies a failure of step (the request, or the read of
// its answer): the caller's ctx ending is its own error; a timeout (the
// per-request one, or the transport's) and any other failure are transient.
func transportError(ctx, rctx context.Context, step string, timeout time.Duration, err error) error {
	if ctx.Err() != nil { // the caller's context, not the per-request timeout
		return ctx.Err()
	}
	var ne net.Error
	if rctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return retry.Transient(fmt.Errorf("%s timed out after %v: %w", step, timeout, err))
	}
	return retry.Transient(fmt.Errorf("%s failed: %w", step, err))
}
