package hf

import (
	"errors"
	"testing"

	"twostage/errdefs"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(`{"architectures":["Qwen3ForCausalLM"],"model_type":"qwen3","vocab_size":151936,
		"hidden_size":2560,"intermediate_size":9728,"num_hidden_layers":36,"num_attention_heads":32,
		"num_key_value_heads":8,"head_dim":128,"rope_theta":1000000,"tie_word_embeddings":true,"rope_scaling":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind() != KindQwen3 || !c.Tied() || c.RMSNormEps != 1e-6 || c.HiddenAct != "silu" || c.Pad(7) != 7 {
		t.Errorf("qwen3 config = %+v", c)
	}
	b, err := Parse([]byte(`{"architectures":["BertModel"],"model_type":"bert","vocab_size":30522,"hidden_size":384,
		"intermediate_size":1536,"num_hidden_layers":6,"num_attention_heads":12,"pad_token_id":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind() != KindBert || b.LayerNormEps != 1e-12 || b.TypeVocabSize != 2 || b.MaxPositionEmbeddings != 512 || b.Pad(5) != 0 {
		t.Errorf("bert config = %+v", b)
	}
	// Qwen3's own default is untied.
	u, _ := Parse([]byte(`{"model_type":"qwen3","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2}`))
	if u.Tied() || u.HeadDim != 4 || u.NumKeyValueHeads != 2 || u.RopeTheta != 10000 {
		t.Errorf("qwen3 defaults = %+v", u)
	}
	// transformers v5 moves rope_theta into rope_parameters.
	v, err := Parse([]byte(`{"model_type":"qwen3","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,
		"num_attention_heads":2,"rope_parameters":{"rope_type":"default","rope_theta":5000000}}`))
	if err != nil || v.RopeTheta != 5e6 {
		t.Errorf("rope_parameters: theta %v, err %v", v.RopeTheta, err)
	}
}

func TestParseErrors(t *testing.T) {
	const sizes = `"vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2`
	tests := []struct {
		name, json string
		want       error
	}{
		{"not json", `{`, ErrConfig},
		{"no model_type", `{` + sizes + `}`, ErrConfig},
		{"gpt2", `{"model_type":"gpt2",` + sizes + `}`, ErrArchitecture},
		{"qwen3 classifier", `{"model_type":"qwen3","architectures":["Qwen3ForSequenceClassification"],` + sizes + `}`, ErrArchitecture},
		{"qwen3 gelu", `{"model_type":"qwen3","hidden_act":"gelu",` + sizes + `}`, ErrArchitecture},
		{"qwen3 yarn", `{"model_type":"qwen3","rope_scaling":{"type":"yarn"},` + sizes + `}`, ErrArchitecture},
		{"qwen3 yarn v5", `{"model_type":"qwen3","rope_parameters":{"rope_type":"yarn","rope_theta":1e6},` + sizes + `}`, ErrArchitecture},
		{"qwen3 sliding", `{"model_type":"qwen3","use_sliding_window":true,` + sizes + `}`, ErrArchitecture},
		{"bert gelu_new", `{"model_type":"bert","hidden_act":"gelu_new",` + sizes + `}`, ErrArchitecture},
		{"bert relative positions", `{"model_type":"bert","position_embedding_type":"relative_key",` + sizes + `}`, ErrArchitecture},
		{"bert masked lm", `{"model_type":"bert","architectures":["BertForMaskedLM"],` + sizes + `}`, ErrArchitecture},
		{"zero hidden", `{"model_type":"bert","vocab_size":10,"hidden_size":0,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2}`, ErrConfig},
		{"heads not dividing", `{"model_type":"bert","vocab_size":10,"hidden_size":9,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2}`, ErrConfig},
		{"kv heads not dividing", `{"model_type":"qwen3","num_key_value_heads":3,` + sizes + `}`, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Read(t.TempDir()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Read(empty dir) = %v, want ErrNotFound", err)
	}
}
