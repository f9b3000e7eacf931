package twostage

import (
	"context"
	"fmt"
	"strings"
)

// CheckOptions configure Store.Check. The zero value checks without
// repairing, with the backend's default parallelism.
type CheckOptions struct {
	// Repair re-indexes what the check finds missing or mismatched and
	// drops what it finds extra, from the documents the store holds.
	Repair bool
	// Workers bounds the requests (or goroutines) the check has in flight;
	// 0 means the backend's default.
	Workers int
	// Progress, when set, is called with the number of documents checked
	// so far, from one goroutine at a time, as the check advances.
	Progress func(checked int)
	// FirstIDs is how many ids of each kind the report keeps (default 10).
	FirstIDs int
	// Exhaustive searches for every document with its own vector, where a
	// backend otherwise searches only for those a crash can have cut off
	// (weaviatestore: the most recently written). It costs about one
	// query per document.
	Exhaustive bool
}

// DefaultFirstIDs is CheckOptions.FirstIDs when it is zero.
const DefaultFirstIDs = 10

// FirstIDsOrDefault returns FirstIDs, or DefaultFirstIDs when it is not
// positive.
func (o CheckOptions) FirstIDsOrDefault() int {
	if o.FirstIDs <= 0 {
		return DefaultFirstIDs
	}
	return o.FirstIDs
}

// CheckIDs counts the documents of one kind of finding and keeps the first
// ids seen.
type CheckIDs struct {
	Count int
	First []string
}

// Add counts id and keeps it when fewer than max ids are kept.
func (c *CheckIDs) Add(id string, max int) {
	c.Count++
	if len(c.First) < max {
		c.First = append(c.First, id)
	}
}

// String is the count and the ids kept, e.g. `2 ("a", "b")`.
func (c CheckIDs) String() string {
	if c.Count == 0 {
		return "0"
	}
	s := fmt.Sprintf("%d (%s", c.Count, quoteList(c.First, len(c.First)))
	if c.Count > len(c.First) {
		s += ", ..."
	}
	return s + ")"
}

// CheckReport is what Store.Check found.
type CheckReport struct {
	// Checked is the number of documents checked.
	Checked int
	// Missing are documents the store holds that its vector index cannot
	// return: a search with the document's own vector misses it.
	Missing CheckIDs
	// Extra are index entries with no document behind them (a deleted
	// document a search can still return). Backends that cannot enumerate
	// their index report none; see the backend's Check.
	Extra CheckIDs
	// Mismatched are documents the index holds under a vector other than
	// the stored one (or more than once).
	Mismatched CheckIDs
	// Repaired is the number of findings repaired (with CheckOptions.Repair).
	Repaired int
}

// OK reports whether the check found nothing wrong.
func (r CheckReport) OK() bool {
	return r.Missing.Count == 0 && r.Extra.Count == 0 && r.Mismatched.Count == 0
}

// Problems is the number of findings.
func (r CheckReport) Problems() int { return r.Missing.Count + r.Extra.Count + r.Mismatched.Count }

// String summarizes the report on one line.
func (r CheckReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checked %d: missing %s, extra %s, mismatched %s", r.Checked, r.Missing, r.Extra, r.Mismatched)
	if r.Repaired > 0 {
		fmt.Fprintf(&b, "; repaired %d", r.Repaired)
	}
	return b.String()
}

// checker is driver.Checker, the optional capability behind Store.Check.
type checker interface {
	Check(ctx context.Context, opts CheckOptions) (CheckReport, error)
}

// Check verifies the backend's index against its documents (see driver.Checker).
// It returns an error wrapping ErrUnsupported when the backend has no
// check.
func (s *Store) Check(ctx context.Context, opts CheckOptions) (CheckReport, error) {
	done, err := s.begin()
	if err != nil {
		return CheckReport{}, wrap("check", err)
	}
	defer done()
	c, ok := s.d.(checker)
	if !ok {
		return CheckReport{}, fmt.Errorf("twostage: check: this store has no index check: %w", ErrUnsupported)
	}
	if opts.Workers < 0 {
		return CheckReport{}, fmt.Errorf("twostage: check: workers %d: %w", opts.Workers, ErrInvalidInput)
	}
	if err := ctx.Err(); err != nil {
		return CheckReport{}, wrap("check", err)
	}
	r, err := c.Check(ctx, opts)
	return r, wrap("check", err)
}

// SupportsCheck reports whether the backend implements driver.Checker.
func (s *Store) SupportsCheck() bool {
	if s == nil {
		return false
	}
	_, ok := s.d.(checker)
	return ok
}
