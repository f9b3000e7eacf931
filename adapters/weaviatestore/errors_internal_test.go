package weaviatestore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/weaviate/weaviate-go-client/v4/weaviate/fault"
)

func TestUnreachableWhileShardsLoad(t *testing.T) {
	loading := &fault.WeaviateClientError{IsUnexpectedStatusCode: true, StatusCode: 500,
		Msg: `{"error":[{"message":"could not delete object from vector repo: delete from non-existing index for Restart"}]}`}
	other := &fault.WeaviateClientError{IsUnexpectedStatusCode: true, StatusCode: 500, Msg: `{"error":[{"message":"boom"}]}`}
	tests := []struct {
		err  error
		want bool
	}{
		{loading, true},
		{errors.Join(fmt.Errorf("delete: %w", loading), nil), true}, // as deleteObjects joins them
		{other, false},
	}
	for _, tt := range tests {
		if got := unreachable(tt.err); got != tt.want {
			t.Errorf("unreachable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
