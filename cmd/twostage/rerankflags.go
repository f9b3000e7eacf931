package main

import (
	"flag"
	"fmt"
	"strings"

	"twostage"
	"twostage/rerank"
)

// rerankFlags are the per-call rerank options (twostage.RerankOptions) of
// the search and rerank commands.
type rerankFlags struct {
	instruction, longDocuments           string
	chunkTokens, chunkOverlap, maxChunks int
	maxTokensPerDoc, maxTokensPerQuery   int
}

func addRerankFlags(fs *flag.FlagSet) *rerankFlags {
	r := &rerankFlags{}
	fs.StringVar(&r.instruction, "instruction", "", "task instruction: zerank's (ZeroEntropy's <query>/<instruction> format) or qwen3-reranker's (default: its own)")
	fs.StringVar(&r.longDocuments, "long-documents", "", "truncate (default) or chunk: score windows of each document and keep the best")
	fs.IntVar(&r.chunkTokens, "chunk-tokens", 0, "window size in document tokens with --long-documents chunk (0: what fits beside the query)")
	fs.IntVar(&r.chunkOverlap, "chunk-overlap", 0, "tokens consecutive windows share (below --chunk-tokens)")
	fs.IntVar(&r.maxChunks, "max-chunks", 0, "windows scored per document (0: 8; the rest of the text is not scored)")
	fs.IntVar(&r.maxTokensPerDoc, "max-tokens-per-doc", 0, "cut each document to this many tokens before reranking (0: no cap; the template is never cut)")
	fs.IntVar(&r.maxTokensPerQuery, "max-tokens-per-query", 0, "cut the query to this many tokens (0: no cap)")
	return r
}

// rerankFlagWords names twostage.RerankOptions' fields as the flags do.
var rerankFlagWords = strings.NewReplacer("twostage: rerank options: ", "", "long documents", "--long-documents",
	"chunk tokens", "--chunk-tokens", "chunk overlap", "--chunk-overlap", "overlap", "--chunk-overlap", "max chunks", "--max-chunks",
	"max tokens per doc", "--max-tokens-per-doc", "per query", "--max-tokens-per-query", "instruction", "--instruction")

// set names the flags given a value other than their default.
func (r *rerankFlags) set() []string {
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"--instruction", r.instruction != ""}, {"--long-documents", r.longDocuments != ""},
		{"--chunk-tokens", r.chunkTokens != 0}, {"--chunk-overlap", r.chunkOverlap != 0}, {"--max-chunks", r.maxChunks != 0},
		{"--max-tokens-per-doc", r.maxTokensPerDoc != 0}, {"--max-tokens-per-query", r.maxTokensPerQuery != 0},
	} {
		if f.set {
			set = append(set, f.name)
		}
	}
	return set
}

// options checks the flags and returns the per-call rerank options.
func (r *rerankFlags) options() (twostage.RerankOptions, error) {
	o := twostage.RerankOptions{Instruction: r.instruction, LongDocuments: twostage.LongDocuments(r.longDocuments),
		ChunkTokens: r.chunkTokens, ChunkOverlap: r.chunkOverlap, MaxChunks: r.maxChunks,
		MaxTokensPerDoc: r.maxTokensPerDoc, MaxTokensPerQuery: r.maxTokensPerQuery}
	if err := o.Check(); err != nil {
		return o, usageErr("%s", rerankFlagWords.Replace(strings.TrimSuffix(err.Error(), ": "+twostage.ErrInvalidInput.Error())))
	}
	return o, nil
}

// prefixFlag adds --prefix, the engine's shared query prefix
// (rerank.EngineOptions.SharedPrefix), to a command that opens an engine
// itself (rerank, bench rerank; reranker specs take prefix= instead), and
// returns the function that reads it.
func prefixFlag(fs *flag.FlagSet) func() (rerank.PrefixMode, error) {
	s := fs.String("prefix", "auto", fmt.Sprintf("shared query prefix: auto (run once per batch for a call's pairs when it pays: at least %d tokens), on, or off (every pair whole); the scores are the same", rerank.MinSharedPrefix))
	return func() (rerank.PrefixMode, error) {
		m, err := rerank.ParsePrefixMode(*s)
		if err != nil {
			return m, usageErr("--prefix %q: want auto, on or off", *s)
		}
		return m, nil
	}
}
