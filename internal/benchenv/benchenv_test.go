package benchenv

import (
	"errors"
	"slices"
	"testing"

	"twostage/errdefs"
)

func TestInts(t *testing.T) {
	const name = "TWOSTAGE_BENCHENV_TEST"
	for _, tc := range []struct {
		v    string
		want []int
		err  error
	}{
		{"", []int{7}, nil},
		{"1,16", []int{1, 16}, nil},
		{" 3 , 4", []int{3, 4}, nil},
		{"3,0", nil, errdefs.ErrInvalidInput},
		{"3,x", nil, errdefs.ErrInvalidInput},
	} {
		t.Setenv(name, tc.v)
		got, err := Ints(name, []int{7})
		if !errors.Is(err, tc.err) || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v, %v", tc.v, got, err, tc.want, tc.err)
		}
	}
}

func TestInt(t *testing.T) {
	const name = "TWOSTAGE_BENCHENV_TEST"
	for v, want := range map[string]int{"": 5, "12": 12, "0": 5, "-3": 5, "x": 5} {
		t.Setenv(name, v)
		if got := Int(name, 5); got != want {
			t.Errorf("%q: %d, want %d", v, got, want)
		}
	}
}
