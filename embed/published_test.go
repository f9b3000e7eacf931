package embed

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"twostage/errdefs"
	"twostage/modeldir"
)

// TestONNXPublishedLayoutUnsupported: a published export whose
// sentence-transformers files ask for what the embedder cannot do (a Dense
// projection after pooling, max pooling) is refused, not embedded without it.
func TestONNXPublishedLayoutUnsupported(t *testing.T) {
	_, conv := tinyEmbedder(t, nil)
	for name, files := range map[string]map[string]string{
		"dense": {"modules.json": `[{"path":"","type":"sentence_transformers.models.Transformer"},{"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"path":"2_Dense","type":"sentence_transformers.models.Dense"}]`,
			"1_Pooling/config.json": `{"pooling_mode_mean_tokens": true}`},
		"max pooling": {"1_Pooling/config.json": `{"pooling_mode_max_tokens": true}`},
	} {
		t.Run(name, func(t *testing.T) {
			pub := t.TempDir()
			if err := os.Symlink(modeldir.ModelPath(conv), filepath.Join(pub, "model.onnx")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(modeldir.TokenizerPath(conv), filepath.Join(pub, "tokenizer.json")); err != nil {
				t.Fatal(err)
			}
			for n, body := range files {
				os.MkdirAll(filepath.Dir(filepath.Join(pub, n)), 0o755)
				if err := os.WriteFile(filepath.Join(pub, n), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			e, err := NewONNX(pub, nil)
			if err == nil {
				e.Close()
			}
			if !errors.Is(err, errdefs.ErrUnsupported) {
				t.Fatalf("err = %v, want errdefs.ErrUnsupported", err)
			}
		})
	}
}
