package tokenizer

import (
	"encoding/json"
	"os"
	"testing"
)

// TestAddedTokenFlags checks the lstrip, rstrip, single_word and normalized
// flags of added tokens against the reference, on the BERT tokenizer with
// extra added tokens (neither shipped tokenizer uses these flags).
func TestAddedTokenFlags(t *testing.T) {
	ref := referenceEnv(t)
	data, err := os.ReadFile(ref.bert)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	added := m["added_tokens"].([]any)
	for i, tok := range []map[string]any{
		{"content": "<mask>", "lstrip": true},
		{"content": "[END]", "rstrip": true},
		{"content": "Hello World", "normalized": true},
		{"content": "ab", "single_word": true},
		{"content": "<both>", "lstrip": true, "rstrip": true, "special": true},
	} {
		full := map[string]any{"id": 30522 + i, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false}
		for k, v := range tok {
			full[k] = v
		}
		added = append(added, full)
	}
	m["added_tokens"] = added
	path := writeJSON(t, "tokenizer.json", m)
	texts := []string{
		"a <mask> b", "a   <mask>b", "<mask>", "  <mask>  ", "x [END]   y", "[END]", "[END]\n\tz",
		"hello world and HELLO WORLD and Hello World", "héllo wörld", "ab abc cab ab.", "xab ab_ab (ab)",
		"q <both>   r", "<both><both>  <mask>  [END]  end", "ab", " ab ", "[CLS] ab [SEP]",
	}
	tok, err := FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	corpusPath, corpus := writeCorpus(t, texts)
	want := runReference(t, ref, path, corpusPath)
	d := &diffs{t: t, name: "added-token flags"}
	for i, s := range texts {
		got, _ := tok.Encode(s, true)
		d.check("single", s, refEncoding{got.IDs, got.TypeIDs}, want.Single[i])
	}
	for k, p := range corpus.Pairs {
		got, _ := tok.EncodePair(texts[p[0]], texts[p[1]], false)
		d.check("pair", [2]string{texts[p[0]], texts[p[1]]}, refEncoding{got.IDs, got.TypeIDs}, want.PairNoSpecial[k])
	}
	for i, w := range want.Decode {
		for j, skip := range []bool{false, true} {
			got, _ := tok.Decode(want.Single[i][0], skip)
			d.check("decode", texts[i], got, w[j])
		}
	}
	d.done()
}
