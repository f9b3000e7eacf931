package weaviatestore

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"twostage"
)

func TestHNSWConfig(t *testing.T) {
	// A class's vectorIndexConfig as the client decodes it: JSON numbers.
	var cfg map[string]any
	if err := json.Unmarshal([]byte(`{"distance":"cosine","ef":-1,"efConstruction":128,"maxConnections":32,"dynamicEfMin":100}`), &cfg); err != nil {
		t.Fatal(err)
	}
	have := readHNSW(cfg)
	if want := (HNSW{Ef: -1, EfConstruction: 128, MaxConnections: 32}); have != want {
		t.Fatalf("readHNSW = %+v, want %+v", have, want)
	}

	created := map[string]any{"distance": "dot"}
	HNSW{Ef: 2048, MaxConnections: 16}.apply(created)
	if created["ef"] != 2048 || created["maxConnections"] != 16 || len(created) != 3 {
		t.Errorf("apply: %v, want ef 2048 and maxConnections 16 beside the distance, nothing else", created)
	}

	for _, tt := range []struct {
		want    HNSW
		index   string
		errPart string // "" for a match
	}{
		{HNSW{}, "hnsw", ""},
		{HNSW{}, "flat", ""},
		{HNSW{Ef: -1}, "hnsw", ""},
		{HNSW{EfConstruction: 128, MaxConnections: 32}, "hnsw", ""},
		{HNSW{Ef: 2048}, "hnsw", `has hnsw ef -1, options say 2048`},
		{HNSW{MaxConnections: 16}, "hnsw", `has hnsw maxConnections 32, options say 16 (fixed when`},
		{HNSW{Ef: 100}, "flat", `has a flat index`},
	} {
		err := matchHNSW("Docs", tt.index, tt.want, have)
		switch {
		case tt.errPart == "" && err != nil:
			t.Errorf("match %+v on %s: %v, want nil", tt.want, tt.index, err)
		case tt.errPart != "" && (!errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), tt.errPart)):
			t.Errorf("match %+v on %s: %v, want ErrInvalidInput saying %q", tt.want, tt.index, err, tt.errPart)
		}
	}
	if got := (HNSW{Ef: 64, MaxConnections: 8}).String(); got != "ef=64 maxConnections=8" {
		t.Errorf("String = %q", got)
	}
}
