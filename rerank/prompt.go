package rerank

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"twostage/errdefs"
	"twostage/inference"
	"twostage/modeldir"
	"twostage/tokenizer"
)

// Prompt pieces of the decoder families. Hugging Face tokenizes a templated
// string by first splitting it at special tokens and then encoding each
// piece between them on its own, so encoding the same pieces separately
// here gives exactly the tokens of the whole string (engine_test checks
// this), while letting the document's tokens be truncated without touching
// the template.
const (
	// zerankQueryChars and zerankDocChars are the reference implementation's
	// cuts, in characters (code points), applied before templating.
	zerankQueryChars = 2000
	zerankDocChars   = 10000

	// zerank: <|im_start|>system\n{query}<|im_end|>\n<|im_start|>user\n{document}<|im_end|>\n<|im_start|>assistant\n
	zerankPre  = "<|im_start|>"
	zerankQ    = "system\n"
	zerankMid  = "<|im_end|>\n<|im_start|>"
	zerankDoc  = "user\n"
	zerankPost = "<|im_end|>\n<|im_start|>assistant\n"

	// Qwen3-Reranker's official prompt (its model card's usage code): the
	// prefix, the instruction/query/document text and the suffix are
	// tokenized separately there too, and the middle text is truncated on
	// the right to fit.
	qwen3Prefix = "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. " +
		"Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n"
	qwen3Suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
	// DefaultInstruction is Qwen3-Reranker's default task instruction.
	DefaultInstruction = "Given a web search query, retrieve relevant passages that answer the query"
)

// ZerankTemplate renders zerank's input text for a query and a document,
// after the reference implementation's character cuts. The engine never
// tokenizes this string whole; it is the specification the engine's
// piecewise tokenization is tested against.
func ZerankTemplate(query, doc string) string {
	return zerankPre + zerankQ + cutChars(query, zerankQueryChars) + zerankMid + zerankDoc + cutChars(doc, zerankDocChars) + zerankPost
}

// ZerankInstructionTemplate renders zerank's input text with a task
// instruction in ZeroEntropy's format: the system turn becomes
// <query>{query}</query>\n<instruction>{instruction}</instruction>. An empty
// instruction gives ZerankTemplate's text byte for byte. The query is cut to
// the reference implementation's 2,000 characters first.
func ZerankInstructionTemplate(instruction, query, doc string) string {
	return zerankPre + zerankQ + zerankSystem(instruction, cutChars(query, zerankQueryChars)) + zerankMid + zerankDoc + cutChars(doc, zerankDocChars) + zerankPost
}

// zerankSystem is the system turn's text after "system\n".
func zerankSystem(instruction, query string) string {
	if instruction == "" {
		return query
	}
	return "<query>" + query + "</query>\n<instruction>" + instruction + "</instruction>"
}

// Qwen3RerankerTemplate renders Qwen3-Reranker's input text for an
// instruction ("" means DefaultInstruction), a query and a document.
func Qwen3RerankerTemplate(instruction, query, doc string) string {
	return qwen3Prefix + qwen3Middle(instruction, query, doc) + qwen3Suffix
}

func qwen3Middle(instruction, query, doc string) string {
	if instruction == "" {
		instruction = DefaultInstruction
	}
	return "<Instruct>: " + instruction + "\n<Query>: " + query + "\n<Document>: " + doc
}

