// Package fallback chains rerankers: a Chain tries each in turn (for example
// the local ONNX engine, then a remote API) and, when every one fails,
// returns an error wrapping twostage.ErrUnavailable with every cause, so a
// Pipeline with twostage.DegradeOnRerankError answers in first-stage order
// marked Degraded, the cause attached.
package fallback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"twostage"
)

// Stage is one reranker of a Chain.
type Stage struct {
	// Name identifies the stage in errors, logs and reports (for example the
	// spec it was opened from).
	Name string
	// Reranker does the work.
	Reranker twostage.Reranker
	// Timeout bounds this stage's attempt so a slow stage leaves time for
	// the next; 0 means only the caller's context bounds it.
	Timeout time.Duration
}

// Chain is a twostage.Reranker that tries its stages in order and returns
// the first success. It is safe for concurrent use.
type Chain struct {
	stages []Stage
	logger *slog.Logger

	mu     sync.Mutex
	closed bool
}

// New returns a Chain over stages (at least one, none nil).
func New(stages ...Stage) (*Chain, error) {
	if len(stages) == 0 {
		return nil, fmt.Errorf("fallback: no stages: %w", twostage.ErrInvalidInput)
	}
	for i, s := range stages {
		if s.Reranker == nil {
			return nil, fmt.Errorf("fallback: stage %d (%s) has no reranker: %w", i, s.Name, twostage.ErrInvalidInput)
		}
		if s.Timeout < 0 {
			return nil, fmt.Errorf("fallback: stage %d (%s) has a negative timeout: %w", i, s.Name, twostage.ErrInvalidInput)
		}
		if s.Name == "" {
			stages[i].Name = fmt.Sprintf("stage%d", i)
		}
	}
	return &Chain{stages: append([]Stage(nil), stages...), logger: slog.Default()}, nil
}

// Stages returns the chain's stages in order.
func (c *Chain) Stages() []Stage { return append([]Stage(nil), c.stages...) }

// Rerankers returns the stages' rerankers in order; servers use it to find
// an engine's statistics behind the chain.
func (c *Chain) Rerankers() []twostage.Reranker {
	out := make([]twostage.Reranker, len(c.stages))
	for i, s := range c.stages {
		out[i] = s.Reranker
	}
	return out
}

// Report records which stage of a Chain answered a call and why earlier
// stages were skipped. Get one with Track.
type Report struct {
	mu      sync.Mutex
	served  string
	skipped []error
}

// Served returns the name of the stage that answered, or "" when none did.
func (r *Report) Served() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.served
}

// Skipped returns the errors of the stages that failed before one answered
// (or of all stages when none did).
func (r *Report) Skipped() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.skipped...)
}

// FellBack reports whether a stage failed during the call.
func (r *Report) FellBack() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.skipped) > 0
}

type reportKey struct{}

// Track returns a context that makes any Chain called with it fill the
// returned Report.
func Track(ctx context.Context) (context.Context, *Report) {
	r := &Report{}
	return context.WithValue(ctx, reportKey{}, r), r
}

// Rerank implements twostage.Reranker. A stage's failure moves on to the
// next; the caller's cancellation stops at once with ctx's error. When every
// stage fails the error wraps twostage.ErrUnavailable and each stage's error
// (reachable with errors.Is and errors.As), except that a call every stage
// rejects as invalid input wraps only twostage.ErrInvalidInput.
func (c *Chain) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	return c.RerankWith(ctx, query, docs, twostage.RerankOptions{})
}

// RerankWith implements twostage.OptionsReranker: Rerank with per-call
// options, passed to each stage through twostage.RerankWith. A stage that
// takes no options fails with twostage.ErrUnsupported and the chain moves
// on; when every stage fails so the error wraps twostage.ErrUnsupported.
func (c *Chain) RerankWith(ctx context.Context, query string, docs []string, opts twostage.RerankOptions) ([]twostage.Score, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("fallback: %w", twostage.ErrClosed)
	}
	rep, _ := ctx.Value(reportKey{}).(*Report)
	var causes []error
	allInvalid, allUnsupported := true, true
	for _, s := range c.stages {
		scores, err := c.try(ctx, s, query, docs, opts)
		if err == nil {
			if rep != nil {
				rep.mu.Lock()
				rep.served = s.Name
				rep.mu.Unlock()
			}
			if len(causes) > 0 {
				c.logger.Warn("fallback: reranked by a later stage", "stage", s.Name, "skipped", errors.Join(causes...))
			}
			return scores, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fallback: %s: %w", s.Name, err)
		}
		err = fmt.Errorf("%s: %w", s.Name, err)
		causes = append(causes, err)
		allInvalid = allInvalid && errors.Is(err, twostage.ErrInvalidInput)
		allUnsupported = allUnsupported && errors.Is(err, twostage.ErrUnsupported)
		if rep != nil {
			rep.mu.Lock()
			rep.skipped = append(rep.skipped, err)
			rep.mu.Unlock()
		}
	}
	names := make([]string, len(c.stages))
	for i, s := range c.stages {
		names[i] = s.Name
	}
	if allUnsupported {
		return nil, fmt.Errorf("fallback: no reranker (%s) takes these options: %w", strings.Join(names, ", "), errors.Join(causes...))
	}
	if allInvalid {
		return nil, fmt.Errorf("fallback: every reranker (%s) rejected the input: %w", strings.Join(names, ", "), errors.Join(causes...))
	}
	return nil, fmt.Errorf("fallback: every reranker (%s) failed: %w: %w", strings.Join(names, ", "), twostage.ErrUnavailable, errors.Join(causes...))
}

func (c *Chain) try(ctx context.Context, s Stage, query string, docs []string, opts twostage.RerankOptions) ([]twostage.Score, error) {
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	// RerankWith fails a wrong score count or a NaN score as ErrUnavailable,
	// so such a stage is moved past like one that errs.
	return twostage.RerankWith(ctx, s.Reranker, query, docs, opts)
}

// Close closes every stage that has a Close method, joining their errors.
// Later calls return ErrClosed.
func (c *Chain) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("fallback: %w", twostage.ErrClosed)
	}
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, s := range c.stages {
		if cl, ok := s.Reranker.(interface{ Close() error }); ok {
			if err := cl.Close(); err != nil && !errors.Is(err, twostage.ErrClosed) {
				errs = append(errs, fmt.Errorf("fallback: close %s: %w", s.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
