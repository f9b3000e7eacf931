//go:build xla

package xla_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"twostage/convert/arch"
	"twostage/convert/safetensors"
	"twostage/errdefs"
	"twostage/internal/testassets"
	"twostage/internal/tinymodel"
	"twostage/internal/xla"
	"twostage/modeldir"
)

// plugin skips or fails (under TWOSTAGE_REQUIRE_DEPS=1) without the CPU plugin.
func plugin(t *testing.T) {
	t.Helper()
	testassets.PJRTCPUPlugin(t)
}

func open(t *testing.T, dir string, o *xla.Options) *xla.Executor {
	t.Helper()
	plugin(t)
	e, err := xla.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// batch right-pads rows into [B, S] ids, mask and types (types: 1 from the
// fourth token on, as a second segment).
func batch(rows [][]int64, pad int64) (ids, mask, types []int64, B, S int) {
	B = len(rows)
	for _, r := range rows {
		S = max(S, len(r))
	}
	ids, mask, types = make([]int64, B*S), make([]int64, B*S), make([]int64, B*S)
	for b, r := range rows {
		for s := 0; s < S; s++ {
			ids[b*S+s] = pad
			if s < len(r) {
				ids[b*S+s], mask[b*S+s] = r[s], 1
				if s >= 3 {
					types[b*S+s] = 1
				}
			}
		}
	}
	return
}

var rows = [][]int64{
	{101, 2054, 2003, 1037, 3231, 102, 1037, 3231, 102, 2023, 2003},
	{101, 7592, 102, 2088, 102},
	{101, 102},
	{151, 9454, 2152, 9693, 7, 8, 9},
}

func reference(t *testing.T, dir, family string) *arch.Reference {
	t.Helper()
	ref, ck, err := arch.OpenReference(dir, family)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	return ref
}

// TestFamiliesMatchReference: every family in fp32 within 1e-4 of the
// float64 evaluation of the same definition, on a padded batch.
func TestFamiliesMatchReference(t *testing.T) {
	specs := []tinymodel.Spec{
		{Family: modeldir.FamilyZerank, Seed: 5},
		{Family: modeldir.FamilyQwen3Reranker, Seed: 6, Untied: true, Shards: 2},
		{Family: modeldir.FamilyBertCrossEncoder, Seed: 7, Dtype: safetensors.F16},
		{Family: modeldir.FamilyBertEmbedding, Seed: 8, Dtype: safetensors.F32},
	}
	for _, spec := range specs {
		t.Run(spec.Family, func(t *testing.T) {
			dir := tinymodel.Checkpoint(t, spec)
			e := open(t, dir, &xla.Options{Family: spec.Family})
			ids, mask, types, B, S := batch(rows, int64(e.Describe().PadTokenID))
			if modeldir.IsDecoder(spec.Family) {
				types = nil
			}
			want, err := reference(t, dir, spec.Family).Eval(ids, mask, types, B, S)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Family == modeldir.FamilyBertEmbedding {
				got, err := e.Hidden(context.Background(), ids, mask, types, B, S)
				if err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for i, g := range got {
					if mask[i/want.Dims[2]] == 1 {
						worst = max(worst, math.Abs(float64(g)-want.Data[i]))
					}
				}
				if worst > 1e-4 {
					t.Errorf("hidden states differ by %g, want <= 1e-4", worst)
				}
				return
			}
			got, err := e.Run(context.Background(), ids, mask, types, B, S)
			if err != nil {
				t.Fatal(err)
			}
			for b := range got {
				if d := math.Abs(got[b] - want.Data[b]); d > 1e-4 {
					t.Errorf("row %d: %v, reference %v (diff %g > 1e-4)", b, got[b], want.Data[b], d)
				}
			}
		})
	}
}

// TestReducedPrecision: bf16 and fp16 stay near the float64 scores (the
// tiny model's logits are O(1); bf16 has 8 bits of mantissa).
func TestReducedPrecision(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	ids, mask, _, B, S := batch(rows, 151643)
	want, err := reference(t, dir, modeldir.FamilyZerank).Eval(ids, mask, nil, B, S)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		compute string
		tol     float64
	}{{xla.ComputeBF16, 0.05}, {xla.ComputeFP16, 0.01}} {
		e := open(t, dir, &xla.Options{Compute: c.compute})
		got, err := e.Run(context.Background(), ids, mask, nil, B, S)
		if err != nil {
			t.Fatal(err)
		}
		for b := range got {
			if d := math.Abs(got[b] - want.Data[b]); d > c.tol || d == 0 {
				t.Errorf("%s row %d: %v, reference %v (diff %g, want in (0, %g])", c.compute, b, got[b], want.Data[b], d, c.tol)
			}
		}
	}
}

