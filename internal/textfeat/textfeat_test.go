package textfeat

import (
	"slices"
	"testing"
)

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"What is Machine-Learning?", []string{"what", "is", "machine", "learning"}},
		{"  tabs\tand\nnewlines  ", []string{"tabs", "and", "newlines"}},
		{"Café naïve x2 3.14", []string{"café", "naïve", "x2", "3", "14"}},
		{"日本語 テキスト", []string{"日本語", "テキスト"}},
		{"bad \xff byte", []string{"bad", "byte"}},
	}
	for _, tc := range tests {
		if got := Words(nil, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Words(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
