package rerank

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"

	"twostage"
	"twostage/convert"
	"twostage/convert/hf"
	"twostage/inference"
	"twostage/internal/par"
	"twostage/modeldir"
)

// EngineOptions configures Open. Nil or zero fields mean the documented
// defaults.
type EngineOptions struct {
	// Runtime is the model runtime the engine's model is loaded in and
	// shared through; nil means inference.Default().
	Runtime *inference.Runtime
	// ModelOptions pick the backend (provider, device, threads) and the
	// shared model's batching; see inference.ModelOptions for the fields
	// and their defaults. Batching set differently from a model already
	// open in the runtime fails Open.
	inference.ModelOptions

	// MaxLength caps the tokens of one (query, document) input; 0 means the
	// model's max_length (twostage.json). It may only lower it.
	MaxLength int
	// Instruction is the default task instruction of every call:
	// Qwen3-Reranker's ("": its default) or zerank's, in ZeroEntropy's
	// format ("": the plain prompt). A BERT cross-encoder takes none
	// (twostage.ErrUnsupported). A call's RerankOptions.Instruction
	// replaces it.
	Instruction string

	// LongDocuments is the default long-document strategy of every call
	// ("": twostage.Truncate); ChunkTokens, ChunkOverlap and MaxChunks are
	// the chunking defaults (see twostage.RerankOptions). A call's nonzero
	// RerankOptions fields replace them.
	LongDocuments twostage.LongDocuments
	ChunkTokens   int
	ChunkOverlap  int
	MaxChunks     int

	// SharedPrefix says when the tokens that every pair of a call begins
	// with (the template's head and the query: the call's shared prefix)
	// run once for all of the call's documents, which then attend to the
	// prefix's keys and values instead of recomputing them: PrefixAuto
	// ("") when it pays (a prefix of at least MinSharedPrefix tokens and
	// at least two pairs), PrefixOn whenever two or more pairs share a
	// prefix, PrefixOff never. Only decoder models can: converted since
	// shared prefixes, on ONNX Runtime, or checkpoints on provider xla;
	// others always run pairs whole.
	// Scores are the same either way, within float rounding.
	SharedPrefix PrefixMode
}

// PrefixMode is EngineOptions.SharedPrefix.
type PrefixMode string

// Shared-prefix modes.
const (
	PrefixAuto PrefixMode = ""
	PrefixOn   PrefixMode = "on"
	PrefixOff  PrefixMode = "off"
)

// ParsePrefixMode reads a shared-prefix mode as the engine spec key
// prefix= and the CLI's --prefix take it: "auto" (or ""), "on" or "off".
// Other text gives an error wrapping twostage.ErrInvalidInput.
func ParsePrefixMode(s string) (PrefixMode, error) {
	switch s {
	case "", "auto":
		return PrefixAuto, nil
	case string(PrefixOn), string(PrefixOff):
		return PrefixMode(s), nil
	}
	return PrefixAuto, fmt.Errorf("rerank: shared-prefix mode %q (want auto, on or off): %w", s, twostage.ErrInvalidInput)
}

// MinSharedPrefix is the shortest shared prefix, in tokens, that
// PrefixAuto runs once. BenchmarkSharedPrefix (a zerank-shaped CPU model,
// 100 documents of 300 to 500 tokens; its ratios are in rerank's
// README.md) puts the break-even near 30 tokens, where the prefix pass and
// the realignment of each row's keys cost what they save.
const MinSharedPrefix = 32

// Engine reranks with a cross-encoder model directory (zerank, Qwen3-Reranker
// or a BERT cross-encoder, as `twostage convert` writes them; with provider
// inference.ProviderXLA, a Hugging Face checkpoint directory as it is). It is the
// cross-encoder front end of package inference: it owns the prompt
// (template and tokenization), truncation and calibration, and leaves
// batching, padding and running to the shared inference.Model. It
// implements twostage.Reranker and is safe for concurrent use.
//
// The model is shared: every Open of the same model directory with the
// same backend options in one inference.Runtime feeds the same batches
// (engines with different MaxLength or Instruction included), whatever
// Store or Pipeline holds them. Each Engine must be closed; the model stops
// with the last Close.
type Engine struct {
	cfg    *modeldir.Config
	maxLen int
	prompt *prompter
	model  *inference.Model
	closed atomic.Bool

	defaults twostage.RerankOptions // EngineOptions' per-call defaults
	shared   PrefixMode
}

