package weaviatestore

import (
	"context"
	"fmt"
	"math"

	"github.com/weaviate/weaviate-go-client/v4/weaviate/filters"
	"github.com/weaviate/weaviate/entities/models"

	"twostage"
	"twostage/adapters/internal/filterfold"
)

// cond is a translated filter: a where clause, or a constant when the
// outcome is known from the schema alone (a field the class lacks, or whose
// type cannot hold the value, never matches).
type cond = filterfold.Cond[*filters.WhereBuilder]

var never = filterfold.Never[*filters.WhereBuilder]()

// of returns the cond holding where clause w.
func of(w *filters.WhereBuilder) cond { return filterfold.Of(w) }

// prepare reads the schema and translates the filter. none reports a filter
// that nothing matches.
func (d *Driver) prepare(ctx context.Context, f *twostage.Filter) (props map[string]*models.Property, where *filters.WhereBuilder, none bool, err error) {
	props, null, err := d.schema(ctx, false)
	if err != nil {
		return nil, nil, false, err
	}
	if f == nil {
		return props, nil, false, nil
	}
	// A field missing from the cached schema may have been added by another
	// writer: refresh once before deciding it is absent.
	for _, field := range f.Fields() {
		if p, err := d.propName(field); err == nil && d.isMetaProp(p) && props[p] == nil {
			if props, null, err = d.schema(ctx, true); err != nil {
				return nil, nil, false, err
			}
			break
		}
	}
	t := translator{d: d, props: props, nullIndex: null}
	c, err := t.translate(f)
	if err != nil {
		return nil, nil, false, err
	}
	return props, c.C, c.Outcome == filterfold.None, nil
}

type translator struct {
	d         *Driver
	props     map[string]*models.Property
	nullIndex bool
}

func op(o filters.WhereOperator, path string) *filters.WhereBuilder {
	return filters.Where().WithOperator(o).WithPath([]string{path})
}

func combine(o filters.WhereOperator, ws []*filters.WhereBuilder) *filters.WhereBuilder {
	if len(ws) == 1 {
		return ws[0]
	}
	return filters.Where().WithOperator(o).WithOperands(ws)
}

func (t translator) translate(f *twostage.Filter) (cond, error) {
	return filterfold.Translate(f, filterfold.Backend[*filters.WhereBuilder]{
		Leaf: t.leaf,
		And:  func(parts []*filters.WhereBuilder) *filters.WhereBuilder { return combine(filters.And, parts) },
		Or:   func(parts []*filters.WhereBuilder) *filters.WhereBuilder { return combine(filters.Or, parts) },
		Not: func(w *filters.WhereBuilder) *filters.WhereBuilder {
			return filters.Where().WithOperator(filters.Not).WithOperands([]*filters.WhereBuilder{w})
		},
	})
}

