package tokenizer

import (
	"sort"
	"strings"
	"unicode"
)

// addedToken is one entry of a tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens in text, leftmost-longest, as the
// Aho-Corasick automaton of Hugging Face's AddedVocabulary does.
type addedMatcher struct {
	patterns []string
	tokens   []*addedToken
	byFirst  [256][]int // pattern indexes by first byte, longest first
}

func newAddedMatcher(tokens []*addedToken, pattern func(*addedToken) string) *addedMatcher {
	m := &addedMatcher{}
	for _, t := range tokens {
		p := pattern(t)
		if p == "" {
			continue
		}
		m.patterns = append(m.patterns, p)
		m.tokens = append(m.tokens, t)
	}
	for i, p := range m.patterns {
		m.byFirst[p[0]] = append(m.byFirst[p[0]], i)
	}
	for b := range m.byFirst {
		idx := m.byFirst[b]
		sort.SliceStable(idx, func(i, j int) bool { return len(m.patterns[idx[i]]) > len(m.patterns[idx[j]]) })
	}
	return m
}

func (m *addedMatcher) empty() bool { return m == nil || len(m.patterns) == 0 }

// next returns the leftmost-longest match at or after from.
func (m *addedMatcher) next(s string, from int) (start, end int, tok *addedToken, ok bool) {
	for i := from; i < len(s); i++ {
		for _, k := range m.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], m.patterns[k]) {
				return i, i + len(m.patterns[k]), m.tokens[k], true
			}
		}
	}
	return 0, 0, nil, false
}

// segment is a piece of input: either an added token or text.
type segment struct {
	text string
	tok  *addedToken
}

// split mirrors AddedVocabulary::find_matches followed by the split of the
// pre-tokenized string: text gaps and matched tokens, empty gaps dropped.
func (m *addedMatcher) split(s string, out []segment) []segment {
	if m.empty() {
		if s != "" {
			out = append(out, segment{text: s})
		}
		return out
	}
	startOffset := 0
	for pos := 0; pos < len(s); {
		start, stop, tok, ok := m.next(s, pos)
		if !ok {
			break
		}
		pos = stop
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			if ns := spaceLeftmostAtEnd(s[:start]); ns > startOffset {
				start = ns
			} else {
				start = startOffset
			}
		}
		if tok.RStrip {
			stop += spaceRightmostAtStart(s[stop:])
			pos = stop
		}
		if start > startOffset {
			out = append(out, segment{text: s[startOffset:start]})
		}
		out = append(out, segment{text: s[start:stop], tok: tok})
		startOffset = stop
	}
	if startOffset < len(s) {
		out = append(out, segment{text: s[startOffset:]})
	}
	return out
}

func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.M, r)
}

func endsWithWord(s string) bool {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			r, _ := decode(s, i)
			return isWordChar(r)
		}
	}
	return false
}

func startsWithWord(s string) bool {
	if s == "" {
		return false
	}
	r, _ := decode(s, 0)
	return isWordChar(r)
}

// spaceLeftmostAtEnd returns the index where the trailing whitespace of s starts.
func spaceLeftmostAtEnd(s string) int {
	i := len(s)
	for i > 0 {
		j := i - 1
		for j > 0 && s[j]&0xC0 == 0x80 {
			j--
		}
		r, _ := decode(s, j)
		if !unicode.IsSpace(r) {
			break
		}
		i = j
	}
	return i
}

// spaceRightmostAtStart returns the byte length of the leading whitespace of s.
func spaceRightmostAtStart(s string) int {
	i := 0
	for i < len(s) {
		r, w := decode(s, i)
		if !unicode.IsSpace(r) {
			break
		}
		i += w
	}
	return i
}
