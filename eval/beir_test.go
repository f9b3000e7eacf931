package eval

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"twostage"
)

// writeBEIR writes a BEIR directory with the given file contents; an empty
// string leaves the file out.
func writeBEIR(t *testing.T, corpus, queries, qrels string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{CorpusFile: corpus, QueriesFile: queries, filepath.Join(QrelsDir, "test.tsv"): qrels} {
		if body == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	goodCorpus = `{"_id": "d1", "title": "Cats", "text": "Cats purr."}
{"_id": "d2", "title": "", "text": "  Dogs bark. "}

{"_id": 3, "text": "Birds sing.", "metadata": {"x": 1}}
`
	goodQueries = `{"_id": "q1", "text": "what purrs"}
{"_id": "q2", "text": "what barks", "metadata": {}}
{"_id": "q3", "text": "unjudged"}
{"_id": "q4", "text": "nothing relevant"}
`
	goodQrels = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\tghost\t1\r\nq2\td2\t1\nq2\td2\t1\nq4\t3\t0\n"
)

func TestLoadBEIR(t *testing.T) {
	dir := writeBEIR(t, goodCorpus, goodQueries, goodQrels)
	ds, err := LoadBEIR(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Corpus) != 3 || ds.Corpus[2].ID != "3" || ds.Corpus[2].Title != "" {
		t.Errorf("corpus = %+v", ds.Corpus)
	}
	// BEIR joins title and text with a space and trims: "Cats Cats purr.", "Dogs bark.".
	for i, want := range []string{"Cats Cats purr.", "Dogs bark.", "Birds sing."} {
		if got := ds.Corpus[i].Joined(); got != want {
			t.Errorf("doc %d joined %q, want %q", i, got, want)
		}
	}
	var ids []string
	for _, q := range ds.Queries {
		ids = append(ids, q.ID)
	}
	if !slices.Equal(ids, []string{"q1", "q2", "q4"}) || ds.Unjudged != 1 {
		t.Errorf("queries %v, unjudged %d; want q1 q2 q4 and 1", ids, ds.Unjudged)
	}
	if ds.Qrels["q1"]["d1"] != 2 || ds.Qrels["q1"]["ghost"] != 1 || len(ds.Qrels["q2"]) != 1 || ds.Qrels["q4"]["3"] != 0 {
		t.Errorf("qrels = %v", ds.Qrels)
	}
	if len(ds.Missing) != 1 || ds.Missing[0] != (MissingDoc{Query: "q1", Doc: "ghost", Grade: 1, Line: 3}) || ds.Dropped {
		t.Errorf("missing = %+v dropped %v", ds.Missing, ds.Dropped)
	}

	ds, err = LoadBEIR(dir, &LoadOptions{DropMissing: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ds.Qrels["q1"]["ghost"]; ok || !ds.Dropped || ds.Qrels["q1"]["d1"] != 2 {
		t.Errorf("DropMissing kept %v", ds.Qrels["q1"])
	}

	// Another split, and no header line.
	if err := os.WriteFile(filepath.Join(dir, QrelsDir, "dev.tsv"), []byte("q2\td1\t1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err = LoadBEIR(dir, &LoadOptions{Split: "dev"})
	if err != nil || len(ds.Queries) != 1 || ds.Queries[0].ID != "q2" || ds.Split != "dev" {
		t.Errorf("dev split: %+v, %v", ds, err)
	}
}

func TestLoadBEIRMalformed(t *testing.T) {
	tests := []struct {
		name                   string
		corpus, queries, qrels string
		want                   string // in the error
		notExist               bool
	}{
		{"corpus bad json", goodCorpus + "{\"_id\": \"d9\", \"text\": \n", goodQueries, goodQrels, "corpus.jsonl: line 5:", false},
		{"corpus missing id", "{\"text\": \"x\"}\n", goodQueries, goodQrels, "corpus.jsonl: line 1: missing \"_id\"", false},
		{"corpus empty id", "{\"_id\": \" \", \"text\": \"x\"}\n", goodQueries, goodQrels, "line 1: empty \"_id\"", false},
		{"corpus object id", "{\"_id\": {}, \"text\": \"x\"}\n", goodQueries, goodQrels, "must be a string or a number", false},
		{"corpus missing text", "{\"_id\": \"d1\", \"title\": \"t\"}\n", goodQueries, goodQrels, "line 1: _id \"d1\" has no \"text\"", false},
		{"corpus duplicate id", goodCorpus + "{\"_id\": \"d2\", \"text\": \"again\"}\n", goodQueries, goodQrels, "line 5: _id \"d2\" already on line 2", false},
		{"corpus title not a string", "{\"_id\": \"d1\", \"title\": 5, \"text\": \"x\"}\n", goodQueries, goodQrels, "corpus.jsonl: line 1:", false},
		{"corpus empty", "\n\n", goodQueries, goodQrels, "no documents", false},
		{"queries empty text", goodCorpus, "{\"_id\": \"q1\", \"text\": \"  \"}\n", goodQrels, "queries.jsonl: line 1: query \"q1\" has an empty text", false},
		{"queries duplicate", goodCorpus, goodQueries + "{\"_id\": \"q1\", \"text\": \"x\"}\n", goodQrels, "queries.jsonl: line 5: _id \"q1\" already on line 1", false},
		{"qrels two fields", goodCorpus, goodQueries, "query-id\tcorpus-id\tscore\nq1\td1\n", "test.tsv: line 2: 2 tab-separated fields, want 3", false},
		{"qrels spaces not tabs", goodCorpus, goodQueries, "q1 d1 1\n", "line 1: 1 tab-separated fields", false},
		{"qrels float score", goodCorpus, goodQueries, "query-id\tcorpus-id\tscore\nq1\td1\t1.5\n", "line 2: score \"1.5\" is not an integer", false},
		{"qrels empty id", goodCorpus, goodQueries, "query-id\tcorpus-id\tscore\n\td1\t1\n", "line 2: empty query-id or corpus-id", false},
		{"qrels conflicting", goodCorpus, goodQueries, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t2\n", "line 3: query \"q1\" document \"d1\" judged 2 here and 1 on line 2", false},
		{"qrels unknown query", goodCorpus, goodQueries, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\n", "test.tsv line 3: query \"q9\" is not in queries.jsonl", false},
		{"qrels header only", goodCorpus, goodQueries, "query-id\tcorpus-id\tscore\n", "no judgments", false},
		{"no corpus", "", goodQueries, goodQrels, "corpus.jsonl", true},
		{"no queries", goodCorpus, "", goodQrels, "queries.jsonl", true},
		{"no qrels", goodCorpus, goodQueries, "", "test.tsv", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeBEIR(t, tc.corpus, tc.queries, tc.qrels)
			_, err := LoadBEIR(dir, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			wantIs := twostage.ErrInvalidInput
			if tc.notExist {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %v does not wrap fs.ErrNotExist", err)
				}
				return
			}
			if !errors.Is(err, wantIs) {
				t.Errorf("error %v does not wrap ErrInvalidInput", err)
			}
			if !strings.HasPrefix(err.Error(), "eval: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestReadQrelsLongLine(t *testing.T) {
	_, err := ReadQrels(strings.NewReader("q\t" + strings.Repeat("d", 2<<20) + "\t1\n"))
	if !errors.Is(err, twostage.ErrInvalidInput) {
		t.Errorf("error %v, want ErrInvalidInput", err)
	}
}
