package qdrantstore

import (
	"fmt"
	"math"
	"strings"

	"github.com/qdrant/go-client/qdrant"

	"twostage"
)

// matchNone is the filter that no point matches: Search returns no hits
// without asking the server.
var matchNone = &qdrant.Filter{}

// cond is a translated filter: a Qdrant condition, or a constant when the
// filter's outcome is known without the server (a field that is not
// metadata never matches).
type cond struct {
	c     *qdrant.Condition
	konst int // 0: c holds; 1: always true; -1: always false
}

var (
	always = cond{konst: 1}
	never  = cond{konst: -1}
)

// filter translates a normalized portable filter to Qdrant's. It returns nil
// for no filter and matchNone when nothing can match.
func (d *Driver) filter(f *twostage.Filter) (*qdrant.Filter, error) {
	if f == nil {
		return nil, nil
	}
	c, err := d.translate(f)
	if err != nil {
		return nil, err
	}
	switch c.konst {
	case 1:
		return nil, nil
	case -1:
		return matchNone, nil
	}
	return &qdrant.Filter{Must: []*qdrant.Condition{c.c}}, nil
}

func (d *Driver) translate(f *twostage.Filter) (cond, error) {
	switch f.Op {
	case twostage.OpAnd, twostage.OpOr:
		var parts []*qdrant.Condition
		for _, sub := range f.Filters {
			c, err := d.translate(sub)
			if err != nil {
				return cond{}, err
			}
			switch {
			case f.Op == twostage.OpAnd && c.konst == -1, f.Op == twostage.OpOr && c.konst == 1:
				return c, nil
			case c.konst != 0:
				continue // neutral element
			}
			parts = append(parts, c.c)
		}
		if len(parts) == 0 {
			if f.Op == twostage.OpAnd {
				return always, nil
			}
			return never, nil
		}
		if len(parts) == 1 {
			return cond{c: parts[0]}, nil
		}
		if f.Op == twostage.OpAnd {
			return cond{c: qdrant.NewFilterAsCondition(&qdrant.Filter{Must: parts})}, nil
		}
		return cond{c: qdrant.NewFilterAsCondition(&qdrant.Filter{Should: parts})}, nil
	case twostage.OpNot:
		c, err := d.translate(f.Filters[0])
		if err != nil || c.konst != 0 {
			return cond{konst: -c.konst}, err
		}
		return cond{c: qdrant.NewFilterAsCondition(&qdrant.Filter{MustNot: []*qdrant.Condition{c.c}})}, nil
	}

	// Leaves.
	if d.reserved(f.Field) || (d.metaKeys != nil && !d.metaKeys[f.Field]) {
		return never, nil // not metadata: absent from every document
	}
	if strings.ContainsAny(f.Field, `.[]"`) {
		return cond{}, fmt.Errorf("qdrantstore: filter on %q: Qdrant reads '.', '[', ']' and '\"' in keys as a JSON path: %w",
			f.Field, twostage.ErrUnsupported)
	}
	switch f.Op {
	case twostage.OpEq:
		return cond{c: eqCondition(f.Field, f.Value)}, nil
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
			return cond{c: parts[0]}, nil
		}
		return cond{c: qdrant.NewFilterAsCondition(&qdrant.Filter{Should: parts})}, nil
	case twostage.OpRange:
		return cond{c: qdrant.NewRange(f.Field, &qdrant.Range{Gt: f.Gt, Gte: f.Gte, Lt: f.Lt, Lte: f.Lte})}, nil
	case twostage.OpExists:
		// The key list written with every document is exact (an empty list
		// is present); points written by other tools have none, and for
		// them "not is_empty" is the closest Qdrant condition.
		return cond{c: qdrant.NewFilterAsCondition(&qdrant.Filter{Should: []*qdrant.Condition{
			qdrant.NewMatchKeyword(keysKey, f.Field),
			qdrant.NewFilterAsCondition(&qdrant.Filter{
				Must:    []*qdrant.Condition{qdrant.NewIsEmpty(keysKey)},
				MustNot: []*qdrant.Condition{qdrant.NewIsEmpty(f.Field)},
			}),
		}})}, nil
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
