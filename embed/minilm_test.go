package embed

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"twostage/convert"
	"twostage/internal/testassets"
	"twostage/modeldir"
)

// miniLMFixture is embed/testdata/minilm.json, written by
// scripts/minilm_fixture.py with sentence-transformers on the real weights.
type miniLMFixture struct {
	Model        string `json:"model"`
	Revision     string `json:"revision"`
	MaxSeqLength int    `json:"max_seq_length"`
	Dim          int    `json:"dim"`
	Cases        []struct {
		Text   string `json:"text"`
		IDs    string `json:"ids"`    // base64, little-endian uint16
		Vector string `json:"vector"` // base64, little-endian float16
	} `json:"cases"`
}

func loadMiniLMFixture(t *testing.T) *miniLMFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "minilm.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx miniLMFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) < 100 {
		t.Fatalf("fixture holds %d texts, want at least 100", len(fx.Cases))
	}
	return &fx
}

func decodeB64(t *testing.T, s string, size int) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%size != 0 {
		t.Fatalf("bad fixture field (%d bytes): %v", len(b), err)
	}
	return b
}

// f16 widens an IEEE 754 half to float32.
func f16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: frac * 2^-24
		v := float32(frac) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// TestONNXRealMiniLM converts the real all-MiniLM-L6-v2 weights with the
// project's convert and embeds the fixture's texts (short, past 256 tokens,
// many scripts, code, special-token look-alikes, control characters): token
// ids equal Hugging Face's tokenizer's exactly (truncated at
// max_seq_length 256, which convert reads from sentence_bert_config.json)
// and every vector has cosine >= 0.99999 with sentence-transformers' output.
func TestONNXRealMiniLM(t *testing.T) {
	testassets.ONNXRuntime(t)
	src := testassets.MiniLM(t)
	fx := loadMiniLMFixture(t)
	dir := filepath.Join(t.TempDir(), "all-MiniLM-L6-v2")
	mc, err := convert.Convert(context.Background(), src, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mc.MaxLength != fx.MaxSeqLength || mc.Pooling != modeldir.PoolingMean || !mc.Normalize || mc.HiddenSize != fx.Dim {
		t.Fatalf("converted config: max_length %d, pooling %s, normalize %v, hidden %d; want %d, mean, true, %d",
			mc.MaxLength, mc.Pooling, mc.Normalize, mc.HiddenSize, fx.MaxSeqLength, fx.Dim)
	}
	e, err := NewONNX(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if e.Dim() != fx.Dim || e.MaxLength() != fx.MaxSeqLength {
		t.Fatalf("embedder dim %d, max length %d; want %d, %d", e.Dim(), e.MaxLength(), fx.Dim, fx.MaxSeqLength)
	}

	texts := make([]string, len(fx.Cases))
	truncated := 0
	for i, c := range fx.Cases {
		texts[i] = c.Text
		raw := decodeB64(t, c.IDs, 2)
		want := make([]int64, len(raw)/2)
		for j := range want {
			want[j] = int64(binary.LittleEndian.Uint16(raw[2*j:]))
		}
		if len(want) == fx.MaxSeqLength {
			truncated++
		}
		enc, err := e.encode(c.Text)
		if err != nil {
			t.Errorf("text %d %.40q: %v", i, c.Text, err)
			continue
		}
		if d := firstDiff(enc.IDs, want); d >= 0 {
			t.Errorf("text %d %.60q: %d ids, want %d; first difference at %d: got %v, want %v",
				i, c.Text, len(enc.IDs), len(want), d, window(enc.IDs, d), window(want, d))
		}
	}
	if truncated < 5 {
		t.Errorf("%d fixture texts reach max_seq_length, want at least 5 (truncation untested)", truncated)
	}

	got, err := e.EmbedDocuments(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	worst, worstAt := 1.0, -1
	for i, c := range fx.Cases {
		raw := decodeB64(t, c.Vector, 2)
		want := make([]float32, len(raw)/2)
		for j := range want {
			want[j] = f16(binary.LittleEndian.Uint16(raw[2*j:]))
		}
		if len(got[i]) != len(want) {
			t.Fatalf("text %d: %d dimensions, want %d", i, len(got[i]), len(want))
		}
		cos := cosine(got[i], want)
		if cos < worst {
			worst, worstAt = cos, i
		}
		if cos < 0.99999 {
			t.Errorf("text %d %.60q: cosine %.7f with sentence-transformers, want >= 0.99999", i, c.Text, cos)
		}
		if n := norm(got[i]); math.Abs(n-1) > 1e-5 {
			t.Errorf("text %d: norm %.7f, want 1", i, n)
		}
	}
	t.Logf("%d texts, %d truncated at %d tokens; lowest cosine %.8f (text %d)", len(texts), truncated, fx.MaxSeqLength, worst, worstAt)
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func window(v []int64, at int) []int64 {
	return v[max(0, at-3):min(len(v), at+4)]
}
