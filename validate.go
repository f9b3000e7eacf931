package twostage

import (
	"encoding/json"
	"fmt"
	"math"

	"twostage/internal/validate"
)

// This file holds the checks of filters (Filter.Normalize). The checks of
// vectors, texts and metadata values are in internal/validate, which package
// driver re-exports for backends.

// Normalize checks f and returns a copy whose values have the portable types
// (string, bool, int64, float64), or an error wrapping ErrInvalidInput. A nil
// filter normalizes to nil. Store calls it before handing a filter to a Driver.
func (f *Filter) Normalize() (*Filter, error) {
	if f == nil {
		return nil, nil
	}
	n, err := f.normalize(0)
	if err != nil {
		return nil, fmt.Errorf("twostage: filter: %w", err)
	}
	return n, nil
}

// jsonNumber turns a json.Number or a Go number into a float64 where it
// can; number does the rest.
func jsonNumber(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

const maxFilterDepth = 32

func (f *Filter) normalize(depth int) (*Filter, error) {
	if f == nil {
		return nil, fmt.Errorf("nil filter inside %s: %w", "a compound filter", ErrInvalidInput)
	}
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("filter nested deeper than %d: %w", maxFilterDepth, ErrInvalidInput)
	}
	out := &Filter{Op: f.Op, Field: f.Field}
	leaf := func() error {
		if f.Field == "" {
			return fmt.Errorf("%s filter needs a field: %w", f.Op, ErrInvalidInput)
		}
		return validate.CheckText("filter field", f.Field)
	}
	switch f.Op {
	case OpEq:
		if err := leaf(); err != nil {
			return nil, err
		}
		v, err := scalar(f.Value)
		if err != nil {
			return nil, fmt.Errorf("eq filter on %q: %w", f.Field, err)
		}
		out.Value = v
	case OpIn:
		if err := leaf(); err != nil {
			return nil, err
		}
		if len(f.Values) == 0 {
			return nil, fmt.Errorf("in filter on %q has no values: %w", f.Field, ErrInvalidInput)
		}
		out.Values = make([]any, len(f.Values))
		for i, x := range f.Values {
			v, err := scalar(x)
			if err != nil {
				return nil, fmt.Errorf("in filter on %q: %w", f.Field, err)
			}
			out.Values[i] = v
		}
	case OpRange:
		if err := leaf(); err != nil {
			return nil, err
		}
		if f.Gt == nil && f.Gte == nil && f.Lt == nil && f.Lte == nil {
			return nil, fmt.Errorf("range filter on %q has no bound: %w", f.Field, ErrInvalidInput)
		}
		for _, b := range []*float64{f.Gt, f.Gte, f.Lt, f.Lte} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return nil, fmt.Errorf("range filter on %q has bound %v: %w", f.Field, *b, ErrInvalidInput)
			}
		}
		out.Gt, out.Gte, out.Lt, out.Lte = cp(f.Gt), cp(f.Gte), cp(f.Lt), cp(f.Lte)
	case OpGt, OpGte, OpLt, OpLte:
		if err := leaf(); err != nil {
			return nil, err
		}
		x, ok := number(jsonNumber(f.Value))
		if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%s filter on %q needs a finite number value, got %v: %w", f.Op, f.Field, f.Value, ErrInvalidInput)
		}
		out.Op = OpRange
		switch f.Op {
		case OpGt:
			out.Gt = &x
		case OpGte:
			out.Gte = &x
		case OpLt:
			out.Lt = &x
		case OpLte:
			out.Lte = &x
		}
	case OpExists:
		if err := leaf(); err != nil {
			return nil, err
		}
	case OpAnd, OpOr, OpNot:
		if f.Field != "" {
			return nil, fmt.Errorf("%s filter takes no field: %w", f.Op, ErrInvalidInput)
		}
		if len(f.Filters) == 0 || (f.Op == OpNot && len(f.Filters) != 1) {
			return nil, fmt.Errorf("%s filter has %d operands: %w", f.Op, len(f.Filters), ErrInvalidInput)
		}
		out.Filters = make([]*Filter, len(f.Filters))
		for i, c := range f.Filters {
			n, err := c.normalize(depth + 1)
			if err != nil {
				return nil, err
			}
			out.Filters[i] = n
		}
	default:
		return nil, fmt.Errorf("unknown op %q (eq, in, range, gt, gte, lt, lte, exists, and, or, not): %w", f.Op, ErrInvalidInput)
	}
	return out, nil
}

func cp(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// scalar normalizes a filter value: string, bool, int64 or float64.
func scalar(v any) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("missing value: %w", ErrInvalidInput)
	}
	n, err := validate.NormalizeValue(v)
	if err != nil {
		return nil, err
	}
	if _, ok := n.([]string); ok {
		return nil, fmt.Errorf("a list is not a filter value (use in): %w", ErrInvalidInput)
	}
	return n, nil
}
