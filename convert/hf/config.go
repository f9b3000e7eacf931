// Package hf reads the config.json of a Hugging Face checkpoint for the
// architectures twostage converts: Qwen3 decoders (zerank, Qwen3-Reranker)
// and BERT encoders (cross-encoders and bi-encoders).
package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"twostage/errdefs"
)

// ErrArchitecture reports a checkpoint whose architecture or configuration
// (activation, rope scaling, position embedding type...) is not supported.
var ErrArchitecture = errdefs.New("hf: unsupported architecture", errdefs.ErrUnsupported)

// ErrConfig reports a config.json that is missing, unreadable or inconsistent.
var ErrConfig = errdefs.New("hf: bad config.json", errdefs.ErrInvalidInput)

// Config holds the config.json fields twostage uses. Fields absent from the
// file keep the Hugging Face defaults that Read fills in.
type Config struct {
	Architectures []string `json:"architectures"`
	ModelType     string   `json:"model_type"`
	TorchDtype    string   `json:"torch_dtype"`

	VocabSize             int               `json:"vocab_size"`
	HiddenSize            int               `json:"hidden_size"`
	IntermediateSize      int               `json:"intermediate_size"`
	NumHiddenLayers       int               `json:"num_hidden_layers"`
	NumAttentionHeads     int               `json:"num_attention_heads"`
	MaxPositionEmbeddings int               `json:"max_position_embeddings"`
	HiddenAct             string            `json:"hidden_act"`
	PadTokenID            *int              `json:"pad_token_id"`
	EOSTokenID            any               `json:"eos_token_id"`
	ID2Label              map[string]string `json:"id2label"`
	NumLabels             int               `json:"num_labels"`

	// Qwen3.
	NumKeyValueHeads int             `json:"num_key_value_heads"`
	HeadDim          int             `json:"head_dim"`
	RMSNormEps       float64         `json:"rms_norm_eps"`
	RopeTheta        float64         `json:"rope_theta"`
	RopeScaling      json.RawMessage `json:"rope_scaling"`
	// RopeParameters is transformers v5's form: {"rope_type": "default", "rope_theta": ...}.
	RopeParameters *struct {
		RopeType  string  `json:"rope_type"`
		RopeTheta float64 `json:"rope_theta"`
	} `json:"rope_parameters"`
	TieWordEmbeddings *bool `json:"tie_word_embeddings"`
	AttentionBias     bool  `json:"attention_bias"`
	UseSlidingWindow  bool  `json:"use_sliding_window"`

	// BERT.
	TypeVocabSize         int     `json:"type_vocab_size"`
	LayerNormEps          float64 `json:"layer_norm_eps"`
	PositionEmbeddingType string  `json:"position_embedding_type"`
}

// Kinds of model, from Kind.
const (
	KindQwen3 = "qwen3"
	KindBert  = "bert"
)

// Read parses dir/config.json, fills Hugging Face defaults, and checks that
// the architecture is one twostage can convert (errors wrap ErrArchitecture
// or ErrConfig).
func Read(dir string) (*Config, error) {
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("hf: %s has no config.json: %w", dir, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("hf: %w", err)
	}
	return Parse(b)
}

