package eval_test

import (
	"errors"
	"strings"
	"testing"

	"twostage"
	"twostage/eval"
)

// TestReadCorpusRefusesMisspeltKeys: a corpus line's "tilte" would drop the
// title from the indexed text; it is refused with its line number, while
// BEIR's other keys (metadata) are passed over.
func TestReadCorpusRefusesMisspeltKeys(t *testing.T) {
	docs, err := eval.ReadCorpus(strings.NewReader(`{"_id":"1","title":"T","text":"x","metadata":{"url":"u"}}` + "\n"))
	if err != nil || len(docs) != 1 || docs[0].Joined() != "T x" {
		t.Fatalf("ReadCorpus: %v %v, want one doc %q", docs, err, "T x")
	}
	_, err = eval.ReadCorpus(strings.NewReader(`{"_id":"1","title":"T","text":"x"}` + "\n" + `{"_id":"2","tilte":"T","text":"y"}` + "\n"))
	if want := `line 2: unknown field "tilte" (did you mean "title"?)`; !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("ReadCorpus tilte: %v, want ErrInvalidInput with %q", err, want)
	}
	_, err = eval.ReadQueries(strings.NewReader(`{"id":"q1","text":"x"}` + "\n"))
	if !errors.Is(err, twostage.ErrInvalidInput) || !strings.Contains(err.Error(), `"_id"`) {
		t.Errorf("ReadQueries id for _id: %v, want ErrInvalidInput naming \"_id\"", err)
	}
}
