package stconfig

import (
	"errors"
	"testing"

	"twostage"
	"twostage/internal/testassets"
	"twostage/modeldir"
)

const (
	miniLMModules = `[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]`
	meanPooling = `{"word_embedding_dimension":384,"pooling_mode_cls_token":false,"pooling_mode_mean_tokens":true,"pooling_mode_max_tokens":false,"pooling_mode_mean_sqrt_len_tokens":false}`
	clsPooling  = `{"word_embedding_dimension":384,"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false}`
)

func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	testassets.WriteFiles(t, dir, files)
	return dir
}

func TestRead(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		found bool
		want  Config
	}{
		{"all-MiniLM-L6-v2", map[string]string{
			ModulesFile: miniLMModules, SBERTFile: `{"max_seq_length": 256, "do_lower_case": false}`,
			"1_Pooling/config.json": meanPooling,
		}, true, Config{MaxSeqLength: 256, Pooling: modeldir.PoolingMean, Normalize: true}},
		{"cls without normalize, pooling elsewhere", map[string]string{
			ModulesFile:        `[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"pool","type":"sentence_transformers.models.Pooling"}]`,
			"pool/config.json": clsPooling,
		}, true, Config{Pooling: modeldir.PoolingCLS}},
		{"last token", map[string]string{
			ModulesFile:             `[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]`,
			SBERTFile:               `{"max_seq_length": 8192}`,
			"1_Pooling/config.json": `{"pooling_mode_lasttoken": true}`,
		}, true, Config{MaxSeqLength: 8192, Pooling: modeldir.PoolingLast, Normalize: true}},
		{"sentence_bert_config only, default pooling place", map[string]string{
			SBERTFile: `{"max_seq_length": 128}`, "1_Pooling/config.json": clsPooling,
		}, true, Config{MaxSeqLength: 128, Pooling: modeldir.PoolingCLS}},
		{"pooling config only", map[string]string{"1_Pooling/config.json": clsPooling}, true, Config{Pooling: modeldir.PoolingCLS}},
		{"modules without paths", map[string]string{
			ModulesFile:             `[{"type":"sentence_transformers.models.Transformer"},{"type":"sentence_transformers.models.Pooling"},{"type":"sentence_transformers.models.Normalize"}]`,
			"1_Pooling/config.json": clsPooling,
		}, true, Config{Pooling: modeldir.PoolingCLS, Normalize: true}},
		{"plain checkpoint", map[string]string{"config.json": `{}`}, false, Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, found, err := Read(write(t, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.found {
				t.Fatalf("found = %v, want %v", found, tt.found)
			}
			if !found {
				if c != nil {
					t.Fatalf("config %+v for a plain checkpoint, want nil", c)
				}
				return
			}
			if *c != tt.want {
				t.Fatalf("got %+v, want %+v", *c, tt.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tr := `{"path":"","type":"sentence_transformers.models.Transformer"}`
	pool := `{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"}`
	tests := []struct {
		name  string
		files map[string]string
		want  error
	}{
		{"max pooling", map[string]string{ModulesFile: "[" + tr + "," + pool + "]", "1_Pooling/config.json": `{"pooling_mode_max_tokens": true}`}, ErrUnsupported},
		{"two pooling modes", map[string]string{ModulesFile: "[" + tr + "," + pool + "]", "1_Pooling/config.json": `{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}`}, ErrUnsupported},
		{"no pooling mode", map[string]string{ModulesFile: "[" + tr + "," + pool + "]", "1_Pooling/config.json": `{}`}, ErrUnsupported},
		{"dense projection", map[string]string{ModulesFile: "[" + tr + "," + pool + `,{"path":"2_Dense","type":"sentence_transformers.models.Dense"}]`, "1_Pooling/config.json": meanPooling}, ErrUnsupported},
		{"transformer not first", map[string]string{ModulesFile: "[" + pool + "," + tr + "]", "1_Pooling/config.json": meanPooling}, ErrUnsupported},
		{"do_lower_case", map[string]string{SBERTFile: `{"max_seq_length": 128, "do_lower_case": true}`}, ErrUnsupported},
		{"named pooling config missing", map[string]string{ModulesFile: "[" + tr + "," + pool + "]"}, ErrMalformed},
		{"bad modules.json", map[string]string{ModulesFile: `{"not": "a list"}`}, ErrMalformed},
		{"bad max_seq_length", map[string]string{SBERTFile: `{"max_seq_length": 0}`}, ErrMalformed},
		{"bad pooling json", map[string]string{ModulesFile: "[" + tr + "," + pool + "]", "1_Pooling/config.json": `{`}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Read(write(t, tt.files))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v (config %+v), want %v", err, c, tt.want)
			}
			parent := twostage.ErrUnsupported
			if tt.want == ErrMalformed {
				parent = twostage.ErrInvalidInput
			}
			if !errors.Is(err, parent) {
				t.Fatalf("err = %v, want it to wrap %v", err, parent)
			}
		})
	}
}
