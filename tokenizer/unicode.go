package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes used by the pre-tokenizer scanners. The regular
// expressions of Hugging Face tokenizers run on Oniguruma, whose \s is the
// Unicode White_Space property, \p{L} the letter categories and \p{N} the
// number categories; Go's unicode tables give the same sets (checked against
// the reference for every code point by TestCodepointClassesMatchReference).

const (
	clsOther uint8 = iota
	clsLetter
	clsNumber
	clsSpace
)

// bmpClass caches the class of every code point of the Basic Multilingual Plane.
var bmpClass = func() *[65536]uint8 {
	var t [65536]uint8
	for r := rune(0); r < 65536; r++ {
		t[r] = slowClass(r)
	}
	for _, o := range qwenClassOverride {
		for r := o.lo; r <= o.hi && r < 65536; r++ {
			t[r] = o.cls
		}
	}
	return &t
}()

// classOverride sets the class of the code points lo..hi.
type classOverride struct {
	lo, hi rune
	cls    uint8
}

// punctOverride sets the BERT punctuation status of lo..hi.
type punctOverride struct {
	lo, hi rune
	punct  bool
}

func slowClass(r rune) uint8 {
	switch {
	case unicode.IsSpace(r):
		return clsSpace
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	}
	return clsOther
}

func runeClass(r rune) uint8 {
	if r < 65536 {
		return bmpClass[r]
	}
	for _, o := range qwenClassOverride {
		if r >= o.lo && r <= o.hi {
			return o.cls
		}
	}
	return slowClass(r)
}

// decode returns the rune at s[i:] and its width; s is valid UTF-8.
func decode(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// sanitize replaces each maximal ill-formed subsequence of s by U+FFFD, as
// Rust's String::from_utf8_lossy and the WHATWG decoder do.
func sanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		if r, w := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || w > 1 {
			out = append(out, s[i:i+w]...)
			i += w
			continue
		}
		// Invalid: consume the longest prefix of a well-formed sequence.
		n := 1
		lo, hi := byte(0x80), byte(0xBF)
		need := 0
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			need = 2
		case c == 0xED:
			need, hi = 2, 0x9F
		case c == 0xF0:
			need, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		}
		for k := 0; k < need && i+n < len(s); k++ {
			b := s[i+n]
			if b < lo || b > hi {
				break
			}
			lo, hi = 0x80, 0xBF
			n++
		}
		out = append(out, "\uFFFD"...)
		i += n
	}
	return string(out)
}
