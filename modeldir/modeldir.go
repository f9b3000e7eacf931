// Package modeldir defines the on-disk model directory that `twostage convert`
// writes and the rerank and embed packages load:
//
//	model.onnx        the ONNX graph (contract below)
//	model.onnx.data   external weight data, present when weights exceed ~1.8 GB
//	tokenizer.json    the Hugging Face tokenizer, copied from the checkpoint
//	twostage.json     Config: family, max length, dtype, score calibration
//
// # ONNX contract
//
// Inputs are input_ids and attention_mask (int64 [batch, seq], right-padded),
// plus token_type_ids (int64 [batch, seq]) when Config.HasTokenTypeIDs.
// Cross-encoder families (zerank, qwen3-reranker, bert-cross-encoder) have one
// output "logits", float32 [batch, 1]: the raw score, before calibration. The
// output stays float32 even for fp16 models (the graph casts). The
// bert-embedding family has one output "last_hidden_state", float32
// [batch, seq, hidden]; the embedder pools it as Config.Pooling says.
//
// # Shared prefixes
//
// A decoder graph (zerank, qwen3-reranker) written since shared prefixes
// also takes, per layer l, past_key_<l> and past_value_<l>, float32
// [prefixes, past_sequence, kv_heads*head_dim] (keys after k_norm, before
// the rotary embedding), past_lengths (int64 [prefixes], each prefix's
// real tokens: prefixes are right-padded), prefix_index (int64 [batch], the
// prefix row b continues; its tokens then sit at positions
// past_lengths[prefix_index[b]] and on) and present_rows (int64 [present]);
// it outputs present_key_<l> and present_value_<l>, float32 [present, seq,
// kv_heads*head_dim]: the keys and values of the rows present_rows names.
// Whole pairs run with a past of length 0 and no present rows; a prefix
// runs as rows of its own with present_rows naming them, and its presents
// are the past of the rows that continue it. Every one of these inputs
// has a default (an initializer of its name: no past, no present rows), so
// a caller that feeds only input_ids and attention_mask gets whole pairs,
// as before. Graphs without these inputs run whole pairs only.
package modeldir

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"twostage/errdefs"
)

// File names inside a model directory.
const (
	ModelFile     = "model.onnx"
	DataFile      = "model.onnx.data"
	TokenizerFile = "tokenizer.json"
	ConfigFile    = "twostage.json"
)

// Model families.
const (
	// FamilyZerank is zerank-2, zerank-1 and zerank-1-small: a Qwen3 decoder
	// scored by the "Yes" logit (token 9454), calibrated sigmoid(raw/5).
	FamilyZerank = "zerank"
	// FamilyQwen3Reranker is Qwen3-Reranker: logit("yes") - logit("no")
	// (tokens 9693, 2152), calibrated sigmoid(raw).
	FamilyQwen3Reranker = "qwen3-reranker"
	// FamilyBertCrossEncoder is a BERT-family cross-encoder (ms-marco MiniLM
	// and the like): the classifier logit, calibrated sigmoid(raw).
	FamilyBertCrossEncoder = "bert-cross-encoder"
	// FamilyBertEmbedding is a BERT-family bi-encoder (all-MiniLM-L6-v2 and
	// the like): last_hidden_state, pooled and optionally normalized.
	FamilyBertEmbedding = "bert-embedding"
)

// Families lists every family, in a fixed order.
var Families = []string{FamilyZerank, FamilyQwen3Reranker, FamilyBertCrossEncoder, FamilyBertEmbedding}

// Dtypes of the stored weights.
const (
	DtypeFP32 = "fp32"
	DtypeFP16 = "fp16"
)

// Pooling modes for embedding models.
const (
	PoolingMean = "mean" // mean over real (attention_mask = 1) tokens
	PoolingCLS  = "cls"  // the first token
	PoolingLast = "last" // the last real token
	PoolingNone = "none" // no pooling (cross-encoders)
)

// Calibration kinds.
const (
	// CalibrationSigmoid maps a raw logit x to sigmoid(Scale * x).
	CalibrationSigmoid = "sigmoid"
	// CalibrationNone leaves the output as it is (embeddings).
	CalibrationNone = "none"
)

// Output names in the ONNX graph.
const (
	OutputLogits          = "logits"
	OutputLastHiddenState = "last_hidden_state"
)

