// Package filterfold translates a normalized twostage.Filter into a
// backend's native condition, folding what is known without the server:
// a leaf that can never match (a field that is not metadata in this store)
// becomes a constant, and And, Or and Not fold constants away, so that a
// whole filter may come out as "everything" or "nothing" before any request
// is sent. The adapters supply the leaves and the native And, Or and Not.
package filterfold

import "twostage"

// Outcome is what is known about a translated filter before the server
// sees it.
type Outcome int

const (
	// Native: the backend's condition decides.
	Native Outcome = iota
	// All: every document matches.
	All
	// None: no document matches.
	None
)

// negate is the Outcome of Not.
func (o Outcome) negate() Outcome {
	switch o {
	case All:
		return None
	case None:
		return All
	}
	return Native
}

// Cond is a translated filter: C holds the native condition when Outcome is
// Native.
type Cond[C any] struct {
	C       C
	Outcome Outcome
}

// Of returns a Native Cond holding c.
func Of[C any](c C) Cond[C] { return Cond[C]{C: c} }

// Always returns the Cond every document matches.
func Always[C any]() Cond[C] { return Cond[C]{Outcome: All} }

// Never returns the Cond no document matches.
func Never[C any]() Cond[C] { return Cond[C]{Outcome: None} }

// Backend is what an adapter supplies to Translate.
type Backend[C any] struct {
	// Leaf translates Eq, In, Range and Exists.
	Leaf func(f *twostage.Filter) (Cond[C], error)
	// And and Or combine two or more native conditions; Not negates one.
	And, Or func(parts []C) C
	Not     func(c C) C
}

// Translate translates a normalized filter. And drops operands that match
// everything and is None when one matches nothing; Or the other way round;
// Not of a constant is the other constant. A compound with one native
// operand left is that operand.
func Translate[C any](f *twostage.Filter, b Backend[C]) (Cond[C], error) {
	switch f.Op {
	case twostage.OpAnd, twostage.OpOr:
		// absorbing ends the compound; neutral operands are dropped.
		absorbing, neutral := None, All
		if f.Op == twostage.OpOr {
			absorbing, neutral = All, None
		}
		var parts []C
		for _, sub := range f.Filters {
			c, err := Translate(sub, b)
			if err != nil {
				return Cond[C]{}, err
			}
			switch c.Outcome {
			case absorbing:
				return c, nil
			case neutral:
				continue
			}
			parts = append(parts, c.C)
		}
		switch {
		case len(parts) == 0:
			return Cond[C]{Outcome: neutral}, nil
		case len(parts) == 1:
			return Of(parts[0]), nil
		case f.Op == twostage.OpAnd:
			return Of(b.And(parts)), nil
		}
		return Of(b.Or(parts)), nil
	case twostage.OpNot:
		c, err := Translate(f.Filters[0], b)
		if err != nil || c.Outcome != Native {
			return Cond[C]{Outcome: c.Outcome.negate()}, err
		}
		return Of(b.Not(c.C)), nil
	}
	return b.Leaf(f)
}
