// Package validate holds the input checks that package twostage (the Store
// and the Pipeline) and package twostage/driver (re-exporting them for
// backends) share: vectors, texts and metadata values; the id of a JSON
// record, which the index command and package eval read (JSONID); and the
// names of JSON keys a reader does not know (UnknownField, Near, Misspelt),
// which the server, the CLI and package eval report. It imports only
// errdefs, so both can use it.
package validate

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"twostage/errdefs"
)

// CheckVector returns an error wrapping errdefs.ErrDimension when v does not have dim
// elements, or errdefs.ErrInvalidInput when it holds NaN or Inf.
func CheckVector(v []float32, dim int) error {
	if len(v) != dim {
		return fmt.Errorf("twostage: vector has %d dimensions, want %d: %w", len(v), dim, errdefs.ErrDimension)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("twostage: vector element %d is %v: %w", i, x, errdefs.ErrInvalidInput)
		}
	}
	return nil
}

// CheckText returns an error wrapping errdefs.ErrInvalidInput when s is not valid UTF-8.
func CheckText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("twostage: %s is not valid UTF-8: %w", what, errdefs.ErrInvalidInput)
	}
	return nil
}

// NormalizeMetadata returns a copy of md with every value converted to one of
// the portable types (string, bool, int64, float64, []string), or an error
// wrapping errdefs.ErrInvalidInput naming the first key that cannot be.
func NormalizeMetadata(md map[string]any) (map[string]any, error) {
	if md == nil {
		return nil, nil
	}
	out := make(map[string]any, len(md))
	for k, v := range md {
		if k == "" {
			return nil, fmt.Errorf("twostage: empty metadata key: %w", errdefs.ErrInvalidInput)
		}
		if err := CheckText("metadata key", k); err != nil {
			return nil, err
		}
		nv, err := NormalizeValue(v)
		if err != nil {
			return nil, fmt.Errorf("twostage: metadata %q: %w", k, err)
		}
		out[k] = nv
	}
	return out, nil
}

// NormalizeValue converts one metadata or filter value to a portable type
// (string, bool, int64, float64 or []string), or returns an error wrapping
// ErrInvalidInput.
func NormalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return nil, fmt.Errorf("string is not valid UTF-8: %w", errdefs.ErrInvalidInput)
		}
		return x, nil
	case bool, int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d overflows int64: %w", x, errdefs.ErrInvalidInput)
		}
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d overflows int64: %w", x, errdefs.ErrInvalidInput)
		}
		return int64(x), nil
	case float32:
		return NormalizeValue(float64(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("number %v is not finite: %w", x, errdefs.ErrInvalidInput)
		}
		return x, nil
	case []string:
		if x == nil {
			return []string{}, nil // a nil list is an empty one, as every backend reads it back
		}
		for _, s := range x {
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("string is not valid UTF-8: %w", errdefs.ErrInvalidInput)
			}
		}
		return slices.Clone(x), nil // non-nil: JSON [], not null
	case []any:
		ss := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list element %d has type %T, only lists of strings are supported: %w", i, e, errdefs.ErrInvalidInput)
			}
			ss[i] = s
		}
		return NormalizeValue(ss)
	default:
		return nil, fmt.Errorf("unsupported type %T (want string, bool, int64, float64 or []string): %w", v, errdefs.ErrInvalidInput)
	}
}

// JSONID converts the raw JSON value of a record's id field to a string: a
// JSON string as it is, a number as written ("3", "1e3"). field names the
// field in errors ("id", "_id"). A missing or null value, an empty string
// and any other JSON type are errors wrapping errdefs.ErrInvalidInput; a
// string of spaces is an id (a caller that refuses blank ids checks that
// itself).
func JSONID(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("missing %q: %w", field, errdefs.ErrInvalidInput)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", fmt.Errorf("empty %q: %w", field, errdefs.ErrInvalidInput)
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%q must be a string or a number, got %s: %w", field, raw, errdefs.ErrInvalidInput)
}
