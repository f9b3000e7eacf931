// Command convertbench measures `twostage convert` on a zerank-2-sized
// checkpoint: it generates a Qwen3-4B-shaped checkpoint of random bf16
// weights (36 layers, hidden 2560, 32 query heads, 8 KV heads, head dim 128,
// intermediate 9728, vocab 151936, tied embeddings: about 4.02B parameters,
// 8 GB in two shards), streamed to disk, then converts it and prints the
// conversion's wall time, its peak resident memory, and ratios against the
// time to merely read the checkpoint and against the checkpoint's size.
//
// It needs about 16 GB of free disk (fp16 output) or 24 GB (fp32) in --dir.
// Not part of `make test`:
//
//	go run ./cmd/convertbench --dir /work/bench [--dtype fp16] [--layers 36] [--keep]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"twostage/convert"
	"twostage/internal/ort"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "convertbench:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := flag.String("dir", "", "work directory (default: a new temporary directory)")
	dtype := flag.String("dtype", modeldir.DtypeFP16, "output dtype: fp16 or fp32")
	layers := flag.Int("layers", 36, "decoder layers (36 for zerank-2; fewer for a quick run)")
	keep := flag.Bool("keep", false, "keep the generated checkpoint and the converted model")
	reuse := flag.Bool("reuse", false, "reuse a checkpoint already generated in --dir")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "convertbench-"); err != nil {
			return err
		}
	}
	ckpt := filepath.Join(work, "zerank2-shaped")
	out := filepath.Join(work, "zerank2-shaped-onnx-"+*dtype)
	if !*keep {
		defer os.RemoveAll(out)
		if !*reuse {
			defer os.RemoveAll(ckpt)
		}
	}
	os.RemoveAll(out)
	spec := tinymodel.Spec{
		Family: modeldir.FamilyZerank, Hidden: 2560, Layers: *layers, Heads: 32, KVHeads: 8, HeadDim: 128,
		Intermediate: 9728, Vocab: tinymodel.Qwen3Vocab, MaxPositions: 40960, Dtype: "BF16", Shards: 2, Seed: 42,
	}
	ts, _, err := tinymodel.Plan(spec)
	if err != nil {
		return err
	}
	var params int64
	for _, t := range ts {
		params += t.Numel()
	}
	fmt.Printf("checkpoint: %d layers, %.3fB parameters, bf16, %.2f GB\n", *layers, float64(params)/1e9, float64(2*params)/1e9)

	if _, err := os.Stat(filepath.Join(ckpt, "config.json")); !*reuse || err != nil {
		os.RemoveAll(ckpt)
		t0 := time.Now()
		bar := progress("generating")
		if err := tinymodel.WriteProgress(ckpt, spec, bar); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr)
		fmt.Printf("generate: %.1fs\n", time.Since(t0).Seconds())
	}

	// Baseline: reading the checkpoint once, sequentially (the I/O floor).
	dropCaches(ckpt)
	t0 := time.Now()
	read, err := readAll(ckpt)
	if err != nil {
		return err
	}
	readTime := time.Since(t0)
	fmt.Printf("read baseline: %.2f GB in %.1fs (%.2f GB/s)\n", float64(read)/1e9, readTime.Seconds(), float64(read)/1e9/readTime.Seconds())

	dropCaches(ckpt)
	resetPeakRSS()
	rssBefore := statusKB("VmRSS")
	t0 = time.Now()
	cfg, err := convert.Convert(ctx, ckpt, out, &convert.Options{Dtype: *dtype, Progress: progress("converting")})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	convTime := time.Since(t0)
	peak := statusKB("VmHWM")
	var outBytes int64
	filepath.Walk(out, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			outBytes += info.Size()
		}
		return nil
	})
	in, outs, err := ort.ReadModelIO(modeldir.ModelPath(out))
	if err != nil {
		return fmt.Errorf("converted model unreadable: %w", err)
	}
	fmt.Printf("convert (%s): %.1fs, output %.2f GB (%s, %d inputs, output %s)\n", cfg.Dtype, convTime.Seconds(), float64(outBytes)/1e9, externalNote(out), len(in), outs[0].Name)
	fmt.Printf("peak RSS during conversion: %.2f GiB (RSS before: %.2f GiB; checkpoint %.2f GiB; machine %.1f GiB)\n",
		float64(peak)/(1<<20), float64(rssBefore)/(1<<20), float64(read)/(1<<30), float64(statusMemTotalKB())/(1<<20))
	fmt.Printf("ratios: convert time / read time = %.2f; peak RSS / checkpoint size = %.3f\n",
		convTime.Seconds()/readTime.Seconds(), float64(peak)*1024/float64(read))
	return nil
}

func externalNote(dir string) string {
	if _, err := os.Stat(modeldir.DataPath(dir)); err == nil {
		return "external data " + modeldir.DataFile
	}
	return "inline weights"
}

func progress(label string) func(done, total int64) {
	start := time.Now()
	var last time.Time
	return func(done, total int64) {
		if now := time.Now(); done == total || now.Sub(last) > 500*time.Millisecond {
			last = now
			fmt.Fprintf(os.Stderr, "\r%s %5.1f%% %.2f/%.2f GB %6.1fs", label, 100*float64(done)/float64(max(total, 1)), float64(done)/1e9, float64(total)/1e9, now.Sub(start).Seconds())
		}
	}
}

func readAll(dir string) (int64, error) {
	var n int64
	matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	buf := make([]byte, 8<<20)
	for _, m := range matches {
		f, err := os.Open(m)
		if err != nil {
			return 0, err
		}
		k, err := io.CopyBuffer(io.Discard, f, buf)
		f.Close()
		if err != nil {
			return 0, err
		}
		n += k
	}
	return n, nil
}

// dropCaches asks the kernel to forget the checkpoint's cached pages
// (posix_fadvise DONTNEED), so both measurements start cold-ish.
func dropCaches(dir string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	for _, m := range matches {
		if f, err := os.Open(m); err == nil {
			syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, 4 /* POSIX_FADV_DONTNEED */, 0, 0)
			f.Close()
		}
	}
}

// resetPeakRSS resets VmHWM (Linux: write 5 to /proc/self/clear_refs).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func statusKB(field string) int64 { return procKB("/proc/self/status", field) }

func statusMemTotalKB() int64 { return procKB("/proc/meminfo", "MemTotal") }

func procKB(path, field string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return v
		}
	}
	return 0
}
