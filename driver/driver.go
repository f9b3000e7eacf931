// Package driver is the contract a vector-store backend implements, as
// database/sql/driver is for database/sql: the Driver interface, the optional
// capabilities Store finds by type assertion (HybridSearcher, BatchSearcher, Checker)
// and the input checks backends share with Store (CheckText, CheckVector,
// NormalizeMetadata). Users never import it; they hold a *twostage.Store,
// which an adapter's Open builds with twostage.NewStore over its Driver.
//
// The data model (twostage.Document, Hit, Query, HybridQuery, Filter, Info)
// stays in package twostage, which users see in every Store signature; this
// package imports it, so twostage cannot import this one and declares the
// same method set unexported (NewStore takes any Driver).
package driver

import (
	"context"

	"twostage"
	"twostage/internal/validate"
)

// Driver is the contract a vector-store backend implements. twostage.Store
// wraps a Driver and does, once for every backend, what the backend may rely on:
//
//   - Input is validated before it reaches the driver: ids are non-empty,
//     valid UTF-8 and unique within a call; vectors have Info().Dim finite
//     elements (and are non-zero for Cosine); metadata values have the
//     portable types; filters are normalized (see twostage.Filter.Normalize); K >= 1.
//     Empty batches never reach the driver.
//   - No call reaches the driver after Close, and Close is called once, after
//     the calls in flight have returned.
//
// What the driver must do:
//
//   - Honour ctx: return promptly with an error wrapping ctx.Err() when it is
//     done. Backends that cannot interrupt a native call check ctx between
//     steps.
//   - Upsert overwrites documents with the same ID and is durable (as the
//     backend defines durability) once it returns nil. A partial failure
//     names the ids that failed.
//   - Delete ignores ids that do not exist.
//   - Get returns the documents found, in any order, with their vectors;
//     missing ids are simply absent (Store reports them as
//     errdefs.ErrNotFound).
//   - Search returns at most q.K hits matching q.Filter, with RetrievalScore
//     set higher-is-better: cosine similarity, dot product, or negative
//     squared Euclidean distance (see twostage.Metric). Vectors only when
//     q.WithVectors. A filter the backend cannot express is an error
//     wrapping errdefs.ErrUnsupported.
//   - Errors from an unreachable backend wrap errdefs.ErrUnavailable; the backend's
//     own error stays reachable with errors.As.
//   - Every method is safe for concurrent use.
type Driver interface {
	Info() twostage.Info
	Upsert(ctx context.Context, docs []twostage.Document) error
	Delete(ctx context.Context, ids []string) error
	Get(ctx context.Context, ids []string) ([]twostage.Document, error)
	Search(ctx context.Context, q twostage.Query) ([]twostage.Hit, error)
	Count(ctx context.Context) (int, error)
	Close() error
}

// HybridSearcher is an optional Driver capability: the backend's native
// hybrid (keyword plus vector) search, reached through Store.HybridSearch.
// RetrievalScore is the backend's fused score, higher is better. Store
// validates q as it does a Query (Alpha in [0,1], Text valid UTF-8).
type HybridSearcher interface {
	HybridSearch(ctx context.Context, q twostage.HybridQuery) ([]twostage.Hit, error)
}

// BatchSearcher is an optional Driver capability: several searches in one
// call, reached through Store.SearchBatch (which runs Search once a query
// for drivers without it). Store validates every query as for Search before
// the call; the driver returns one hit list per query, in the order of qs,
// each as Search would return it (any order within a list: Store sorts).
type BatchSearcher interface {
	SearchBatch(ctx context.Context, qs []twostage.Query) ([][]twostage.Hit, error)
}

// Checker is an optional Driver capability: it verifies that every document
// the backend holds can be found by its own vector, streaming over the
// documents in bounded memory, and with opts.Repair re-indexes what it
// finds wrong. It honours ctx between steps. A repair that fails part-way
// returns the report so far with the error; running the check again
// resumes it.
type Checker interface {
	Check(ctx context.Context, opts twostage.CheckOptions) (twostage.CheckReport, error)
}

// CheckVector returns an error wrapping errdefs.ErrDimension when v does not
// have dim elements, or errdefs.ErrInvalidInput when it holds NaN or Inf.
func CheckVector(v []float32, dim int) error { return validate.CheckVector(v, dim) }

// CheckText returns an error wrapping errdefs.ErrInvalidInput when s is not
// valid UTF-8; what names s in the message.
func CheckText(what, s string) error { return validate.CheckText(what, s) }

// NormalizeMetadata returns a copy of md with every value converted to one of
// the portable types (string, bool, int64, float64, []string), or an error
// wrapping errdefs.ErrInvalidInput naming the first key that cannot be.
func NormalizeMetadata(md map[string]any) (map[string]any, error) {
	return validate.NormalizeMetadata(md)
}

// This compiles only while every Driver has the method set that
// twostage.NewStore accepts.
var _ = func(d Driver) *twostage.Store { return twostage.NewStore(d) }
