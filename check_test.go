package twostage_test

import (
	"context"
	"errors"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/driver"
)

// plainDriver hides every optional capability of the driver it wraps.
type plainDriver struct{ driver.Driver }

func TestCheckUnsupported(t *testing.T) {
	d, _ := memstore.NewDriver(2, twostage.Dot)
	s := twostage.NewStore(plainDriver{d})
	defer s.Close()
	if s.SupportsCheck() {
		t.Error("SupportsCheck = true for a driver without Check")
	}
	if _, err := s.Check(context.Background(), twostage.CheckOptions{}); !errors.Is(err, twostage.ErrUnsupported) {
		t.Errorf("Check on a driver without it: %v, want ErrUnsupported", err)
	}
	s2 := twostage.NewStore(d)
	if _, err := s2.Check(context.Background(), twostage.CheckOptions{Workers: -1}); !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("Check with -1 workers: %v, want ErrInvalidInput", err)
	}
}

func TestCheckReport(t *testing.T) {
	var r twostage.CheckReport
	r.Checked = 7
	for _, id := range []string{"a", "b", "c"} {
		r.Missing.Add(id, 2)
	}
	r.Extra.Add("slot 4", 2)
	tests := []struct {
		got, want string
	}{
		{r.Missing.String(), `3 ("a", "b", ...)`},
		{r.Extra.String(), `1 ("slot 4")`},
		{r.Mismatched.String(), `0`},
		{r.String(), `checked 7: missing 3 ("a", "b", ...), extra 1 ("slot 4"), mismatched 0`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
	if r.OK() || r.Problems() != 4 {
		t.Errorf("OK = %v, Problems = %d; want false, 4", r.OK(), r.Problems())
	}
}
