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
	"os"
	"strconv"
	"strings"
	"time"

	"twostage"
	"twostage/embed"
	"twostage/modeldir"
)

// Environment variables holding the API key of HTTP embedders, first found
// wins. Keys never go on the command line, where ps and shell history see
// them.
var apiKeyEnv = []string{"TWOSTAGE_EMBED_API_KEY", "OPENAI_API_KEY"}

func init() {
	register("embed", "embed JSON lines {\"text\": ...} from stdin with a bi-encoder", cmdEmbed)
	registerEmbedder("onnx", "ONNX bi-encoder; onnx:DIR[,pooling=mean|cls|last][,normalize=BOOL][,max_length=N]"+
		"[,query_prefix=S][,passage_prefix=S][,batch=N][,batch_tokens=N][,threads=N][,provider=cpu|cuda|tensorrt|xla]"+
		"[,platform=cpu|cuda][,compute=fp32|bf16|fp16] (provider=xla: DIR is a Hugging Face checkpoint)", openONNX)
	registerEmbedder("openai", "OpenAI-compatible /v1/embeddings (OpenAI, vLLM, Ollama, TEI); openai:URL,model=NAME[,dim=N]"+
		"[,dimensions=N][,batch=N][,timeout=DUR][,retries=N][,query_prefix=S][,passage_prefix=S]; key from "+strings.Join(apiKeyEnv, " or "), openOpenAI)
	registerEmbedder("tei", "Text Embeddings Inference /embed; tei:URL[,dim=N][,batch=N][,timeout=DUR][,retries=N]"+
		"[,query_prefix=S][,passage_prefix=S]; key from "+apiKeyEnv[0], openTEI)
}

// specOptions splits "scheme:TARGET,key=value,..." into TARGET and the
// options, rejecting keys not in allowed.
func specOptions(spec string, allowed ...string) (string, map[string]string, error) {
	rest := strings.TrimPrefix(spec, schemeOf(spec)+":")
	parts := strings.Split(rest, ",")
	target, opts := parts[0], map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return "", nil, usageErr("%q: option %q is not key=value", spec, p)
		}
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		if !known {
			return "", nil, usageErr("%q: unknown option %q (known: %s)", spec, k, strings.Join(allowed, ", "))
		}
		opts[k] = v
	}
	if target == "" {
		return "", nil, usageErr("%q: missing %s target", spec, schemeOf(spec))
	}
	return target, opts, nil
}

func intOpt(spec string, opts map[string]string, key string) (int, error) {
	v, ok := opts[key]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, usageErr("%q: %s=%q is not a non-negative number", spec, key, v)
	}
	return n, nil
}

func openONNX(ctx context.Context, spec string) (twostage.Embedder, error) {
	dir, opts, err := specOptions(spec, "pooling", "normalize", "max_length", "query_prefix", "passage_prefix", "batch", "batch_tokens", "threads", "provider",
		"platform", "compute")
	if err != nil {
		return nil, err
	}
	if dir, err = modelDir(dir, modeldir.FamilyBertEmbedding); err != nil {
		return nil, err
	}
	o := &embed.ONNXOptions{Pooling: opts["pooling"], QueryPrefix: opts["query_prefix"], PassagePrefix: opts["passage_prefix"]}
	o.Provider, o.Platform, o.Compute = opts["provider"], opts["platform"], opts["compute"]
	if v, ok := opts["normalize"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, usageErr("%q: normalize=%q is not true or false", spec, v)
		}
		o.Normalize = &b
	}
	for key, p := range map[string]*int{"max_length": &o.MaxLength, "batch": &o.MaxBatchSize, "batch_tokens": &o.MaxBatchTokens, "threads": &o.IntraOpThreads} {
		if *p, err = intOpt(spec, opts, key); err != nil {
			return nil, err
		}
	}
	return embed.NewONNX(dir, o)
}

// httpOptions reads the options shared by the HTTP embedders.
func httpOptions(spec string, opts map[string]string) (*embed.HTTPOptions, error) {
	o := &embed.HTTPOptions{QueryPrefix: opts["query_prefix"], PassagePrefix: opts["passage_prefix"]}
	for _, k := range apiKeyEnv {
		if v := os.Getenv(k); v != "" {
			o.APIKey = v
			break
		}
	}
	var err error
	var retries int
	for key, p := range map[string]*int{"dim": &o.Dim, "batch": &o.BatchSize, "retries": &retries} {
		if *p, err = intOpt(spec, opts, key); err != nil {
			return nil, err
		}
	}
	if _, ok := opts["retries"]; ok {
		o.Retry.Attempts = retries + 1 // retries=0: none
	}
	if v, ok := opts["timeout"]; ok {
		if o.Timeout, err = time.ParseDuration(v); err != nil || o.Timeout <= 0 {
			return nil, usageErr("%q: timeout=%q is not a positive duration such as 30s", spec, v)
		}
	}
	return o, nil
}

func openOpenAI(ctx context.Context, spec string) (twostage.Embedder, error) {
	url, opts, err := specOptions(spec, "model", "dim", "dimensions", "batch", "timeout", "retries", "query_prefix", "passage_prefix")
	if err != nil {
		return nil, err
	}
	if opts["model"] == "" {
		return nil, usageErr("%q: missing model=NAME", spec)
	}
	o, err := httpOptions(spec, opts)
	if err != nil {
		return nil, err
	}
	dims, err := intOpt(spec, opts, "dimensions")
	if err != nil {
		return nil, err
	}
	if dims > 0 {
		return embed.NewOpenAIDimensions(ctx, url, opts["model"], dims, o)
	}
	return embed.NewOpenAI(ctx, url, opts["model"], o)
}

func openTEI(ctx context.Context, spec string) (twostage.Embedder, error) {
	url, opts, err := specOptions(spec, "dim", "batch", "timeout", "retries", "query_prefix", "passage_prefix")
	if err != nil {
		return nil, err
	}
	o, err := httpOptions(spec, opts)
	if err != nil {
		return nil, err
	}
	return embed.NewTEI(ctx, url, o)
}

func cmdEmbed(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("embed", stderr)
	model := fs.String("model", "", "bi-encoder model directory (same as --embedder onnx:DIR)")
	spec := fs.String("embedder", "", "any embedder spec instead of --model: "+schemeList(embedderSchemes))
	asJSON := fs.Bool("json", false, `write {"embedding": [...]} lines for programs instead of a summary per text`)
	query := fs.Bool("query", false, "embed the texts as search queries (query prefix) instead of documents")
	batch := fs.Int("batch", 256, "texts read and embedded at once")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: twostage embed --model DIR [--json] [--query] < texts.jsonl")
		fmt.Fprintln(stderr, `reads JSON lines {"text": "..."} and writes one line per input, in input order`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *model != "" && *spec != "":
		return usageErr("give --model or --embedder, not both")
	case *model != "":
		*spec = "onnx:" + *model
	case *spec == "":
		return usageErr("--model DIR is required (a bi-encoder converted with `twostage convert --family bert-embedding`, or a published ONNX export)")
	}
	if *batch <= 0 {
		return usageErr("--batch must be positive")
	}
	e, err := openEmbedder(ctx, *spec)
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
