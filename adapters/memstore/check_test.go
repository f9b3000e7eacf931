package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	s, err := memstore.New(2, twostage.Cosine)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Upsert(ctx, []twostage.Document{{ID: fmt.Sprint(i), Vector: []float32{1, float32(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	var progress int
	r, err := s.Check(ctx, twostage.CheckOptions{Repair: true, Progress: func(n int) { progress = n }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Checked != 5 || !r.OK() || progress != 5 {
		t.Errorf("check = %v (progress %d), want 5 checked, nothing wrong", r, progress)
	}
	s.Close()
	if _, err := s.Check(ctx, twostage.CheckOptions{}); !errors.Is(err, twostage.ErrClosed) {
		t.Errorf("check after close: %v, want ErrClosed", err)
	}
}
