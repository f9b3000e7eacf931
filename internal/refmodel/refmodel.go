// Package refmodel is the float64 reference forward pass of the
// architectures twostage runs (the Qwen3 decoder scored at its last token,
// BERT with its classification head or its last hidden state), for tests:
// it evaluates convert/arch's one definition of each architecture in
// float64, one unpadded sequence at a time. This package's tests check that
// definition against an independent per-token implementation written from
// Hugging Face transformers' modelling code.
//
// It reads weights on first use and keeps them as float64 (vocabulary-sized
// tables are read row by row) and is meant for tiny checkpoints.
package refmodel

import (
	"fmt"

	"twostage/convert/arch"
	"twostage/convert/hf"
	"twostage/convert/safetensors"
	"twostage/errdefs"
	"twostage/modeldir"
)

// Model is a checkpoint loaded for reference inference.
type Model struct {
	family string
	cfg    *hf.Config
	ck     *safetensors.Checkpoint
	ref    *arch.Reference
}

// Load reads the checkpoint in dir for family (a modeldir family).
func Load(dir, family string) (*Model, error) {
	cfg, err := hf.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("refmodel: %w", err)
	}
	ref, ck, err := arch.OpenReference(dir, family)
	if err != nil {
		return nil, fmt.Errorf("refmodel: %w", err)
	}
	return &Model{family: family, cfg: cfg, ck: ck, ref: ref}, nil
}

// Close closes the checkpoint files.
func (m *Model) Close() error { return m.ck.Close() }

func (m *Model) eval(ids, typeIDs []int64) (*arch.Tensor, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("refmodel: empty sequence: %w", errdefs.ErrInvalidInput)
	}
	for _, id := range ids {
		if id < 0 || id >= int64(m.cfg.VocabSize) {
			return nil, fmt.Errorf("refmodel: token id %d outside vocab %d: %w", id, m.cfg.VocabSize, errdefs.ErrInvalidInput)
		}
	}
	mask := make([]int64, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	out, err := m.ref.Eval(ids, mask, typeIDs, 1, len(ids))
	if err != nil {
		return nil, fmt.Errorf("refmodel: %w", err)
	}
	return out, nil
}

// Score returns the raw cross-encoder score of one unpadded sequence:
// the "Yes" logit (zerank), logit(yes) - logit(no) (qwen3-reranker), or the
// classifier logit (bert-cross-encoder). typeIDs is used by BERT only (nil
// means all zeros).
func (m *Model) Score(ids, typeIDs []int64) (float64, error) {
	if !modeldir.IsCrossEncoder(m.family) {
		return 0, fmt.Errorf("refmodel: family %s has no score: %w", m.family, errdefs.ErrUnsupported)
	}
	if modeldir.IsDecoder(m.family) {
		typeIDs = nil
	}
	out, err := m.eval(ids, typeIDs)
	if err != nil {
		return 0, err
	}
	return out.Data[0], nil
}

// HiddenStates returns BERT's last_hidden_state for one unpadded sequence,
// [len(ids)][hidden].
func (m *Model) HiddenStates(ids, typeIDs []int64) ([][]float64, error) {
	if m.cfg.Kind() != hf.KindBert {
		return nil, fmt.Errorf("refmodel: hidden states of %s: %w", m.family, errdefs.ErrUnsupported)
	}
	if m.family != modeldir.FamilyBertEmbedding {
		return nil, fmt.Errorf("refmodel: hidden states of %s (load it as %s): %w", m.family, modeldir.FamilyBertEmbedding, errdefs.ErrUnsupported)
	}
	out, err := m.eval(ids, typeIDs)
	if err != nil {
		return nil, err
	}
	H := out.Dims[2]
	hs := make([][]float64, len(ids))
	for s := range hs {
		hs[s] = out.Data[s*H : (s+1)*H]
	}
	return hs, nil
}
