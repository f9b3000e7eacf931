package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"twostage"
	"twostage/adapters/memstore"
	"twostage/internal/validate"
)

// maxLine bounds one JSON line (a document with a long text and a vector).
const maxLine = 64 << 20

// readDocs reads documents in JSON lines ({"id","text","metadata","vector"};
// metadata keeps JSON's types; any other key is an error naming it, since
// it would be dropped) or CSV (a header row with id and text
// columns; every other column is a metadata field, text unless its type is
// declared: see csvColumns). It reads everything first, so a malformed line
// is reported with its number and nothing is indexed. Text must be valid
// UTF-8: invalid bytes, and in JSON lone surrogate escapes such as \uD800,
// are errors naming the line and column, never replaced.
func readDocs(r io.Reader, format string, csvTypes string) ([]twostage.Document, error) {
	switch format {
	case "jsonl":
		if csvTypes != "" {
			return nil, usageErr("--csv-types applies to CSV input only (JSON lines keep JSON's types)")
		}
		return readJSONL(r)
	case "csv":
		return readCSV(r, csvTypes)
	}
	return nil, usageErr("unknown format %q (jsonl or csv)", format)
}

// openInput opens what a command reads its records from: stdin when path
// is "" or "-", else the file at path.
func openInput(path string, stdin io.Reader) (io.ReadCloser, error) {
	if path == "" || path == "-" {
		return io.NopCloser(stdin), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// jsonlKeys are the keys of a JSON line that index reads.
var jsonlKeys = []string{"id", "text", "metadata", "vector"}

func readJSONL(r io.Reader) ([]twostage.Document, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	var docs []twostage.Document
	seen := map[string]int{}
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := checkJSONText(sc.Bytes()); err != nil {
			return nil, fmt.Errorf("line %d, %w", line, err)
		}
		var rec struct {
			ID       json.RawMessage `json:"id"`
			Text     *string         `json:"text"`
			Metadata map[string]any  `json:"metadata"`
			Vector   []float32       `json:"vector"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		dec.DisallowUnknownFields() // "metdata" would lose the metadata
		if err := dec.Decode(&rec); err != nil {
			if name, ok := validate.UnknownField(err); ok {
				return nil, fmt.Errorf("line %d: %s: %w", line, validate.UnknownFieldMessage(name, jsonlKeys), twostage.ErrInvalidInput)
			}
			return nil, fmt.Errorf("line %d: %v: %w", line, jsonError(err), twostage.ErrInvalidInput)
		}
		id, err := validate.JSONID("id", rec.ID)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if rec.Text == nil {
			return nil, fmt.Errorf("line %d: missing \"text\": %w", line, twostage.ErrInvalidInput)
		}
		md, err := memstore.FromJSONMetadata(rec.Metadata)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("line %d: id %q already on line %d: %w", line, id, prev, twostage.ErrInvalidInput)
		}
		seen[id] = line
		docs = append(docs, twostage.Document{ID: id, Text: *rec.Text, Metadata: md, Vector: rec.Vector})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("a line is longer than %d MiB: %w", maxLine>>20, twostage.ErrInvalidInput)
		}
		return nil, err
	}
	return docs, nil
}

// checkJSONText checks that a JSON line is valid UTF-8 and that its \u
// escapes encode no lone surrogate (encoding/json would turn both into
// U+FFFD). Errors start with the 1-based byte column.
func checkJSONText(b []byte) error {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return fmt.Errorf("column %d: invalid UTF-8: %w", i+1, twostage.ErrInvalidInput)
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] != 'u' {
				i++ // a one-character escape
				continue
			}
			r, ok := hex4(b[i+2:])
			if !ok {
				i++
				continue // malformed: the decoder reports it
			}
			switch {
			case utf16.IsSurrogate(r) && r < 0xDC00: // high: needs a low one next
				lo, ok := hex4(b[min(i+8, len(b)):])
				if !ok || i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
					return fmt.Errorf("column %d: lone surrogate escape \\u%04X: %w", i+1, r, twostage.ErrInvalidInput)
				}
				i += 11
			case utf16.IsSurrogate(r):
				return fmt.Errorf("column %d: lone surrogate escape \\u%04X: %w", i+1, r, twostage.ErrInvalidInput)
			default:
				i += 5
			}
		}
	}
	return nil
}

// hex4 reads the 4 hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}

// csvColumn is a metadata column of a CSV file and the type its cells get.
type csvColumn struct {
	index int
	name  string
	typ   string // "string" (default), "int", "float" or "bool"
}

// csvTypeNames are the types a CSV column can be declared with.
var csvTypeNames = []string{"string", "int", "float", "bool"}

// csvColumns reads a CSV header. Cells are text unless a column's type is
// declared, in the header ("year:int", "price:float", "draft:bool",
// "zip:string") or with --csv-types "year=int,draft=bool", so "02134" stays
// the text it was.
func csvColumns(header []string, flagTypes string) (idCol, textCol, vecCol int, cols []csvColumn, err error) {
	declared := map[string]string{}
	if flagTypes != "" {
		for _, kv := range strings.Split(flagTypes, ",") {
			name, typ, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || !slices.Contains(csvTypeNames, typ) {
				return 0, 0, 0, nil, usageErr("--csv-types %q: want NAME=TYPE pairs separated by commas, TYPE one of %s", flagTypes, strings.Join(csvTypeNames, ", "))
			}
			declared[name] = typ
		}
	}
	idCol, textCol, vecCol = -1, -1, -1
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		name, typ, typed := strings.Cut(h, ":")
		if typed && !slices.Contains(csvTypeNames, typ) {
			return 0, 0, 0, nil, fmt.Errorf("csv header column %d %q: unknown type %q (%s): %w", i+1, h, typ, strings.Join(csvTypeNames, ", "), twostage.ErrInvalidInput)
		}
		if seen[name] {
			return 0, 0, 0, nil, fmt.Errorf("csv header: column %q twice: %w", name, twostage.ErrInvalidInput)
		}
		seen[name] = true
		if t, ok := declared[name]; ok {
			if typed && t != typ {
				return 0, 0, 0, nil, usageErr("--csv-types says %s=%s, the header says %s", name, t, h)
			}
			typ = t
			delete(declared, name)
		}
		switch name {
		case "id", "text", "vector":
			if typ != "" && typ != "string" {
				return 0, 0, 0, nil, fmt.Errorf("csv header: column %q cannot be typed %s: %w", name, typ, twostage.ErrInvalidInput)
			}
			*map[string]*int{"id": &idCol, "text": &textCol, "vector": &vecCol}[name] = i
			continue
		}
		if typ == "" {
			typ = "string"
		}
		cols = append(cols, csvColumn{i, name, typ})
	}
	for name := range declared {
		return 0, 0, 0, nil, usageErr("--csv-types names %q, which is not a column of the header %q", name, header)
	}
	if idCol < 0 || textCol < 0 {
		return 0, 0, 0, nil, fmt.Errorf("csv header %q needs \"id\" and \"text\" columns: %w", header, twostage.ErrInvalidInput)
	}
	return idCol, textCol, vecCol, cols, nil
}

func readCSV(r io.Reader, flagTypes string) ([]twostage.Document, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %v: %w", err, twostage.ErrInvalidInput)
	}
	for i, h := range header {
		if !utf8.ValidString(h) {
			return nil, fmt.Errorf("csv line 1, column %d: invalid UTF-8: %w", i+1, twostage.ErrInvalidInput)
		}
	}
	idCol, textCol, vecCol, cols, err := csvColumns(header, flagTypes)
	if err != nil {
		return nil, err
	}
	var docs []twostage.Document
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("csv: %v: %w", err, twostage.ErrInvalidInput)
		}
		line, _ := cr.FieldPos(0)
		for i, cell := range rec {
			if !utf8.ValidString(cell) {
				l, c := cr.FieldPos(i)
				return nil, fmt.Errorf("csv line %d, column %d (field %d): invalid UTF-8: %w", l, c, i+1, twostage.ErrInvalidInput)
			}
		}
		d := twostage.Document{ID: rec[idCol], Text: rec[textCol]}
		if d.ID == "" {
			return nil, fmt.Errorf("csv line %d: empty id: %w", line, twostage.ErrInvalidInput)
		}
		if prev, dup := seen[d.ID]; dup {
			return nil, fmt.Errorf("csv line %d: id %q already on line %d: %w", line, d.ID, prev, twostage.ErrInvalidInput)
		}
		seen[d.ID] = line
		if vecCol >= 0 && rec[vecCol] != "" {
			if err := json.Unmarshal([]byte(rec[vecCol]), &d.Vector); err != nil {
				return nil, fmt.Errorf("csv line %d: vector: %v: %w", line, jsonError(err), twostage.ErrInvalidInput)
			}
		}
		for _, c := range cols {
			if rec[c.index] == "" {
				continue
			}
			v, err := csvValue(rec[c.index], c.typ)
			if err != nil {
				return nil, fmt.Errorf("csv line %d, column %q: %v: %w", line, c.name, err, twostage.ErrInvalidInput)
			}
			if d.Metadata == nil {
				d.Metadata = map[string]any{}
			}
			d.Metadata[c.name] = v
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// csvValue converts a CSV cell to its column's declared type.
func csvValue(s, typ string) (any, error) {
	switch typ {
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an int", s)
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a finite float", s)
		}
		return f, nil
	case "bool":
		switch strings.TrimSpace(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a bool (true or false)", s)
	}
	return s, nil
}
