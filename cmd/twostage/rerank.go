package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"twostage"
	"twostage/inference"
	"twostage/modeldir"
	"twostage/rerank"
)

// engineSpecKeys are the options of the zerank: and onnx: reranker specs.
var engineSpecKeys = []string{"max_length", "instruction", "batch", "batch_tokens", "threads", "provider", "device", "platform", "compute", "family"}

func init() {
	register("rerank", "score JSON lines {\"text\": ...} against a query with a cross-encoder (zerank-2)", cmdRerank)
	help := "[,max_length=N][,instruction=S][,batch=N][,batch_tokens=N][,threads=N][,provider=cpu|cuda|tensorrt|xla][,device=N]" +
		"[,platform=cpu|cuda][,compute=fp32|bf16|fp16][,family=F] (provider=xla: DIR is a Hugging Face checkpoint)"
	registerReranker("zerank", "zerank-2 (or zerank-1) converted by `twostage convert`, on ONNX Runtime; zerank:DIR"+help,
		func(ctx context.Context, spec string) (twostage.Reranker, error) {
			return openEngine(spec, modeldir.FamilyZerank)
		})
	registerReranker("onnx", "any converted cross-encoder (zerank, qwen3-reranker, bert-cross-encoder; family from twostage.json); onnx:DIR"+help,
		func(ctx context.Context, spec string) (twostage.Reranker, error) { return openEngine(spec, "") })
}

// openEngine opens the shared rerank engine for a zerank:DIR or onnx:DIR
// spec; family, when set, is the family the directory must hold.
func openEngine(spec, family string) (*rerank.Engine, error) {
	dir, opts, err := specOptions(spec, engineSpecKeys...)
	if err != nil {
		return nil, err
	}
	if dir, err = modelDir(dir, family); err != nil {
		return nil, err
	}
	o := &rerank.EngineOptions{Instruction: opts["instruction"]}
	o.Provider, o.Platform, o.Compute, o.Family = opts["provider"], opts["platform"], opts["compute"], opts["family"]
	for key, p := range map[string]*int{"max_length": &o.MaxLength, "batch": &o.MaxBatchSize, "batch_tokens": &o.MaxBatchTokens,
		"threads": &o.IntraOpThreads, "device": &o.DeviceID} {
		if *p, err = intOpt(spec, opts, key); err != nil {
			return nil, err
		}
	}
	if family != "" && strings.EqualFold(o.Provider, inference.ProviderXLA) {
		if o.Family == "" {
			o.Family = family
		} else if o.Family != family {
			return nil, usageErr("%q: family=%s on a %s reranker", spec, o.Family, family)
		}
	} else if family != "" {
		cfg, err := modeldir.Load(dir)
		if err != nil {
			return nil, err
		}
		if cfg.Family != family {
			return nil, usageErr("%q: %s holds a %s model, not %s (use onnx:%s)", spec, dir, cfg.Family, family, dir)
		}
	}
	return rerank.Open(dir, o)
}

// rerankResult is one line of `twostage rerank --json`.
type rerankResult struct {
	Index          int     `json:"index"`
	RelevanceScore float64 `json:"relevance_score"`
	RawScore       float64 `json:"raw_score"`
}

// cmdRerank runs `twostage rerank --model DIR --query TEXT [--docs FILE] [--json]`.
func cmdRerank(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("rerank", stderr)
	model := fs.String("model", "", "model directory written by \"twostage convert\", or a name pulled by \"twostage pull\" (required)")
	query := fs.String("query", "", "the query (required)")
	docsPath := fs.String("docs", "", "JSON lines {\"text\": ...} to score (default: stdin)")
	asJSON := fs.Bool("json", false, "print {\"results\": [{\"index\", \"relevance_score\", \"raw_score\"}, ...]}, highest first")
	provider := fs.String("provider", "cpu", "execution provider: cpu, cuda or tensorrt (GPU builds of ONNX Runtime; see ONNXRUNTIME_LIB), or xla (a Hugging Face checkpoint on PJRT)")
	xo := xlaFlags(fs)
	device := fs.Int("device", 0, "GPU ordinal for cuda and tensorrt")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
	maxLen := fs.Int("max-length", 0, "cap on tokens per (query, document) input (0: the model's)")
	instruction := fs.String("instruction", "", "task instruction for qwen3-reranker models (default: its own)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: twostage rerank --model DIR --query TEXT [--docs FILE] [--json]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if *model == "" || *query == "" {
		return usageErr("--model and --query are required")
	}
	in := stdin
	if *docsPath != "" {
		f, err := os.Open(*docsPath)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	docs, err := readTextLines(in)
	if err != nil {
		return err
	}
	dir, err := modelDir(*model, "")
	if err != nil {
		return err
	}
	e, err := rerank.Open(dir, xo.apply(&rerank.EngineOptions{ModelOptions: inference.ModelOptions{Provider: *provider, DeviceID: *device, IntraOpThreads: *threads},
		MaxLength: *maxLen, Instruction: *instruction}))
	if err != nil {
		return err
	}
	scores, err := e.Rerank(ctx, *query, docs)
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	res := make([]rerankResult, len(scores))
	for i, s := range scores {
		res[i] = rerankResult{Index: i, RelevanceScore: s.Score, RawScore: s.Raw}
	}
	sort.SliceStable(res, func(a, b int) bool { return res[a].RelevanceScore > res[b].RelevanceScore })
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string][]rerankResult{"results": res})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "rank\tindex\tscore\traw\ttext")
	for rank, r := range res {
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.4f\t%s\n", rank+1, r.Index, r.RelevanceScore, r.RawScore, snippet(docs[r.Index], 60))
	}
	return tw.Flush()
}

// readTextLines reads JSON lines {"text": "..."}; blank lines are skipped.
func readTextLines(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var docs []string
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if strings.TrimSpace(string(b)) == "" {
			continue
		}
		var d struct {
			Text *string `json:"text"`
		}
		if err := checkJSONText(b); err != nil {
			return nil, fmt.Errorf("documents line %d, %w", line, err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("documents line %d: %v: %w", line, jsonError(err), twostage.ErrInvalidInput)
		}
		if d.Text == nil {
			return nil, fmt.Errorf("documents line %d: no \"text\" field: %w", line, twostage.ErrInvalidInput)
		}
		docs = append(docs, *d.Text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("documents: %w", err)
	}
	return docs, nil
}
