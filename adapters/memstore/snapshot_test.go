package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"twostage"
	"twostage/adapters/memstore"
)

func TestSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	d, _ := memstore.NewDriver(3, twostage.L2)
	s := twostage.NewStore(d)
	docs := []twostage.Document{
		{ID: "b", Text: "ünïcode", Vector: []float32{1, 2, 3}, Metadata: map[string]any{"i": 3, "f": 3.0, "b": true, "l": []string{"x"}, "s": "v", "empty": []string{}}},
		{ID: "a", Text: "", Vector: []float32{0, 0, 1e-30}},
	}
	if err := s.Upsert(ctx, docs); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	wrote, err := d.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()
	d2, _ := memstore.NewDriver(3, twostage.L2)
	read, err := d2.ReadFrom(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if wrote != int64(len(snap)) || read != wrote {
		t.Errorf("WriteTo reported %d bytes and ReadFrom %d; the snapshot has %d", wrote, read, len(snap))
	}
	got, err := twostage.NewStore(d2).Get(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := s.Get(ctx, []string{"a", "b"})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got %#v, want %#v", got, want)
	}
	if _, ok := got[1].Metadata["f"].(float64); !ok {
		t.Errorf("float 3.0 came back as %T", got[1].Metadata["f"])
	}

	tests := []struct {
		name string
		dim  int
		m    twostage.Metric
		data []byte
		want error
	}{
		{"other dimension", 4, twostage.L2, snap, twostage.ErrDimension},
		{"other metric", 3, twostage.Dot, snap, twostage.ErrInvalidInput},
		{"truncated", 3, twostage.L2, snap[:len(snap)-7], twostage.ErrInvalidInput},
		{"garbage", 3, twostage.L2, []byte("not a snapshot at all"), twostage.ErrInvalidInput},
		{"empty", 3, twostage.L2, nil, twostage.ErrInvalidInput},
	}
	for _, tc := range tests {
		d3, _ := memstore.NewDriver(tc.dim, tc.m)
		if _, err := d3.ReadFrom(bytes.NewReader(tc.data)); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if n, _ := d3.Count(ctx); n != 0 {
			t.Errorf("%s: a rejected snapshot added %d documents", tc.name, n)
		}
	}
}
