package stconfig_test

import (
	"fmt"
	"os"
	"path/filepath"

	"twostage/internal/stconfig"
)

// Read on the sentence-transformers files of all-MiniLM-L6-v2.
func ExampleRead() {
	dir, _ := os.MkdirTemp("", "stconfig")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "1_Pooling"), 0o755)
	os.WriteFile(filepath.Join(dir, "modules.json"), []byte(`[
  {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
  {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]`), 0o644)
	os.WriteFile(filepath.Join(dir, "sentence_bert_config.json"), []byte(`{"max_seq_length": 256, "do_lower_case": false}`), 0o644)
	os.WriteFile(filepath.Join(dir, "1_Pooling", "config.json"), []byte(`{"pooling_mode_mean_tokens": true}`), 0o644)

	c, found, err := stconfig.Read(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(found, c.MaxSeqLength, c.Pooling, c.Normalize)
	// Output: true 256 mean true
}
