package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"twostage/rerank/remote"
)

// TestRemoteSpecFragments: the SDKs' base URL form is accepted, and a
// ZeroEntropy spec sets its latency mode in the fragment.
func TestRemoteSpecFragments(t *testing.T) {
	t.Setenv("ZEROENTROPY_API_KEY", "k")
	ctx := context.Background()
	for _, tt := range []struct{ spec, url string }{
		{"cohere:https://api.cohere.com/v2#model=rerank-v3.5", "https://api.cohere.com/v2/rerank"},
		{"vllm:http://gpu:8000/v1", "http://gpu:8000/v1/rerank"},
		{"zeroentropy:http://ze:9000/v1#latency=slow&model=zerank-2", "http://ze:9000/v1/models/rerank"},
		{"zeroentropy:#latency=auto", "https://api.zeroentropy.dev/v1/models/rerank"},
	} {
		r, err := openReranker(ctx, tt.spec)
		if err != nil {
			t.Errorf("%s: %v", tt.spec, err)
			continue
		}
		if rr, ok := r.(*remote.Reranker); !ok || rr.URL() != tt.url {
			t.Errorf("%s: %v, want %s", tt.spec, r, tt.url)
		}
		closeAll(r)
	}
	for _, tt := range []struct{ spec, msg string }{
		{"zeroentropy:#latency=medium", "latency"},
		{"cohere:http://x#latency=fast", "latency"},
		{"cohere:http://x#colour=red", "unknown fragment key"},
	} {
		_, err := openReranker(ctx, tt.spec)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want a usage error mentioning %q", tt.spec, err, tt.msg)
		}
	}
}
