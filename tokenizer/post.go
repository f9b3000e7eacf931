package tokenizer

// A postProcessor combines the encodings of one or two sequences, adding
// special tokens when asked.
type postProcessor interface {
	process(a, b *Encoding, addSpecial bool) *Encoding
	numSpecial(pair bool) int
}

// defaultPost is what Hugging Face does without a post-processor (and what
// the ByteLevel post-processor does to ids): concatenate, type ids kept.
type defaultPost struct{}

func (defaultPost) process(a, b *Encoding, _ bool) *Encoding {
	if b == nil {
		return a
	}
	return concatEncodings(a, b)
}

func (defaultPost) numSpecial(bool) int { return 0 }

func concatEncodings(parts ...*Encoding) *Encoding {
	n := 0
	for _, p := range parts {
		n += len(p.IDs)
	}
	out := &Encoding{IDs: make([]int, 0, n), TypeIDs: make([]int, 0, n), AttentionMask: make([]int, 0, n), Tokens: make([]string, 0, n)}
	for _, p := range parts {
		out.IDs = append(out.IDs, p.IDs...)
		out.TypeIDs = append(out.TypeIDs, p.TypeIDs...)
		out.AttentionMask = append(out.AttentionMask, p.AttentionMask...)
		out.Tokens = append(out.Tokens, p.Tokens...)
	}
	return out
}

// templatePiece is one element of a TemplateProcessing template: a sequence
// (seq 0 for A, 1 for B) or a special token, with its type id.
type templatePiece struct {
	seq     int // -1 for a special token
	special *specialToken
	typeID  int
}

type specialToken struct {
	ids    []int
	tokens []string
}

// templatePost is TemplateProcessing (and BertProcessing, expressed as a
// template).
type templatePost struct {
	single, pair []templatePiece
}

func (p *templatePost) process(a, b *Encoding, addSpecial bool) *Encoding {
	tmpl := p.single
	if b != nil {
		tmpl = p.pair
	}
	var parts []*Encoding
	for _, piece := range tmpl {
		if piece.special == nil {
			src := a
			if piece.seq == 1 {
				src = b
			}
			if src == nil {
				continue
			}
			e := &Encoding{IDs: src.IDs, Tokens: src.Tokens, AttentionMask: src.AttentionMask, TypeIDs: make([]int, len(src.IDs))}
			for i := range e.TypeIDs {
				e.TypeIDs[i] = piece.typeID
			}
			parts = append(parts, e)
			continue
		}
		if !addSpecial {
			continue
		}
		n := len(piece.special.ids)
		e := &Encoding{IDs: piece.special.ids, Tokens: piece.special.tokens, TypeIDs: make([]int, n), AttentionMask: make([]int, n)}
		for i := 0; i < n; i++ {
			e.TypeIDs[i] = piece.typeID
			e.AttentionMask[i] = 1
		}
		parts = append(parts, e)
	}
	return concatEncodings(parts...)
}

func (p *templatePost) numSpecial(pair bool) int {
	tmpl := p.single
	if pair {
		tmpl = p.pair
	}
	n := 0
	for _, piece := range tmpl {
		if piece.special != nil {
			n += len(piece.special.ids)
		}
	}
	return n
}

// bertPost is BertProcessing: a fixed template, but without special tokens
// the encodings are only concatenated (type ids as encoded).
type bertPost struct{ t templatePost }

func (p *bertPost) process(a, b *Encoding, addSpecial bool) *Encoding {
	if !addSpecial {
		return defaultPost{}.process(a, b, false)
	}
	return p.t.process(a, b, true)
}

func (p *bertPost) numSpecial(pair bool) int { return p.t.numSpecial(pair) }
