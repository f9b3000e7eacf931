package tokenizer

import (
	"strings"
)

// A decoder joins token strings back into text.
type decoder interface {
	decode(tokens []string) string
}

// byteLevelDec is the ByteLevel decoder: characters of the GPT-2 byte
// alphabet back to bytes, invalid UTF-8 replaced (from_utf8_lossy).
type byteLevelDec struct{}

func (byteLevelDec) decode(tokens []string) string {
	var b []byte
	for _, t := range tokens {
		start := len(b)
		ok := true
		for _, r := range t {
			c, found := charBytes[r]
			if !found {
				ok = false
				break
			}
			b = append(b, c)
		}
		if !ok {
			b = append(b[:start], t...)
		}
	}
	return sanitize(string(b))
}

// wordPieceDec is the WordPiece decoder.
type wordPieceDec struct {
	prefix  string
	cleanup bool
}

var cleanupReplacer = []struct{ from, to string }{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
	{" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

func cleanupText(s string) string {
	for _, r := range cleanupReplacer {
		s = strings.ReplaceAll(s, r.from, r.to)
	}
	return s
}

func (d wordPieceDec) decode(tokens []string) string {
	var b strings.Builder
	for i, t := range tokens {
		if i != 0 {
			if rest, ok := strings.CutPrefix(t, d.prefix); ok {
				t = rest
			} else {
				t = " " + t
			}
		}
		if d.cleanup {
			t = cleanupText(t)
		}
		b.WriteString(t)
	}
	return b.String()
}

// spaceJoinDec is the behaviour without a decoder: tokens joined by spaces.
type spaceJoinDec struct{}

func (spaceJoinDec) decode(tokens []string) string { return strings.Join(tokens, " ") }
