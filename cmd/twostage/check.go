package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"twostage"
	"twostage/internal/progress"
)

func init() {
	register("check", "verify that every stored document is found by its own vector; --repair re-indexes what is not", cmdCheck)
}

// errProblems is check's failure when it found problems and did not
// repair them all (exit code 1).
var errProblems = errors.New("problems found")

// cmdCheck runs `twostage check --store S [--repair] [--workers N] [--json]`.
func cmdCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr)
	store := fs.String("store", defaultStore, "the store to check (faiss:DIR, weaviate://HOST:PORT/CLASS, qdrant://HOST:PORT/COLLECTION, mem:FILE)")
	repair := fs.Bool("repair", false, "re-index the documents found missing or mismatched and drop extra index entries")
	workers := fs.Int("workers", 0, "requests (or threads) in flight; 0 means the store's default")
	first := fs.Int("first", twostage.DefaultFirstIDs, "how many ids of each finding to list")
	dim := fs.Int("dim", 0, "vector dimension, for stores that do not record it (mem:)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	exhaustive := fs.Bool("exhaustive", false, "search for every document with its own vector (weaviate: not only the most recently written; qdrant: at all); about one query per document")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: twostage check --store S [--repair] [--exhaustive] [--workers N] [--json]")
		fmt.Fprintln(stderr, "Checks that every document the store holds is found by its own vector; exits 1 when problems remain.")
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *workers < 0 || *first < 0 || *dim < 0 {
		return usageErr("--workers, --first and --dim must not be negative")
	}
	info := twostage.Info{Dim: *dim, Metric: twostage.Cosine}
	if _, setPath, ok := embeddedStore(*store); ok { // open it as it was built
		rec, err := readSettings(setPath)
		if err != nil {
			return err
		}
		if rec != nil {
			info.Metric = cmp.Or(rec.Metric, info.Metric)
			info.Dim = cmp.Or(info.Dim, rec.Dim)
		}
	}
	s, err := openStore(ctx, *store, info)
	if err != nil {
		return err
	}
	opts := twostage.CheckOptions{Repair: *repair, Workers: *workers, FirstIDs: *first, Exhaustive: *exhaustive}
	var bar *progress.Bar
	if !*quiet && progress.IsTerminal(stderr) {
		total, _ := s.Count(ctx)
		bar = progress.New(stderr, "checking", int64(total), "docs")
		opts.Progress = func(n int) { bar.Set(int64(n)) }
	}
	start := time.Now()
	rep, err := s.Check(ctx, opts)
	elapsed := time.Since(start)
	if bar != nil {
		bar.Finish()
	}
	if cerr := closeAll(s); err == nil {
		err = cerr
	}
	if err != nil && rep.Checked == 0 {
		return err
	}
	printCheck(stdout, rep, elapsed, *asJSON)
	if err != nil {
		return err
	}
	if remaining := rep.Problems() - rep.Repaired; remaining > 0 {
		return fmt.Errorf("%d %w (run with --repair to fix them)", remaining, errProblems)
	}
	return nil
}

func printCheck(w io.Writer, rep twostage.CheckReport, elapsed time.Duration, asJSON bool) {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(rep.Checked) / s
	}
	if asJSON {
		ids := func(c twostage.CheckIDs) map[string]any {
			first := c.First
			if first == nil {
				first = []string{}
			}
			return map[string]any{"count": c.Count, "first": first}
		}
		json.NewEncoder(w).Encode(map[string]any{
			"checked": rep.Checked, "missing": ids(rep.Missing), "extra": ids(rep.Extra),
			"mismatched": ids(rep.Mismatched), "repaired": rep.Repaired,
			"seconds": elapsed.Seconds(), "docs_per_second": rate,
		})
		return
	}
	fmt.Fprintf(w, "checked %d documents in %s (%.0f documents/s)\n", rep.Checked, elapsed.Round(time.Millisecond), rate)
	for _, f := range []struct {
		name string
		ids  twostage.CheckIDs
	}{{"missing", rep.Missing}, {"extra", rep.Extra}, {"mismatched", rep.Mismatched}} {
		if f.ids.Count == 0 {
			fmt.Fprintf(w, "%-10s 0\n", f.name+":")
			continue
		}
		more := ""
		if f.ids.Count > len(f.ids.First) {
			more = ", ..."
		}
		fmt.Fprintf(w, "%-10s %d (%s%s)\n", f.name+":", f.ids.Count, strings.Join(f.ids.First, ", "), more)
	}
	if rep.Repaired > 0 {
		fmt.Fprintf(w, "repaired:  %d\n", rep.Repaired)
	}
}
