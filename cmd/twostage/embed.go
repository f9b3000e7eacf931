package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"twostage"
	"twostage/internal/validate"
	"twostage/spec"
)

func init() {
	register("embed", "embed JSON lines {\"text\": ...} from stdin with a bi-encoder", cmdEmbed)
}

func cmdEmbed(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("embed", stderr)
	model := fs.String("model", "", "bi-encoder model directory (same as --embedder onnx:DIR)")
	espec := fs.String("embedder", "", "any embedder spec instead of --model: "+spec.Names(spec.Embedders()))
	asJSON := fs.Bool("json", false, `write {"embedding": [...]} lines for programs instead of a summary per text`)
	query := fs.Bool("query", false, "embed the texts as search queries (query prefix) instead of documents")
	batch := fs.Int("batch", 256, "texts read and embedded at once")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: twostage embed --model DIR [--json] [--query] < texts.jsonl")
		fmt.Fprintln(stderr, `reads JSON lines {"text": "..."} and writes one line per input, in input order`)
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	switch {
	case *model != "" && *espec != "":
		return usageErr("give --model or --embedder, not both")
	case *model != "":
		*espec = "onnx:" + *model
	case *espec == "":
		return usageErr("--model DIR is required (a bi-encoder converted with `twostage convert --family bert-embedding`, or a published ONNX export)")
	}
	if *batch <= 0 {
		return usageErr("--batch must be positive")
	}
	e, err := openEmbedder(ctx, *espec)
	if err != nil {
		return err
	}
	err = embedLines(ctx, e, stdin, stdout, *batch, *asJSON, *query)
	return errors.Join(err, closeAll(e))
}

// embedLines streams stdin to stdout batch by batch, so memory stays at one
// batch whatever the input size.
func embedLines(ctx context.Context, e twostage.Embedder, in io.Reader, out io.Writer, batch int, asJSON, query bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	w := bufio.NewWriter(out)
	var texts []string
	n, line := 0, 0
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		var vs [][]float32
		var err error
		if query {
			vs = make([][]float32, len(texts))
			for i, t := range texts {
				if vs[i], err = e.EmbedQuery(ctx, t); err != nil {
					break
				}
			}
		} else {
			vs, err = e.EmbedDocuments(ctx, texts)
		}
		if err != nil {
			return fmt.Errorf("texts %d-%d: %w", n+1, n+len(texts), err)
		}
		for i, v := range vs {
			if err := writeEmbedding(w, n+i+1, texts[i], v, asJSON); err != nil {
				return err
			}
		}
		n += len(texts)
		texts = texts[:0]
		return w.Flush()
	}
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec struct {
			Text *string `json:"text"`
		}
		if err := checkJSONText(b); err != nil {
			return fmt.Errorf("line %d, %w", line, err)
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return usageErr("line %d: %v (want JSON lines {\"text\": \"...\"})", line, jsonError(err))
		}
		if k := validate.Misspelt(b, textKeys); k != "" {
			return usageErr("line %d: %s", line, validate.UnknownFieldMessage(k, textKeys))
		}
		if rec.Text == nil {
			return usageErr("line %d: missing \"text\"", line)
		}
		texts = append(texts, *rec.Text)
		if len(texts) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d is longer than %d MiB: %w", line+1, maxLine>>20, twostage.ErrInvalidInput)
		}
		return err
	}
	return flush()
}

func writeEmbedding(w *bufio.Writer, n int, text string, v []float32, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(struct {
			Embedding []float32 `json:"embedding"`
		}{v})
		if err != nil {
			return err
		}
		w.Write(b)
		return w.WriteByte('\n')
	}
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	head := make([]string, 0, 4)
	for _, x := range v[:min(4, len(v))] {
		head = append(head, strconv.FormatFloat(float64(x), 'f', 4, 32))
	}
	if len(v) > 4 {
		head = append(head, "...")
	}
	short := []rune(text)
	if len(short) > 40 {
		short = append(short[:37], []rune("...")...)
	}
	_, err := fmt.Fprintf(w, "%d\tdim %d\tnorm %.4f\t[%s]\t%q\n", n, len(v), math.Sqrt(s), strings.Join(head, " "), string(short))
	return err
}
