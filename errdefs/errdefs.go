// Package errdefs holds the sentinel errors of the twostage module, as a leaf
// package that imports nothing of the module. Package twostage re-exports
// every one (twostage.ErrNotFound is errdefs.ErrNotFound), so errors.Is
// matches whichever name a caller uses; packages below the root (tokenizer,
// the batcher, the converters) import this one instead of the root.
package errdefs

import "errors"

// Sentinel errors. Every package in the module wraps one of these, so callers
// can branch with errors.Is whatever the backend or model.
var (
	// ErrNotFound reports ids that do not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidInput reports a malformed argument: an empty id or query, a NaN
	// vector, invalid UTF-8, an unsupported metadata type, a bad option.
	ErrInvalidInput = errors.New("invalid input")
	// ErrDimension reports a vector whose length differs from the store's or
	// the embedder's dimension.
	ErrDimension = errors.New("dimension mismatch")
	// ErrClosed reports a call on a closed Store, engine or server.
	ErrClosed = errors.New("closed")
	// ErrUnavailable reports a backend or model service that cannot be reached
	// (after bounded retries) or timed out.
	ErrUnavailable = errors.New("unavailable")
	// ErrOverloaded reports a full queue: the caller should back off and retry.
	ErrOverloaded = errors.New("overloaded")
	// ErrUnsupported reports an optional capability the backend lacks, or a
	// filter it cannot express.
	ErrUnsupported = errors.New("unsupported")
)

// New returns a package's own sentinel of one of the kinds above: it reads
// text and matches kind with errors.Is, without repeating kind's text. A
// message that wraps it so says each thing once ("hub: ...: hub: model not
// pulled", not "...: hub: model not pulled: not found"), and errors.Is(err,
// hub.ErrNotPulled) and errors.Is(err, ErrNotFound) both hold. The rule of
// the module: a sentinel's text is said once, and a message that wraps a
// sentinel does not restate it.
func New(text string, kind error) error { return &sentinel{text: text, kind: kind} }

type sentinel struct {
	text string
	kind error
}

func (e *sentinel) Error() string { return e.text }
func (e *sentinel) Unwrap() error { return e.kind }
