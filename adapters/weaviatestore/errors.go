package weaviatestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/weaviate/weaviate-go-client/v4/weaviate/fault"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"twostage"
	"twostage/adapters/internal/remotecall"
)

// unreachable reports whether err means the server could not be reached or
// is not serving: a transport error, or 502, 503 or 504. The client nests
// its errors in DerivedFromError, which it does not unwrap.
func unreachable(err error) bool {
	// A client configured with gRPC returns gRPC status errors.
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) && se.GRPCStatus().Code() == codes.Unavailable {
		return true
	}
	var we *fault.WeaviateClientError
	if !errors.As(err, &we) {
		return false
	}
	for depth := 0; we != nil && depth < 8; depth++ {
		switch we.StatusCode {
		case 502, 503, 504:
			return true
		case 500:
			if strings.Contains(we.Msg, "non-existing index") {
				return true // just restarted: a shard is still loading
			}
		}
		derived := we.DerivedFromError
		if derived == nil {
			return false
		}
		var ne net.Error
		if errors.As(derived, &ne) && !ne.Timeout() {
			return true // connection refused or reset
		}
		if errors.Is(derived, io.EOF) || errors.Is(derived, io.ErrUnexpectedEOF) || errors.Is(derived, syscall.ECONNRESET) {
			return true // the server went away mid-request
		}
		we = nil
		errors.As(derived, &we)
	}
	return false
}

// rootDerived returns the innermost DerivedFromError of a client error.
func rootDerived(we *fault.WeaviateClientError) error {
	var err error
	for depth := 0; we != nil && depth < 8; depth++ {
		err = we.DerivedFromError
		we = nil
		if err != nil {
			errors.As(err, &we)
		}
	}
	return err
}

// do runs call with bounded retries while the server is unreachable and
// maps the final error to the twostage sentinels, keeping the native error
// reachable.
func (d *Driver) do(ctx context.Context, op string, call func(context.Context) error) error {
	return remotecall.Do(ctx, "weaviatestore", op, d.opts.Retry, func(err error) bool {
		u := unreachable(err)
		if u && ctx.Err() == nil {
			d.outage()
		}
		return u
	}, call, func(err error) error { return classify(op, d.class, err, d.opts.Retry.Attempts) })
}

func classify(op, class string, err error, attempts int) error {
	if unreachable(err) {
		return fmt.Errorf("weaviatestore: %s: gave up after %d attempts: %w: %w", op, attempts, twostage.ErrUnavailable, err)
	}
	var we *fault.WeaviateClientError
	if errors.As(err, &we) {
		switch we.StatusCode {
		case 422, 400:
			return fmt.Errorf("weaviatestore: %s: %w: %w", op, twostage.ErrInvalidInput, err)
		case 404:
			return fmt.Errorf("weaviatestore: %s: class %q: %w: %w", op, class, twostage.ErrNotFound, err)
		case 429:
			return fmt.Errorf("weaviatestore: %s: %w: %w", op, twostage.ErrOverloaded, err)
		case -1:
			if root := rootDerived(we); root != nil && errors.Is(root, context.DeadlineExceeded) {
				return fmt.Errorf("weaviatestore: %s: server timed out: %w: %w", op, twostage.ErrUnavailable, err)
			}
		}
	}
	return fmt.Errorf("weaviatestore: %s: %w", op, err)
}