// Shared-prefix inputs and outputs of a decoder graph (see the package
// comment); per-layer names are the prefix and the layer number.
const (
	InputPastLengths   = "past_lengths"
	InputPrefixIndex   = "prefix_index"
	InputPresentRows   = "present_rows"
	InputPastKey       = "past_key_"
	InputPastValue     = "past_value_"
	OutputPresentKey   = "present_key_"
	OutputPresentValue = "present_value_"
)

// Calibration maps a raw cross-encoder score to [0, 1].
type Calibration struct {
	// Kind is CalibrationSigmoid or CalibrationNone.
	Kind string `json:"kind"`
	// Scale multiplies the raw score before the sigmoid: 0.2 for zerank
	// (sigmoid(raw/5)), 1 for qwen3-reranker and BERT cross-encoders.
	Scale float64 `json:"scale,omitempty"`
}

// Apply returns the calibrated score for raw.
func (c Calibration) Apply(raw float64) float64 {
	if c.Kind != CalibrationSigmoid {
		return raw
	}
	return 1 / (1 + math.Exp(-c.Scale*raw))
}

// Config is twostage.json: what a model directory holds and how to use it.
type Config struct {
	// Family is one of the Family constants.
	Family string `json:"family"`
	// MaxLength is the longest input in tokens the model accepts
	// (max_position_embeddings for BERT; a practical cap for Qwen3).
	MaxLength int `json:"max_length"`
	// Dtype is the stored weight type, DtypeFP32 or DtypeFP16.
	Dtype string `json:"dtype"`
	// Compute is the type of the graph's matrix products: DtypeFP32 (or ""),
	// or DtypeFP16 (needs Dtype fp16). Norms, softmax, the residual stream
	// and the outputs are float32 either way. fp16 products are for GPUs; on
	// CPU, ONNX Runtime runs them through inserted casts.
	Compute string `json:"compute,omitempty"`
	// Calibration maps raw scores to [0, 1] (CalibrationNone for embeddings).
	Calibration Calibration `json:"calibration"`
	// ScoreTokens are the LM-head rows the score uses (decoder families):
	// [9454] for zerank; [9693, 2152] (yes, no) for qwen3-reranker.
	ScoreTokens []int `json:"score_tokens,omitempty"`
	// Pooling is the embedding pooling mode (PoolingNone for cross-encoders).
	Pooling string `json:"pooling"`
	// Normalize says embeddings are L2-normalized after pooling.
	Normalize bool `json:"normalize"`
	// HiddenSize is the model width (the embedding dimension for bi-encoders).
	HiddenSize int `json:"hidden_size"`
	// PadTokenID is the id used to right-pad input_ids.
	PadTokenID int `json:"pad_token_id"`
	// HasTokenTypeIDs says the graph declares the token_type_ids input.
	HasTokenTypeIDs bool `json:"has_token_type_ids"`
	// SourceModel records where the weights came from (a path or hub id).
	SourceModel string `json:"source_model,omitempty"`
}

// ErrInvalid is wrapped by every Validate error (it wraps
// errdefs.ErrInvalidInput itself).
var ErrInvalid = errdefs.New("modeldir: invalid config", errdefs.ErrInvalidInput)

// Defaults returns the Config fields fixed by family: calibration, score
// tokens, pooling, normalization and token-type use. Size fields (MaxLength,
// HiddenSize, PadTokenID, Dtype) are left zero for the caller to fill.
func Defaults(family string) (Config, error) {
	c := Config{Family: family, Pooling: PoolingNone, Calibration: Calibration{Kind: CalibrationSigmoid, Scale: 1}}
	switch family {
	case FamilyZerank:
		c.Calibration.Scale = 0.2
		c.ScoreTokens = []int{9454}
	case FamilyQwen3Reranker:
		c.ScoreTokens = []int{9693, 2152}
	case FamilyBertCrossEncoder:
		c.HasTokenTypeIDs = true
	case FamilyBertEmbedding:
		c.HasTokenTypeIDs = true
		c.Pooling = PoolingMean
		c.Normalize = true
		c.Calibration = Calibration{Kind: CalibrationNone}
	default:
		return Config{}, fmt.Errorf("modeldir: unknown family %q (want one of %v): %w", family, Families, errdefs.ErrUnsupported)
	}
	return c, nil
}

// IsCrossEncoder reports whether the family scores (query, document) pairs.
func IsCrossEncoder(family string) bool {
	return family == FamilyZerank || family == FamilyQwen3Reranker || family == FamilyBertCrossEncoder
}

