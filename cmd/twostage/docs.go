package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"twostage"
	"twostage/adapters/memstore"
)

// maxLine bounds one JSON line (a document with a long text and a vector).
const maxLine = 64 << 20

// readDocs reads documents in JSON lines ({"id","text","metadata","vector"})
// or CSV (a header row with id and text columns; every other column is a
// metadata field, numbers and true/false typed as such). It reads everything
// first, so a malformed line is reported with its number and nothing is
// indexed.
func readDocs(r io.Reader, format string) ([]twostage.Document, error) {
	switch format {
	case "jsonl":
		return readJSONL(r)
	case "csv":
		return readCSV(r)
	}
	return nil, usageErr("unknown format %q (jsonl or csv)", format)
}

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
		var rec struct {
			ID       json.RawMessage `json:"id"`
			Text     *string         `json:"text"`
			Metadata map[string]any  `json:"metadata"`
			Vector   []float32       `json:"vector"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("line %d: %v: %w", line, jsonError(err), twostage.ErrInvalidInput)
		}
		id, err := jsonID(rec.ID)
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

// jsonID accepts a string or a number id.
func jsonID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("missing \"id\": %w", twostage.ErrInvalidInput)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", fmt.Errorf("empty \"id\": %w", twostage.ErrInvalidInput)
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("\"id\" must be a string or a number, got %s: %w", raw, twostage.ErrInvalidInput)
}

func readCSV(r io.Reader) ([]twostage.Document, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %v: %w", err, twostage.ErrInvalidInput)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	idCol, okID := col["id"]
	textCol, okText := col["text"]
	if !okID || !okText {
		return nil, fmt.Errorf("csv header %q needs \"id\" and \"text\" columns: %w", header, twostage.ErrInvalidInput)
	}
	var docs []twostage.Document
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("csv: %v: %w", err, twostage.ErrInvalidInput)
		}
		d := twostage.Document{ID: rec[idCol], Text: rec[textCol]}
		if d.ID == "" {
			return nil, fmt.Errorf("csv line %d: empty id: %w", line, twostage.ErrInvalidInput)
		}
		if prev, dup := seen[d.ID]; dup {
			return nil, fmt.Errorf("csv line %d: id %q already on line %d: %w", line, d.ID, prev, twostage.ErrInvalidInput)
		}
		seen[d.ID] = line
		for name, i := range col {
			if i == idCol || i == textCol || rec[i] == "" {
				continue
			}
			if name == "vector" {
				if err := json.Unmarshal([]byte(rec[i]), &d.Vector); err != nil {
					return nil, fmt.Errorf("csv line %d: vector: %v: %w", line, err, twostage.ErrInvalidInput)
				}
				continue
			}
			if d.Metadata == nil {
				d.Metadata = map[string]any{}
			}
			d.Metadata[name] = csvValue(rec[i])
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// csvValue types a CSV cell: integer, float, boolean, else string.
func csvValue(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "nN") {
		return f
	}
	if b, err := strconv.ParseBool(s); err == nil && (s == "true" || s == "false") {
		return b
	}
	return s
}
