package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"twostage"
)

// TokenCutter is an optional reranker capability that the rerank endpoints
// use for max_tokens_per_doc and usage.total_tokens: CutTokens cuts each
// text to at most maxTokens tokens of the reranker's own tokenizer
// (maxTokens < 1: no cut) and returns the texts with their token counts.
// The ONNX engine (rerank.Engine) implements it; in a fallback chain the
// first stage that implements it is used. Rerankers without it get
// estimateTokens' estimate.
type TokenCutter interface {
	CutTokens(texts []string, maxTokens int) ([]string, []int, error)
}

// MarshalJSON writes an object document as it was sent and a string
// document as {"text": ...}.
func (d RerankDocument) MarshalJSON() ([]byte, error) {
	if d.Object != nil {
		return d.Object, nil
	}
	return json.Marshal(struct {
		Text string `json:"text"`
	}{d.Text})
}

// unmarshalObject keeps an object document whole; "text", when present,
// must be a string.
func (d *RerankDocument) unmarshalObject(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return &documentError{fmt.Sprintf("document object: %v", err)}
	}
	if raw, ok := fields["text"]; ok {
		if err := json.Unmarshal(raw, &d.Text); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return &documentError{`"text" of a document object must be a string`}
		}
		d.hasText = true
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return &documentError{fmt.Sprintf("document object: %v", err)}
	}
	d.Object = buf.Bytes()
	return nil
}

// rankTexts returns the text ranked for each document: a string document's
// text; an object's "text", or with rank_fields the named fields in that
// order (one field: its value; several: "name: value" lines, the YAML-like
// form Cohere recommends for structured documents). Missing fields are
// skipped; a document with none of them is an error.
func rankTexts(docs []RerankDocument, rankFields []string) ([]string, error) {
	for _, f := range rankFields {
		if strings.TrimSpace(f) == "" {
			return nil, badRequest("invalid_input", `"rank_fields" holds an empty name`)
		}
	}
	texts := make([]string, len(docs))
	for i, d := range docs {
		if d.Object == nil {
			texts[i] = d.Text
			continue
		}
		if len(rankFields) == 0 {
			if !d.hasText {
				return nil, badRequest("invalid_input", `document %d: object has no "text" (send "rank_fields" to rank other fields)`, i)
			}
			texts[i] = d.Text
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(d.Object, &fields); err != nil {
			return nil, badRequest("invalid_input", "document %d: %v", i, err)
		}
		var names, values []string
		for _, f := range rankFields {
			raw, ok := fields[f]
			if !ok || bytes.Equal(raw, []byte("null")) {
				continue
			}
			v := string(raw)
			var s string
			if json.Unmarshal(raw, &s) == nil {
				v = s
			}
			names, values = append(names, f), append(values, v)
		}
		switch len(values) {
		case 0:
			return nil, badRequest("invalid_input", "document %d has none of the rank_fields %q", i, rankFields)
		case 1:
			texts[i] = values[0]
		default:
			lines := make([]string, len(values))
			for k := range values {
				lines[k] = names[k] + ": " + values[k]
			}
			texts[i] = strings.Join(lines, "\n")
		}
	}
	for i, t := range texts {
		if !utf8.ValidString(t) {
			return nil, badRequest("invalid_input", "document %d is not valid UTF-8", i)
		}
	}
	return texts, nil
}

// searchUnits is Cohere's billing: one search unit per 100 documents.
func searchUnits(docs int) int { return max(1, (docs+99)/100) }

// tokenCutter finds rr's TokenCutter, looking inside a fallback chain.
func tokenCutter(rr twostage.Reranker) (TokenCutter, bool) {
	for depth := 0; depth < 4; depth++ {
		if tc, ok := rr.(TokenCutter); ok {
			return tc, true
		}
		w, ok := rr.(interface{ Rerankers() []twostage.Reranker })
		if !ok {
			return nil, false
		}
		var next twostage.Reranker
		for _, in := range w.Rerankers() {
			if tc, ok := in.(TokenCutter); ok {
				return tc, true
			}
			if _, ok := in.(interface{ Rerankers() []twostage.Reranker }); ok && next == nil {
				next = in
			}
		}
		if next == nil {
			return nil, false
		}
		rr = next
	}
	return nil, false
}

// cutDocuments cuts the query to maxQuery tokens and texts to maxTokens
// tokens (< 1: no cut) with rr's tokenizer, or the estimate when it has
// none, and returns them with the total tokens ranked: the query's once per
// document plus each document's.
func cutDocuments(rr twostage.Reranker, query string, texts []string, maxQuery, maxTokens int) (string, []string, int, error) {
	cut := func(texts []string, max int) ([]string, []int, error) {
		out, n := estimateTokens(texts, max)
		return out, n, nil
	}
	if tc, ok := tokenCutter(rr); ok {
		cut = tc.CutTokens
	}
	out, counts, err := cut(texts, maxTokens)
	if err != nil {
		return "", nil, 0, fmt.Errorf("server: cut documents: %w", err)
	}
	q, qn, err := cut([]string{query}, maxQuery)
	if err != nil {
		return "", nil, 0, fmt.Errorf("server: cut query: %w", err)
	}
	if len(out) != len(texts) || len(counts) != len(texts) || len(qn) != 1 || len(q) != 1 {
		return "", nil, 0, fmt.Errorf("server: cut documents: %d texts and %d counts for %d documents: %w", len(out), len(counts), len(texts), twostage.ErrUnavailable)
	}
	total := len(texts) * qn[0]
	for _, c := range counts {
		total += c
	}
	return q[0], out, total, nil
}

// estimateTokens is the token count and cut for rerankers without a
// tokenizer (model-free or remote ones): a token is a run of letters,
// digits and marks, or any other single non-space character (each Han,
// Hiragana or Katakana character among them), which is how BERT's basic
// pre-tokenizer splits text before word pieces; subword tokenizers count at
// least as many. A cut keeps the text up to the end of
// its maxTokens-th token (maxTokens < 1: no cut).
func estimateTokens(texts []string, maxTokens int) ([]string, []int) {
	out, counts := make([]string, len(texts)), make([]int, len(texts))
	for i, t := range texts {
		n, end, inWord := 0, len(t), false
		for k, r := range t {
			word := (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) && !ideograph(r)
			switch {
			case unicode.IsSpace(r):
				inWord = false
				continue
			case word && inWord:
				continue
			}
			inWord = word
			if maxTokens > 0 && n == maxTokens {
				end = k
				break
			}
			n++
		}
		if end < len(t) {
			// Drop the spaces before the first token cut off.
			out[i] = strings.TrimRightFunc(t[:end], unicode.IsSpace)
		} else {
			out[i] = t
		}
		counts[i] = n
	}
	return out, counts
}

// ideograph reports the characters BERT's pre-tokenizer splits one by one.
func ideograph(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}
