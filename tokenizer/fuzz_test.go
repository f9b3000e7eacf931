package tokenizer

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"twostage/internal/testassets"
)

var (
	fuzzOnce           sync.Once
	fuzzQwen, fuzzBert *Tokenizer
	fuzzErr            error
)

func fuzzTokenizers(t testing.TB) (*Tokenizer, *Tokenizer) {
	t.Helper()
	qp, bp := testassets.Qwen3Tokenizer(t), testassets.BertTokenizer(t)
	fuzzOnce.Do(func() {
		if fuzzQwen, fuzzErr = FromFile(qp); fuzzErr != nil {
			return
		}
		fuzzBert, fuzzErr = FromFile(bp)
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzQwen, fuzzBert
}

// FuzzEncode is differential: every input, single and paired, with and
// without special tokens, must encode to the ids and type ids that Hugging
// Face's Rust tokenizers give (through its Node binding, one server process
// per fuzz worker, see testdata/refserver.js), for the Qwen3 and the BERT
// tokenizer. It also checks that encoding never panics, that every encoding
// is consistent (equal lengths, ids in the vocabulary), and that byte-level
// BPE round-trips: Decode(Encode(x)) == NFC(x) for valid UTF-8 without
// special token text. Run: go test -run '^$' -fuzz FuzzEncode ./tokenizer
func FuzzEncode(f *testing.F) {
	for _, s := range []string{
		"", " ", "hello world", "Hello, World! It's 2026.", "<|im_start|>user\nhi<|im_end|>", "[CLS] x [SEP]",
		"naïve café", "e\u0301", "👨‍👩‍👧‍👦", "\xff\xfe", "\xe2\x82", "   \n\n\t ", "'s'S'ſ", "日本語のテキスト",
		"1234567890", "a\u00a0b\u3000c", "İstanbul", "\u0000\u0085\u2028", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		// Longer ordinary text, where many merges compete for the same
		// symbols, so that a wrong merge order shows.
		"The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
		"Internationalization, tokenization and preprocessing of unbelievably uncharacteristic words",
		"func main() {\n\tfmt.Println(\"hello, 世界\") // comment\n}",
		"Größenordnungen, Straßenbahnhaltestelle; l'élève a été très étonnée",
	} {
		f.Add(s, "pair")
	}
	// WordPiece's word limit (100 characters for BERT): at the limit a word
	// is split, one character over it is [UNK].
	f.Add(strings.Repeat("ab", 50), "c"+strings.Repeat("ab", 50))
	qwen, bert := fuzzTokenizers(f)
	ref := startRefServer(f)
	f.Fuzz(func(t *testing.T, text, pair string) {
		for ti, tok := range []*Tokenizer{qwen, bert} {
			for _, special := range []bool{true, false} {
				e, err := tok.Encode(text, special)
				if err != nil {
					t.Fatal(err)
				}
				checkEncoding(t, tok, e)
				ref.check(t, ti, text, nil, special, e)
				p, err := tok.EncodePair(text, pair, special)
				if err != nil {
					t.Fatal(err)
				}
				checkEncoding(t, tok, p)
				ref.check(t, ti, text, &pair, special, p)
				if _, err := tok.Decode(e.IDs, special); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !utf8.ValidString(text) || containsAddedToken(qwen, text) {
			return
		}
		e, _ := qwen.Encode(text, false)
		got, err := qwen.Decode(e.IDs, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := norm.NFC.String(text); got != want {
			t.Errorf("decode(encode(%q)) = %q, want NFC %q", text, got, want)
		}
	})
}

func checkEncoding(t *testing.T, tok *Tokenizer, e *Encoding) {
	t.Helper()
	n := len(e.IDs)
	if len(e.TypeIDs) != n || len(e.AttentionMask) != n || len(e.Tokens) != n {
		t.Fatalf("lengths differ: ids %d, type ids %d, mask %d, tokens %d", n, len(e.TypeIDs), len(e.AttentionMask), len(e.Tokens))
	}
	for i, id := range e.IDs {
		tokStr, ok := tok.IDToToken(id)
		if !ok || tokStr != e.Tokens[i] || e.AttentionMask[i] != 1 {
			t.Fatalf("token %d: id %d (known %v) token %q vs %q, mask %d", i, id, ok, tokStr, e.Tokens[i], e.AttentionMask[i])
		}
	}
}

// containsAddedToken reports whether an added token could match in s (its
// text then decodes to the token's content, which may differ after NFC).
func containsAddedToken(tok *Tokenizer, s string) bool {
	_, _, _, ok := tok.p.addedRaw.next(s, 0)
	return ok
}

// refServer is a running testdata/refserver.js: Hugging Face's tokenizers
// for the Qwen3 (index 0) and BERT (1) tokenizer files.
type refServer struct {
	mu  sync.Mutex
	in  io.Writer
	out *bufio.Reader
}

var (
	refOnce sync.Once
	refSrv  *refServer
	refErr  error
)

// startRefServer starts the process's reference server once; it exits when
// this process does (its stdin closes).
func startRefServer(t testing.TB) *refServer {
	t.Helper()
	env := referenceEnv(t)
	refOnce.Do(func() {
		script, err := filepath.Abs("testdata/refserver.js")
		if err != nil {
			refErr = err
			return
		}
		cmd := exec.Command(env.node, script, env.binding, env.qwen, env.bert)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			refErr = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			refErr = err
			return
		}
		if refErr = cmd.Start(); refErr != nil {
			return
		}
		refSrv = &refServer{in: in, out: bufio.NewReaderSize(out, 1<<20)}
	})
	if refErr != nil {
		t.Fatalf("tokenizer: start the reference server: %v", refErr)
	}
	return refSrv
}

type refRequest struct {
	Tok     int     `json:"tok"`
	Text    string  `json:"text"`
	Pair    *string `json:"pair"`
	Special bool    `json:"special"`
}

type refReply struct {
	IDs     []int  `json:"ids"`
	TypeIDs []int  `json:"typeIds"`
	Error   string `json:"error"`
}

// encode asks the reference for the encoding of text (and pair, when not
// nil) with tokenizer tok.
func (s *refServer) encode(tok int, text string, pair *string, special bool) (*refReply, error) {
	req := refRequest{Tok: tok, Text: base64.StdEncoding.EncodeToString([]byte(text)), Special: special}
	if pair != nil {
		p := base64.StdEncoding.EncodeToString([]byte(*pair))
		req.Pair = &p
	}
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.in.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("write to the reference server: %w", err)
	}
	reply, err := s.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("read from the reference server: %w", err)
	}
	var r refReply
	if err := json.Unmarshal(reply, &r); err != nil {
		return nil, fmt.Errorf("reference server reply %q: %w", reply, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("reference server: %s", r.Error)
	}
	return &r, nil
}

// check compares e with the reference's encoding of the same input.
func (s *refServer) check(t *testing.T, tok int, text string, pair *string, special bool, e *Encoding) {
	t.Helper()
	r, err := s.encode(tok, text, pair, special)
	if err != nil {
		t.Fatal(err)
	}
	typeIDs := make([]int, len(e.TypeIDs))
	for i, x := range e.TypeIDs {
		typeIDs[i] = int(x)
	}
	ids := make([]int, len(e.IDs))
	for i, x := range e.IDs {
		ids[i] = int(x)
	}
	if !slices.Equal(ids, r.IDs) || !slices.Equal(typeIDs, r.TypeIDs) {
		what := fmt.Sprintf("tokenizer %d, text %q", tok, text)
		if pair != nil {
			what += fmt.Sprintf(", pair %q", *pair)
		}
		t.Errorf("%s, special %v:\n got ids %v type ids %v\nwant ids %v type ids %v (Hugging Face tokenizers)", what, special, ids, typeIDs, r.IDs, r.TypeIDs)
	}
}
