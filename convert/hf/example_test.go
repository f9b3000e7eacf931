package hf_test

import (
	"fmt"

	"twostage/convert/hf"
)

func ExampleParse() {
	c, err := hf.Parse([]byte(`{"architectures": ["BertForSequenceClassification"], "model_type": "bert",
		"vocab_size": 30522, "hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6,
		"num_attention_heads": 12, "id2label": {"0": "LABEL_0"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Kind(), c.Architecture(), c.Labels(), c.LayerNormEps)
	// Output: bert BertForSequenceClassification 1 1e-12
}
