package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"twostage/inference"
	"twostage/internal/rerankbench"
	"twostage/rerank"
)

// benchmarks are the `twostage bench` targets; files add theirs from init.
var benchmarks = map[string]struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}{}

func init() {
	register("bench", "measure a model's throughput against the raw ONNX Runtime ceiling (bench rerank --model DIR)", cmdBench)
	benchmarks["rerank"] = struct {
		summary string
		run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
	}{"the rerank engine vs the raw ONNX Runtime session on the same model", benchRerank}
}

func cmdBench(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	names := make([]string, 0, len(benchmarks))
	for n := range benchmarks {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: twostage bench TARGET [flags]   (twostage bench TARGET -h for its flags)")
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-8s %s\n", n, benchmarks[n].summary)
		}
		if len(args) == 0 {
			return usageErr("missing bench target (one of %s)", strings.Join(names, ", "))
		}
		return nil
	}
	b, ok := benchmarks[args[0]]
	if !ok {
		return usageErr("unknown bench target %q (one of %s)", args[0], strings.Join(names, ", "))
	}
	return b.run(ctx, args[1:], stdout, stderr)
}

// benchRerank runs `twostage bench rerank --model DIR`.
func benchRerank(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench rerank", stderr)
	model := fs.String("model", "", "cross-encoder model directory written by \"twostage convert\" (required)")
	clients := fs.String("clients", "1,16", "comma-separated concurrent client counts for the engine runs")
	docs := fs.Int("docs", 50, "documents per call")
	calls := fs.Int("calls", 1, "calls per client")
	minTok := fs.Int("min-tokens", 30, "shortest document, in words (about one token each)")
	medTok := fs.Int("median-tokens", 120, "median document length (log-normal)")
	maxTok := fs.Int("max-tokens", 600, "longest document")
	provider := fs.String("provider", "cpu", "execution provider: cpu, cuda, tensorrt or xla (a Hugging Face checkpoint on PJRT)")
	xo := xlaFlags(fs)
	device := fs.Int("device", 0, "GPU ordinal for cuda and tensorrt")
	threads := fs.Int("threads", 0, "ONNX Runtime intra-op threads (0: one per core)")
	batch := fs.Int("batch", 0, fmt.Sprintf("max pairs per batch (0: the engine's default, %d)", inference.DefaultMaxBatchSize))
	batchTokens := fs.Int("batch-tokens", 0, fmt.Sprintf("max padded tokens per batch (0: the engine's default, %d)", inference.DefaultMaxBatchTokens))
	prefix := prefixFlag(fs)
	query := fs.String("query", "", fmt.Sprintf("every call's query (default: a %d-word question; the shared prefix pays with long ones)", len(strings.Fields(rerankbench.DefaultQuery))))
	spin := fs.Bool("spin", false, "let ONNX Runtime's idle CPU threads spin (its default; the engine turns spinning off)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usageErr("--model is required")
	}
	if err := xo.check(*provider); err != nil {
		return err
	}
	switch { // rerankbench would take 0 or less for its default
	case *docs < 1:
		return usageErr("--docs %d: want at least 1", *docs)
	case *calls < 1:
		return usageErr("--calls %d: want at least 1", *calls)
	case *minTok < 1:
		return usageErr("--min-tokens %d: want at least 1", *minTok)
	case *minTok > *medTok || *medTok > *maxTok:
		return usageErr("--min-tokens %d, --median-tokens %d, --max-tokens %d: want min <= median <= max", *minTok, *medTok, *maxTok)
	}
	mode, err := prefix()
	if err != nil {
		return err
	}
	o := &rerankbench.Options{
		DocsPerCall: *docs, CallsPerClient: *calls, MinTokens: *minTok, MedianTokens: *medTok, MaxTokens: *maxTok, Query: *query,
		Engine: rerank.EngineOptions{ModelOptions: inference.ModelOptions{Provider: *provider, DeviceID: *device, IntraOpThreads: *threads,
			MaxBatchSize: *batch, MaxBatchTokens: *batchTokens}, SharedPrefix: mode},
		Log: func(f string, a ...any) { fmt.Fprintf(stderr, "bench: "+f+"\n", a...) },
	}
	xo.apply(&o.Engine)
	if *spin {
		o.Engine.SessionConfig = map[string]string{"session.intra_op.allow_spinning": "1"}
	}
	for _, f := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return usageErr("--clients %q: want positive numbers separated by commas", *clients)
		}
		o.Clients = append(o.Clients, n)
	}
	rep, err := rerankbench.Run(ctx, *model, o)
	if err != nil {
		return err
	}
	if *asJSON {
		type row struct {
			rerankbench.Row
			TokensPerSec, PairsPerSec, RatioToRaw, TokensPerCPUSec, CPURatioToRaw, Fill float64
		}
		out := struct {
			*rerankbench.Report
			Rows []row
		}{Report: rep}
		for _, r := range rep.Rows {
			out.Rows = append(out.Rows, row{r, r.TokensPerSec(), r.PairsPerSec(), rep.Ratio(r), r.TokensPerCPUSec(), rep.CPURatio(r), r.Fill()})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	rep.WriteTable(stdout)
	if !slices.ContainsFunc(rep.Rows, func(r rerankbench.Row) bool { return r.Prefixes > 0 }) && mode != rerank.PrefixOff {
		why := "the model cannot continue one (not a decoder, or converted before shared prefixes), or calls of one document"
		if mode == rerank.PrefixAuto {
			why = fmt.Sprintf("with auto, a prefix under %d tokens (a longer --query), or %s", rerank.MinSharedPrefix, why)
		}
		fmt.Fprintf(stdout, "shared prefix: none run (%s)\n", why)
	}
	return nil
}
