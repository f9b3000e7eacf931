package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"

	"twostage/errdefs"
)

// pipeline is the loaded, immutable tokenizer.
type pipeline struct {
	addedRaw  *addedMatcher // added tokens matched on raw text (normalized: false)
	addedNorm *addedMatcher // added tokens matched on normalized text
	added     map[string]*addedToken
	addedByID map[int]*addedToken
	norm      normalizer
	pre       preTokenizer
	model     model
	vocab     map[string]int
	idToTok   []string
	post      postProcessor
	dec       decoder
	vocabSize int
}

type jsonFile struct {
	AddedTokens   []*addedToken   `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         json.RawMessage `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

func unsupported(kind, what string) error {
	return fmt.Errorf("tokenizer: unsupported %s %s: %w", kind, what, errdefs.ErrUnsupported)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("tokenizer: "+format+": %w", append(args, errdefs.ErrInvalidInput)...)
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// componentType reads the "type" field of a component; an absent (null)
// component has the type "", which each loader maps to its default.
func componentType(raw json.RawMessage, kind string) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var h struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", invalid("%s: %v", kind, err)
	}
	if h.Type == "" {
		return "", invalid("%s without a type", kind)
	}
	return h.Type, nil
}

// decodeOptions reads a component's options into c; what names the component in
// the error.
func decodeOptions(raw []byte, what string, c any) error {
	if err := json.Unmarshal(raw, c); err != nil {
		return invalid("%s: %v", what, err)
	}
	return nil
}

func load(data []byte) (*pipeline, error) {
	f, err := parseTopLevel(data)
	if err != nil {
		return nil, err
	}
	if isNull(f.Model) {
		return nil, invalid("tokenizer.json has no model")
	}
	p := &pipeline{}
	if p.norm, err = loadNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	byteLevel := false
	if p.pre, byteLevel, err = loadPreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := p.loadModel(f.Model, byteLevel); err != nil {
		return nil, err
	}
	if err := p.loadAdded(f.AddedTokens); err != nil {
		return nil, err
	}
	if p.post, err = p.loadPost(f.PostProcessor); err != nil {
		return nil, err
	}
	if p.dec, err = loadDecoder(f.Decoder); err != nil {
		return nil, err
	}
	return p, nil
}

func loadNormalizer(raw json.RawMessage) (normalizer, error) {
	typ, err := componentType(raw, "normalizer")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "":
		return nil, nil
	case "NFC":
		return canonicalNorm{compose: true}, nil
	case "NFD":
		return canonicalNorm{compose: false}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNorm{}, nil
	case "StripAccents":
		return stripAccentsNorm{}, nil
	case "BertNormalizer":
		var c struct {
			CleanText    *bool `json:"clean_text"`
			ChineseChars *bool `json:"handle_chinese_chars"`
			StripAccents *bool `json:"strip_accents"`
			Lowercase    *bool `json:"lowercase"`
		}
		if err := decodeOptions(raw, "BertNormalizer", &c); err != nil {
			return nil, err
		}
		def := func(b *bool, d bool) bool {
			if b == nil {
				return d
			}
			return *b
		}
		n := &bertNorm{
			cleanText:    def(c.CleanText, true),
			chineseChars: def(c.ChineseChars, true),
			lowercase:    def(c.Lowercase, true),
		}
		n.stripAccents = def(c.StripAccents, n.lowercase)
		n.full = n.cleanText && n.chineseChars && n.stripAccents && n.lowercase
		return n, nil
	case "Sequence":
		var c struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := decodeOptions(raw, "normalizer Sequence", &c); err != nil {
			return nil, err
		}
		s := &seqNorm{}
		for _, r := range c.Normalizers {
			n, err := loadNormalizer(r)
			if err != nil {
				return nil, err
			}
			if n != nil {
				s.steps = append(s.steps, n)
			}
		}
		return s, nil
	}
	return nil, unsupported("normalizer", typ)
}

