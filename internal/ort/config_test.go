package ort

import (
	"errors"
	"strings"
	"testing"

	"twostage/errdefs"
	"twostage/internal/testassets"
)

func TestSessionConfigEntries(t *testing.T) {
	testassets.ONNXRuntime(t)
	path := addModel(t)
	for _, entries := range []map[string]string{
		{"session.intra_op.allow_spinning": "0"},
		{"session.intra_op.allow_spinning": "0", "session.inter_op.allow_spinning": "0"},
	} {
		s, err := NewSession(path, &SessionOptions{IntraOpThreads: 2, ConfigEntries: entries})
		if err != nil {
			t.Fatalf("%v: %v", entries, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// ONNX Runtime rejects an empty key; the error must say so and wrap
	// ErrInvalidInput.
	_, err := NewSession(path, &SessionOptions{ConfigEntries: map[string]string{"": "x"}})
	if !errors.Is(err, errdefs.ErrInvalidInput) || !strings.Contains(err.Error(), "session config entry") {
		t.Fatalf("empty key: %v; want ErrInvalidInput naming the entry", err)
	}
}
