// Package textfeat splits text into the lowercase word tokens that the
// model-free stages (embed.Hashing, rerank.Lexical) share, so the first stage
// and the reranker see the same words.
package textfeat

import (
	"strings"
	"unicode"
)

// Words appends the lowercase words of s to dst and returns it. A word is a
// run of letters, digits and marks; everything else separates words.
func Words(dst []string, s string) []string {
	start := -1
	for i, r := range s {
		inWord := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
		switch {
		case inWord && start < 0:
			start = i
		case !inWord && start >= 0:
			dst = append(dst, strings.ToLower(s[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		dst = append(dst, strings.ToLower(s[start:]))
	}
	return dst
}
