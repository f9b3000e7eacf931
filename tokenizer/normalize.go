package tokenizer

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A normalizer rewrites a piece of input text before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

type seqNorm struct{ steps []normalizer }

func (n *seqNorm) normalize(s string) string {
	for _, st := range n.steps {
		s = st.normalize(s)
	}
	return s
}

// unicodeNorm is the NFKC or NFKD normalizer.
type unicodeNorm struct{ form norm.Form }

func (n unicodeNorm) normalize(s string) string {
	if isASCII(s) {
		return s
	}
	return n.form.String(s)
}

// canonicalNorm is the NFC (compose) or NFD normalizer, with the
// reference's Unicode data (see nfc.go).
type canonicalNorm struct{ compose bool }

func (n canonicalNorm) normalize(s string) string { return canonical(s, n.compose) }

// lowercaseNorm is the Lowercase normalizer (Rust char::to_lowercase).
type lowercaseNorm struct{}

func (lowercaseNorm) normalize(s string) string { return lowercase(s) }

// stripAccentsNorm is the StripAccents normalizer: removes nonspacing marks.
// Like Hugging Face's it does not decompose first (pair it with NFD).
type stripAccentsNorm struct{}

func (stripAccentsNorm) normalize(s string) string { return removeMn(s) }

// bertNorm is BertNormalizer.
type bertNorm struct {
	cleanText, chineseChars, stripAccents, lowercase bool
	full                                             bool // all four: bertOverride applies
}

func (n *bertNorm) normalize(s string) string {
	if isASCII(s) {
		return n.normalizeASCII(s)
	}
	b := make([]byte, 0, len(s)+8)
	for _, r := range s {
		b = n.appendRune(b, r)
	}
	if n.stripAccents {
		// Per-rune decomposition leaves marks of adjacent runes unordered;
		// canonical reordering (with the reference's combining classes)
		// gives what whole-string NFD gives.
		return canonical(string(b), false)
	}
	return string(b)
}

// appendRune appends the normalization of one rune. Runes whose Unicode
// properties differ between Go's tables and the Unicode data compiled into
// the reference (see tables.go) take their result from bertOverride.
func (n *bertNorm) appendRune(b []byte, r rune) []byte {
	if n.full {
		if out, ok := bertOverride[r]; ok {
			return append(b, out...)
		}
	}
	return n.appendPlain(b, r)
}

func (n *bertNorm) appendPlain(b []byte, r rune) []byte {
	if n.cleanText {
		if r == 0 || r == utf8.RuneError || isBertControl(r) {
			return b
		}
		if unicode.IsSpace(r) {
			return append(b, ' ')
		}
	}
	if n.chineseChars && isChineseChar(r) {
		b = append(b, ' ')
		b = n.appendStripLower(b, r)
		return append(b, ' ')
	}
	return n.appendStripLower(b, r)
}

// appendStripLower appends r decomposed without nonspacing marks (when
// stripping accents) and lowercased (when lowercasing).
func (n *bertNorm) appendStripLower(b []byte, r rune) []byte {
	if !n.stripAccents {
		return n.appendLower(b, r)
	}
	var stack [8]cpc
	for _, c := range appendDecomposed(stack[:0], r) {
		if !unicode.Is(unicode.Mn, c.r) {
			b = n.appendLower(b, c.r)
		}
	}
	return b
}

func (n *bertNorm) appendLower(b []byte, r rune) []byte {
	if !n.lowercase {
		return utf8.AppendRune(b, r)
	}
	if r == 0x130 {
		return append(b, "i\u0307"...)
	}
	return utf8.AppendRune(b, unicode.ToLower(r))
}

// normalizeASCII is the same transformation for ASCII-only text.
func (n *bertNorm) normalizeASCII(s string) string {
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if n.cleanText && (c < 0x20 || c == 0x7f) || n.lowercase && c >= 'A' && c <= 'Z' {
			changed = true
			break
		}
	}
	if !changed {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if n.cleanText {
			switch {
			case c == '\t' || c == '\n' || c == '\r':
				c = ' '
			case c < 0x20 || c == 0x7f:
				continue
			}
		}
		if n.lowercase {
			c = lowerASCII(c)
		}
		b = append(b, c)
	}
	return string(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isBertControl is BertNormalizer's is_control: a character of category
// Cc, Cf, Co, Cs or Cn (unassigned), except tab, newline and carriage return.
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if r < 0x10000 {
		bmpControlOnce.Do(initBMPControl)
		return bmpControl[r>>6]&(1<<(r&63)) != 0
	}
	return slowBertControl(r)
}

func slowBertControl(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) || !isAssigned(r)
}

var (
	bmpControlOnce sync.Once
	bmpControl     [0x10000 / 64]uint64 // isBertControl for the BMP, built on first use
)

func initBMPControl() {
	for r := rune(0); r < 0x10000; r++ {
		if r != '\t' && r != '\n' && r != '\r' && slowBertControl(r) {
			bmpControl[r>>6] |= 1 << (r & 63)
		}
	}
}

// isAssigned reports whether r has a general category other than Cn.
func isAssigned(r rune) bool {
	for _, t := range unicode.Categories {
		if unicode.Is(t, r) {
			return true
		}
	}
	return false
}

// isChineseChar is the CJK ideograph test of BertNormalizer.
func isChineseChar(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF,
		r >= 0x3400 && r <= 0x4DBF,
		r >= 0x20000 && r <= 0x2A6DF,
		r >= 0x2A700 && r <= 0x2B73F,
		r >= 0x2B740 && r <= 0x2B81F,
		r >= 0x2B920 && r <= 0x2CEAF,
		r >= 0xF900 && r <= 0xFAFF,
		r >= 0x2F800 && r <= 0x2FA1F:
		return true
	}
	return false
}

// removeMn drops nonspacing marks (category Mn).
func removeMn(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lowercase maps every character through Rust's char::to_lowercase: the
// simple lowercase mapping, except U+0130 which lowercases to "i\u0307".
// There is no final-sigma rule (Rust applies it only to whole strings).
func lowercase(s string) string {
	if isASCII(s) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c >= 'A' && c <= 'Z' {
				return strings.ToLower(s)
			}
		}
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == 0x130 {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
