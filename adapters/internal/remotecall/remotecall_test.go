package remotecall

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"twostage/retry"
)

var (
	errDown = errors.New("down")
	errBad  = errors.New("bad")
)

func TestDo(t *testing.T) {
	p := retry.Policy{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}
	transient := func(err error) bool { return errors.Is(err, errDown) }
	final := func(err error) error { return fmt.Errorf("final: %w", err) }
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantMsg   string // "" for success
	}{
		{"success", nil, 1, ""},
		{"down then up", []error{errDown, errDown}, 3, ""},
		{"down for good", []error{errDown, errDown, errDown, errDown}, 3, "final: down"},
		{"permanent", []error{errBad}, 1, "final: bad"},
	}
	for _, tc := range tests {
		n := 0
		err := Do(context.Background(), "pkg", "op", p, transient, func(context.Context) error {
			n++
			if n <= len(tc.errs) {
				return tc.errs[n-1]
			}
			return nil
		}, final)
		if n != tc.wantCalls || (tc.wantMsg == "" && err != nil) || (tc.wantMsg != "" && (err == nil || err.Error() != tc.wantMsg)) {
			t.Errorf("%s: %d calls, err %v; want %d calls, %q", tc.name, n, err, tc.wantCalls, tc.wantMsg)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	err := Do(ctx, "pkg", "op", p, transient, func(context.Context) error { cancel(); return errDown }, final)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errDown) || err.Error() != "pkg: op: context canceled: down" {
		t.Errorf("canceled: %v, want pkg: op: context canceled: down", err)
	}
}
