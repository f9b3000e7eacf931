package spec

import (
	"context"
	"errors"
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
