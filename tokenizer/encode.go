package tokenizer

import (
	"fmt"
	"runtime"
	"sync"

	"twostage/errdefs"
)

// scratch holds reusable buffers for one encode call.
type scratch struct {
	segs   []segment
	segs2  []segment
	pieces []string
	ids    []int
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// encodeSeq encodes one text without special tokens (Hugging Face's
// encode_single_sequence), with every type id set to typeID.
func (p *pipeline) encodeSeq(text string, typeID int) *Encoding {
	text = sanitize(text)
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	ids := sc.ids[:0]
	segs := p.addedRaw.split(text, sc.segs[:0])
	for _, seg := range segs {
		if seg.tok != nil {
			ids = append(ids, seg.tok.ID)
			continue
		}
		normalized := seg.text
		if p.norm != nil {
			normalized = p.norm.normalize(normalized)
		}
		segs2 := p.addedNorm.split(normalized, sc.segs2[:0])
		for _, s2 := range segs2 {
			if s2.tok != nil {
				ids = append(ids, s2.tok.ID)
				continue
			}
			var pieces []string
			if p.pre != nil {
				pieces = p.pre.split(s2.text, sc.pieces[:0])
			} else {
				pieces = append(sc.pieces[:0], s2.text)
			}
			for _, piece := range pieces {
				ids = p.model.tokenize(piece, ids)
			}
			clear(pieces)
			sc.pieces = pieces[:0]
		}
		sc.segs2 = segs2[:0]
	}
	sc.segs = segs[:0]
	n := len(ids)
	buf := make([]int, 3*n)
	e := &Encoding{IDs: buf[:n:n], TypeIDs: buf[n : 2*n : 2*n], AttentionMask: buf[2*n:], Tokens: make([]string, n)}
	copy(e.IDs, ids)
	for i, id := range ids {
		e.TypeIDs[i] = typeID
		e.AttentionMask[i] = 1
		e.Tokens[i] = p.idToTok[id]
	}
	sc.ids = ids[:0]
	return e
}

// Encode encodes one text. With addSpecial the post-processor adds its
// special tokens (for BERT: [CLS] text [SEP]); without, only the text's
// tokens are returned. Invalid UTF-8 is replaced by U+FFFD first.
func (t *Tokenizer) Encode(text string, addSpecial bool) (*Encoding, error) {
	return t.p.post.process(t.p.encodeSeq(text, 0), nil, addSpecial), nil
}

// EncodePair encodes a pair of texts (query and document for a
// cross-encoder): type ids are 0 for the first text and 1 for the second,
// unless the post-processor's template says otherwise.
func (t *Tokenizer) EncodePair(text, pair string, addSpecial bool) (*Encoding, error) {
	return t.p.post.process(t.p.encodeSeq(text, 0), t.p.encodeSeq(pair, 1), addSpecial), nil
}

// EncodeRaw encodes one text without post-processing: no special tokens,
// every type id set to typeID. Combine with TruncatePair and PostProcess to
// fit a token budget.
func (t *Tokenizer) EncodeRaw(text string, typeID int) *Encoding {
	return t.p.encodeSeq(text, typeID)
}

// PostProcess combines the raw encodings of a text and an optional pair (b
// may be nil), adding the post-processor's special tokens when addSpecial.
func (t *Tokenizer) PostProcess(a, b *Encoding, addSpecial bool) *Encoding {
	return t.p.post.process(a, b, addSpecial)
}

// EncodeBatch encodes inputs in parallel (up to GOMAXPROCS goroutines, all
// finished when it returns) and returns the encodings in input order.
func (t *Tokenizer) EncodeBatch(inputs []Input, addSpecial bool) ([]*Encoding, error) {
	out := make([]*Encoding, len(inputs))
	t.parallel(len(inputs), func(i int) {
		in := inputs[i]
		if in.HasPair {
			out[i], _ = t.EncodePair(in.Text, in.Pair, addSpecial)
		} else {
			out[i], _ = t.Encode(in.Text, addSpecial)
		}
	})
	return out, nil
}

// parallel runs f(0..n-1) on up to GOMAXPROCS goroutines.
func (t *Tokenizer) parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next sync.Mutex
	idx := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				i := idx
				idx++
				next.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// Decode turns ids back into text with the tokenizer's decoder; with
// skipSpecial, special added tokens are left out. An id outside the
// vocabulary is an error wrapping errdefs.ErrInvalidInput.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		tok, ok := t.IDToToken(id)
		if !ok {
			return "", fmt.Errorf("tokenizer: decode: unknown id %d: %w", id, errdefs.ErrInvalidInput)
		}
		if skipSpecial {
			if a, ok := t.p.addedByID[id]; ok && a.Special {
				continue
			}
		}
		toks = append(toks, tok)
	}
	return t.p.dec.decode(toks), nil
}

// TokenToID returns the id of a token (added tokens included).
func (t *Tokenizer) TokenToID(token string) (int, bool) { return t.p.tokenID(token) }

// IDToToken returns the token string of an id.
func (t *Tokenizer) IDToToken(id int) (string, bool) {
	if id < 0 || id >= len(t.p.idToTok) {
		return "", false
	}
	if _, ok := t.p.addedByID[id]; ok {
		return t.p.idToTok[id], true
	}
	tok := t.p.idToTok[id]
	if tok == "" {
		if _, ok := t.p.vocab[""]; !ok {
			return "", false
		}
	}
	return tok, true
}

// VocabSize returns the number of distinct tokens, added tokens included
// (Hugging Face's get_vocab_size(true)).
func (t *Tokenizer) VocabSize() int { return t.p.vocabSize }

// NumSpecialTokens returns how many tokens the post-processor adds to a
// single text (pair false) or a pair.
func (t *Tokenizer) NumSpecialTokens(pair bool) int { return t.p.post.numSpecial(pair) }
