// Package remotecall runs one call of a server adapter (qdrantstore,
// weaviatestore) to its server: retried under the adapter's retry.Policy
// while the failure is transient, with the adapters' one rule for the
// error that comes back.
package remotecall

import (
	"context"
	"errors"
	"fmt"

	"twostage/retry"
)

// Do calls call under p (see retry.Do), retrying the failures transient
// reports (transient may also wait out a deadline about to pass: it runs
// before ctx is checked). The error: nil when a try succeeds; when ctx
// ends, "pkg: op: " then ctx.Err() and the last try's error, both wrapped;
// otherwise final(last error), where the adapter maps the backend's error
// to the twostage sentinels.
func Do(ctx context.Context, pkg, op string, p retry.Policy, transient func(error) bool,
	call func(context.Context) error, final func(error) error) error {
	err := retry.Do(ctx, p, func(err error) retry.Verdict { return retry.Verdict{Retry: transient(err)} }, call)
	var re *retry.Error
	if errors.As(err, &re) {
		if re.Reason == retry.Canceled {
			return fmt.Errorf("%s: %s: %w: %w", pkg, op, re.Ctx, re.Err)
		}
		err = re.Err
	}
	if err == nil {
		return nil
	}
	return final(err)
}