// Open returns an engine on the model directory dir, loading the model in
// opts.Runtime unless it is open there already.
//
// Errors wrap twostage.ErrNotFound (no such model directory),
// twostage.ErrInvalidInput (bad options, batching options that differ
// from those of the model already open, a model whose inputs or outputs
// break the contract: inference.ErrModel), twostage.ErrUnsupported (an
// embedding model, a provider the ONNX Runtime library lacks; for
// provider xla: no loadable PJRT plugin for the platform, a converted
// directory instead of a checkpoint, a build without -tags xla) or
// twostage.ErrUnavailable (no ONNX Runtime library).
func Open(dir string, opts *EngineOptions) (*Engine, error) {
	var o EngineOptions
	if opts != nil {
		o = *opts
	}
	switch o.SharedPrefix {
	case PrefixAuto, PrefixOn, PrefixOff:
	default:
		return nil, fmt.Errorf("rerank: engine option SharedPrefix = %q (want on, off or empty for auto): %w", o.SharedPrefix, twostage.ErrInvalidInput)
	}
	if o.MaxLength < 0 {
		return nil, fmt.Errorf("rerank: engine option MaxLength = %d must not be negative: %w", o.MaxLength, twostage.ErrInvalidInput)
	}
	if err := checkText("instruction", o.Instruction); err != nil {
		return nil, err
	}
	defaults := twostage.RerankOptions{Instruction: o.Instruction, LongDocuments: o.LongDocuments,
		ChunkTokens: o.ChunkTokens, ChunkOverlap: o.ChunkOverlap, MaxChunks: o.MaxChunks}
	if err := defaults.Check(); err != nil {
		return nil, fmt.Errorf("rerank: engine options: %w", err)
	}
	rt := o.Runtime // nil: inference.Default()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("rerank: model directory %q: %w", dir, err)
	}
	cfg, path, err := describe(abs, &o.ModelOptions)
	if err != nil {
		return nil, err
	}
	if !modeldir.IsCrossEncoder(cfg.Family) {
		return nil, fmt.Errorf("rerank: %s holds a %s model, not a cross-encoder: %w", abs, cfg.Family, twostage.ErrUnsupported)
	}
	maxLen := cfg.MaxLength
	if o.MaxLength > 0 {
		if o.MaxLength > cfg.MaxLength {
			return nil, fmt.Errorf("rerank: max length %d above the model's %d: %w", o.MaxLength, cfg.MaxLength, twostage.ErrInvalidInput)
		}
		maxLen = o.MaxLength
	}
	tok, err := rt.Tokenizer(modeldir.TokenizerPath(abs))
	if err != nil {
		return nil, fmt.Errorf("rerank: %w", err)
	}
	if o.Instruction != "" && cfg.Family == modeldir.FamilyBertCrossEncoder {
		return nil, fmt.Errorf("rerank: a %s model takes no instruction: %w", cfg.Family, twostage.ErrUnsupported)
	}
	prompt, err := newPrompter(cfg.Family, tok, maxLen, o.Instruction)
	if err != nil {
		return nil, err
	}
	if n := len(prompt.pair(prompt.query(""), "").IDs); n > maxLen {
		return nil, fmt.Errorf("rerank: max length %d is below the %d tokens of the template with its instruction: %w", maxLen, n, twostage.ErrInvalidInput)
	}
	m, err := rt.Open(path, inference.Score, int64(cfg.PadTokenID), &o.ModelOptions)
	if err != nil {
		return nil, fmt.Errorf("rerank: open %s: %w", abs, err)
	}
	e := &Engine{cfg: cfg, maxLen: maxLen, prompt: prompt, model: m, defaults: defaults, shared: o.SharedPrefix}
	if err := e.checkSignature(path); err != nil {
		return nil, errors.Join(err, m.Close())
	}
	return e, nil
}

// describe reads the description of the model in dir and names the file
// the runtime opens: for ONNX Runtime, a converted directory's
// twostage.json and model.onnx; for provider xla, a Hugging Face
// checkpoint's config.json, described as `twostage convert` would.
func describe(dir string, o *inference.ModelOptions) (*modeldir.Config, string, error) {
	if !strings.EqualFold(o.Provider, inference.ProviderXLA) {
		if o.Platform != "" || o.Compute != "" || o.Family != "" {
			return nil, "", fmt.Errorf("rerank: engine options Platform, Compute and Family are for provider xla: %w", twostage.ErrInvalidInput)
		}
		cfg, err := modeldir.Load(dir)
		if err != nil {
			return nil, "", fmt.Errorf("rerank: %w", err)
		}
		return cfg, modeldir.ModelPath(dir), nil
	}
	path := filepath.Join(dir, hfConfig)
	if _, err := os.Stat(path); err != nil {
		if _, err := os.Stat(modeldir.ConfigPath(dir)); err == nil {
			return nil, "", fmt.Errorf("rerank: provider xla runs a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json); %s is a converted ONNX model: %w", dir, twostage.ErrUnsupported)
		}
		return nil, "", fmt.Errorf("rerank: %s has no %s: %w", dir, hfConfig, twostage.ErrNotFound)
	}
	hc, err := hf.Read(dir)
	if err != nil {
		return nil, "", fmt.Errorf("rerank: %w", err)
	}
	cfg, err := convert.Describe(dir, hc, o.Family)
	if err != nil {
		return nil, "", fmt.Errorf("rerank: %w", err)
	}
	return cfg, path, nil
}

