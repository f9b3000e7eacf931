package main

import (
	"bytes"
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"twostage"
	"twostage/spec"
)

//go:embed sample/corpus.jsonl
var sampleCorpus []byte

// demoQueries starts with the tutorial's own query.
var demoQueries = []struct {
	query  string
	filter *twostage.Filter
}{
	{query: "What is machine learning?"},
	{query: "Which programming language is good for data science?"},
	{query: "how do neural networks recognise images"},
	{query: "learning", filter: twostage.Eq("topic", "ai")},
}

// demoStore is the embedded store the demo indexes into; stages.go sets
// it to the FAISS store when built with -tags faiss.
var demoStore = func(dir string) string { return "mem:" }

func init() {
	register("demo", "index a small sample corpus into the embedded store and run a few queries", cmdDemo)
}

func cmdDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	sf := addStageFlags(fs, true)
	if f := fs.Lookup("store"); f != nil { // not the other commands' default: see demoStore below
		f.DefValue = ""
		f.Usage = "vector store (default: a temporary embedded store, removed at exit; a store named here keeps the sample corpus): " + spec.Names(spec.Stores())
	}
	qf := addSearchFlags(fs)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "twostage-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if !flagSet(fs, "store") {
		sf.store = demoStore(dir)
	}
	opts, po, err := qf.options(sf.reranker != "none")
	if err != nil {
		return err
	}
	docs, err := readJSONL(bytes.NewReader(sampleCorpus))
	if err != nil {
		return fmt.Errorf("sample corpus: %w", err)
	}
	st, err := sf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	// With --json, stdout carries only JSON (one result per query); the
	// narration goes to stderr.
	say := stdout
	if qf.json {
		say = stderr
	}
	fmt.Fprintf(say, "twostage demo: %s\n", sf.describe())
	n, err := indexDocs(ctx, st, docs, 64, stderr)
	if err != nil {
		return err
	}
	if n != len(docs) {
		fmt.Fprintf(say, "indexed %d sample documents; the store holds %d\n", len(docs), n)
	} else {
		fmt.Fprintf(say, "indexed %d sample documents\n", len(docs))
	}
	p, err := twostage.NewPipeline(st.store, st.embedder, st.reranker, po)
	if err != nil {
		return err
	}
	for _, dq := range demoQueries {
		o := opts
		if dq.filter != nil {
			o.Filter = dq.filter
		}
		res, err := p.Search(ctx, dq.query, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(say, "\nquery: %q", dq.query)
		if dq.filter != nil {
			fmt.Fprintf(say, "  filter: %s", filterString(dq.filter))
		}
		fmt.Fprintln(say)
		if qf.json {
			if err := writeJSONResult(stdout, dq.query, res); err != nil {
				return err
			}
			continue
		}
		writeTable(stdout, res)
	}
	return st.Close()
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

func filterString(f *twostage.Filter) string {
	var b strings.Builder
	switch f.Op {
	case twostage.OpEq:
		fmt.Fprintf(&b, "%s = %v", f.Field, f.Value)
	default:
		fmt.Fprintf(&b, "%s(%s)", f.Op, f.Field)
	}
	return b.String()
}
