//go:build xla

package xla

import (
	"testing"
	"time"

	"twostage/convert/arch"
	"twostage/convert/hf"
	"twostage/internal/testassets"
	"twostage/modeldir"
)

// TestCompileZerank2Shape compiles the full zerank-2 program (Qwen3-4B
// config, 36 layers) for one 16 x 512 bucket in bf16 on the CPU plugin: the
// real model's shapes, without its weights.
func TestCompileZerank2Shape(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a 36-layer program")
	}
	plugin := testassets.PJRTCPUPlugin(t)
	cfg, err := hf.Parse([]byte(`{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
		"vocab_size": 151936, "hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
		"num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
		"rope_theta": 1000000, "tie_word_embeddings": true, "max_position_embeddings": 40960}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := arch.NewModel(modeldir.FamilyZerank, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	p, err := arch.StableHLO(m, 16, 512, arch.BF16)
	if err != nil {
		t.Fatal(err)
	}
	gen := time.Since(t0)
	c, err := openClient(plugin, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.release()
	t0 = time.Now()
	if _, err := c.compile(p.Text); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d KB of StableHLO generated in %v, compiled in %v", len(p.Text)>>10, gen, time.Since(t0))
}