// hfConfig is a Hugging Face checkpoint's configuration file.
const hfConfig = "config.json"

// checkSignature checks the model's inputs against the cross-encoder
// contract (modeldir) and its config.
func (e *Engine) checkSignature(path string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("rerank: %s: %s: %w", path, fmt.Sprintf(format, args...), inference.ErrModel)
	}
	sig := e.model.Signature()
	switch {
	case !sig.Mask:
		return bad("the model lacks the attention_mask input")
	case sig.TypeIDs && !e.cfg.HasTokenTypeIDs:
		return bad("the model takes token_type_ids but %s says it does not", modeldir.ConfigFile)
	case !sig.TypeIDs && e.cfg.HasTokenTypeIDs:
		return bad("%s says the model takes token_type_ids, but it lacks that input", modeldir.ConfigFile)
	}
	return nil
}

// Family returns the model family (a modeldir Family constant).
func (e *Engine) Family() string { return e.cfg.Family }

// MaxLength returns the token cap of one input.
func (e *Engine) MaxLength() int { return e.maxLen }

// Stats returns the shared model's counters (Items are pairs).
func (e *Engine) Stats() inference.Stats { return e.model.Stats() }

// Rerank implements twostage.Reranker: RerankWith with the engine's
// defaults (EngineOptions). It returns one Score per document, aligned with
// docs. Score.Raw is the model's raw score (the "Yes" logit for zerank,
// logit(yes) - logit(no) for Qwen3-Reranker, the classifier logit for BERT);
// Score.Score is the calibrated score in [0, 1] (sigmoid(raw/5) for zerank,
// sigmoid(raw) otherwise).
//
// The documents are tokenized by the calling goroutine in chunks, each chunk
// queued as soon as it is ready (inference.Model.Stream), so the model
// starts on the first while the rest are tokenized; a long call is split
// across many batches, and calls from other goroutines share them. A pair's
// score does not depend on what it is batched with.
//
// Errors: an empty or blank query, or a query or document that is not valid
// UTF-8, wraps twostage.ErrInvalidInput; a full queue twostage.ErrOverloaded;
// a closed engine or runtime twostage.ErrClosed; when ctx ends the call's
// queued pairs are dropped and ctx's error is returned.
func (e *Engine) Rerank(ctx context.Context, query string, docs []string) ([]twostage.Score, error) {
	return e.RerankWith(ctx, query, docs, twostage.RerankOptions{})
}

// pairs tokenizes docs, in parallel when there are many, and marks their
// shared prefix.
func (e *Engine) pairs(q *query, docs []string) []inference.Input {
	out := make([]inference.Input, len(docs))
	workers := min(runtime.GOMAXPROCS(0), (len(docs)+15)/16)
	par.For(len(docs), workers, func(i int) error {
		out[i] = e.prompt.pair(q, docs[i])
		return nil
	})
	return e.share(out)
}

// share marks the longest token prefix common to the pairs as their
// shared prefix (Input.Prefix), when the model can continue one and the
// engine's SharedPrefix says it pays. Because the prefix is read off the
// pairs as tokenized whole, the scores cannot change: a document whose
// first characters merge with the template's last token (a leading
// newline after "user\n") only shortens the prefix. Every pair keeps at
// least its last token after the prefix, where it is scored.
func (e *Engine) share(pairs []inference.Input) []inference.Input {
	if e.shared == PrefixOff || len(pairs) < 2 || !e.model.Signature().Prefix {
		return pairs
	}
	n := len(pairs[0].IDs) - 1
	for _, p := range pairs[1:] {
		n = min(n, len(p.IDs)-1)
		for i := range n {
			if p.IDs[i] != pairs[0].IDs[i] {
				n = i
				break
			}
		}
	}
	if n <= 0 || (e.shared == PrefixAuto && n < MinSharedPrefix) {
		return pairs
	}
	for i := range pairs {
		pairs[i].Prefix = n
	}
	return pairs
}

// Close releases this engine; later calls return twostage.ErrClosed. When
// it holds the model's last handle, the model stops taking calls, finishes
// the pairs already queued (their callers get their scores), stops its
// goroutines and closes its session; Close returns after all of that.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("rerank: engine: %w", twostage.ErrClosed)
	}
	if err := e.model.Close(); err != nil {
		return fmt.Errorf("rerank: %w", err)
	}
	return nil
}

// Queued returns the number of pairs waiting for a batch now (the queue
// depth, bounded by MaxQueue), across every holder of the model.
func (e *Engine) Queued() int { return int(e.model.Stats().Queued) }
