package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"twostage"
	"twostage/inference"
	"twostage/internal/validate"
	"twostage/rerank"
	"twostage/spec"
)

func init() {
	register("rerank", "score JSON lines {\"text\": ...} against a query with a cross-encoder (zerank-2)", cmdRerank)
}

// rerankResult is one line of `twostage rerank --json`.
type rerankResult struct {
	Index          int     `json:"index"`
	RelevanceScore float64 `json:"relevance_score"`
	RawScore       float64 `json:"raw_score"`
	// Chunk is the best window's character offsets, with --long-documents chunk.
	Chunk *twostage.Span `json:"chunk,omitempty"`
}

// cmdRerank runs `twostage rerank --model DIR --query TEXT [--docs FILE] [--json]`.
func cmdRerank(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("rerank", stderr)
	model := fs.String("model", "", "model directory written by \"twostage convert\", or a name pulled by \"twostage pull\" (required)")
	query := fs.String("query", "", "the query (required)")
	docsPath := fs.String("docs", "", "JSON lines {\"text\": ...} to score, - for stdin (default: stdin)")
	asJSON := fs.Bool("json", false, "print {\"results\": [{\"index\", \"relevance_score\", \"raw_score\"}, ...]}, highest first")
	provider := fs.String("provider", "cpu", "execution provider: cpu, cuda or tensorrt (GPU builds of ONNX Runtime; see ONNXRUNTIME_LIB), or xla (a Hugging Face checkpoint on PJRT)")
	xo := xlaFlags(fs)
	device := fs.Int("device", 0, "GPU ordinal for cuda and tensorrt")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
	maxLen := fs.Int("max-length", 0, "cap on tokens per (query, document) input (0: the model's)")
	rf := addRerankFlags(fs)
	prefix := prefixFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: twostage rerank --model DIR --query TEXT [--docs FILE] [--json]")
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *model == "" || *query == "" {
		return usageErr("--model and --query are required")
	}
	if err := xo.check(*provider); err != nil {
		return err
	}
	ro, err := rf.options()
	if err != nil {
		return err
	}
	mode, err := prefix()
	if err != nil {
		return err
	}
	in, err := openInput(*docsPath, stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	docs, err := readTextLines(in)
	if err != nil {
		return err
	}
	dir, err := spec.ModelDir(*model, "")
	if err != nil {
		return err
	}
	e, err := rerank.Open(dir, xo.apply(&rerank.EngineOptions{ModelOptions: inference.ModelOptions{Provider: *provider, DeviceID: *device, IntraOpThreads: *threads},
		MaxLength: *maxLen, SharedPrefix: mode}))
	if err != nil {
		return err
	}
	scores, err := e.RerankWith(ctx, *query, docs, ro)
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	res := make([]rerankResult, len(scores))
	for i, s := range scores {
		res[i] = rerankResult{Index: i, RelevanceScore: s.Score, RawScore: s.Raw, Chunk: s.Chunk}
	}
	sort.SliceStable(res, func(a, b int) bool { return res[a].RelevanceScore > res[b].RelevanceScore })
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string][]rerankResult{"results": res})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if ro.LongDocuments == twostage.Chunk {
		// The best window's text, and its character offsets.
		fmt.Fprintln(tw, "rank\tindex\tscore\traw\tchunk\ttext")
		for rank, r := range res {
			text := []rune(docs[r.Index])[r.Chunk.Start:r.Chunk.End]
			fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.4f\t%d-%d\t%s\n", rank+1, r.Index, r.RelevanceScore, r.RawScore, r.Chunk.Start, r.Chunk.End, snippet(string(text), 60))
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "rank\tindex\tscore\traw\ttext")
	for rank, r := range res {
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.4f\t%s\n", rank+1, r.Index, r.RelevanceScore, r.RawScore, snippet(docs[r.Index], 60))
	}
	return tw.Flush()
}

// textKeys are the keys embed and rerank read from a JSON line; other keys
// (a corpus line's id and metadata) are passed over, but one near "text"
// is refused (validate.Misspelt).
var textKeys = []string{"text"}

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
		if k := validate.Misspelt(b, textKeys); k != "" {
			return nil, fmt.Errorf("documents line %d: %s: %w", line, validate.UnknownFieldMessage(k, textKeys), twostage.ErrInvalidInput)
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
