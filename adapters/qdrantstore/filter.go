package qdrantstore

import (
	"fmt"
	"math"
	"strings"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
	"twostage/adapters/internal/filterfold"
	"twostage/adapters/internal/layout"
)

// matchNone is the filter that no point matches: Search returns no hits
// without asking the server.
var matchNone = &qdrant.Filter{}

// cond is a translated filter: a Qdrant condition, or a constant when the
// filter's outcome is known without the server (a field that is not
// metadata never matches).
type cond = filterfold.Cond[*qdrant.Condition]

// filter translates a normalized portable filter to Qdrant's. It returns nil
// for no filter and matchNone when nothing can match.
func (d *Driver) filter(f *twostage.Filter) (*qdrant.Filter, error) {
	if f == nil {
		return nil, nil
	}
	c, err := filterfold.Translate(f, filterfold.Backend[*qdrant.Condition]{
		Leaf: d.leaf,
		And: func(parts []*qdrant.Condition) *qdrant.Condition {
			return qdrant.NewFilterAsCondition(&qdrant.Filter{Must: parts})
		},
		Or: func(parts []*qdrant.Condition) *qdrant.Condition {
			return qdrant.NewFilterAsCondition(&qdrant.Filter{Should: parts})
		},
		Not: func(c *qdrant.Condition) *qdrant.Condition {
			return qdrant.NewFilterAsCondition(&qdrant.Filter{MustNot: []*qdrant.Condition{c}})
		},
	})
	if err != nil {
		return nil, err
	}
	switch c.Outcome {
	case filterfold.All:
		return nil, nil
	case filterfold.None:
		return matchNone, nil
	}
	return &qdrant.Filter{Must: []*qdrant.Condition{c.C}}, nil
}

// leaf translates Eq, In, Range and Exists.
func (d *Driver) leaf(f *twostage.Filter) (cond, error) {
	if d.reserved(f.Field) || (d.metaKeys != nil && !d.metaKeys[f.Field]) {
		return filterfold.Never[*qdrant.Condition](), nil // not metadata: absent from every document
	}
	if strings.ContainsAny(f.Field, `.[]"`) {
		return cond{}, fmt.Errorf("qdrantstore: filter on %q: Qdrant reads '.', '[', ']' and '\"' in keys as a JSON path: %w",
			f.Field, twostage.ErrUnsupported)
	}
	switch f.Op {
	case twostage.OpEq:
		return filterfold.Of(eqCondition(f.Field, f.Value)), nil
	case twostage.OpIn:
		var parts []*qdrant.Condition
		var keywords []string
		for _, v := range f.Values {
			if s, ok := v.(string); ok {
				keywords = append(keywords, s)
			} else {
				parts = append(parts, eqCondition(f.Field, v))
			}
		}
		if len(keywords) > 0 {
			parts = append(parts, qdrant.NewMatchKeywords(f.Field, keywords...))
		}
		if len(parts) == 1 {
			return filterfold.Of(parts[0]), nil
		}
		return filterfold.Of(qdrant.NewFilterAsCondition(&qdrant.Filter{Should: parts})), nil
	case twostage.OpRange:
		return filterfold.Of(qdrant.NewRange(f.Field, &qdrant.Range{Gt: f.Gt, Gte: f.Gte, Lt: f.Lt, Lte: f.Lte})), nil
	case twostage.OpExists:
		// The key list written with every document is exact (an empty list
		// is present); points written by other tools have none, and for
		// them "not is_empty" is the closest Qdrant condition.
		return filterfold.Of(qdrant.NewFilterAsCondition(&qdrant.Filter{Should: []*qdrant.Condition{
			qdrant.NewMatchKeyword(layout.KeysKey, f.Field),
			qdrant.NewFilterAsCondition(&qdrant.Filter{
				Must:    []*qdrant.Condition{qdrant.NewIsEmpty(layout.KeysKey)},
				MustNot: []*qdrant.Condition{qdrant.NewIsEmpty(f.Field)},
			}),
		}})), nil
	}
	return cond{}, fmt.Errorf("qdrantstore: filter op %q: %w", f.Op, twostage.ErrUnsupported)
}

// eqCondition matches a field equal to a scalar. Numbers use a degenerate
// range, which Qdrant applies to integer and float payloads alike, so
// int64(3) and float64(3) match each other.
func eqCondition(field string, v any) *qdrant.Condition {
	switch x := v.(type) {
	case string:
		return qdrant.NewMatchKeyword(field, x)
	case bool:
		return qdrant.NewMatchBool(field, x)
	case int64:
		f := float64(x)
		return qdrant.NewRange(field, &qdrant.Range{Gte: &f, Lte: &f})
	case float64:
		return qdrant.NewRange(field, &qdrant.Range{Gte: &x, Lte: &x})
	}
	// Normalize admits no other type; a NaN range matches nothing.
	nan := math.NaN()
	return qdrant.NewRange(field, &qdrant.Range{Gte: &nan})
}
