package qdrantstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"twostage"
	"twostage/adapters/internal/remotecall"
)

const alreadyExists = codes.AlreadyExists

// codeOf returns the gRPC status code inside err (the qdrant client wraps
// status errors in *qdrant.QdrantError).
func codeOf(err error) codes.Code {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Code()
	}
	return codes.Unknown
}

// do runs call with bounded retries on Unavailable and maps the final error
// to the twostage sentinels, keeping the native error reachable.
func (d *Driver) do(ctx context.Context, op string, call func(context.Context) error) error {
	return remotecall.Do(ctx, "qdrantstore", op, d.opts.Retry, func(err error) bool {
		ctxDeadlineSoon(ctx, err)
		return codeOf(err) == codes.Unavailable
	}, call, func(err error) error { return classify(op, d.collection, err, d.opts.Retry.Attempts) })
}

func classify(op, collection string, err error, attempts int) error {
	switch codeOf(err) {
	case codes.Unavailable:
		return fmt.Errorf("qdrantstore: %s: gave up after %d attempts: %w: %w", op, attempts, twostage.ErrUnavailable, err)
	case codes.DeadlineExceeded:
		return fmt.Errorf("qdrantstore: %s: server timed out: %w: %w", op, twostage.ErrUnavailable, err)
	case codes.ResourceExhausted:
		return fmt.Errorf("qdrantstore: %s: %w: %w", op, twostage.ErrOverloaded, err)
	case codes.InvalidArgument:
		return fmt.Errorf("qdrantstore: %s: %w: %w", op, twostage.ErrInvalidInput, err)
	case codes.NotFound:
		return fmt.Errorf("qdrantstore: %s: collection %q: %w: %w", op, collection, twostage.ErrNotFound, err)
	case codes.Unimplemented:
		return fmt.Errorf("qdrantstore: %s: %w: %w", op, twostage.ErrUnsupported, err)
	}
	return fmt.Errorf("qdrantstore: %s: %w", op, err)
}

// ctxDeadlineSoon waits out the last moments of ctx when gRPC reports
// DeadlineExceeded: gRPC derives the RPC deadline from ctx but its timer can
// fire a little before ctx's own, and the error should then wrap ctx.Err().
func ctxDeadlineSoon(ctx context.Context, err error) {
	if ctx.Err() != nil || codeOf(err) != codes.DeadlineExceeded {
		return
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 100*time.Millisecond {
		// ctx's timer may itself run late on a busy machine: allow it a
		// second past the deadline.
		t := time.NewTimer(time.Until(dl) + time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