// Parse is Read on config.json's bytes.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("hf: %v: %w", err, ErrConfig)
	}
	if err := c.fill(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Kind is KindQwen3 or KindBert.
func (c *Config) Kind() string {
	if c.ModelType == "qwen3" {
		return KindQwen3
	}
	return KindBert
}

// Architecture is the first entry of architectures ("" when absent).
func (c *Config) Architecture() string {
	if len(c.Architectures) == 0 {
		return ""
	}
	return c.Architectures[0]
}

// Tied reports whether the LM head shares the embedding matrix
// (tie_word_embeddings; Qwen3Config's default is false).
func (c *Config) Tied() bool { return c.TieWordEmbeddings != nil && *c.TieWordEmbeddings }

// Pad returns pad_token_id, or def when absent.
func (c *Config) Pad(def int) int {
	if c.PadTokenID == nil {
		return def
	}
	return *c.PadTokenID
}

// Labels is the number of classifier outputs (num_labels or len(id2label), default 2 as in transformers).
func (c *Config) Labels() int {
	if len(c.ID2Label) > 0 {
		return len(c.ID2Label)
	}
	if c.NumLabels > 0 {
		return c.NumLabels
	}
	return 2
}

func (c *Config) fill() error {
	arch := c.Architecture()
	unsupported := func(format string, args ...any) error {
		return fmt.Errorf("hf: %s: %w", fmt.Sprintf(format, args...), ErrArchitecture)
	}
	switch c.ModelType {
	case "qwen3":
		switch arch {
		case "Qwen3ForCausalLM", "Qwen3Model", "":
		default:
			return unsupported("model_type qwen3 with architecture %s (want Qwen3ForCausalLM)", arch)
		}
		if c.HeadDim == 0 && c.NumAttentionHeads > 0 {
			c.HeadDim = c.HiddenSize / c.NumAttentionHeads
		}
		if c.NumKeyValueHeads == 0 {
			c.NumKeyValueHeads = c.NumAttentionHeads
		}
		if c.RMSNormEps == 0 {
			c.RMSNormEps = 1e-6
		}
		if rp := c.RopeParameters; rp != nil {
			if rp.RopeType != "" && rp.RopeType != "default" {
				return unsupported("qwen3 rope_parameters.rope_type %q (only plain RoPE is supported)", rp.RopeType)
			}
			if c.RopeTheta == 0 {
				c.RopeTheta = rp.RopeTheta
			}
		}
		if c.RopeTheta == 0 {
			c.RopeTheta = 10000
		}
		if c.HiddenAct == "" {
			c.HiddenAct = "silu"
		}
		if c.HiddenAct != "silu" {
			return unsupported("qwen3 hidden_act %q (want silu)", c.HiddenAct)
		}
		if len(c.RopeScaling) > 0 && string(c.RopeScaling) != "null" {
			return unsupported("qwen3 rope_scaling %s (only plain RoPE is supported)", c.RopeScaling)
		}
		if c.UseSlidingWindow {
			return unsupported("qwen3 use_sliding_window")
		}
	case "bert":
		switch arch {
		case "BertForSequenceClassification", "BertModel", "":
		default:
			return unsupported("model_type bert with architecture %s (want BertForSequenceClassification or BertModel)", arch)
		}
		if c.HiddenAct == "" {
			c.HiddenAct = "gelu"
		}
		if c.HiddenAct != "gelu" {
			return unsupported("bert hidden_act %q (only exact gelu is supported)", c.HiddenAct)
		}
		if c.PositionEmbeddingType == "" {
			c.PositionEmbeddingType = "absolute"
		}
		if c.PositionEmbeddingType != "absolute" {
			return unsupported("bert position_embedding_type %q", c.PositionEmbeddingType)
		}
		if c.LayerNormEps == 0 {
			c.LayerNormEps = 1e-12
		}
		if c.TypeVocabSize == 0 {
			c.TypeVocabSize = 2
		}
		if c.MaxPositionEmbeddings == 0 {
			c.MaxPositionEmbeddings = 512
		}
		if arch == "BertForSequenceClassification" && c.Labels() != 1 {
			return unsupported("bert cross-encoder with %d labels (want 1)", c.Labels())
		}
	case "":
		return fmt.Errorf("hf: config.json has no model_type: %w", ErrConfig)
	default:
		return unsupported("model_type %q, architecture %q (want qwen3 or bert)", c.ModelType, arch)
	}
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s = %d", name, v))
		}
	}
	pos("vocab_size", c.VocabSize)
	pos("hidden_size", c.HiddenSize)
	pos("intermediate_size", c.IntermediateSize)
	pos("num_hidden_layers", c.NumHiddenLayers)
	pos("num_attention_heads", c.NumAttentionHeads)
	if c.ModelType == "qwen3" {
		pos("num_key_value_heads", c.NumKeyValueHeads)
		pos("head_dim", c.HeadDim)
		if c.NumKeyValueHeads > 0 && c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
			errs = append(errs, fmt.Errorf("num_attention_heads %d not a multiple of num_key_value_heads %d", c.NumAttentionHeads, c.NumKeyValueHeads))
		}
		if c.HeadDim%2 != 0 {
			errs = append(errs, fmt.Errorf("head_dim %d is odd", c.HeadDim))
		}
	} else if c.NumAttentionHeads > 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		errs = append(errs, fmt.Errorf("hidden_size %d not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads))
	}
	if len(errs) > 0 {
		return fmt.Errorf("hf: %w: %w", errors.Join(errs...), ErrConfig)
	}
	return nil
}
