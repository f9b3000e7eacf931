package half

import (
	"math"
	"testing"
)

func TestF16RoundTripAll(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f { // NaN
			if g := F32ToF16(f); F16ToF32(g) == F16ToF32(g) {
				t.Fatalf("NaN %#04x came back as %#04x", h, g)
			}
			continue
		}
		if g := F32ToF16(f); g != uint16(h) {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)=%v) = %#04x", h, f, g)
		}
	}
}

func TestF16Values(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {1e-8, 0},
		{float32(math.Ldexp(1, -24)), 0x0001}, {0.1, 0x2e66}, {1.0009765625, 0x3c01},
		{1.00048828125, 0x3c00}, // tie rounds to even
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, tt := range tests {
		if got := F32ToF16(tt.f); got != tt.want {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", tt.f, got, tt.want)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3f80}, {-2, 0xc000}, {3.14159, 0x4049}, {float32(math.Inf(1)), 0x7f80},
	}
	for _, tt := range tests {
		if got := F32ToBF16(tt.f); got != tt.want {
			t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", tt.f, got, tt.want)
		}
		if back := BF16ToF32(tt.want); math.Abs(float64(back-tt.f)) > 0.01*math.Abs(float64(tt.f)) && !math.IsInf(float64(tt.f), 0) {
			t.Errorf("BF16ToF32(%#04x) = %v, want about %v", tt.want, back, tt.f)
		}
	}
	if f := BF16ToF32(F32ToBF16(float32(math.NaN()))); f == f {
		t.Error("NaN lost")
	}
}
