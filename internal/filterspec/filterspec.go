// Package filterspec evaluates twostage filters straight from the semantics
// documented on twostage.Filter, for tests: an oracle written apart from
// twostage.Filter.Match (which memstore, faisslocal and the server use), so
// that a bug in Match is a disagreement, not a shared blind spot.
//
// The rules, from the Filter documentation:
//   - A missing field never matches Eq, In, Range or Exists (so Not of them
//     matches it).
//   - Numbers compare by value: int64(3) equals float64(3).
//   - Eq and In on a []string field match when any element matches.
//   - Range matches numeric fields only; Gt, Gte, Lt and Lte bounds all hold.
package filterspec

import (
	"math"

	"twostage"
)

// Match reports whether metadata md satisfies f under the documented
// semantics. f may be normalized or not (Go integer and float types are
// numbers); a nil filter matches everything. An operator it does not know
// matches nothing.
func Match(f *twostage.Filter, md map[string]any) bool {
	if f == nil {
		return true
	}
	switch f.Op {
	case twostage.OpAnd:
		ok := true
		for _, c := range f.Filters {
			ok = Match(c, md) && ok
		}
		return ok && len(f.Filters) > 0
	case twostage.OpOr:
		ok := false
		for _, c := range f.Filters {
			ok = Match(c, md) || ok
		}
		return ok
	case twostage.OpNot:
		return len(f.Filters) == 1 && !Match(f.Filters[0], md)
	}
	v, present := md[f.Field]
	if !present || v == nil {
		return false
	}
	switch f.Op {
	case twostage.OpExists:
		return true
	case twostage.OpEq:
		return equals(v, f.Value)
	case twostage.OpIn:
		for _, w := range f.Values {
			if equals(v, w) {
				return true
			}
		}
		return false
	case twostage.OpRange:
		x, ok := num(v)
		if !ok || math.IsNaN(x) {
			return false
		}
		below := func(b *float64, strict bool) bool { // x above the lower bound b
			return b == nil || (strict && x > *b) || (!strict && x >= *b)
		}
		above := func(b *float64, strict bool) bool { // x below the upper bound b
			return b == nil || (strict && x < *b) || (!strict && x <= *b)
		}
		return below(f.Gt, true) && below(f.Gte, false) && above(f.Lt, true) && above(f.Lte, false)
	}
	return false
}

// equals is Eq on one field value: any element of a list, numbers by value,
// strings and bools by identity of type and value.
func equals(field, want any) bool {
	if list, ok := field.([]string); ok {
		s, ok := want.(string)
		if !ok {
			return false
		}
		for _, e := range list {
			if e == s {
				return true
			}
		}
		return false
	}
	if a, ok := num(field); ok {
		b, ok := num(want)
		return ok && a == b
	}
	switch a := field.(type) {
	case string:
		b, ok := want.(string)
		return ok && a == b
	case bool:
		b, ok := want.(bool)
		return ok && a == b
	}
	return false
}

// num converts Go's integer and float types to float64.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
