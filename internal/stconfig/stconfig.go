// Package stconfig reads the sentence-transformers settings of a published
// bi-encoder checkpoint: modules.json (which modules run after the
// transformer), sentence_bert_config.json (max_seq_length, do_lower_case)
// and the Pooling module's config.json (the pooling mode). These settings
// change the vectors a model produces, so a reader that cannot honour one
// reports it instead of dropping it.
package stconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"twostage"
	"twostage/errdefs"
	"twostage/modeldir"
)

// ErrUnsupported reports a module or setting twostage cannot reproduce
// (a Dense projection, max pooling, lowercasing outside the tokenizer...).
var ErrUnsupported = errdefs.New("stconfig: unsupported sentence-transformers setting", twostage.ErrUnsupported)

// ErrMalformed reports a sentence-transformers file that cannot be parsed.
var ErrMalformed = errdefs.New("stconfig: malformed sentence-transformers file", twostage.ErrInvalidInput)

// File names, relative to the checkpoint directory.
const (
	ModulesFile  = "modules.json"
	SBERTFile    = "sentence_bert_config.json"
	PoolingDir   = "1_Pooling" // where the Pooling module lives when modules.json is absent
	moduleConfig = "config.json"
)

// Config is what the sentence-transformers files say about the pipeline
// after the transformer.
type Config struct {
	// MaxSeqLength is the longest input in tokens, special tokens included
	// (sentence_bert_config.json max_seq_length; 0 when not set).
	MaxSeqLength int
	// Pooling is modeldir.PoolingMean, PoolingCLS or PoolingLast ("" when
	// there is no Pooling module).
	Pooling string
	// Normalize reports a Normalize module (L2 normalization after pooling).
	Normalize bool
}

type module struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

type poolingConfig struct {
	CLS          bool `json:"pooling_mode_cls_token"`
	Mean         bool `json:"pooling_mode_mean_tokens"`
	Max          bool `json:"pooling_mode_max_tokens"`
	MeanSqrtLen  bool `json:"pooling_mode_mean_sqrt_len_tokens"`
	WeightedMean bool `json:"pooling_mode_weightedmean_tokens"`
	Last         bool `json:"pooling_mode_lasttoken"`
}

// Read reads the sentence-transformers files in dir. found is false when dir
// has none of modules.json, sentence_bert_config.json and
// 1_Pooling/config.json (a plain Hugging Face checkpoint); then c is nil. A
// Pooling module without a path in modules.json is looked for at 1_Pooling.
// Errors wrap ErrMalformed or ErrUnsupported.
func Read(dir string) (c *Config, found bool, err error) {
	var mods []module
	hasMods, err := readJSON(filepath.Join(dir, ModulesFile), &mods)
	if err != nil {
		return nil, false, err
	}
	var sb struct {
		MaxSeqLength *int `json:"max_seq_length"`
		DoLowerCase  bool `json:"do_lower_case"`
	}
	hasSB, err := readJSON(filepath.Join(dir, SBERTFile), &sb)
	if err != nil {
		return nil, false, err
	}
	if !hasMods && !hasSB {
		// A published export may carry only the Pooling module's config.
		if _, err := os.Stat(filepath.Join(dir, PoolingDir, moduleConfig)); err != nil {
			return nil, false, nil
		}
	}
	c = &Config{}
	if sb.MaxSeqLength != nil {
		if *sb.MaxSeqLength <= 0 {
			return nil, false, fmt.Errorf("stconfig: %s: max_seq_length %d: %w", SBERTFile, *sb.MaxSeqLength, ErrMalformed)
		}
		c.MaxSeqLength = *sb.MaxSeqLength
	}
	if sb.DoLowerCase {
		return nil, false, fmt.Errorf("stconfig: %s: do_lower_case true (lowercasing outside the tokenizer): %w", SBERTFile, ErrUnsupported)
	}
	poolingPath := ""
	if !hasMods {
		poolingPath = PoolingDir // older checkpoints: the Pooling module sits at its default place
	}
	for i, m := range mods {
		switch kind := m.Type[strings.LastIndexByte(m.Type, '.')+1:]; kind {
		case "Transformer":
			if i != 0 {
				return nil, false, fmt.Errorf("stconfig: %s: Transformer is module %d, not the first: %w", ModulesFile, i, ErrUnsupported)
			}
		case "Pooling":
			poolingPath = m.Path
			if poolingPath == "" {
				poolingPath = PoolingDir
			}
		case "Normalize":
			c.Normalize = true
		default:
			return nil, false, fmt.Errorf("stconfig: %s: module %q: %w", ModulesFile, m.Type, ErrUnsupported)
		}
	}
	if poolingPath != "" {
		if c.Pooling, err = readPooling(filepath.Join(dir, poolingPath, moduleConfig), hasMods); err != nil {
			return nil, false, err
		}
	}
	return c, true, nil
}

// readPooling maps a Pooling module's config to a modeldir pooling mode; a
// missing file is an error only when modules.json names the module.
func readPooling(path string, required bool) (string, error) {
	var pc poolingConfig
	ok, err := readJSON(path, &pc)
	if err != nil {
		return "", err
	}
	if !ok {
		if required {
			return "", fmt.Errorf("stconfig: pooling module config %s not found: %w", path, ErrMalformed)
		}
		return "", nil
	}
	var modes []string
	for _, m := range []struct {
		on   bool
		name string
	}{{pc.CLS, "cls_token"}, {pc.Mean, "mean_tokens"}, {pc.Max, "max_tokens"}, {pc.MeanSqrtLen, "mean_sqrt_len_tokens"}, {pc.WeightedMean, "weightedmean_tokens"}, {pc.Last, "lasttoken"}} {
		if m.on {
			modes = append(modes, m.name)
		}
	}
	if len(modes) != 1 {
		return "", fmt.Errorf("stconfig: %s: pooling modes %v (want exactly one of cls_token, mean_tokens, lasttoken): %w", path, modes, ErrUnsupported)
	}
	switch {
	case pc.CLS:
		return modeldir.PoolingCLS, nil
	case pc.Mean:
		return modeldir.PoolingMean, nil
	case pc.Last:
		return modeldir.PoolingLast, nil
	}
	return "", fmt.Errorf("stconfig: %s: pooling mode %s: %w", path, modes[0], ErrUnsupported)
}

// readJSON decodes path into v; ok is false when the file does not exist.
func readJSON(path string, v any) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stconfig: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("stconfig: %s: %v: %w", filepath.Base(path), err, ErrMalformed)
	}
	return true, nil
}
