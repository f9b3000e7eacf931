package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"twostage"
	"twostage/spec"
)

func init() {
	register("info", "show a store's size and the settings it was built with", cmdInfo)
	register("version", "print the version of twostage", cmdVersion)
}

// cmdInfo runs `twostage info [--store S]`. It never creates a store.
func cmdInfo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	fset := newFlags("info", stderr)
	sf := addStageFlags(fset, false)
	if err := parseFlagsOnly(fset, args); err != nil {
		return err
	}
	sf.mustExist, sf.readOnly = true, true
	rec, _, err := sf.resolveStore()
	if err != nil {
		return err
	}
	var store *twostage.Store
	switch {
	case rec != nil:
		// The recorded settings are enough: no embedder is loaded.
		store, err = sf.openStore(ctx, twostage.Info{Dim: rec.Dim, Metric: rec.Metric})
	case spec.SchemeOf(sf.store) == "faiss":
		// An unrecorded FAISS store: its manifest has the dimension and metric.
		store, err = sf.openStore(ctx, twostage.Info{})
	default:
		var st *stages
		if st, err = sf.open(ctx, io.Discard); err == nil {
			store = st.store
			defer closeAll(st.embedder)
		}
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); err == nil {
			err = cerr
		}
	}()
	n, err := store.Count(ctx)
	if err != nil {
		return err
	}
	info := store.Info()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "store\t%s\n", sf.store)
	fmt.Fprintf(tw, "documents\t%d\n", n)
	fmt.Fprintf(tw, "dimension\t%d\n", info.Dim)
	fmt.Fprintf(tw, "metric\t%s\n", info.Metric)
	if data, _, ok := embeddedStore(sf.store); ok {
		if size, err := diskSize(sf.store, data); err == nil {
			fmt.Fprintf(tw, "size on disk\t%s\n", byteSize(size))
		}
	}
	if rec != nil {
		fmt.Fprintf(tw, "embedder\t%s\n", rec.Embedder)
		fmt.Fprintf(tw, "created by\ttwostage %s, %s\n", rec.CreatedBy, rec.Created.Format("2006-01-02 15:04 UTC"))
		if rec.Data != "" {
			fmt.Fprintf(tw, "data set\t%s\n", rec.Data)
		}
	} else {
		fmt.Fprintf(tw, "embedder\tnot recorded (a store made before settings were kept, or by a Go program)\n")
	}
	return tw.Flush()
}

// diskSize is the bytes an embedded store takes: its directory (faiss) or
// its file (mem).
func diskSize(store, data string) (int64, error) {
	if spec.SchemeOf(store) != "faiss" {
		st, err := os.Stat(data)
		if err != nil {
			return 0, err
		}
		return st.Size(), nil
	}
	var total int64
	err := filepath.WalkDir(filepath.Dir(data), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	return total, err
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// cmdVersion prints the module version and VCS revision the binary was
// built from, and the Go toolchain.
func cmdVersion(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fset := newFlags("version", stderr)
	if err := parseFlagsOnly(fset, args); err != nil {
		return err
	}
	version, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "+modified"
	}
	if rev != "" {
		version += " " + rev
	}
	_, err := fmt.Fprintf(stdout, "twostage %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
