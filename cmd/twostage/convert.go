package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"twostage/convert"
	"twostage/internal/progress"
	"twostage/modeldir"
)

func init() {
	register("convert", "convert a Hugging Face checkpoint (safetensors) to an ONNX model directory", cmdConvert)
}

// cmdConvert runs `twostage convert --from HF_DIR --to OUT_DIR [--dtype fp32|fp16] [--family F]`.
func cmdConvert(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("convert", stderr)
	from := fs.String("from", "", "Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json)")
	to := fs.String("to", "", "output model directory (must not exist or be empty)")
	dtype := fs.String("dtype", "", "stored weight type: fp32 or fp16 (default fp32, or fp16 with --compute fp16)")
	compute := fs.String("compute", modeldir.DtypeFP32, "matrix-product type: fp32, or fp16 for GPUs (implies --dtype fp16)")
	family := fs.String("family", "", "model family: "+strings.Join(modeldir.Families, ", ")+" (default: guessed from config.json; Qwen3 checkpoints are zerank)")
	maxLen := fs.Int("max-length", 0, "maximum input length recorded in twostage.json (default: from config.json, at most 8192 for Qwen3)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	graph := fs.String("graph", convert.GraphFused, "graph kind: fused (ONNX Runtime's fused attention and norm kernels) or plain (standard ONNX operators only, the reference)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: twostage convert --from HF_DIR --to OUT_DIR [--dtype fp32|fp16] [--compute fp32|fp16] [--family FAMILY] [--graph fused|plain]")
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	switch {
	case *from == "" || *to == "":
		return usageErr("--from and --to are required")
	case *dtype != "" && *dtype != modeldir.DtypeFP32 && *dtype != modeldir.DtypeFP16:
		return usageErr("--dtype %q: want fp32 or fp16", *dtype)
	case *compute != modeldir.DtypeFP32 && *compute != modeldir.DtypeFP16:
		return usageErr("--compute %q: want fp32 or fp16", *compute)
	case *compute == modeldir.DtypeFP16 && *dtype == modeldir.DtypeFP32:
		return usageErr("--compute fp16 needs --dtype fp16")
	case *family != "" && !slices.Contains(modeldir.Families, *family):
		return usageErr("--family %q: want one of %s", *family, strings.Join(modeldir.Families, ", "))
	case *maxLen < 0:
		return usageErr("--max-length must not be negative")
	case *graph != convert.GraphFused && *graph != convert.GraphPlain:
		return usageErr("--graph %q: want fused or plain", *graph)
	}
	opts := &convert.Options{Family: *family, Dtype: *dtype, Compute: *compute, MaxLength: *maxLen, Graph: *graph}
	var bar *convertProgress
	if !*quiet && progress.IsTerminal(stderr) { // no carriage returns in logs and files
		bar = newConvertProgress(stderr, "converting")
		opts.Progress = bar.update
	}
	start := time.Now()
	cfg, err := convert.Convert(ctx, *from, *to, opts)
	if bar != nil {
		bar.finish(err == nil)
	}
	if err != nil {
		return err
	}
	computeType := cfg.Compute // "" means fp32 (max would pick "fp32" over "fp16")
	if computeType == "" {
		computeType = modeldir.DtypeFP32
	}
	fmt.Fprintf(stdout, "wrote %s: family %s, dtype %s, compute %s, max length %d, hidden %d (%.1fs)\n",
		*to, cfg.Family, cfg.Dtype, computeType, cfg.MaxLength, cfg.HiddenSize, time.Since(start).Seconds())
	return nil
}

// convertProgress draws a one-line byte progress bar, redrawn in place at most
// every 200 ms.
type convertProgress struct {
	w     io.Writer
	label string
	start time.Time
	last  time.Time
	drawn bool
}

func newConvertProgress(w io.Writer, label string) *convertProgress {
	return &convertProgress{w: w, label: label, start: time.Now()}
}

func (p *convertProgress) update(done, total int64) {
	now := time.Now()
	if done < total && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	const width = 30
	n := int(frac * width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	fmt.Fprintf(p.w, "\r%s [%s] %3.0f%% %s/%s %5.1fs", p.label, bar, 100*frac, convertGiB(done), convertGiB(total), now.Sub(p.start).Seconds())
	p.drawn = true
}

func (p *convertProgress) finish(ok bool) {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func convertGiB(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fGiB", float64(n)/(1<<30))
	default:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	}
}
