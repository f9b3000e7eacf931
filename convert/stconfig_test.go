package convert_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"twostage"
	"twostage/convert"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/modeldir"
)

// TestSentenceTransformersConfig: a bi-encoder's max_seq_length, pooling and
// normalization come from its sentence-transformers files, not from
// config.json's max_position_embeddings and the family's defaults.
func TestSentenceTransformersConfig(t *testing.T) {
	const st = `[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}%s]`
	tests := []struct {
		name      string
		files     map[string]string
		maxLength int
		pooling   string
		normalize bool
	}{
		{"plain checkpoint keeps the defaults", nil, -1, modeldir.PoolingMean, true},
		{"mean, normalized, 100 tokens", map[string]string{
			"modules.json":              fmtModules(st, true),
			"sentence_bert_config.json": `{"max_seq_length": 100, "do_lower_case": false}`,
			"1_Pooling/config.json":     `{"pooling_mode_mean_tokens": true}`,
		}, 100, modeldir.PoolingMean, true},
		{"cls, not normalized", map[string]string{
			"modules.json":          fmtModules(st, false),
			"1_Pooling/config.json": `{"pooling_mode_cls_token": true}`,
		}, -1, modeldir.PoolingCLS, false},
		{"max_seq_length past the positions is capped", map[string]string{
			"sentence_bert_config.json": `{"max_seq_length": 100000}`,
		}, -1, modeldir.PoolingMean, false},
	}
	src := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	plain := convertST(t, src, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := convertST(t, src, tt.files)
			want := tt.maxLength
			if want < 0 {
				want = plain.MaxLength
			}
			if c.MaxLength != want || c.Pooling != tt.pooling || c.Normalize != tt.normalize {
				t.Errorf("max_length %d, pooling %s, normalize %v; want %d, %s, %v", c.MaxLength, c.Pooling, c.Normalize, want, tt.pooling, tt.normalize)
			}
		})
	}
}

func fmtModules(format string, normalize bool) string {
	n := ""
	if normalize {
		n = `,{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}`
	}
	return fmt.Sprintf(format, n)
}

// convertST converts a copy of src with files added and returns the written
// twostage.json.
func convertST(t *testing.T, src string, files map[string]string) *modeldir.Config {
	t.Helper()
	dir := testassets.CopyDir(t, src)
	testassets.WriteFiles(t, dir, files)
	out := filepath.Join(t.TempDir(), "model")
	if _, err := convert.Convert(context.Background(), dir, out, nil); err != nil {
		t.Fatal(err)
	}
	c, err := modeldir.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSentenceTransformersUnsupported: settings the graph cannot reproduce
// fail the conversion before any work, and leave nothing behind.
func TestSentenceTransformersUnsupported(t *testing.T) {
	src := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyBertEmbedding, Seed: 1})
	for name, files := range map[string]map[string]string{
		"max pooling": {"1_Pooling/config.json": `{"pooling_mode_max_tokens": true}`, "sentence_bert_config.json": `{"max_seq_length": 64}`},
		"dense":       {"modules.json": `[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"2_Dense","type":"sentence_transformers.models.Dense"}]`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := testassets.CopyDir(t, src)
			testassets.WriteFiles(t, dir, files)
			out := filepath.Join(t.TempDir(), "model")
			_, err := convert.Convert(context.Background(), dir, out, nil)
			if !errors.Is(err, twostage.ErrUnsupported) {
				t.Fatalf("err = %v, want twostage.ErrUnsupported", err)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output %s left behind (%v)", out, err)
			}
		})
	}
}