// IsDecoder reports whether the family is a Qwen3 decoder.
func IsDecoder(family string) bool {
	return family == FamilyZerank || family == FamilyQwen3Reranker
}

// Output is the name of the graph's first output for c's family.
func (c *Config) Output() string {
	if c.Family == FamilyBertEmbedding {
		return OutputLastHiddenState
	}
	return OutputLogits
}

// Validate checks c for consistency; errors wrap ErrInvalid.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !slices.Contains(Families, c.Family) {
		bad("unknown family %q", c.Family)
	}
	if c.MaxLength <= 0 {
		bad("max_length %d must be positive", c.MaxLength)
	}
	if c.HiddenSize <= 0 {
		bad("hidden_size %d must be positive", c.HiddenSize)
	}
	if c.PadTokenID < 0 {
		bad("pad_token_id %d must not be negative", c.PadTokenID)
	}
	if c.Dtype != DtypeFP32 && c.Dtype != DtypeFP16 {
		bad("dtype %q (want fp32 or fp16)", c.Dtype)
	}
	switch c.Compute {
	case "", DtypeFP32:
	case DtypeFP16:
		if c.Dtype != DtypeFP16 {
			bad("compute fp16 needs dtype fp16, not %q", c.Dtype)
		}
	default:
		bad("compute %q (want fp32 or fp16)", c.Compute)
	}
	switch c.Calibration.Kind {
	case CalibrationSigmoid:
		if !(c.Calibration.Scale > 0) || math.IsInf(c.Calibration.Scale, 0) {
			bad("sigmoid calibration scale %v must be positive", c.Calibration.Scale)
		}
	case CalibrationNone:
	default:
		bad("calibration kind %q (want sigmoid or none)", c.Calibration.Kind)
	}
	if IsCrossEncoder(c.Family) && c.Calibration.Kind != CalibrationSigmoid {
		bad("cross-encoder family %s needs sigmoid calibration", c.Family)
	}
	switch c.Family {
	case FamilyZerank:
		if len(c.ScoreTokens) != 1 {
			bad("zerank needs one score token, got %v", c.ScoreTokens)
		}
	case FamilyQwen3Reranker:
		if len(c.ScoreTokens) != 2 {
			bad("qwen3-reranker needs two score tokens (yes, no), got %v", c.ScoreTokens)
		}
	default:
		if len(c.ScoreTokens) != 0 {
			bad("family %s takes no score tokens, got %v", c.Family, c.ScoreTokens)
		}
	}
	for _, id := range c.ScoreTokens {
		if id < 0 {
			bad("negative score token %d", id)
		}
	}
	switch c.Pooling {
	case PoolingMean, PoolingCLS, PoolingLast:
		if c.Family != FamilyBertEmbedding {
			bad("pooling %q on cross-encoder family %s", c.Pooling, c.Family)
		}
	case PoolingNone:
		if c.Family == FamilyBertEmbedding {
			bad("embedding family needs a pooling mode")
		}
	default:
		bad("pooling %q (want mean, cls, last or none)", c.Pooling)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", errors.Join(errs...), ErrInvalid)
}

// Load reads and validates dir/twostage.json. A missing file wraps
// errdefs.ErrNotFound; a malformed or inconsistent one ErrInvalid.
func Load(dir string) (*Config, error) {
	b, err := os.ReadFile(ConfigPath(dir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("modeldir: %s is not a model directory (no %s; make one with `twostage convert`): %w", dir, ConfigFile, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("modeldir: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("modeldir: %s: %v: %w", ConfigPath(dir), err, ErrInvalid)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("modeldir: %s: %w", ConfigPath(dir), err)
	}
	return &c, nil
}

// Save validates c and writes dir/twostage.json (creating dir).
func Save(dir string, c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("modeldir: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("modeldir: %w", err)
	}
	if err := os.WriteFile(ConfigPath(dir), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("modeldir: %w", err)
	}
	return nil
}

// ConfigPath is dir/twostage.json.
func ConfigPath(dir string) string { return filepath.Join(dir, ConfigFile) }

// ModelPath is dir/model.onnx.
func ModelPath(dir string) string { return filepath.Join(dir, ModelFile) }

// DataPath is dir/model.onnx.data (present only for external weights).
func DataPath(dir string) string { return filepath.Join(dir, DataFile) }

// TokenizerPath is dir/tokenizer.json.
func TokenizerPath(dir string) string { return filepath.Join(dir, TokenizerFile) }