// leaf translates Eq, In, Range and Exists.
func (t translator) leaf(f *twostage.Filter) (cond, error) {
	p, err := t.d.propName(f.Field)
	if err != nil {
		return cond{}, err
	}
	prop := t.props[p]
	if prop == nil || !t.d.isMetaProp(p) || len(prop.DataType) == 0 {
		return never, nil // no such metadata property: absent everywhere
	}
	dt := prop.DataType[0]
	switch f.Op {
	case twostage.OpEq:
		return eq(p, dt, f.Value), nil
	case twostage.OpIn:
		var parts []*filters.WhereBuilder
		var texts []string
		for _, v := range f.Values {
			if s, ok := v.(string); ok && (dt == "text" || dt == "text[]") {
				texts = append(texts, s)
				continue
			}
			if c := eq(p, dt, v); c.Outcome == filterfold.Native {
				parts = append(parts, c.C)
			}
		}
		if len(texts) > 0 {
			parts = append(parts, op(filters.ContainsAny, p).WithValueText(texts...))
		}
		if len(parts) == 0 {
			return never, nil
		}
		return of(combine(filters.Or, parts)), nil
	case twostage.OpRange:
		return rangeCond(p, dt, f), nil
	case twostage.OpExists:
		// Documents written by this package list their metadata keys. With
		// the null-state index, objects written by other tools (which have
		// no list) fall back to "property is not null".
		listed := op(filters.ContainsAny, keysProp).WithValueText(f.Field)
		if t.props[keysProp] == nil {
			listed = nil
		}
		if !t.nullIndex {
			if listed == nil {
				return cond{}, fmt.Errorf("weaviatestore: exists filter on %q: the class has neither the key list nor the null-state index: %w",
					f.Field, twostage.ErrUnsupported)
			}
			return of(listed), nil
		}
		notNull := op(filters.IsNull, p).WithValueBoolean(false)
		if listed == nil {
			return of(notNull), nil
		}
		foreign := combine(filters.And, []*filters.WhereBuilder{op(filters.IsNull, keysProp).WithValueBoolean(true), notNull})
		return of(combine(filters.Or, []*filters.WhereBuilder{listed, foreign})), nil
	}
	return cond{}, fmt.Errorf("weaviatestore: filter op %q: %w", f.Op, twostage.ErrUnsupported)
}

// eq matches a property equal to a scalar (for text[] properties: containing
// it). A value the property's type cannot hold never matches.
func eq(p, dt string, v any) cond {
	switch x := v.(type) {
	case string:
		switch dt {
		case "text", "string":
			return of(op(filters.Equal, p).WithValueText(x))
		case "text[]", "string[]":
			return of(op(filters.ContainsAny, p).WithValueText(x))
		}
	case bool:
		switch dt {
		case "boolean":
			return of(op(filters.Equal, p).WithValueBoolean(x))
		case "boolean[]":
			return of(op(filters.ContainsAny, p).WithValueBoolean(x))
		}
	case int64:
		return eqNumber(p, dt, float64(x))
	case float64:
		return eqNumber(p, dt, x)
	}
	return never
}

func eqNumber(p, dt string, x float64) cond {
	switch dt {
	case "number":
		return of(op(filters.Equal, p).WithValueNumber(x))
	case "number[]":
		return of(op(filters.ContainsAny, p).WithValueNumber(x))
	case "int", "int[]":
		if x != math.Trunc(x) || math.Abs(x) > 1<<63 {
			return never
		}
		o := filters.Equal
		if dt == "int[]" {
			o = filters.ContainsAny
		}
		return of(op(o, p).WithValueInt(int64(x)))
	}
	return never
}

// rangeCond translates bounds; on int properties they are rounded to the
// integers they admit.
func rangeCond(p, dt string, f *twostage.Filter) cond {
	type bound struct {
		o filters.WhereOperator
		x *float64
	}
	bounds := []bound{{filters.GreaterThan, f.Gt}, {filters.GreaterThanEqual, f.Gte}, {filters.LessThan, f.Lt}, {filters.LessThanEqual, f.Lte}}
	var parts []*filters.WhereBuilder
	for _, b := range bounds {
		if b.x == nil {
			continue
		}
		switch dt {
		case "number", "number[]":
			parts = append(parts, op(b.o, p).WithValueNumber(*b.x))
		case "int", "int[]":
			x := *b.x
			o := b.o
			if x != math.Trunc(x) { // x > 2.5 is x >= 3; x < 2.5 is x <= 2
				switch o {
				case filters.GreaterThan, filters.GreaterThanEqual:
					x, o = math.Ceil(x), filters.GreaterThanEqual
				default:
					x, o = math.Floor(x), filters.LessThanEqual
				}
			}
			x = math.Max(math.Min(x, math.MaxInt64), math.MinInt64)
			parts = append(parts, op(o, p).WithValueInt(int64(x)))
		default:
			return never // range matches numeric fields only
		}
	}
	return of(combine(filters.And, parts))
}
