package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"twostage/hub"
	"twostage/internal/progress"
	"twostage/modeldir"
)

func init() {
	register("pull", "download a Hugging Face model (zerank-2, ORG/NAME[@REV]) and convert it for ONNX Runtime", cmdPull)
}

// cmdPull runs `twostage pull NAME|ORG/NAME[@REVISION] [--family F] [--to DIR] [--dtype fp32|fp16] [--quiet]`
// and `twostage pull --list`.
func cmdPull(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("pull", stderr)
	family := fs.String("family", "", "model family: "+strings.Join(modeldir.Families, ", ")+" (default: from the name, else config.json)")
	to := fs.String("to", "", "write the model directory here instead of the cache (must not exist or be empty)")
	dtype := fs.String("dtype", "", "stored weight type: fp32 or fp16 (default fp16 for Qwen3 rerankers, fp32 for BERT models)")
	list := fs.Bool("list", false, "list the cached models and exit")
	quiet := fs.Bool("quiet", false, "no progress bar and no summary; print only the model directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: twostage pull NAME|ORG/NAME[@REVISION] [--family F] [--to DIR] [--dtype fp32|fp16] [--quiet]")
		fmt.Fprintln(stderr, "       twostage pull --list")
		fmt.Fprintln(stderr, "Names:")
		for _, k := range hub.Names() {
			fmt.Fprintf(stderr, "  %-24s %s (%s)\n", k.Name, k.Repo, k.Family)
		}
		fmt.Fprintln(stderr, "Environment: HF_ENDPOINT, HF_TOKEN (gated models), HF_HUB_OFFLINE=1 (cache only), TWOSTAGE_HOME (cache root).")
		fs.PrintDefaults()
	}
	// Flags may come before or after the model reference (parseFlags).
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	refs := fs.Args()
	switch {
	case *list && len(refs) > 0:
		return usageErr("--list takes no model")
	case !*list && len(refs) != 1:
		return usageErr("give one model: twostage pull NAME|ORG/NAME[@REVISION] (see twostage pull -h)")
	case *family != "" && !slices.Contains(modeldir.Families, *family):
		return usageErr("--family %q: want one of %s", *family, strings.Join(modeldir.Families, ", "))
	case *dtype != "" && *dtype != modeldir.DtypeFP32 && *dtype != modeldir.DtypeFP16:
		return usageErr("--dtype %q: want fp32 or fp16", *dtype)
	}
	if *list {
		c, err := hub.New(&hub.Options{Offline: true})
		if err != nil {
			return err
		}
		return printPulled(c, stdout)
	}
	if _, err := hub.ParseRef(refs[0]); err != nil {
		return usageErr("%v", err)
	}
	show := !*quiet && progress.IsTerminal(stderr)
	opts := &hub.Options{}
	var down, conv *convertProgress
	if show {
		down = newConvertProgress(stderr, "downloading")
		opts.Progress = down.update
	}
	c, err := hub.New(opts)
	if err != nil {
		return err
	}
	po := &hub.PullOptions{Family: *family, Dtype: *dtype, To: *to}
	if show {
		conv = newConvertProgress(stderr, "converting ")
		po.ConvertProgress = func(done, total int64) {
			if down != nil {
				down.finish(true)
				down = nil
			}
			conv.update(done, total)
		}
	}
	m, err := c.Pull(ctx, refs[0], po)
	for _, p := range []*convertProgress{down, conv} {
		if p != nil {
			p.finish(err == nil)
		}
	}
	if err != nil {
		return err
	}
	dir := m.Dir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if !*quiet {
		fmt.Fprintf(stderr, "pulled %s (%s@%.12s): family %s, dtype %s; %d files, %s downloaded\n",
			m.Ref, m.Ref.Repo, m.Commit, m.Family, m.Dtype, m.Files, convertGiB(m.Downloaded))
	}
	fmt.Fprintln(stdout, dir)
	return nil
}

// printPulled lists the cache.
func printPulled(c *hub.Client, w io.Writer) error {
	ms, err := c.List()
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		fmt.Fprintf(w, "no models in %s (twostage pull NAME)\n", c.Home())
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "name\trevision\tcommit\tfamily\tdtype\tdirectory")
	for _, m := range ms {
		dir, fam, dt := m.Dir, m.Family, m.Dtype
		if dir == "" {
			dir, fam, dt = m.Snapshot+" (not converted)", "-", "-"
		}
		rev := m.Ref.Revision
		if rev == "" {
			rev = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.12s\t%s\t%s\t%s\n", m.Ref.Name, rev, m.Commit, fam, dt, dir)
	}
	return tw.Flush()
}
