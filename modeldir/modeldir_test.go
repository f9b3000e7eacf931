package modeldir

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"twostage/errdefs"
)

func valid(t *testing.T, family string) Config {
	t.Helper()
	c, err := Defaults(family)
	if err != nil {
		t.Fatal(err)
	}
	c.MaxLength, c.HiddenSize, c.Dtype = 512, 64, DtypeFP32
	return c
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, fam := range Families {
		t.Run(fam, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			c := valid(t, fam)
			c.SourceModel = "hf/" + fam
			c.Dtype, c.Compute = DtypeFP16, DtypeFP16
			if err := Save(dir, &c); err != nil {
				t.Fatal(err)
			}
			got, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, c) {
				t.Fatalf("Load = %+v, want %+v", *got, c)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		family string
		tokens []int
		raw    float64
		want   float64 // calibrated
		output string
	}{
		{FamilyZerank, []int{9454}, 5, 1 / (1 + math.Exp(-1)), OutputLogits},
		{FamilyQwen3Reranker, []int{9693, 2152}, 2, 1 / (1 + math.Exp(-2)), OutputLogits},
		{FamilyBertCrossEncoder, nil, -3, 1 / (1 + math.Exp(3)), OutputLogits},
		{FamilyBertEmbedding, nil, 7, 7, OutputLastHiddenState},
	}
	for _, tt := range tests {
		c := valid(t, tt.family)
		if !reflect.DeepEqual(c.ScoreTokens, tt.tokens) {
			t.Errorf("%s: score tokens %v, want %v", tt.family, c.ScoreTokens, tt.tokens)
		}
		if got := c.Calibration.Apply(tt.raw); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Apply(%v) = %v, want %v", tt.family, tt.raw, got, tt.want)
		}
		if c.Output() != tt.output {
			t.Errorf("%s: Output() = %q, want %q", tt.family, c.Output(), tt.output)
		}
	}
	if _, err := Defaults("gpt2"); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Fatalf("Defaults(gpt2) = %v, want ErrUnsupported", err)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		family string
		mut    func(*Config)
	}{
		{"unknown family", FamilyZerank, func(c *Config) { c.Family = "llama" }},
		{"zero max length", FamilyZerank, func(c *Config) { c.MaxLength = 0 }},
		{"zero hidden", FamilyBertEmbedding, func(c *Config) { c.HiddenSize = 0 }},
		{"bad dtype", FamilyZerank, func(c *Config) { c.Dtype = "bf16" }},
		{"fp16 compute on fp32 weights", FamilyZerank, func(c *Config) { c.Compute = DtypeFP16 }},
		{"bad compute", FamilyZerank, func(c *Config) { c.Dtype, c.Compute = DtypeFP16, "int8" }},
		{"zerank two tokens", FamilyZerank, func(c *Config) { c.ScoreTokens = []int{1, 2} }},
		{"qwen3 one token", FamilyQwen3Reranker, func(c *Config) { c.ScoreTokens = []int{1} }},
		{"bert with tokens", FamilyBertCrossEncoder, func(c *Config) { c.ScoreTokens = []int{1} }},
		{"zero scale", FamilyZerank, func(c *Config) { c.Calibration.Scale = 0 }},
		{"cross-encoder uncalibrated", FamilyBertCrossEncoder, func(c *Config) { c.Calibration = Calibration{Kind: CalibrationNone} }},
		{"bad calibration", FamilyBertCrossEncoder, func(c *Config) { c.Calibration.Kind = "softmax" }},
		{"embedding without pooling", FamilyBertEmbedding, func(c *Config) { c.Pooling = PoolingNone }},
		{"cross-encoder pooling", FamilyZerank, func(c *Config) { c.Pooling = PoolingMean }},
		{"bad pooling", FamilyBertEmbedding, func(c *Config) { c.Pooling = "max" }},
		{"negative pad", FamilyBertEmbedding, func(c *Config) { c.PadTokenID = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t, tt.family)
			tt.mut(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, errdefs.ErrInvalidInput) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if err := Save(t.TempDir(), &c); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Save = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Load(empty dir) = %v, want ErrNotFound", err)
	}
	dir := t.TempDir()
	os.WriteFile(ConfigPath(dir), []byte(`{"family": "zerank",`), 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load(truncated json) = %v, want ErrInvalid", err)
	}
	os.WriteFile(ConfigPath(dir), []byte(`{"family": "zerank", "max_length": 10}`), 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Load(incomplete) = %v, want ErrInvalid", err)
	}
}
