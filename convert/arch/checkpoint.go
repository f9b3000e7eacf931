package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"twostage/convert/hf"
	"twostage/convert/safetensors"
	"twostage/errdefs"
	"twostage/internal/half"
)

// Checkpoint is a Source over a Hugging Face safetensors checkpoint: a
// canonical name is found as it is, or with the "model." (Qwen3) or "bert."
// (BERT) prefix.
type Checkpoint struct {
	ck *safetensors.Checkpoint
}

// NewCheckpoint wraps an opened checkpoint (the caller keeps closing it).
func NewCheckpoint(ck *safetensors.Checkpoint) *Checkpoint { return &Checkpoint{ck: ck} }

// Name is the stored name of canonical name, and whether it exists: as it
// is, or with the "model." or "bert." prefix; a LayerNorm's weight and bias
// also as gamma and beta (old BERT checkpoints). A missing name comes back
// with the checkpoint's prefix.
func (c *Checkpoint) Name(name string) (string, bool) {
	alts := []string{name}
	if b, ok := strings.CutSuffix(name, "LayerNorm.weight"); ok {
		alts = append(alts, b+"LayerNorm.gamma")
	} else if b, ok := strings.CutSuffix(name, "LayerNorm.bias"); ok {
		alts = append(alts, b+"LayerNorm.beta")
	}
	prefixes := []string{"", "model.", "bert."}
	for _, n := range alts {
		for _, p := range prefixes {
			if c.ck.Has(p + n) {
				return p + n, true
			}
		}
	}
	for _, p := range prefixes[1:] {
		if c.ck.Has(p+"embed_tokens.weight") || c.ck.Has(p+"embeddings.word_embeddings.weight") {
			return p + name, false
		}
	}
	return name, false
}

// Has reports whether the checkpoint holds canonical name.
func (c *Checkpoint) Has(name string) bool { _, ok := c.Name(name); return ok }

func (c *Checkpoint) info(name string) (*safetensors.Info, error) {
	n, ok := c.Name(name)
	if !ok {
		return nil, fmt.Errorf("arch: checkpoint has no tensor %q: %w", name, errdefs.ErrInvalidInput)
	}
	info, _ := c.ck.Info(n)
	return info, nil
}

// Float32 implements Source.
func (c *Checkpoint) Float32(name string) ([]float32, []int, error) {
	info, err := c.info(name)
	if err != nil {
		return nil, nil, err
	}
	v, _, err := c.ck.ReadFloat32(info.Name)
	if err != nil {
		return nil, nil, err
	}
	return v, dims(info), nil
}

// Rows implements Source.
func (c *Checkpoint) Rows(name string, rows []int) ([][]float32, error) {
	info, err := c.info(name)
	if err != nil {
		return nil, err
	}
	v, _, err := c.ck.ReadRows(info.Name, rows)
	return v, err
}

func dims(info *safetensors.Info) []int {
	d := make([]int, len(info.Shape))
	for i, x := range info.Shape {
		d[i] = int(x)
	}
	return d
}

// Dtypes a backend computes in, named as safetensors names them.
const (
	F32  = safetensors.F32
	F16  = safetensors.F16
	BF16 = safetensors.BF16
)

// Bytes returns canonical tensor name as little-endian values of dtype (F32,
// F16 or BF16), converting from the stored dtype when it differs, and its
// dimensions, checked against want.
func (c *Checkpoint) Bytes(name, dtype string, want []int) ([]byte, error) {
	info, err := c.info(name)
	if err != nil {
		return nil, err
	}
	if d := dims(info); fmt.Sprint(d) != fmt.Sprint(want) {
		return nil, fmt.Errorf("arch: tensor %s has shape %v, config.json implies %v: %w", name, d, want, errdefs.ErrInvalidInput)
	}
	if info.Dtype == dtype {
		b, _, err := c.ck.ReadRaw(info.Name)
		return b, err
	}
	v, _, err := c.ck.ReadFloat32(info.Name)
	if err != nil {
		return nil, err
	}
	return Encode(v, dtype), nil
}

// Encode writes v as little-endian F32, F16 or BF16 values.
func Encode(v []float32, dtype string) []byte {
	size := safetensors.DtypeSize(dtype)
	b := make([]byte, len(v)*size)
	for i, x := range v {
		switch dtype {
		case F32:
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		case F16:
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToF16(x))
		case BF16:
			binary.LittleEndian.PutUint16(b[2*i:], half.F32ToBF16(x))
		}
	}
	return b
}

// OpenReference opens the Hugging Face checkpoint in dir (config.json and
// its safetensors files) and returns a float64 evaluator of it as family,
// with the opened checkpoint, which the caller closes after the last Eval.
func OpenReference(dir, family string) (*Reference, *safetensors.Checkpoint, error) {
	cfg, err := hf.Read(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("arch: %w", err)
	}
	ck, err := safetensors.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("arch: %w", err)
	}
	src := NewCheckpoint(ck)
	m, err := NewModel(family, cfg, src.Has("lm_head.weight"))
	if err != nil {
		ck.Close()
		return nil, nil, err
	}
	return NewReference(m, src), ck, nil
}
