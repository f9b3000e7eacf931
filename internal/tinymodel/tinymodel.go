// Package tinymodel writes tiny random-weight Hugging Face checkpoints of the
// architectures twostage converts (Qwen3 decoders as zerank or
// Qwen3-Reranker, BERT cross-encoders and bi-encoders), with the real
// vocabularies and tokenizers, so tests across the module exercise the real
// architectures and the real conversion path in milliseconds.
//
// Write makes a checkpoint; Checkpoint and Model (for tests) make one and
// convert it once per process, caching the result.
package tinymodel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"twostage/convert/safetensors"
	"twostage/errdefs"
	"twostage/internal/half"
	"twostage/internal/testassets"
	"twostage/modeldir"
)

// Spec describes a tiny checkpoint. Zero fields take the family's defaults
// (see Defaults).
type Spec struct {
	// Family is a modeldir family; it picks the architecture and the
	// config.json architectures entry.
	Family string
	// Sizes.
	Hidden, Layers, Heads, KVHeads, HeadDim, Intermediate, Vocab, MaxPositions int
	// Dtype is the safetensors dtype of the weights: "BF16", "F16" or "F32".
	Dtype string
	// Seed seeds the random weights.
	Seed uint64
	// Untied writes a separate lm_head.weight (Qwen3) instead of tying it to
	// the embeddings.
	Untied bool
	// Shards splits the weights over this many files with
	// model.safetensors.index.json (0 or 1: one model.safetensors).
	Shards int
	// RopeTheta for Qwen3 (default 1e6).
	RopeTheta float64
	// Tokenizer is the tokenizer.json to copy; "" means the fetched one in
	// .deps/tokenizers (qwen3.json or bert-uncased.json).
	Tokenizer string
}

// Real vocabulary sizes.
const (
	Qwen3Vocab = 151936
	BertVocab  = 30522
)

// Defaults returns s with zero fields filled for its family.
func Defaults(s Spec) (Spec, error) {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	switch s.Family {
	case modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker:
		def(&s.Hidden, 64)
		def(&s.Layers, 2)
		def(&s.Heads, 4)
		def(&s.KVHeads, 2)
		def(&s.HeadDim, 32) // heads*head_dim != hidden, as in Qwen3-4B
		def(&s.Intermediate, 128)
		def(&s.Vocab, Qwen3Vocab)
		def(&s.MaxPositions, 40960)
		if s.Dtype == "" {
			s.Dtype = safetensors.BF16
		}
		if s.RopeTheta == 0 {
			s.RopeTheta = 1e6
		}
	case modeldir.FamilyBertCrossEncoder, modeldir.FamilyBertEmbedding:
		def(&s.Hidden, 32)
		def(&s.Layers, 2)
		def(&s.Heads, 4)
		def(&s.Intermediate, 64)
		def(&s.Vocab, BertVocab)
		def(&s.MaxPositions, 512)
		if s.Dtype == "" {
			s.Dtype = safetensors.F32
		}
	default:
		return s, fmt.Errorf("tinymodel: unknown family %q: %w", s.Family, errdefs.ErrInvalidInput)
	}
	if s.Dtype != safetensors.BF16 && s.Dtype != safetensors.F16 && s.Dtype != safetensors.F32 {
		return s, fmt.Errorf("tinymodel: dtype %q: %w", s.Dtype, errdefs.ErrInvalidInput)
	}
	if s.Shards < 1 {
		s.Shards = 1
	}
	return s, nil
}

// Tensor is one planned checkpoint tensor: its name, shape and how its
// random values are drawn.
type Tensor struct {
	Name  string
	Shape []int64
	// Mean and Std of the (uniform) distribution the values are drawn from.
	Mean, Std float64
}

