package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// wordPiece is the WordPiece model: greedy longest-match-first.
type wordPiece struct {
	vocab    map[string]int
	cont     map[string]int // tokens starting with prefix, prefix removed
	prefix   string
	unkID    int
	maxChars int
}

func newWordPiece(vocab map[string]int, prefix string, unkID, maxChars int) *wordPiece {
	w := &wordPiece{vocab: vocab, cont: make(map[string]int), prefix: prefix, unkID: unkID, maxChars: maxChars}
	for tok, id := range vocab {
		if rest, ok := strings.CutPrefix(tok, prefix); ok {
			w.cont[rest] = id
		}
	}
	return w
}

func (w *wordPiece) tokenize(piece string, ids []int) []int {
	if piece == "" {
		return ids
	}
	if utf8.RuneCountInString(piece) > w.maxChars {
		return append(ids, w.unkID)
	}
	start0 := len(ids)
	for start := 0; start < len(piece); {
		end := len(piece)
		found := -1
		for start < end {
			sub := piece[start:end]
			var id int
			var ok bool
			if start > 0 {
				id, ok = w.cont[sub]
			} else {
				id, ok = w.vocab[sub]
			}
			if ok {
				found = id
				break
			}
			_, lw := utf8.DecodeLastRuneInString(sub)
			end -= lw
		}
		if found < 0 {
			return append(ids[:start0], w.unkID)
		}
		ids = append(ids, found)
		start = end
	}
	return ids
}