// TestPaddingAndBucketInvariance: a row's score does not depend on its
// batch, its padding, or the bucket that runs it.
func TestPaddingAndBucketInvariance(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	exact := open(t, dir, &xla.Options{Shape: func(b, s int) (int, int) { return b, s }})
	wide := open(t, dir, &xla.Options{Shape: func(b, s int) (int, int) { return b + 3, s + 29 }})
	ctx := context.Background()
	ids, mask, _, B, S := batch(rows, 151643)
	all, err := exact.Run(ctx, ids, mask, nil, B, S)
	if err != nil {
		t.Fatal(err)
	}
	padded, err := wide.Run(ctx, ids, mask, nil, B, S)
	if err != nil {
		t.Fatal(err)
	}
	for b, r := range rows {
		alone, err := exact.Run(ctx, r, ones(len(r)), nil, 1, len(r))
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []float64{all[b], padded[b]} {
			if d := math.Abs(got - alone[0]); d > 1e-5 {
				t.Errorf("row %d: %v in a batch, %v alone (diff %g)", b, got, alone[0], d)
			}
		}
	}
	if B2, S2 := wide.Shape(2, 10); B2 != 5 || S2 != 39 {
		t.Errorf("Shape hook: %d, %d", B2, S2)
	}
}

func ones(n int) []int64 {
	m := make([]int64, n)
	for i := range m {
		m[i] = 1
	}
	return m
}

// TestConcurrentCallers: 8 goroutines get the scores one caller gets.
func TestConcurrentCallers(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	e := open(t, dir, nil)
	ctx := context.Background()
	ids, mask, _, B, S := batch(rows, 151643)
	want, err := e.Run(ctx, ids, mask, nil, B, S)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*4)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				got, err := e.Run(ctx, ids, mask, nil, B, S)
				if err != nil {
					errs <- err
					return
				}
				for b := range got {
					if got[b] != want[b] {
						errs <- errors.New("scores differ between callers")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCloseUnderLoad: Close waits for the runs in flight; every caller
// returns, with scores or ErrClosed.
func TestCloseUnderLoad(t *testing.T) {
	plugin(t)
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	e, err := xla.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, mask, _, B, S := batch(rows, 151643)
	ctx := context.Background()
	if _, err := e.Run(ctx, ids, mask, nil, B, S); err != nil { // compiled
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	closedSeen := make([]bool, 8)
	started := make(chan struct{}, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			for {
				_, err := e.Run(ctx, ids, mask, nil, B, S)
				if errors.Is(err, errdefs.ErrClosed) {
					closedSeen[g] = true
					return
				}
				if err != nil {
					t.Errorf("caller %d: %v", g, err)
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-started
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for g, ok := range closedSeen {
		if !ok {
			t.Errorf("caller %d did not end with ErrClosed", g)
		}
	}
	if err := e.Close(); !errors.Is(err, errdefs.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

func TestBadInputs(t *testing.T) {
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	e := open(t, dir, nil)
	ctx := context.Background()
	tests := []struct {
		name       string
		ids, mask  []int64
		b, s       int
		want       error
		cancelled  bool
		wantCtxErr bool
	}{
		{"id past the vocabulary", []int64{1, tinymodel.Qwen3Vocab}, []int64{1, 1}, 1, 2, errdefs.ErrInvalidInput, false, false},
		{"negative id", []int64{-1}, []int64{1}, 1, 1, errdefs.ErrInvalidInput, false, false},
		{"size mismatch", []int64{1, 2, 3}, []int64{1, 1}, 1, 3, errdefs.ErrInvalidInput, false, false},
		{"empty row", []int64{1, 2}, []int64{0, 0}, 1, 2, errdefs.ErrInvalidInput, false, false},
		{"bad mask value", []int64{1, 2}, []int64{1, 2}, 1, 2, errdefs.ErrInvalidInput, false, false},
		{"empty batch", nil, nil, 0, 0, errdefs.ErrInvalidInput, false, false},
		{"cancelled", []int64{1}, []int64{1}, 1, 1, context.Canceled, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ctx
			if tc.cancelled {
				cc, cancel := context.WithCancel(ctx)
				cancel()
				c = cc
			}
			if _, err := e.Run(c, tc.ids, tc.mask, nil, tc.b, tc.s); !errors.Is(err, tc.want) {
				t.Errorf("Run: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := e.Hidden(ctx, []int64{1}, []int64{1}, nil, 1, 1); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("Hidden on a cross-encoder: %v, want ErrUnsupported", err)
	}
}

func TestOpenErrors(t *testing.T) {
	plugin(t)
	dir := tinymodel.Checkpoint(t, tinymodel.Spec{Family: modeldir.FamilyZerank, Seed: 5})
	tmp := t.TempDir()
	fake := filepath.Join(tmp, "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(fake, []byte("not a shared object"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := ""
	tests := []struct {
		name string
		dir  string
		o    xla.Options
		want error
	}{
		{"no plugin anywhere", dir, xla.Options{PluginEnv: &empty, WorkDir: tmp, Platform: xla.PlatformCUDA}, errdefs.ErrUnsupported},
		{"plugin that does not load", dir, xla.Options{PluginEnv: &fake}, xla.ErrNoPlugin},
		{"bad compute", dir, xla.Options{Compute: "int8"}, errdefs.ErrInvalidInput},
		{"family of another architecture", dir, xla.Options{Family: modeldir.FamilyBertCrossEncoder}, errdefs.ErrUnsupported},
		{"no checkpoint", tmp, xla.Options{}, errdefs.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := xla.Open(tc.dir, &tc.o)
			if !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
			if e != nil {
				e.Close()
			}
		})
	}
}
