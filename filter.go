package twostage

// Op is a Filter operator.
type Op string

// The filter operators.
const (
	OpEq     Op = "eq"     // Field equals Value; for a []string field, contains it
	OpIn     Op = "in"     // Field equals one of Values
	OpRange  Op = "range"  // numeric Field within the Gt/Gte/Lt/Lte bounds
	OpExists Op = "exists" // Field is present
	OpAnd    Op = "and"    // every one of Filters
	OpOr     Op = "or"     // at least one of Filters
	OpNot    Op = "not"    // not Filters[0]

	// OpGt, OpGte, OpLt and OpLte compare a numeric Field with Value; they
	// are shorthands of OpRange with one bound, accepted from JSON, and
	// Normalize turns them into OpRange.
	OpGt  Op = "gt"
	OpGte Op = "gte"
	OpLt  Op = "lt"
	OpLte Op = "lte"
)

// Filter is the portable metadata filter. Build one with Eq, In, Gt, Gte, Lt,
// Lte, Between, Exists, And, Or and Not; it also reads from and writes to
// JSON, e.g. {"op":"eq","field":"lang","value":"en"}.
//
// The JSON grammar (the CLI's --filter and the server's "filter"): one
// object with an "op" and the keys that op takes; no other keys.
//
//	{"op":"eq",     "field":F, "value":V}            V: string, number or boolean
//	{"op":"in",     "field":F, "values":[V, ...]}    at least one value
//	{"op":"range",  "field":F, "gt":N, "gte":N, "lt":N, "lte":N}   at least one bound
//	{"op":"gt"|"gte"|"lt"|"lte", "field":F, "value":N}   one bound: the same as range
//	{"op":"exists", "field":F}
//	{"op":"and"|"or", "filters":[FILTER, ...]}      at least one operand
//	{"op":"not",    "filters":[FILTER]}             exactly one operand
//
// For example, English documents from 2020 on:
//
//	{"op":"and","filters":[{"op":"eq","field":"lang","value":"en"},{"op":"gte","field":"year","value":2020}]}
//
// Semantics, the same for every Store:
//   - A missing field never matches Eq, In, Range or Exists (so Not of them
//     matches it).
//   - Numbers compare by value: int64(3) equals float64(3).
//   - Eq and In on a []string field match when any element matches.
//   - Range matches numeric fields only.
//
// Each adapter translates a Filter to its backend's native filter; what a
// backend cannot express is an error wrapping ErrUnsupported at call time,
// never a silent drop.
type Filter struct {
	// Op is the operator. Field is the metadata key a leaf (Eq, In, Range,
	// Exists) tests; Value is Eq's operand (and the bound of OpGt to OpLte);
	// Values are In's; Gt, Gte, Lt and Lte are Range's bounds (nil: none);
	// Filters are the operands of And, Or and Not.
	Op      Op        `json:"op"`
	Field   string    `json:"field,omitempty"`
	Value   any       `json:"value,omitempty"`
	Values  []any     `json:"values,omitempty"`
	Gt      *float64  `json:"gt,omitempty"`
	Gte     *float64  `json:"gte,omitempty"`
	Lt      *float64  `json:"lt,omitempty"`
	Lte     *float64  `json:"lte,omitempty"`
	Filters []*Filter `json:"filters,omitempty"`
}

// Eq matches documents whose field equals v (string, bool, or a number).
func Eq(field string, v any) *Filter { return &Filter{Op: OpEq, Field: field, Value: v} }

// In matches documents whose field equals one of vs.
func In(field string, vs ...any) *Filter { return &Filter{Op: OpIn, Field: field, Values: vs} }

// Gt matches documents whose numeric field is greater than x.
func Gt(field string, x float64) *Filter { return &Filter{Op: OpRange, Field: field, Gt: &x} }

// Gte matches documents whose numeric field is at least x.
func Gte(field string, x float64) *Filter { return &Filter{Op: OpRange, Field: field, Gte: &x} }

// Lt matches documents whose numeric field is less than x.
func Lt(field string, x float64) *Filter { return &Filter{Op: OpRange, Field: field, Lt: &x} }

// Lte matches documents whose numeric field is at most x.
func Lte(field string, x float64) *Filter { return &Filter{Op: OpRange, Field: field, Lte: &x} }

// Between matches documents whose numeric field lies in [lo, hi].
func Between(field string, lo, hi float64) *Filter {
	return &Filter{Op: OpRange, Field: field, Gte: &lo, Lte: &hi}
}

// Exists matches documents that have field.
func Exists(field string) *Filter { return &Filter{Op: OpExists, Field: field} }

// And matches documents that match every filter.
func And(fs ...*Filter) *Filter { return &Filter{Op: OpAnd, Filters: fs} }

// Or matches documents that match at least one filter.
func Or(fs ...*Filter) *Filter { return &Filter{Op: OpOr, Filters: fs} }

// Not matches documents that do not match f.
func Not(f *Filter) *Filter { return &Filter{Op: OpNot, Filters: []*Filter{f}} }

// Match reports whether metadata md satisfies f. A nil filter matches
// everything. f should be normalized (see Normalize).
func (f *Filter) Match(md map[string]any) bool {
	if f == nil {
		return true
	}
	switch f.Op {
	case OpEq:
		return valueMatches(md[f.Field], f.Value)
	case OpIn:
		for _, v := range f.Values {
			if valueMatches(md[f.Field], v) {
				return true
			}
		}
		return false
	case OpRange:
		x, ok := number(md[f.Field])
		if !ok {
			return false
		}
		return (f.Gt == nil || x > *f.Gt) && (f.Gte == nil || x >= *f.Gte) &&
			(f.Lt == nil || x < *f.Lt) && (f.Lte == nil || x <= *f.Lte)
	case OpExists:
		v, ok := md[f.Field]
		return ok && v != nil
	case OpAnd:
		for _, c := range f.Filters {
			if !c.Match(md) {
				return false
			}
		}
		return true
	case OpOr:
		for _, c := range f.Filters {
			if c.Match(md) {
				return true
			}
		}
		return false
	case OpNot:
		return len(f.Filters) == 1 && !f.Filters[0].Match(md)
	}
	return false
}

func valueMatches(field, want any) bool {
	if list, ok := field.([]string); ok {
		for _, s := range list {
			if s == want {
				return true
			}
		}
		return false
	}
	if a, ok := number(field); ok {
		b, ok := number(want)
		return ok && a == b
	}
	return field != nil && field == want
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}

// Fields returns the metadata fields f refers to, each once, in first-use order.
func (f *Filter) Fields() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(*Filter)
	walk = func(g *Filter) {
		if g == nil {
			return
		}
		if g.Field != "" && !seen[g.Field] {
			seen[g.Field] = true
			out = append(out, g.Field)
		}
		for _, c := range g.Filters {
			walk(c)
		}
	}
	walk(f)
	return out
}
