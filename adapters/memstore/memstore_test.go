package memstore_test

import (
	"errors"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/adapters/storetest"
	"twostage/driver"
)

func TestConformance(t *testing.T) {
	storetest.RunConformanceTests(t, storetest.Harness{
		New: func(t *testing.T, dim int, m twostage.Metric) (driver.Driver, error) {
			return memstore.NewDriver(dim, m)
		},
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		dim int
		m   twostage.Metric
	}{{0, twostage.Cosine}, {-3, twostage.L2}, {4, "manhattan"}} {
		if _, err := memstore.New(tc.dim, tc.m); !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("New(%d, %q): got %v, want ErrInvalidInput", tc.dim, tc.m, err)
		}
	}
}