// cutChars keeps the first n characters (code points) of s.
func cutChars(s string, n int) string {
	if len(s) <= n { // bytes >= code points
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// prompter turns a query and its documents into model inputs for one family.
type prompter struct {
	family      string
	tok         *tokenizer.Tokenizer
	maxLen      int
	instruction string

	// Fixed pieces (decoder families), encoded once.
	pre, mid, post []int
}

func newPrompter(family string, tok *tokenizer.Tokenizer, maxLen int, instruction string) (*prompter, error) {
	p := &prompter{family: family, tok: tok, maxLen: maxLen, instruction: instruction}
	enc := func(s string) []int {
		e, _ := tok.Encode(s, false)
		return e.IDs
	}
	need := func(tokens ...string) error {
		for _, t := range tokens {
			if _, ok := tok.TokenToID(t); !ok {
				return fmt.Errorf("rerank: tokenizer lacks the %s template token %q: %w", family, t, errdefs.ErrInvalidInput)
			}
		}
		return nil
	}
	switch family {
	case modeldir.FamilyZerank:
		if err := need("<|im_start|>", "<|im_end|>"); err != nil {
			return nil, err
		}
		p.pre, p.mid, p.post = enc(zerankPre), enc(zerankMid), enc(zerankPost)
		if least := len(p.pre) + len(p.mid) + len(p.post) + len(enc(zerankQ)) + len(enc(zerankDoc)); least > maxLen {
			return nil, fmt.Errorf("rerank: max length %d is below the %d tokens of the zerank template: %w", maxLen, least, errdefs.ErrInvalidInput)
		}
	case modeldir.FamilyQwen3Reranker:
		if err := need("<|im_start|>", "<|im_end|>", "<think>", "</think>"); err != nil {
			return nil, err
		}
		p.pre, p.post = enc(qwen3Prefix), enc(qwen3Suffix)
		if least := len(p.pre) + len(p.post) + len(enc(qwen3Middle(instruction, "", ""))); least > maxLen {
			return nil, fmt.Errorf("rerank: max length %d is below the %d tokens of the qwen3-reranker template: %w", maxLen, least, errdefs.ErrInvalidInput)
		}
	case modeldir.FamilyBertCrossEncoder:
		if least := tok.NumSpecialTokens(true) + 2; least > maxLen {
			return nil, fmt.Errorf("rerank: max length %d too small for a pair: %w", maxLen, errdefs.ErrInvalidInput)
		}
	default:
		return nil, fmt.Errorf("rerank: family %q is not a cross-encoder: %w", family, errdefs.ErrUnsupported)
	}
	return p, nil
}

// query is one call's query, encoded once for all its documents.
type query struct {
	text        string
	instruction string              // the call's instruction ("": the family's default)
	q           []int               // zerank: the query piece's tokens
	enc         *tokenizer.Encoding // bert: the query's raw encoding
}

// query encodes a call's query with the engine's instruction.
func (p *prompter) query(text string) *query { return p.queryWith(text, p.instruction) }

// queryWith encodes a call's query with instruction.
func (p *prompter) queryWith(text, instruction string) *query {
	q := &query{text: text, instruction: instruction}
	switch p.family {
	case modeldir.FamilyZerank:
		e, _ := p.tok.Encode(zerankQ+zerankSystem(instruction, cutChars(text, zerankQueryChars)), false)
		q.q = e.IDs
	case modeldir.FamilyBertCrossEncoder:
		q.enc = p.tok.EncodeRaw(text, 0)
	}
	return q
}

// pair builds the model input for one document: the template stays whole,
// the document's tokens are cut on the right to fit the max length (and the
// query's too once the document has no tokens left).
func (p *prompter) pair(q *query, doc string) inference.Input {
	switch p.family {
	case modeldir.FamilyZerank:
		e, _ := p.tok.Encode(zerankDoc+cutChars(doc, zerankDocChars), false)
		d, qt := e.IDs, q.q
		fixed := len(p.pre) + len(p.mid) + len(p.post)
		if over := fixed + len(qt) + len(d) - p.maxLen; over > 0 {
			// Cut the document down to its "user\n" tokens, then the query
			// down to its "system\n" tokens; newPrompter ensured that fits.
			keepD := max(len(d)-over, min(len(d), 2))
			over -= len(d) - keepD
			d = d[:keepD]
			if over > 0 && q.instruction != "" {
				// The query sits inside tags: cut its text, so that the
				// tags and the instruction stay whole.
				for text := q.text; over > 0 && text != ""; over = fixed + len(qt) + len(d) - p.maxLen {
					text = cutText(p.tok, text, over)
					e, _ := p.tok.Encode(zerankQ+zerankSystem(q.instruction, cutChars(text, zerankQueryChars)), false)
					qt = e.IDs
				}
			} else if over > 0 {
				qt = qt[:max(len(qt)-over, min(len(qt), 2))]
			}
		}
		return inference.Input{IDs: concat(p.pre, qt, p.mid, d, p.post)}
	case modeldir.FamilyQwen3Reranker:
		build := func(qText, dText string) []int64 {
			e, _ := p.tok.Encode(qwen3Middle(q.instruction, qText, dText), false)
			return concat(p.pre, e.IDs, p.post)
		}
		e, _ := p.tok.Encode(qwen3Middle(q.instruction, q.text, doc), false)
		m := e.IDs
		budget := p.maxLen - len(p.pre) - len(p.post)
		if len(m) <= budget {
			return inference.Input{IDs: concat(p.pre, m, p.post)}
		}
		// The official truncation cuts the middle's tokens on the right;
		// that is kept while it cuts only the document, never the
		// "<Instruct>: ", "<Query>: " and "<Document>:" markers. Otherwise
		// the texts are cut, the document first, then the query.
		h, _ := p.tok.Encode(strings.TrimSuffix(qwen3Middle(q.instruction, q.text, ""), " "), false)
		if budget > len(h.IDs) && slices.Equal(m[:len(h.IDs)], h.IDs) {
			return inference.Input{IDs: concat(p.pre, m[:budget], p.post)}
		}
		return inference.Input{IDs: p.fit(q, doc, build)}
	default: // BERT cross-encoder: sentence-transformers' CrossEncoder truncation (longest first)
		a := cloneEncoding(q.enc)
		b := p.tok.EncodeRaw(doc, 1)
		budget := p.maxLen - p.tok.NumSpecialTokens(true)
		_ = tokenizer.TruncatePair(a, b, budget, tokenizer.LongestFirst) // LongestFirst cannot fail
		e := p.tok.PostProcess(a, b, true)
		out := inference.Input{IDs: make([]int64, len(e.IDs)), TypeIDs: make([]int64, len(e.IDs))}
		for i := range e.IDs {
			out.IDs[i], out.TypeIDs[i] = int64(e.IDs[i]), int64(e.TypeIDs[i])
		}
		return out
	}
}

// fit returns build(query, doc) cut to the max length: the document's text
// is cut by tokens first, then the query's, and build's template is never
// cut. Each round drops at least the excess tokens of one text, so it ends.
func (p *prompter) fit(q *query, doc string, build func(qText, dText string) []int64) []int64 {
	qText := q.text
	ids := build(qText, doc)
	for len(ids) > p.maxLen {
		over := len(ids) - p.maxLen
		switch {
		case doc != "":
			doc = cutText(p.tok, doc, over)
		case qText != "":
			qText = cutText(p.tok, qText, over)
		default:
			return ids // the template alone; newPrompter rules this out
		}
		ids = build(qText, doc)
	}
	return ids
}

// cutText drops at least drop tokens from the end of text.
func cutText(tok *tokenizer.Tokenizer, text string, drop int) string {
	e, _ := tok.Encode(text, false)
	if keep := len(e.IDs) - drop; keep >= 1 {
		out, _ := cutTokens(tok, text, keep)
		return out
	}
	return ""
}

func concat(parts ...[]int) []int64 {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]int64, 0, n)
	for _, p := range parts {
		for _, id := range p {
			out = append(out, int64(id))
		}
	}
	return out
}

func cloneEncoding(e *tokenizer.Encoding) *tokenizer.Encoding {
	return &tokenizer.Encoding{
		IDs:           append([]int(nil), e.IDs...),
		TypeIDs:       append([]int(nil), e.TypeIDs...),
		AttentionMask: append([]int(nil), e.AttentionMask...),
		Tokens:        append([]string(nil), e.Tokens...),
	}
}

// checkText validates one input text.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("rerank: %s is not valid UTF-8: %w", what, errdefs.ErrInvalidInput)
	}
	return nil
}
