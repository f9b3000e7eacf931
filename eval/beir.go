package eval

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"twostage"
	"twostage/driver"
	"twostage/internal/validate"
)

// Doc is one corpus document of a BEIR data set.
type Doc struct {
	ID    string
	Title string
	Text  string
}

// Joined returns the text that is indexed: title and text joined with one
// space and trimmed, as BEIR's models do ((title + " " + text).strip()).
func (d Doc) Joined() string { return strings.TrimSpace(d.Title + " " + d.Text) }

// Query is one query of a BEIR data set.
type Query struct {
	ID   string
	Text string
}

// Dataset is a BEIR data set: corpus.jsonl, queries.jsonl and
// qrels/SPLIT.tsv in one directory.
type Dataset struct {
	Dir   string
	Split string
	// Corpus holds the documents in file order.
	Corpus []Doc
	// Queries holds the queries that have judgments in the split, in the
	// order of queries.jsonl (BEIR keeps only those).
	Queries []Query
	// Qrels holds the split's judgments.
	Qrels Qrels
	// Unjudged counts queries of queries.jsonl without judgments in the
	// split; they are not evaluated.
	Unjudged int
	// Missing lists the judgments naming a document that is not in the
	// corpus. They stay in Qrels (a relevant one counts as never retrieved,
	// as in BEIR) unless LoadOptions.DropMissing removed them.
	Missing []MissingDoc
	// Dropped reports that Missing judgments were removed from Qrels.
	Dropped bool
}

// MissingDoc is a judgment naming a document absent from the corpus.
type MissingDoc struct {
	Query, Doc string
	Grade      int
	Line       int // line of the qrels file
}

// LoadOptions configure LoadBEIR. The zero value is usable.
type LoadOptions struct {
	// Split names the qrels file, qrels/SPLIT.tsv (default "test").
	Split string
	// DropMissing removes judgments of documents missing from the corpus,
	// so they no longer count as relevant documents that were never found.
	DropMissing bool
}

// The files of the BEIR layout.
const (
	CorpusFile  = "corpus.jsonl"
	QueriesFile = "queries.jsonl"
	QrelsDir    = "qrels"
)

// LoadBEIR reads a BEIR data set from dir. Malformed files give an error
// naming the file and line and wrapping twostage.ErrInvalidInput; a
// missing file gives an error wrapping fs.ErrNotExist. A qrels line naming
// a query absent from queries.jsonl is an error; one naming a document
// absent from the corpus is kept and listed in Dataset.Missing (or dropped,
// see LoadOptions).
func LoadBEIR(dir string, opts *LoadOptions) (*Dataset, error) {
	var o LoadOptions
	if opts != nil {
		o = *opts
	}
	if o.Split == "" {
		o.Split = "test"
	}
	ds := &Dataset{Dir: dir, Split: o.Split}
	corpusPath := filepath.Join(dir, CorpusFile)
	queriesPath := filepath.Join(dir, QueriesFile)
	qrelsPath := filepath.Join(dir, QrelsDir, o.Split+".tsv")
	var err error
	if ds.Corpus, err = readFile(corpusPath, ReadCorpus); err != nil {
		return nil, err
	}
	if len(ds.Corpus) == 0 {
		return nil, fmt.Errorf("eval: %s: no documents: %w", corpusPath, twostage.ErrInvalidInput)
	}
	queries, err := readFile(queriesPath, ReadQueries)
	if err != nil {
		return nil, err
	}
	lines := map[string]map[string]int{}
	qrels, err := readFile(qrelsPath, func(r io.Reader) (Qrels, error) { return readQrels(r, lines) })
	if err != nil {
		return nil, err
	}
	if len(qrels) == 0 {
		return nil, fmt.Errorf("eval: %s: no judgments: %w", qrelsPath, twostage.ErrInvalidInput)
	}
	known := make(map[string]bool, len(queries))
	for _, q := range queries {
		known[q.ID] = true
		if _, ok := qrels[q.ID]; ok {
			ds.Queries = append(ds.Queries, q)
		} else {
			ds.Unjudged++
		}
	}
	for q, docs := range lines {
		if !known[q] {
			first := 0
			for _, l := range docs {
				if first == 0 || l < first {
					first = l
				}
			}
			return nil, fmt.Errorf("eval: %s line %d: query %q is not in %s: %w", qrelsPath, first, q, QueriesFile, twostage.ErrInvalidInput)
		}
	}
	inCorpus := make(map[string]bool, len(ds.Corpus))
	for _, d := range ds.Corpus {
		inCorpus[d.ID] = true
	}
	for q, j := range qrels {
		for d, g := range j {
			if !inCorpus[d] {
				ds.Missing = append(ds.Missing, MissingDoc{Query: q, Doc: d, Grade: g, Line: lines[q][d]})
			}
		}
	}
	sortMissing(ds.Missing)
	if o.DropMissing && len(ds.Missing) > 0 {
		for _, m := range ds.Missing {
			delete(qrels[m.Query], m.Doc)
		}
		ds.Dropped = true
	}
	ds.Qrels = qrels
	return ds, nil
}

func sortMissing(m []MissingDoc) {
	slices.SortFunc(m, func(a, b MissingDoc) int { return cmp.Compare(a.Line, b.Line) })
}

func readFile[T any](path string, read func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	v, err := read(f)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("eval: %s: %w", path, err)
	}
	return v, nil
}

// maxLine bounds one JSON line of a corpus.
const maxLine = 64 << 20

// jsonLines calls f with each non-blank line and its number.
func jsonLines(r io.Reader, f func(line int, b []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		if len(b) == 0 {
			continue
		}
		if err := f(line, b); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("a line is longer than %d MiB: %w", maxLine>>20, twostage.ErrInvalidInput)
		}
		return err
	}
	return nil
}

