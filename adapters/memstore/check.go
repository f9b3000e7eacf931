package memstore

import (
	"context"
	"fmt"

	"twostage/driver"

	"twostage"
)

var _ driver.Checker = (*Driver)(nil)

// Check implements driver.Checker. A memstore's documents are its index
// (searches scan them), so every document is found by its own vector and
// the check only counts them; Repair has nothing to do.
func (d *Driver) Check(ctx context.Context, opts twostage.CheckOptions) (twostage.CheckReport, error) {
	d.mu.RLock()
	n := len(d.docs)
	d.mu.RUnlock()
	if err := ctx.Err(); err != nil {
		return twostage.CheckReport{}, fmt.Errorf("memstore: check: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(n)
	}
	return twostage.CheckReport{Checked: n}, nil
}