// loadPreTokenizer returns the pre-tokenizer and whether it ends with
// ByteLevel (the model then works on bytes).
func loadPreTokenizer(raw json.RawMessage) (preTokenizer, bool, error) {
	typ, err := componentType(raw, "pre_tokenizer")
	if err != nil {
		return nil, false, err
	}
	switch typ {
	case "":
		return nil, false, nil
	case "BertPreTokenizer":
		return bertPre{}, false, nil
	case "WhitespaceSplit":
		return whitespaceSplitPre{}, false, nil
	case "ByteLevel":
		var c struct {
			AddPrefixSpace bool  `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := decodeOptions(raw, "ByteLevel pre-tokenizer", &c); err != nil {
			return nil, false, err
		}
		return &byteLevelPre{addPrefixSpace: c.AddPrefixSpace, useRegex: c.UseRegex == nil || *c.UseRegex}, true, nil
	case "Split":
		var c struct {
			Pattern struct {
				Regex  *string `json:"Regex"`
				String *string `json:"String"`
			} `json:"pattern"`
			Behavior string `json:"behavior"`
			Invert   bool   `json:"invert"`
		}
		if err := decodeOptions(raw, "Split pre-tokenizer", &c); err != nil {
			return nil, false, err
		}
		sp := &splitPre{invert: c.Invert}
		switch {
		case c.Pattern.String != nil:
			sp.match = literalMatcher(*c.Pattern.String)
		case c.Pattern.Regex != nil:
			m, ok := knownPatterns[*c.Pattern.Regex]
			if !ok {
				return nil, false, unsupported("pre_tokenizer", fmt.Sprintf("Split regex %q (only the GPT-2, Qwen2/3 and Llama 3 patterns are implemented)", *c.Pattern.Regex))
			}
			sp.match = m
		default:
			return nil, false, invalid("Split pre-tokenizer without a pattern")
		}
		switch c.Behavior {
		case "Isolated":
			sp.behavior = behIsolated
		case "Removed":
			sp.behavior = behRemoved
		case "MergedWithPrevious":
			sp.behavior = behMergedWithPrevious
		case "MergedWithNext":
			sp.behavior = behMergedWithNext
		case "Contiguous":
			sp.behavior = behContiguous
		default:
			return nil, false, unsupported("pre_tokenizer", "Split behavior "+c.Behavior)
		}
		return sp, false, nil
	case "Sequence":
		var c struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := decodeOptions(raw, "pre_tokenizer Sequence", &c); err != nil {
			return nil, false, err
		}
		s := &seqPre{}
		byteLevel := false
		for _, r := range c.PreTokenizers {
			if byteLevel {
				return nil, false, unsupported("pre_tokenizer", "Sequence with a step after ByteLevel")
			}
			pt, bl, err := loadPreTokenizer(r)
			if err != nil {
				return nil, false, err
			}
			if pt != nil {
				s.steps = append(s.steps, pt)
			}
			byteLevel = bl
		}
		return s, byteLevel, nil
	}
	return nil, false, unsupported("pre_tokenizer", typ)
}

func (p *pipeline) loadModel(raw json.RawMessage, byteLevel bool) error {
	small, vocab, mergesRaw, err := splitModel(raw)
	if err != nil {
		return err
	}
	typ, err := componentType(small, "model")
	if err != nil {
		return err
	}
	switch typ {
	case "BPE":
		var c struct {
			Vocab        map[string]int  `json:"-"`
			Merges       json.RawMessage `json:"-"`
			Dropout      *float64        `json:"dropout"`
			UnkToken     *string         `json:"unk_token"`
			Prefix       *string         `json:"continuing_subword_prefix"`
			Suffix       *string         `json:"end_of_word_suffix"`
			FuseUnk      bool            `json:"fuse_unk"`
			ByteFallback bool            `json:"byte_fallback"`
			IgnoreMerges bool            `json:"ignore_merges"`
		}
		if err := decodeOptions(small, "BPE model", &c); err != nil {
			return err
		}
		c.Vocab, c.Merges = vocab, mergesRaw
		if c.Vocab == nil {
			return invalid("BPE model without a vocab object")
		}
		if c.Dropout != nil && *c.Dropout != 0 {
			return unsupported("model", "BPE with dropout")
		}
		if c.ByteFallback {
			return unsupported("model", "BPE with byte_fallback")
		}
		m := &bpe{vocab: c.Vocab, byteLevel: byteLevel, unkID: -1, fuseUnk: c.FuseUnk, ignoreMerges: c.IgnoreMerges, cache: newIDCache()}
		if c.Prefix != nil {
			m.prefix = *c.Prefix
		}
		if c.Suffix != nil {
			m.suffix = *c.Suffix
		}
		if c.UnkToken != nil {
			id, ok := c.Vocab[*c.UnkToken]
			if !ok {
				return invalid("BPE unk_token %q not in the vocabulary", *c.UnkToken)
			}
			m.unkID = id
		}
		for b := range 256 {
			id, ok := c.Vocab[string(byteChars[b])]
			if !ok {
				id = -1 // unknown: addSymbol maps it to unk or drops it
			}
			m.byteIDs[b] = id
		}
		merges, err := parseMerges(c.Merges)
		if err != nil {
			return err
		}
		m.merges = make(map[uint64]mergeTarget, len(merges))
		for rank, mg := range merges {
			a, b := mg[0], mg[1]
			ia, oka := c.Vocab[a]
			ib, okb := c.Vocab[b]
			if !oka || !okb {
				return invalid("BPE merge %d (%q, %q) uses a token missing from the vocabulary", rank, a, b)
			}
			prefLen := 0
			if m.prefix != "" && strings.HasPrefix(b, m.prefix) {
				prefLen = len(m.prefix)
			}
			id, ok := c.Vocab[a+b[prefLen:]]
			if !ok {
				return invalid("BPE merge %d (%q, %q): merged token missing from the vocabulary", rank, a, b)
			}
			k := pairKey(ia, ib)
			if _, dup := m.merges[k]; !dup {
				m.merges[k] = mergeTarget{rank: int32(rank), id: int32(id)}
			}
		}
		p.vocab = c.Vocab
		p.model = m
	case "WordPiece":
		var c struct {
			Vocab    map[string]int `json:"-"`
			UnkToken string         `json:"unk_token"`
			Prefix   *string        `json:"continuing_subword_prefix"`
			MaxChars *int           `json:"max_input_chars_per_word"`
		}
		if err := decodeOptions(small, "WordPiece model", &c); err != nil {
			return err
		}
		c.Vocab = vocab
		if c.Vocab == nil {
			return invalid("WordPiece model without a vocab object")
		}
		unk, ok := c.Vocab[c.UnkToken]
		if !ok {
			return invalid("WordPiece unk_token %q not in the vocabulary", c.UnkToken)
		}
		prefix, maxChars := "##", 100
		if c.Prefix != nil {
			prefix = *c.Prefix
		}
		if c.MaxChars != nil {
			maxChars = *c.MaxChars
		}
		p.vocab = c.Vocab
		p.model = newWordPiece(c.Vocab, prefix, unk, maxChars)
	default:
		return unsupported("model", typ)
	}
	return nil
}

func (p *pipeline) loadAdded(tokens []*addedToken) error {
	p.added = make(map[string]*addedToken, len(tokens))
	p.addedByID = make(map[int]*addedToken, len(tokens))
	maxID := -1
	for _, id := range p.vocab {
		maxID = max(maxID, id)
	}
	// Ids are assigned as Hugging Face's AddedVocabulary::add_tokens does
	// (the ids written in the file are not used): a token already in the
	// vocabulary keeps its id; a new one gets the model's vocabulary size,
	// or one past the largest added id when that is already beyond it.
	// Empty and repeated contents are ignored.
	vocabLen := len(p.vocab)
	maxAdded := -1
	kept := tokens[:0:0]
	for _, t := range tokens {
		if t.Content == "" {
			continue
		}
		if _, dup := p.added[t.Content]; dup {
			continue
		}
		if id, ok := p.vocab[t.Content]; ok {
			t.ID = id
		} else if maxAdded >= 0 && (maxAdded >= vocabLen || vocabLen == 0) {
			t.ID = maxAdded + 1
		} else {
			t.ID = vocabLen
		}
		maxAdded = max(maxAdded, t.ID)
		p.added[t.Content] = t
		p.addedByID[t.ID] = t
		maxID = max(maxID, t.ID)
		kept = append(kept, t)
	}
	tokens = kept
	p.idToTok = make([]string, maxID+1)
	seen := make([]bool, maxID+1)
	for tok, id := range p.vocab {
		if id < 0 {
			return invalid("negative id %d for token %q", id, tok)
		}
		p.idToTok[id] = tok
		seen[id] = true
	}
	for _, t := range tokens {
		p.idToTok[t.ID] = t.Content
		seen[t.ID] = true
	}
	names := make(map[string]struct{}, len(p.vocab)+len(tokens))
	for tok := range p.vocab {
		names[tok] = struct{}{}
	}
	for _, t := range tokens {
		names[t.Content] = struct{}{}
	}
	p.vocabSize = len(names)
	var raw, normed []*addedToken
	for _, t := range tokens {
		if t.Normalized {
			normed = append(normed, t)
		} else {
			raw = append(raw, t)
		}
	}
	p.addedRaw = newAddedMatcher(raw, func(t *addedToken) string { return t.Content })
	p.addedNorm = newAddedMatcher(normed, func(t *addedToken) string {
		if p.norm == nil {
			return t.Content
		}
		return p.norm.normalize(t.Content)
	})
	return nil
}

// specialByName resolves a token name of a post-processor to its id.
func (p *pipeline) tokenID(tok string) (int, bool) {
	if t, ok := p.added[tok]; ok {
		return t.ID, true
	}
	id, ok := p.vocab[tok]
	return id, ok
}

func (p *pipeline) loadPost(raw json.RawMessage) (postProcessor, error) {
	typ, err := componentType(raw, "post_processor")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "", "ByteLevel":
		return defaultPost{}, nil
	case "TemplateProcessing":
		var c struct {
			Single        []json.RawMessage `json:"single"`
			Pair          []json.RawMessage `json:"pair"`
			SpecialTokens map[string]struct {
				ID     string   `json:"id"`
				IDs    []int    `json:"ids"`
				Tokens []string `json:"tokens"`
			} `json:"special_tokens"`
		}
		if err := decodeOptions(raw, "TemplateProcessing", &c); err != nil {
			return nil, err
		}
		specials := make(map[string]*specialToken)
		for name, st := range c.SpecialTokens {
			if len(st.IDs) != len(st.Tokens) {
				return nil, invalid("TemplateProcessing special token %q: %d ids, %d tokens", name, len(st.IDs), len(st.Tokens))
			}
			specials[name] = &specialToken{ids: st.IDs, tokens: st.Tokens}
		}
		parse := func(list []json.RawMessage) ([]templatePiece, error) {
			var out []templatePiece
			for _, r := range list {
				var e struct {
					Sequence *struct {
						ID     string `json:"id"`
						TypeID int    `json:"type_id"`
					} `json:"Sequence"`
					SpecialToken *struct {
						ID     string `json:"id"`
						TypeID int    `json:"type_id"`
					} `json:"SpecialToken"`
				}
				if err := decodeOptions(r, "TemplateProcessing template", &e); err != nil {
					return nil, err
				}
				switch {
				case e.Sequence != nil:
					seq := 0
					switch e.Sequence.ID {
					case "A":
					case "B":
						seq = 1
					default:
						return nil, invalid("TemplateProcessing sequence %q", e.Sequence.ID)
					}
					out = append(out, templatePiece{seq: seq, typeID: e.Sequence.TypeID})
				case e.SpecialToken != nil:
					st, ok := specials[e.SpecialToken.ID]
					if !ok {
						return nil, invalid("TemplateProcessing special token %q not declared", e.SpecialToken.ID)
					}
					out = append(out, templatePiece{seq: -1, special: st, typeID: e.SpecialToken.TypeID})
				default:
					return nil, invalid("TemplateProcessing template piece %s", r)
				}
			}
			return out, nil
		}
		t := &templatePost{}
		if t.single, err = parse(c.Single); err != nil {
			return nil, err
		}
		if t.pair, err = parse(c.Pair); err != nil {
			return nil, err
		}
		return t, nil
	case "BertProcessing":
		var c struct {
			Sep [2]json.RawMessage `json:"sep"`
			Cls [2]json.RawMessage `json:"cls"`
		}
		if err := decodeOptions(raw, "BertProcessing", &c); err != nil {
			return nil, err
		}
		tok := func(pair [2]json.RawMessage) (*specialToken, error) {
			var s string
			var id int
			if json.Unmarshal(pair[0], &s) != nil || json.Unmarshal(pair[1], &id) != nil {
				return nil, invalid("BertProcessing token %s", pair[0])
			}
			return &specialToken{ids: []int{id}, tokens: []string{s}}, nil
		}
		sep, err := tok(c.Sep)
		if err != nil {
			return nil, err
		}
		cls, err := tok(c.Cls)
		if err != nil {
			return nil, err
		}
		return &bertPost{t: templatePost{
			single: []templatePiece{{seq: -1, special: cls}, {seq: 0}, {seq: -1, special: sep}},
			pair: []templatePiece{{seq: -1, special: cls}, {seq: 0}, {seq: -1, special: sep},
				{seq: 1, typeID: 1}, {seq: -1, special: sep, typeID: 1}},
		}}, nil
	case "Sequence":
		var c struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := decodeOptions(raw, "post_processor Sequence", &c); err != nil {
			return nil, err
		}
		var chosen postProcessor = defaultPost{}
		for _, r := range c.Processors {
			pp, err := p.loadPost(r)
			if err != nil {
				return nil, err
			}
			if _, isDefault := pp.(defaultPost); isDefault {
				continue
			}
			if _, isDefault := chosen.(defaultPost); !isDefault {
				return nil, unsupported("post_processor", "Sequence with more than one token-adding processor")
			}
			chosen = pp
		}
		return chosen, nil
	}
	return nil, unsupported("post_processor", typ)
}

func loadDecoder(raw json.RawMessage) (decoder, error) {
	typ, err := componentType(raw, "decoder")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "":
		return spaceJoinDec{}, nil
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "WordPiece":
		var c struct {
			Prefix  *string `json:"prefix"`
			Cleanup *bool   `json:"cleanup"`
		}
		if err := decodeOptions(raw, "WordPiece decoder", &c); err != nil {
			return nil, err
		}
		d := wordPieceDec{prefix: "##", cleanup: true}
		if c.Prefix != nil {
			d.prefix = *c.Prefix
		}
		if c.Cleanup != nil {
			d.cleanup = *c.Cleanup
		}
		return d, nil
	}
	return nil, unsupported("decoder", typ)
}

// parseTopLevel splits a tokenizer.json into its components without
// decoding the big model (encoding/json would scan it several times).
func parseTopLevel(data []byte) (*jsonFile, error) {
	f := &jsonFile{}
	err := forEachKey(data, "tokenizer.json", func(key string, raw []byte) error {
		switch key {
		case "added_tokens":
			return decodeOptions(raw, "added_tokens", &f.AddedTokens)
		case "normalizer":
			f.Normalizer = raw
		case "pre_tokenizer":
			f.PreTokenizer = raw
		case "model":
			f.Model = raw
		case "post_processor":
			f.PostProcessor = raw
		case "decoder":
			f.Decoder = raw
		}
		return nil
	})
	return f, err
}

// splitModel separates a model's vocab (decoded) and merges (raw) from its
// small options, returned as a JSON object for encoding/json.
func splitModel(raw []byte) (small []byte, vocab map[string]int, merges []byte, err error) {
	var b bytes.Buffer
	b.WriteByte('{')
	err = forEachKey(raw, "model", func(key string, val []byte) error {
		switch key {
		case "vocab":
			if len(val) == 0 || val[0] != '{' {
				break // not a token -> id object (Unigram): left to the model type
			}
			v, err := parseVocab(val)
			if err != nil {
				return err
			}
			vocab = v
			return nil
		case "merges":
			merges = val
			return nil
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
		return nil
	})
	b.WriteByte('}')
	return b.Bytes(), vocab, merges, err
}

// forEachKey calls f with each key of the JSON object data and the raw bytes
// of its value.
func forEachKey(data []byte, what string, f func(key string, raw []byte) error) error {
	sc := &jsonScanner{data: data}
	sc.ws()
	if !sc.consume('{') {
		return invalid("parse %s: not a JSON object", what)
	}
	for first := true; ; first = false {
		sc.ws()
		if sc.consume('}') {
			sc.ws()
			if sc.i != len(sc.data) {
				return invalid("parse %s: data after the object at byte %d", what, sc.i)
			}
			return nil
		}
		if !first {
			if !sc.consume(',') {
				return invalid("parse %s: expected ',' at byte %d", what, sc.i)
			}
			sc.ws()
		}
		key, err := sc.str()
		if err != nil {
			return invalid("parse %s: %v", what, err)
		}
		sc.ws()
		if !sc.consume(':') {
			return invalid("parse %s: expected ':' at byte %d", what, sc.i)
		}
		sc.ws()
		start := sc.i
		if err := sc.skip(); err != nil {
			return invalid("parse %s: %v", what, err)
		}
		if err := f(key, sc.data[start:sc.i]); err != nil {
			return err
		}
	}
}

// parseVocab decodes a vocabulary object {"token": id, ...}.
func parseVocab(raw []byte) (map[string]int, error) {
	vocab := make(map[string]int, bytes.Count(raw, []byte{':'}))
	err := forEachKey(raw, "vocab", func(key string, val []byte) error {
		id := 0
		if len(val) == 0 || len(val) > 10 {
			return invalid("vocab id %q of %q", val, key)
		}
		for _, c := range val {
			if c < '0' || c > '9' {
				return invalid("vocab id %q of %q", val, key)
			}
			id = id*10 + int(c-'0')
		}
		vocab[key] = id
		return nil
	})
	return vocab, err
}

// parseMerges reads the BPE merges, in either format: ["a b", ...] or
// [["a", "b"], ...]. It is a small hand-written scanner because decoding
// 150,000 merges through encoding/json dominates the load time.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	sc := &jsonScanner{data: raw}
	var out [][2]string
	sc.ws()
	if sc.peek() == 'n' {
		return nil, nil
	}
	if !sc.consume('[') {
		return nil, invalid("BPE merges: not an array")
	}
	for {
		sc.ws()
		if sc.consume(']') {
			return out, nil
		}
		if len(out) > 0 {
			if !sc.consume(',') {
				return nil, invalid("BPE merges: malformed at byte %d", sc.i)
			}
			sc.ws()
		}
		switch sc.peek() {
		case '"':
			str, err := sc.str()
			if err != nil {
				return nil, err
			}
			a, b, ok := strings.Cut(str, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, invalid("BPE merge %d %q is not two tokens", len(out), str)
			}
			out = append(out, [2]string{a, b})
		case '[':
			sc.i++
			var pair [2]string
			for k := 0; k < 2; k++ {
				sc.ws()
				if k == 1 && !sc.consume(',') {
					return nil, invalid("BPE merge %d: not a pair", len(out))
				}
				sc.ws()
				str, err := sc.str()
				if err != nil {
					return nil, err
				}
				pair[k] = str
			}
			sc.ws()
			if !sc.consume(']') {
				return nil, invalid("BPE merge %d: not a pair", len(out))
			}
			out = append(out, pair)
		default:
			return nil, invalid("BPE merges: unexpected byte at %d", sc.i)
		}
	}
}

type jsonScanner struct {
	data []byte
	i    int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

func (s *jsonScanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// skip moves past one JSON value (checking its structure, not every
// character of strings).
func (s *jsonScanner) skip() error {
	switch c := s.peek(); c {
	case '"':
		_, err := s.rawStr()
		return err
	case '{', '[':
		depth := 0
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case '"':
				if _, err := s.rawStr(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return invalid("unterminated value")
	default:
		start := s.i
	loop:
		for s.i < len(s.data) {
			switch s.data[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				break loop
			}
			s.i++
		}
		if s.i == start {
			return invalid("expected a value at byte %d", start)
		}
		if !json.Valid(s.data[start:s.i]) {
			return invalid("bad value %q at byte %d", s.data[start:s.i], start)
		}
		return nil
	}
}

// rawStr moves past a JSON string and reports whether it has escapes.
func (s *jsonScanner) rawStr() (escaped bool, err error) {
	if !s.consume('"') {
		return false, invalid("expected a string at byte %d", s.i)
	}
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '\\':
			escaped = true
			s.i += 2
			continue
		case '"':
			s.i++
			return escaped, nil
		}
		s.i++
	}
	return false, invalid("unterminated string")
}

// str reads a JSON string; escapes are decoded by encoding/json.
func (s *jsonScanner) str() (string, error) {
	start := s.i
	escaped, err := s.rawStr()
	if err != nil {
		return "", err
	}
	if !escaped {
		return string(s.data[start+1 : s.i-1]), nil
	}
	var out string
	if err := json.Unmarshal(s.data[start:s.i], &out); err != nil {
		return "", invalid("bad string at byte %d: %v", start, err)
	}
	return out, nil
}