// record is one line of corpus.jsonl or queries.jsonl.
type record struct {
	ID    json.RawMessage `json:"_id"`
	Title *string         `json:"title"`
	Text  *string         `json:"text"`
}

// recordKeys are the keys of a record that are read; BEIR's others
// (metadata) are passed over, but one near a read key the line lacks is
// refused (validate.Misspelt).
var recordKeys = []string{"_id", "title", "text"}

func decodeRecord(line int, b []byte, seen map[string]int) (record, string, error) {
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, "", fmt.Errorf("line %d: %v: %w", line, err, twostage.ErrInvalidInput)
	}
	if k := validate.Misspelt(b, recordKeys); k != "" { // "tilte" would drop the title
		return rec, "", fmt.Errorf("line %d: %s: %w", line, validate.UnknownFieldMessage(k, recordKeys), twostage.ErrInvalidInput)
	}
	id, err := validate.JSONID("_id", rec.ID)
	if err == nil && strings.TrimSpace(id) == "" { // BEIR ids are never blank
		err = fmt.Errorf("empty \"_id\": %w", twostage.ErrInvalidInput)
	}
	if err != nil {
		return rec, "", fmt.Errorf("line %d: %w", line, err)
	}
	if prev, dup := seen[id]; dup {
		return rec, "", fmt.Errorf("line %d: _id %q already on line %d: %w", line, id, prev, twostage.ErrInvalidInput)
	}
	seen[id] = line
	if rec.Text == nil {
		return rec, "", fmt.Errorf("line %d: _id %q has no \"text\": %w", line, id, twostage.ErrInvalidInput)
	}
	if err := driver.CheckText("text", *rec.Text); err != nil {
		return rec, "", fmt.Errorf("line %d: _id %q: %w", line, id, err)
	}
	return rec, id, nil
}

// ReadCorpus reads corpus.jsonl: one JSON object a line with "_id" (string
// or number), "text" and an optional "title"; other fields (BEIR's
// metadata) are ignored, but one near a read key the line lacks ("tilte"
// without "title") is an error. Errors name the line.
func ReadCorpus(r io.Reader) ([]Doc, error) {
	return readRecords(r, func(line int, id string, rec record) (Doc, error) {
		d := Doc{ID: id, Text: *rec.Text}
		if rec.Title != nil {
			if err := driver.CheckText("title", *rec.Title); err != nil {
				return d, fmt.Errorf("line %d: _id %q: %w", line, id, err)
			}
			d.Title = *rec.Title
		}
		return d, nil
	})
}

// ReadQueries reads queries.jsonl: one JSON object a line with "_id" and
// "text"; other fields are ignored, but one near a read key the line
// lacks is an error. An empty query text is an error.
func ReadQueries(r io.Reader) ([]Query, error) {
	return readRecords(r, func(line int, id string, rec record) (Query, error) {
		if strings.TrimSpace(*rec.Text) == "" {
			return Query{}, fmt.Errorf("line %d: query %q has an empty text: %w", line, id, twostage.ErrInvalidInput)
		}
		return Query{ID: id, Text: *rec.Text}, nil
	})
}

// readRecords reads JSON lines of records with a unique "_id" and a "text"
// (see decodeRecord) and turns each into a T with conv. On an error it
// returns the records before the failing line with the error.
func readRecords[T any](r io.Reader, conv func(line int, id string, rec record) (T, error)) ([]T, error) {
	var out []T
	seen := map[string]int{}
	err := jsonLines(r, func(line int, b []byte) error {
		rec, id, err := decodeRecord(line, b, seen)
		if err != nil {
			return err
		}
		v, err := conv(line, id, rec)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// ReadQrels reads a qrels TSV file: query-id, corpus-id and an integer
// score, tab-separated, one judgment a line, after an optional header line
// (recognised by a score column that is not an integer). A judgment given
// twice with the same score is accepted; with different scores it is an
// error naming both lines.
func ReadQrels(r io.Reader) (Qrels, error) { return readQrels(r, map[string]map[string]int{}) }

func readQrels(r io.Reader, lines map[string]map[string]int) (Qrels, error) {
	q := Qrels{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	first := true
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			s = strings.TrimPrefix(s, "\ufeff")
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		header := first
		first = false
		f := strings.Split(s, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: %d tab-separated fields, want 3 (query-id, corpus-id, score): %w", line, len(f), twostage.ErrInvalidInput)
		}
		qid, did := strings.TrimSpace(f[0]), strings.TrimSpace(f[1])
		grade, err := strconv.Atoi(strings.TrimSpace(f[2]))
		if err != nil {
			if header {
				continue // the header: query-id, corpus-id, score
			}
			return nil, fmt.Errorf("line %d: score %q is not an integer: %w", line, f[2], twostage.ErrInvalidInput)
		}
		if qid == "" || did == "" {
			return nil, fmt.Errorf("line %d: empty query-id or corpus-id: %w", line, twostage.ErrInvalidInput)
		}
		if q[qid] == nil {
			q[qid] = Judgments{}
			lines[qid] = map[string]int{}
		}
		if prev, dup := q[qid][did]; dup {
			if prev != grade {
				return nil, fmt.Errorf("line %d: query %q document %q judged %d here and %d on line %d: %w",
					line, qid, did, grade, prev, lines[qid][did], twostage.ErrInvalidInput)
			}
			continue
		}
		q[qid][did] = grade
		lines[qid][did] = line
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("a line is longer than 1 MiB: %w", twostage.ErrInvalidInput)
		}
		return nil, err
	}
	return q, nil
}
