package twostage

import "twostage/errdefs"

// Sentinel errors. Every package in the module wraps one of these, so callers
// can branch with errors.Is whatever the backend or model. They are the
// values of package errdefs (the leaf package that packages below this one
// import), so errors.Is matches either name.
var (
	// ErrNotFound reports ids that do not exist.
	ErrNotFound = errdefs.ErrNotFound
	// ErrInvalidInput reports a malformed argument: an empty id or query, a NaN
	// vector, invalid UTF-8, an unsupported metadata type, a bad option.
	ErrInvalidInput = errdefs.ErrInvalidInput
	// ErrDimension reports a vector whose length differs from the store's or
	// the embedder's dimension.
	ErrDimension = errdefs.ErrDimension
	// ErrClosed reports a call on a closed Store, engine or server.
	ErrClosed = errdefs.ErrClosed
	// ErrUnavailable reports a backend or model service that cannot be reached
	// (after bounded retries) or timed out.
	ErrUnavailable = errdefs.ErrUnavailable
	// ErrOverloaded reports a full queue: the caller should back off and retry.
	ErrOverloaded = errdefs.ErrOverloaded
	// ErrUnsupported reports an optional capability the backend lacks, or a
	// filter it cannot express.
	ErrUnsupported = errdefs.ErrUnsupported
)
