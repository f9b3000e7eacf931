package arch_test

import (
	"fmt"

	"twostage/convert/arch"
	"twostage/convert/hf"
	"twostage/modeldir"
)

// Example emits a Qwen3 reranker (Qwen3-4B's shape, as zerank-2) as a
// StableHLO program for batches of 16 inputs of 512 tokens in bfloat16:
// the token inputs first, then every weight as a parameter.
func Example() {
	cfg, err := hf.Parse([]byte(`{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
		"vocab_size": 151936, "hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
		"num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
		"rope_theta": 1000000, "tie_word_embeddings": true, "max_position_embeddings": 40960}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := arch.NewModel(modeldir.FamilyZerank, cfg, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := arch.StableHLO(m, 16, 512, arch.BF16)
	if err != nil {
		fmt.Println(err)
		return
	}
	head := p.Params[len(p.Params)-1]
	fmt.Println(p.Inputs, "inputs,", len(p.Params), "weights; head:", head.Name, head.Rows, head.Dtype)
	// Output:
	// 2 inputs, 399 weights; head: embed_tokens.weight [9454] F32
}
