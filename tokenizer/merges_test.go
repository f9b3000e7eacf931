package tokenizer

import (
	"encoding/json"
	"os"
	"testing"
)

// TestCompetingMerges is a differential test aimed at merge order: for every
// two merges of consecutive rank that compete for a token ((a, b) and
// (b, d), or (a, b) and (c, a)), the text a+b+d (or c+a+b) is encoded here
// and by Hugging Face's tokenizers, which must agree. Random and ordinary
// text rarely makes two such merges meet: with ranks swapped in pairs
// (0 <-> 1, 2 <-> 3, ...) the 5,000-text conformance corpus and a minute of
// fuzzing passed.
func TestCompetingMerges(t *testing.T) {
	qwen, _ := fuzzTokenizers(t)
	ref := startRefServer(t)
	raw, err := os.ReadFile(referenceEnv(t).qwen)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Model struct {
			Merges json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	merges, err := parseMerges(file.Model.Merges)
	if err != nil {
		t.Fatal(err)
	}
	// text turns byte-level token strings into the text they stand for.
	text := func(toks ...string) string {
		var b []byte
		for _, tok := range toks {
			for _, r := range tok {
				c, ok := charBytes[r]
				if !ok {
					return ""
				}
				b = append(b, c)
			}
		}
		return string(b)
	}
	checked := 0
	for r := 0; r+1 < len(merges); r++ {
		x, y := merges[r], merges[r+1]
		var s string
		switch {
		case x[1] == y[0]:
			s = text(x[0], x[1], y[1])
		case y[1] == x[0]:
			s = text(y[0], x[0], x[1])
		default:
			continue
		}
		if s == "" {
			continue
		}
		e, err := qwen.Encode(s, false)
		if err != nil {
			t.Fatal(err)
		}
		ref.check(t, 0, s, nil, false, e)
		checked++
		if t.Failed() {
			break
		}
	}
	if checked < 100 {
		t.Errorf("checked %d competing merge pairs, want at least 100", checked)
	}
	t.Logf("%d competing merge pairs agree with Hugging Face tokenizers", checked)
}
