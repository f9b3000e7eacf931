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
	// Other ids beside "_id" ("id", "pid") are extra keys, not misspellings of it.
	docs, err = eval.ReadCorpus(strings.NewReader(`{"_id":"1","id":"d1","pid":"7","title":"T","text":"x"}` + "\n"))
	if err != nil || len(docs) != 1 || docs[0].ID != "1" || docs[0].Joined() != "T x" {
		t.Fatalf("ReadCorpus with id and pid beside _id: %v %v, want doc 1 %q", docs, err, "T x")
	}
	qs, err := eval.ReadQueries(strings.NewReader(`{"_id":"q1","qid":"5","text":"x"}` + "\n"))
	if err != nil || len(qs) != 1 || qs[0].ID != "q1" {
		t.Fatalf("ReadQueries with qid beside _id: %v %v, want query q1", qs, err)
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
