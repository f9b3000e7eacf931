package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"twostage"
)

// TestClassify: each sentinel gets its status and code, and an error that
// wraps several gets the first in sentinelCodes' order.
func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"deadline over unavailable", errors.Join(twostage.ErrUnavailable, context.DeadlineExceeded), http.StatusGatewayTimeout, "timeout"},
		{"canceled", fmt.Errorf("rerank: %w", context.Canceled), 499, "canceled"},
		{"overloaded over unavailable", fmt.Errorf("%w: %w", twostage.ErrUnavailable, twostage.ErrOverloaded), http.StatusTooManyRequests, "overloaded"},
		{"closed over unavailable", errors.Join(twostage.ErrUnavailable, twostage.ErrClosed), http.StatusServiceUnavailable, "shutting_down"},
		{"unavailable over not found", errors.Join(twostage.ErrNotFound, twostage.ErrUnavailable), http.StatusServiceUnavailable, "unavailable"},
		{"not found", twostage.ErrNotFound, http.StatusNotFound, "not_found"},
		{"dimension over invalid input", errors.Join(twostage.ErrInvalidInput, twostage.ErrDimension), http.StatusBadRequest, "dimension_mismatch"},
		{"invalid input", twostage.ErrInvalidInput, http.StatusBadRequest, "invalid_input"},
		{"unsupported", twostage.ErrUnsupported, http.StatusBadRequest, "unsupported"},
		{"body too large", &http.MaxBytesError{Limit: 7}, http.StatusRequestEntityTooLarge, "body_too_large"},
		{"api error kept", fmt.Errorf("x: %w", &apiError{http.StatusConflict, "conflict", "m"}), http.StatusConflict, "conflict"},
		{"other", errors.New("boom"), http.StatusInternalServerError, "internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if got.Status != tc.status || got.Code != tc.code {
				t.Errorf("classify(%v) = %d %s, want %d %s", tc.err, got.Status, got.Code, tc.status, tc.code)
			}
		})
	}
}
