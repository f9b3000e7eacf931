package tokenizer

import (
	"slices"
	"strings"
	"unicode"
)

// A preTokenizer appends the pieces of s to out. Pieces are substrings of s
// (or, with a prefix space, s with a space prepended); empty pieces are never
// appended, as in Hugging Face's PreTokenizedString.
type preTokenizer interface {
	split(s string, out []string) []string
}

// seqPre applies pre-tokenizers in order, each to every piece of the previous.
type seqPre struct{ steps []preTokenizer }

func (p *seqPre) split(s string, out []string) []string {
	if len(p.steps) == 0 {
		if s != "" {
			out = append(out, s)
		}
		return out
	}
	start := len(out)
	out = p.steps[0].split(s, out)
	var tmp []string
	for _, step := range p.steps[1:] {
		tmp = append(tmp[:0], out[start:]...)
		out = out[:start]
		for _, piece := range tmp {
			out = step.split(piece, out)
		}
	}
	return out
}

// splitPattern finds the matches of a Split pattern: it returns the end of
// the match starting at i, or i when none starts there.
type matcher func(s string, i int) int

// splitBehavior is Hugging Face's SplitDelimiterBehavior.
type splitBehavior int

const (
	behRemoved splitBehavior = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

// splitPre is the Split pre-tokenizer over one of the supported patterns.
type splitPre struct {
	match    matcher
	behavior splitBehavior
	invert   bool
}

type span struct {
	start, end int
	isMatch    bool
}

// findMatches mirrors Pattern::find_matches: matches and the gaps between
// them, covering s.
func findMatches(s string, m matcher, invert bool, buf []span) []span {
	buf = buf[:0]
	prev := 0
	for i := 0; i < len(s); {
		end := m(s, i)
		if end <= i {
			_, w := decode(s, i)
			i += w
			continue
		}
		if prev != i {
			buf = append(buf, span{prev, i, invert})
		}
		buf = append(buf, span{i, end, !invert})
		prev, i = end, end
	}
	if prev != len(s) {
		buf = append(buf, span{prev, len(s), invert})
	}
	return buf
}

func (p *splitPre) split(s string, out []string) []string {
	if s == "" {
		return out
	}
	if p.behavior == behIsolated && !p.invert {
		// Fast path without the span buffer: every match and gap is a piece.
		prev := 0
		for i := 0; i < len(s); {
			end := p.match(s, i)
			if end <= i {
				_, w := decode(s, i)
				i += w
				continue
			}
			if prev != i {
				out = append(out, s[prev:i])
			}
			out = append(out, s[i:end])
			prev, i = end, end
		}
		if prev != len(s) {
			out = append(out, s[prev:])
		}
		return out
	}
	spans := findMatches(s, p.match, p.invert, nil)
	return applyBehavior(s, spans, p.behavior, out)
}

// applyBehavior mirrors NormalizedString::split.
func applyBehavior(s string, spans []span, b splitBehavior, out []string) []string {
	type piece struct {
		start, end int
		remove     bool
	}
	var ps []piece
	switch b {
	case behIsolated:
		for _, sp := range spans {
			ps = append(ps, piece{sp.start, sp.end, false})
		}
	case behRemoved:
		for _, sp := range spans {
			ps = append(ps, piece{sp.start, sp.end, sp.isMatch})
		}
	case behContiguous:
		prevMatch := false
		for i, sp := range spans {
			if i > 0 && sp.isMatch == prevMatch {
				ps[len(ps)-1].end = sp.end
			} else {
				ps = append(ps, piece{sp.start, sp.end, false})
			}
			prevMatch = sp.isMatch
		}
	case behMergedWithPrevious, behMergedWithNext:
		// A match joins the piece before it; MergedWithNext is the same
		// walk from the end, joining the piece after it.
		next := b == behMergedWithNext
		prevMatch := false
		for i := range spans {
			sp := spans[i]
			if next {
				sp = spans[len(spans)-1-i]
			}
			switch {
			case !sp.isMatch || prevMatch || len(ps) == 0:
				ps = append(ps, piece{sp.start, sp.end, false})
			case next:
				ps[len(ps)-1].start = sp.start
			default:
				ps[len(ps)-1].end = sp.end
			}
			prevMatch = sp.isMatch
		}
		if next {
			slices.Reverse(ps)
		}
	}
	for _, p := range ps {
		if !p.remove && p.end > p.start {
			out = append(out, s[p.start:p.end])
		}
	}
	return out
}

// literalMatcher matches a Split String pattern.
func literalMatcher(lit string) matcher {
	return func(s string, i int) int {
		if lit != "" && strings.HasPrefix(s[i:], lit) {
			return i + len(lit)
		}
		return i
	}
}

// Known Split regular expressions, implemented by hand-written scanners with
// Oniguruma's backtracking semantics (leftmost alternative wins, greedy
// quantifiers, the negative lookahead of \s+(?!\S)).
const (
	// patQwen is the Qwen2/Qwen3 pattern.
	patQwen = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// patLlama3 is the cl100k/Llama 3 pattern: up to three digits per piece.
	patLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// patGPT2 is the GPT-2 pattern, also used by ByteLevel with use_regex.
	patGPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

var knownPatterns = map[string]matcher{
	patQwen:   func(s string, i int) int { return scanLlama(s, i, 1) },
	patLlama3: func(s string, i int) int { return scanLlama(s, i, 3) },
	patGPT2:   scanGPT2,
}

// contraction returns the length of the contraction suffix ('s, 't, 're,
// 've, 'm, 'll, 'd without the apostrophe) at the start of s, or 0. With
// fold, letters match case-insensitively under Unicode simple case folding,
// where U+017F (long s) folds to s.
func contraction(s string, fold bool) int {
	if s == "" {
		return 0
	}
	c := s[0]
	if fold {
		if c == 0xC5 && len(s) > 1 && s[1] == 0xBF { // U+017F
			return 2
		}
		c = lowerASCII(c)
	}
	switch c {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v', 'l':
		if len(s) < 2 {
			return 0
		}
		c2 := s[1]
		if fold {
			c2 = lowerASCII(c2)
		}
		if (c == 'r' || c == 'v') && c2 == 'e' || c == 'l' && c2 == 'l' {
			return 2
		}
	}
	return 0
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// classRun returns the end of the run of runes of class cls starting at i.
func classRun(s string, i int, cls uint8) int {
	for i < len(s) {
		r, w := decode(s, i)
		if runeClass(r) != cls {
			break
		}
		i += w
	}
	return i
}

// spaceTail handles the whitespace alternatives shared by both patterns at a
// whitespace rune at i: \s*[\r\n]+ (when crlf), then \s+(?!\S), then \s+.
func spaceTail(s string, i int, crlf bool) int {
	end := classRun(s, i, clsSpace)
	if crlf {
		for k := end - 1; k >= i; k-- {
			if s[k] == '\r' || s[k] == '\n' {
				return k + 1
			}
		}
	}
	if end == len(s) {
		return end
	}
	// Back off the last whitespace rune so that (?!\S) holds.
	k := end - 1
	for k > i && s[k]&0xC0 == 0x80 {
		k--
	}
	if k > i {
		return k
	}
	return end
}

// scanLlama matches the Qwen (numMax 1) or Llama 3 (numMax 3) pattern at i.
func scanLlama(s string, i int, numMax int) int {
	r, w := decode(s, i)
	if r == '\'' {
		if n := contraction(s[i+1:], true); n > 0 {
			return i + 1 + n
		}
	}
	c := runeClass(r)
	if c == clsLetter {
		return classRun(s, i+w, clsLetter)
	}
	if r != '\r' && r != '\n' && c != clsNumber && i+w < len(s) {
		if r2, w2 := decode(s, i+w); runeClass(r2) == clsLetter {
			return classRun(s, i+w+w2, clsLetter)
		}
	}
	if c == clsNumber {
		j := i + w
		for k := 1; k < numMax && j < len(s); k++ {
			r2, w2 := decode(s, j)
			if runeClass(r2) != clsNumber {
				break
			}
			j += w2
		}
		return j
	}
	j := i
	if r == ' ' && i+1 < len(s) {
		if r2, _ := decode(s, i+1); runeClass(r2) == clsOther {
			j = i + 1
		}
	}
	if rj, wj := decode(s, j); runeClass(rj) == clsOther {
		j = classRun(s, j+wj, clsOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	return spaceTail(s, i, true)
}

// scanGPT2 matches the GPT-2 pattern at i.
func scanGPT2(s string, i int) int {
	r, w := decode(s, i)
	if r == '\'' {
		if n := contraction(s[i+1:], false); n > 0 {
			return i + 1 + n
		}
	}
	c := runeClass(r)
	if c != clsSpace {
		return classRun(s, i+w, c)
	}
	if r == ' ' && i+1 < len(s) {
		if r2, w2 := decode(s, i+1); runeClass(r2) != clsSpace {
			return classRun(s, i+1+w2, runeClass(r2))
		}
	}
	return spaceTail(s, i, false)
}

// bertPre is BertPreTokenizer: split on whitespace (removed), then isolate
// each punctuation character.
type bertPre struct{}

func (bertPre) split(s string, out []string) []string {
	start := 0
	for i := 0; i < len(s); {
		r, w := decode(s, i)
		switch {
		case isBertSpace(r):
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + w
		case isBertPunct(r):
			if i > start {
				out = append(out, s[start:i])
			}
			out = append(out, s[i:i+w])
			start = i + w
		}
		i += w
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// whitespaceSplitPre is WhitespaceSplit: split on whitespace, removed.
type whitespaceSplitPre struct{}

func (whitespaceSplitPre) split(s string, out []string) []string {
	start := 0
	for i := 0; i < len(s); {
		r, w := decode(s, i)
		if isBertSpace(r) {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + w
		}
		i += w
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// byteLevelPre is the ByteLevel pre-tokenizer. The byte-to-character mapping
// itself is done by the BPE model (it works on bytes); this step only adds the
// prefix space and applies the GPT-2 split when configured.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
}

func (p *byteLevelPre) split(s string, out []string) []string {
	if s == "" {
		return out
	}
	if p.addPrefixSpace && s[0] != ' ' {
		s = " " + s
	}
	if !p.useRegex {
		return append(out, s)
	}
	return (&splitPre{match: scanGPT2, behavior: behIsolated}).split(s, out)
}

// isBertSpace is Rust's char::is_whitespace (Unicode White_Space).
func isBertSpace(r rune) bool { return unicode.IsSpace(r) }

// isBertPunct is ASCII punctuation or a Unicode punctuation (P*) character,
// per the reference's Unicode data.
func isBertPunct(r rune) bool {
	if r >= 128 {
		for _, o := range bertPunctOverride {
			if r >= o.lo && r <= o.hi {
				return o.punct
			}
		}
	}
	return isBertPunctBase(r)
}

// isBertPunctBase is isBertPunct with Go's Unicode tables.
func isBertPunctBase(r rune) bool {
	if r < 128 {
		return r > ' ' && r < 127 && !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}
	return unicode.IsPunct(r)
}
