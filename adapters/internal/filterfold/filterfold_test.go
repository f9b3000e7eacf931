package filterfold

import (
	"errors"
	"strings"
	"testing"

	"twostage"
)

// text is a toy backend whose conditions are strings. Fields starting with
// "gone" are not metadata (None); "bad" fails.
var text = Backend[string]{
	Leaf: func(f *twostage.Filter) (Cond[string], error) {
		switch {
		case strings.HasPrefix(f.Field, "gone"):
			return Never[string](), nil
		case f.Field == "bad":
			return Cond[string]{}, errors.New("bad field")
		}
		return Of(f.Field), nil
	},
	And: func(p []string) string { return "(" + strings.Join(p, " & ") + ")" },
	Or:  func(p []string) string { return "(" + strings.Join(p, " | ") + ")" },
	Not: func(c string) string { return "!" + c },
}

func TestTranslate(t *testing.T) {
	a, b, gone := twostage.Exists("a"), twostage.Exists("b"), twostage.Exists("gone")
	tests := []struct {
		name    string
		f       *twostage.Filter
		want    string
		outcome Outcome
	}{
		{"leaf", a, "a", Native},
		{"and", twostage.And(a, b), "(a & b)", Native},
		{"or", twostage.Or(a, b), "(a | b)", Native},
		{"not", twostage.Not(a), "!a", Native},
		{"absent leaf", gone, "", None},
		{"and with nothing", twostage.And(a, gone), "", None},
		{"or drops nothing", twostage.Or(a, gone, b), "(a | b)", Native},
		{"or of one left", twostage.Or(gone, a), "a", Native},
		{"not nothing is all", twostage.Not(gone), "", All},
		{"and drops all", twostage.And(twostage.Not(gone), a), "a", Native},
		{"or with all", twostage.Or(a, twostage.Not(gone)), "", All},
		{"and of all only", twostage.And(twostage.Not(gone)), "", All},
		{"or of nothing only", twostage.Or(gone, gone), "", None},
		{"not not nothing", twostage.Not(twostage.Not(gone)), "", None},
		{"nested", twostage.And(a, twostage.Or(b, twostage.Not(a))), "(a & (b | !a))", Native},
	}
	for _, tc := range tests {
		got, err := Translate(tc.f, text)
		if err != nil || got.C != tc.want || got.Outcome != tc.outcome {
			t.Errorf("%s: got %q, %v, %v; want %q, %v", tc.name, got.C, got.Outcome, err, tc.want, tc.outcome)
		}
	}
	if _, err := Translate(twostage.And(a, twostage.Not(twostage.Exists("bad"))), text); err == nil || err.Error() != "bad field" {
		t.Errorf("error from a leaf: %v, want bad field", err)
	}
}
