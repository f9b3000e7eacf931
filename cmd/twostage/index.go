package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"twostage"
	"twostage/internal/progress"
)

func init() {
	register("index", "index documents from JSON lines or CSV into a store", cmdIndex)
}

func cmdIndex(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("index", stderr)
	sf := addStageFlags(fs, false)
	file := fs.String("file", "-", "input file, - for stdin")
	format := fs.String("format", "", "jsonl or csv (default: from the file extension, else jsonl)")
	batch := fs.Int("batch", 256, "documents embedded and written at once")
	csvTypes := fs.String("csv-types", "", "types of CSV columns, e.g. year=int,price=float,draft=bool (default: text; or type the header: year:int)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *batch < 1 { // the pipeline would take it for its default
		return usageErr("--batch %d: want at least 1", *batch)
	}
	in, err := openInput(*file, stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	if *format == "" {
		*format = "jsonl"
		if strings.EqualFold(filepath.Ext(*file), ".csv") {
			*format = "csv"
		}
	}
	docs, err := readDocs(in, *format, *csvTypes)
	if err != nil {
		return fmt.Errorf("read %s: %w", *file, err)
	}
	st, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	n, err := indexDocs(ctx, st, docs, *batch, stderr)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "indexed %d documents (%s); the store holds %d\n", len(docs), sf.describe(), n)
	return nil
}

// indexDocs embeds and upserts docs with a progress bar and returns the
// store's count afterwards.
func indexDocs(ctx context.Context, st *stages, docs []twostage.Document, batch int, stderr io.Writer) (int, error) {
	p, err := twostage.NewPipeline(st.store, st.embedder, nil, &twostage.PipelineOptions{IndexBatch: batch})
	if err != nil {
		return 0, err
	}
	bar := progress.New(stderr, "indexing", int64(len(docs)), "docs")
	err = p.Index(ctx, docs, func(done int) { bar.Set(int64(done)) })
	bar.Finish()
	if err != nil {
		return 0, err
	}
	return st.store.Count(ctx)
}