// Numel is the element count.
func (t Tensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Plan lists the tensors of s's architecture, in write order, and its
// config.json.
func Plan(s Spec) ([]Tensor, map[string]any, error) {
	s, err := Defaults(s)
	if err != nil {
		return nil, nil, err
	}
	var ts []Tensor
	lin := func(name string, out, in int) {
		ts = append(ts, Tensor{name, []int64{int64(out), int64(in)}, 0, 1 / math.Sqrt(float64(in))})
	}
	vec := func(name string, n int, mean, std float64) {
		ts = append(ts, Tensor{name, []int64{int64(n)}, mean, std})
	}
	H := s.Hidden
	torchDtype := map[string]string{safetensors.BF16: "bfloat16", safetensors.F16: "float16", safetensors.F32: "float32"}[s.Dtype]
	switch s.Family {
	case modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker:
		ts = append(ts, Tensor{"model.embed_tokens.weight", []int64{int64(s.Vocab), int64(H)}, 0, 1})
		for i := 0; i < s.Layers; i++ {
			p := fmt.Sprintf("model.layers.%d.", i)
			vec(p+"input_layernorm.weight", H, 1, 0.1)
			lin(p+"self_attn.q_proj.weight", s.Heads*s.HeadDim, H)
			lin(p+"self_attn.k_proj.weight", s.KVHeads*s.HeadDim, H)
			lin(p+"self_attn.v_proj.weight", s.KVHeads*s.HeadDim, H)
			lin(p+"self_attn.o_proj.weight", H, s.Heads*s.HeadDim)
			vec(p+"self_attn.q_norm.weight", s.HeadDim, 1, 0.1)
			vec(p+"self_attn.k_norm.weight", s.HeadDim, 1, 0.1)
			vec(p+"post_attention_layernorm.weight", H, 1, 0.1)
			lin(p+"mlp.gate_proj.weight", s.Intermediate, H)
			lin(p+"mlp.up_proj.weight", s.Intermediate, H)
			lin(p+"mlp.down_proj.weight", H, s.Intermediate)
		}
		vec("model.norm.weight", H, 1, 0.1)
		if s.Untied {
			lin("lm_head.weight", s.Vocab, H)
		}
		cfg := map[string]any{
			"architectures": []string{"Qwen3ForCausalLM"}, "model_type": "qwen3", "torch_dtype": torchDtype,
			"vocab_size": s.Vocab, "hidden_size": H, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "num_key_value_heads": s.KVHeads,
			"head_dim": s.HeadDim, "hidden_act": "silu", "max_position_embeddings": s.MaxPositions,
			"rms_norm_eps": 1e-6, "rope_theta": s.RopeTheta, "rope_scaling": nil, "tie_word_embeddings": !s.Untied,
			"attention_bias": false, "attention_dropout": 0.0, "use_sliding_window": false,
			"bos_token_id": 151643, "eos_token_id": 151645,
		}
		return ts, cfg, nil
	default: // BERT
		p := ""
		if s.Family == modeldir.FamilyBertCrossEncoder {
			p = "bert."
		}
		ts = append(ts,
			Tensor{p + "embeddings.word_embeddings.weight", []int64{int64(s.Vocab), int64(H)}, 0, 0.5},
			Tensor{p + "embeddings.position_embeddings.weight", []int64{int64(s.MaxPositions), int64(H)}, 0, 0.5},
			Tensor{p + "embeddings.token_type_embeddings.weight", []int64{2, int64(H)}, 0, 0.5})
		vec(p+"embeddings.LayerNorm.weight", H, 1, 0.1)
		vec(p+"embeddings.LayerNorm.bias", H, 0, 0.1)
		for i := 0; i < s.Layers; i++ {
			lp := fmt.Sprintf("%sencoder.layer.%d.", p, i)
			for _, d := range []struct {
				n       string
				out, in int
			}{
				{"attention.self.query", H, H}, {"attention.self.key", H, H}, {"attention.self.value", H, H},
				{"attention.output.dense", H, H}, {"intermediate.dense", s.Intermediate, H}, {"output.dense", H, s.Intermediate},
			} {
				lin(lp+d.n+".weight", d.out, d.in)
				vec(lp+d.n+".bias", d.out, 0, 0.1)
				if d.n == "attention.output.dense" {
					vec(lp+"attention.output.LayerNorm.weight", H, 1, 0.1)
					vec(lp+"attention.output.LayerNorm.bias", H, 0, 0.1)
				}
			}
			vec(lp+"output.LayerNorm.weight", H, 1, 0.1)
			vec(lp+"output.LayerNorm.bias", H, 0, 0.1)
		}
		arch := "BertModel"
		if s.Family == modeldir.FamilyBertCrossEncoder {
			arch = "BertForSequenceClassification"
			lin(p+"pooler.dense.weight", H, H)
			vec(p+"pooler.dense.bias", H, 0, 0.1)
			ts = append(ts, Tensor{"classifier.weight", []int64{1, int64(H)}, 0, 1}, Tensor{"classifier.bias", []int64{1}, 0, 0.1})
		}
		cfg := map[string]any{
			"architectures": []string{arch}, "model_type": "bert", "torch_dtype": torchDtype,
			"vocab_size": s.Vocab, "hidden_size": H, "intermediate_size": s.Intermediate,
			"num_hidden_layers": s.Layers, "num_attention_heads": s.Heads, "hidden_act": "gelu",
			"max_position_embeddings": s.MaxPositions, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
			"pad_token_id": 0, "position_embedding_type": "absolute",
			"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
		}
		if s.Family == modeldir.FamilyBertCrossEncoder {
			cfg["id2label"] = map[string]string{"0": "LABEL_0"}
			cfg["num_labels"] = 1
		}
		return ts, cfg, nil
	}
}

// Write writes the checkpoint s describes into dir (created): config.json,
// model.safetensors (or shards plus model.safetensors.index.json) and
// tokenizer.json. Weights are generated and written tensor by tensor, so
// memory stays at one tensor even for billion-parameter specs.
func Write(dir string, s Spec) error {
	return WriteProgress(dir, s, nil)
}

// WriteProgress is Write reporting bytes written after each tensor.
func WriteProgress(dir string, s Spec, progress func(done, total int64)) error {
	s, err := Defaults(s)
	if err != nil {
		return err
	}
	ts, cfg, err := Plan(s)
	if err != nil {
		return err
	}
	tok := s.Tokenizer
	if tok == "" {
		name := "bert-uncased.json"
		if s.Family == modeldir.FamilyZerank || s.Family == modeldir.FamilyQwen3Reranker {
			name = "qwen3.json"
		}
		tok = filepath.Join(DepsDir(), "tokenizers", name)
	}
	if _, err := os.Stat(tok); err != nil {
		return fmt.Errorf("tinymodel: tokenizer %s (run scripts/deps.sh): %w", tok, errdefs.ErrNotFound)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tinymodel: %w", err)
	}
	cb, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cb, 0o644); err != nil {
		return fmt.Errorf("tinymodel: %w", err)
	}
	tb, err := os.ReadFile(tok)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, modeldir.TokenizerFile), tb, 0o644)
	}
	if err != nil {
		return fmt.Errorf("tinymodel: %w", err)
	}
	size := int64(safetensors.DtypeSize(s.Dtype))
	var total int64
	for _, t := range ts {
		total += t.Numel() * size
	}
	// Split into shards of roughly equal bytes, in order.
	shards := make([][]Tensor, s.Shards)
	var acc int64
	for _, t := range ts {
		i := min(int(acc*int64(s.Shards)/max(total, 1)), s.Shards-1)
		shards[i] = append(shards[i], t)
		acc += t.Numel() * size
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x7477_6f73_7461_6765))
	weightMap := map[string]string{}
	var done int64
	for i, sh := range shards {
		name := safetensors.SingleFile
		if s.Shards > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, s.Shards)
		}
		hs := make([]safetensors.Header, len(sh))
		for j, t := range sh {
			hs[j] = safetensors.Header{Name: t.Name, Dtype: s.Dtype, Shape: t.Shape}
			weightMap[t.Name] = name
		}
		w, err := safetensors.Create(filepath.Join(dir, name), hs, map[string]string{"format": "pt"})
		if err != nil {
			return err
		}
		buf := make([]byte, 1<<20)
		for _, t := range sh {
			n := t.Numel()
			for n > 0 {
				k := min(n, int64(len(buf))/size)
				b := buf[:k*size]
				// Uniform values with the tensor's mean and standard
				// deviation, four 16-bit draws per random word (fast: tests
				// generate tens of millions of weights, often under -race).
				lo, scale := t.Mean-math.Sqrt(3)*t.Std, 2*math.Sqrt(3)*t.Std/65536
				var word uint64
				for e := int64(0); e < k; e++ {
					if e%4 == 0 {
						word = rng.Uint64()
					}
					v := float32(lo + scale*(float64(word&0xffff)+0.5))
					word >>= 16
					switch s.Dtype {
					case safetensors.BF16:
						binary.LittleEndian.PutUint16(b[2*e:], half.F32ToBF16(v))
					case safetensors.F16:
						binary.LittleEndian.PutUint16(b[2*e:], half.F32ToF16(v))
					default:
						binary.LittleEndian.PutUint32(b[4*e:], math.Float32bits(v))
					}
				}
				if _, err := w.Write(b); err != nil {
					w.Close()
					return err
				}
				n -= k
			}
			done += t.Numel() * size
			if progress != nil {
				progress(done, total)
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	if s.Shards > 1 {
		return safetensors.WriteIndex(dir, weightMap, total)
	}
	return nil
}

// DepsDir is the fetched-assets directory: $TWOSTAGE_DEPS, else $DEPS, else
// .deps in the current directory or the nearest parent holding one, else
// the repository's .deps next to this source file.
func DepsDir() string {
	for _, env := range []string{"TWOSTAGE_DEPS", "DEPS"} {
		if d := os.Getenv(env); d != "" {
			return d
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if st, err := os.Stat(filepath.Join(dir, ".deps")); err == nil && st.IsDir() {
				return filepath.Join(dir, ".deps")
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return filepath.Join(testassets.Root(), ".deps")
}
