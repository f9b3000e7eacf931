package spec

import (
	"context"
	"errors"
	"strings"
	"testing"

	"twostage"
)

// TestWeaviateHNSWOptions checks the HNSW keys of weaviate:// specs that
// fail before any request: malformed values are ErrBadSpec, values
// Weaviate would refuse are the adapter's ErrInvalidInput. (That they
// reach the class is tested against a real server in integration_tests,
// TestWeaviateHNSWSettings.)
func TestWeaviateHNSWOptions(t *testing.T) {
	ctx := context.Background()
	info := twostage.Info{Dim: 4, Metric: twostage.Cosine}
	for _, tt := range []struct {
		spec    string
		badSpec bool // ErrBadSpec; otherwise only ErrInvalidInput
	}{
		{"weaviate://127.0.0.1:1/C?ef=x", true},
		{"weaviate://127.0.0.1:1/C?ef=-2", true},
		{"weaviate://127.0.0.1:1/C?ef_construction=1.5", true},
		{"weaviate://127.0.0.1:1/C?max_connections=-1", true},
		{"weaviate://127.0.0.1:1/C?efConstruction=64", true}, // Weaviate's spelling is not a spec key
		{"weaviate://127.0.0.1:1/C?ef_construction=2", false},
		{"weaviate://127.0.0.1:1/C?max_connections=4096", false},
		{"weaviate://127.0.0.1:1/C?index=flat&ef=100", false},
	} {
		_, err := OpenStore(ctx, tt.spec, info)
		if !errors.Is(err, twostage.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", tt.spec, err)
			continue
		}
		if got := errors.Is(err, ErrBadSpec); got != tt.badSpec {
			t.Errorf("%s: errors.Is(err, ErrBadSpec) = %v, want %v (err %v)", tt.spec, got, tt.badSpec, err)
		}
	}
}

// TestServerSpecRepeatedKey checks that a key given twice in a store spec's
// query is refused (ErrBadSpec, naming the key) rather than the first value
// being used and the second silently dropped.
func TestServerSpecRepeatedKey(t *testing.T) {
	ctx := context.Background()
	info := twostage.Info{Dim: 4, Metric: twostage.Cosine}
	for _, spec := range []string{
		"weaviate://127.0.0.1:1/C?ef=100&ef=200",
		"weaviate://127.0.0.1:1/C?index=hnsw&index=flat",
		"qdrant://127.0.0.1:1/c?exact=true&exact=false",
	} {
		_, err := OpenStore(ctx, spec, info)
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("%s: err = %v, want ErrBadSpec saying a key is given twice", spec, err)
		}
	}
}

// TestWeaviateHNSWFirstBadKey checks that with several malformed HNSW keys
// the error names the same one every time (ef, then ef_construction, then
// max_connections), not whichever a map iteration meets first.
func TestWeaviateHNSWFirstBadKey(t *testing.T) {
	ctx := context.Background()
	info := twostage.Info{Dim: 4, Metric: twostage.Cosine}
	const spec = "weaviate://127.0.0.1:1/C?max_connections=x&ef_construction=y&ef=z"
	for range 50 {
		_, err := OpenStore(ctx, spec, info)
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), `ef="z"`) {
			t.Fatalf("err = %v, want ErrBadSpec naming ef=\"z\"", err)
		}
	}
}

// TestServerSpecFirstUnknownKey checks that with several unknown keys the
// error names the same one every time (the first in sorted order).
func TestServerSpecFirstUnknownKey(t *testing.T) {
	ctx := context.Background()
	info := twostage.Info{Dim: 4, Metric: twostage.Cosine}
	const spec = "weaviate://127.0.0.1:1/C?zz=1&yy=2&aa=3"
	for range 50 {
		_, err := OpenStore(ctx, spec, info)
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), `unknown option "aa"`) {
			t.Fatalf("err = %v, want ErrBadSpec naming aa", err)
		}
	}
}

// TestServerSpecBadBool checks that a boolean store option with a value
// other than 1, true, 0 or false is ErrBadSpec naming it, rather than read
// as false (tls=yes silently dialing plain HTTP, exact=on searching
// approximately).
func TestServerSpecBadBool(t *testing.T) {
	ctx := context.Background()
	info := twostage.Info{Dim: 4, Metric: twostage.Cosine}
	for _, tt := range []struct{ spec, key string }{
		{"weaviate://127.0.0.1:1/C?tls=yes", "tls"},
		{"qdrant://127.0.0.1:1/c?exact=on", "exact"},
	} {
		_, err := OpenStore(ctx, tt.spec, info)
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s: err = %v, want ErrBadSpec naming %s", tt.spec, err, tt.key)
		}
	}
}
