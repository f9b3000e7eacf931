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

// TestStoreSpecBadKeys checks store specs that are ErrBadSpec with an error
// naming the offending key, the same one on every run (50 each): a key
// given twice (rather than the first value being used and the second
// silently dropped); unknown keys (the first in sorted order); malformed
// HNSW keys (ef, then ef_construction, then max_connections, not whichever
// a map iteration meets first); a boolean option with a value other than
// 1, true, 0 or false (rather than read as false: tls=yes silently dialing
// plain HTTP, exact=on searching approximately).
func TestStoreSpecBadKeys(t *testing.T) {
	ctx := context.Background()
	info := twostage.Info{Dim: 4, Metric: twostage.Cosine}
	for _, tt := range []struct{ spec, want string }{
		{"weaviate://127.0.0.1:1/C?ef=100&ef=200", "given twice"},
		{"weaviate://127.0.0.1:1/C?index=hnsw&index=flat", "given twice"},
		{"qdrant://127.0.0.1:1/c?exact=true&exact=false", "given twice"},
		{"weaviate://127.0.0.1:1/C?zz=1&yy=2&aa=3", `unknown option "aa"`},
		{"weaviate://127.0.0.1:1/C?max_connections=x&ef_construction=y&ef=z", `ef="z"`},
		{"weaviate://127.0.0.1:1/C?tls=yes", "tls"},
		{"qdrant://127.0.0.1:1/c?exact=on", "exact"},
	} {
		for range 50 {
			_, err := OpenStore(ctx, tt.spec, info)
			if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: err = %v, want ErrBadSpec with %q", tt.spec, err, tt.want)
				break
			}
		}
	}
}
