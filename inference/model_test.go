package inference_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"twostage/errdefs"
	"twostage/inference"
	"twostage/internal/leaktest"
	"twostage/internal/testassets"
)

// fake is a backend whose executor scores a row as the sum of its real
// token ids (Score) or returns hidden states id*10+k for each token and
// width k (Embed), rounds shapes up to buckets of bucket rows and columns,
// and records what it sees.
type fake struct {
	bucket int
	sig    inference.Signature
	fail   error // returned by the next Run, then cleared

	mu      sync.Mutex
	opens   int
	closes  int
	batches []inference.Batch
}

func (f *fake) Open(path string, task inference.Task, o *inference.ModelOptions) (inference.Executor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	return &fakeExec{f: f, task: task}, nil
}

type fakeExec struct {
	f    *fake
	task inference.Task
}

func (x *fakeExec) Signature() inference.Signature { return x.f.sig }

func (x *fakeExec) Shape(rows, seq int) (int, int) {
	b := max(x.f.bucket, 1)
	return (rows + b - 1) / b * b, (seq + b - 1) / b * b
}

func (x *fakeExec) Run(_ context.Context, b *inference.Batch) (*inference.Output, error) {
	x.f.mu.Lock()
	x.f.batches = append(x.f.batches, *b)
	err := x.f.fail
	x.f.fail = nil
	x.f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if x.task == inference.Score {
		out := &inference.Output{Data: make([]float32, b.Rows), Width: 1}
		for r := range b.Rows {
			if b.Prefixes != nil {
				for _, id := range b.Prefixes[b.PrefixOf[r]] {
					out.Data[r] += float32(id)
				}
			}
			for s := range b.Seq {
				out.Data[r] += float32(b.IDs[r*b.Seq+s] * b.Mask[r*b.Seq+s])
			}
		}
		return out, nil
	}
	w := x.f.sig.Width
	out := &inference.Output{Data: make([]float32, b.Rows*b.Seq*w), Width: w}
	for i, id := range b.IDs {
		for k := range w {
			out.Data[i*w+k] = float32(id*10) + float32(k)
		}
	}
	return out, nil
}

func (x *fakeExec) Close() error {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.closes++
	return nil
}

// modelFile returns an existing (empty) file to open.
func modelFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newRuntime(t *testing.T, f *fake, defaults inference.ModelOptions) *inference.Runtime {
	t.Helper()
	rt, err := inference.New(&inference.Options{Defaults: defaults, Backends: map[string]inference.Backend{"fake": f}})
	if err != nil {
		t.Fatal(err)
	}
	leaktest.Close(t, rt)
	return rt
}

// openFake opens a model of task (padded with padID) on the fake backend f
// under a new runtime with defaults, closed at the test's end.
func openFake(t *testing.T, f *fake, defaults inference.ModelOptions, task inference.Task, padID int64) (*inference.Runtime, *inference.Model) {
	t.Helper()
	rt := newRuntime(t, f, defaults)
	m, err := rt.Open(modelFile(t), task, padID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt, m
}

func inputs(lens ...int) []inference.Input {
	out := make([]inference.Input, len(lens))
	for i, n := range lens {
		out[i].IDs = make([]int64, n)
		for j := range out[i].IDs {
			out[i].IDs[j] = int64(i + 1)
		}
	}
	return out
}

// TestPaddingAndBuckets: rows are right-padded with the pad id and mask 0,
// the executor's bucket shape is honoured (padding rows included), each
// caller gets its own rows' outputs, and bucket padding counts in Stats.
func TestPaddingAndBuckets(t *testing.T) {
	f := &fake{bucket: 4, sig: inference.Signature{Mask: true, Width: 1}}
	_, m := openFake(t, f, inference.ModelOptions{Provider: "fake", MaxWait: -1}, inference.Score, 7)
	defer m.Close()
	in := inputs(3, 1, 5)
	got, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range in {
		if want := float32(len(x.IDs) * (i + 1)); len(got[i]) != 1 || got[i][0] != want {
			t.Errorf("input %d: output %v, want [%v]", i, got[i], want)
		}
	}
	real, computed := 0, 0
	for _, b := range f.batches {
		if b.Rows%4 != 0 || b.Seq%4 != 0 || b.Real > b.Rows {
			t.Errorf("batch %dx%d (real %d): not rounded to the bucket of 4", b.Rows, b.Seq, b.Real)
		}
		for r := range b.Rows {
			n := b.Lens[r]
			if r >= b.Real && n != 0 {
				t.Errorf("padding row %d has %d real tokens", r, n)
			}
			for s := range b.Seq {
				id, mask := b.IDs[r*b.Seq+s], b.Mask[r*b.Seq+s]
				if s >= n && (id != 7 || mask != 0) {
					t.Fatalf("row %d position %d: id %d mask %d, want pad 7 and mask 0", r, s, id, mask)
				}
				if s < n && mask != 1 {
					t.Fatalf("row %d position %d: real token with mask %d", r, s, mask)
				}
			}
			real += n
		}
		computed += b.Rows * b.Seq
	}
	st := m.Stats()
	if st.Calls != 1 || st.Items != 3 || st.RealTokens != int64(real) || st.PaddedTokens != int64(computed) {
		t.Fatalf("stats %+v: want 1 call, 3 items, %d real and %d computed tokens", st, real, computed)
	}
	if st.Fill() >= 1 {
		t.Fatalf("fill %v: bucket padding does not show", st.Fill())
	}
}

// TestHiddenStates: an Embed model's per-input output is the hidden states
// of its real tokens only.
func TestHiddenStates(t *testing.T) {
	f := &fake{sig: inference.Signature{Mask: true, Width: 3}}
	_, m := openFake(t, f, inference.ModelOptions{Provider: "fake", MaxWait: -1}, inference.Embed, 0)
	defer m.Close()
	in := inputs(2, 4)
	got, err := m.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range in {
		if len(got[i]) != len(x.IDs)*3 {
			t.Fatalf("input %d: %d values, want %d", i, len(got[i]), len(x.IDs)*3)
		}
		for j, v := range got[i] {
			if want := float32((i+1)*10 + j%3); v != want {
				t.Fatalf("input %d value %d: %v, want %v", i, j, v, want)
			}
		}
	}
}

// TestSharingAndBatching: Opens of one file with the same backend fields
// share a model; a differing non-zero batching field fails instead of
// being dropped; zero fields take the loaded model's; the last Close
// unloads it.
func TestSharingAndBatching(t *testing.T) {
	f := &fake{sig: inference.Signature{Mask: true, Width: 1}}
	rt := newRuntime(t, f, inference.ModelOptions{Provider: "fake"})
	path := modelFile(t)
	a, err := rt.Open(path, inference.Score, 0, &inference.ModelOptions{MaxBatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Options().MaxBatchSize; got != 8 {
		t.Fatalf("MaxBatchSize %d, want 8", got)
	}
	if got := a.Options().MaxQueue; got != inference.DefaultMaxQueue {
		t.Fatalf("MaxQueue %d, want the default %d", got, inference.DefaultMaxQueue)
	}
	for _, tc := range []struct {
		name string
		o    *inference.ModelOptions
		want string
	}{
		{"batch size", &inference.ModelOptions{MaxBatchSize: 16}, "MaxBatchSize 8, not 16"},
		{"queue", &inference.ModelOptions{MaxQueue: 5}, "MaxQueue"},
		{"grouping", &inference.ModelOptions{NoLengthGrouping: true}, "NoLengthGrouping"},
	} {
		if _, err := rt.Open(path, inference.Score, 0, tc.o); !errors.Is(err, errdefs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrInvalidInput saying %q", tc.name, err, tc.want)
		}
	}
	b, err := rt.Open(path, inference.Score, 0, nil) // zero fields: the loaded model's
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.Open(path, inference.Score, 0, &inference.ModelOptions{IntraOpThreads: 1}) // another backend config
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(context.Background(), inputs(2)); err != nil {
		t.Fatal(err)
	}
	if a.Stats().Items != 1 || c.Stats().Items != 0 {
		t.Fatalf("a counts %d items, c %d; want 1 (shared with b) and 0", a.Stats().Items, c.Stats().Items)
	}
	if err := errors.Join(a.Close(), b.Close(), c.Close()); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); !errors.Is(err, errdefs.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	d, err := rt.Open(path, inference.Score, 0, &inference.ModelOptions{MaxBatchSize: 16}) // unloaded: new batching is fine
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if f.opens != 3 || f.closes != 2 {
		t.Fatalf("%d executors opened, %d closed; want 3 and 2", f.opens, f.closes)
	}
}

// TestErrorsAndClose: an executor's error fails its batch's calls and the
// model goes on; Runtime.Close stops open models and refuses later work;
// the default runtime cannot be closed.
func TestErrorsAndClose(t *testing.T) {
	f := &fake{sig: inference.Signature{Mask: true, Width: 1}}
	rt, m := openFake(t, f, inference.ModelOptions{Provider: "fake", MaxWait: -1}, inference.Score, 0)
	boom := errors.New("device lost")
	f.mu.Lock()
	f.fail = boom
	f.mu.Unlock()
	if _, err := m.Run(context.Background(), inputs(3)); !errors.Is(err, boom) {
		t.Fatalf("failed batch: %v, want the executor's error", err)
	}
	if _, err := m.Run(context.Background(), inputs(3)); err != nil {
		t.Fatalf("after a failed batch: %v", err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if f.closes != 1 {
		t.Fatalf("executor closed %d times, want 1", f.closes)
	}
	if _, err := m.Run(context.Background(), inputs(1)); !errors.Is(err, errdefs.ErrClosed) {
		t.Fatalf("Run after the runtime's Close: %v, want ErrClosed", err)
	}
	if _, err := rt.Open(modelFile(t), inference.Score, 0, nil); !errors.Is(err, errdefs.ErrClosed) {
		t.Fatalf("Open after Close: %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil || f.closes != 1 {
		t.Fatalf("handle Close after the runtime's: %v, executor closed %d times", err, f.closes)
	}
	if err := inference.Default().Close(); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Fatalf("closing the default runtime: %v, want ErrInvalidInput", err)
	}
}

// TestStream: a long call is built and queued chunk by chunk, its outputs
// in input order, counted as one call.
func TestStream(t *testing.T) {
	f := &fake{sig: inference.Signature{Mask: true, Width: 1}}
	_, m := openFake(t, f, inference.ModelOptions{Provider: "fake", MaxBatchSize: 4}, inference.Score, 0)
	defer m.Close()
	const n = 1000
	var chunks int
	got, err := m.Stream(context.Background(), n, func(lo, hi int) []inference.Input {
		chunks++
		out := make([]inference.Input, hi-lo)
		for i := range out {
			out[i].IDs = []int64{int64(lo + i), 1}
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v[0] != float32(i+1) {
			t.Fatalf("output %d: %v, want %d", i, v, i+1)
		}
	}
	if chunks < 2 || m.Stats().Calls != 1 {
		t.Fatalf("%d chunks, %d calls; want several chunks in one call", chunks, m.Stats().Calls)
	}
}

// TestStreamErrors: Stream past one chunk (128 inputs here) fails with an
// input's bad prefix (building stops at its chunk), a failed batch's error,
// or the caller's ctx ending before it starts (nothing built).
func TestStreamErrors(t *testing.T) {
	errBoom := errors.New("boom")
	const n = 1000
	for _, tc := range []struct {
		name   string
		bad    int // the input whose prefix leaves it no token (-1: none)
		fail   error
		cancel bool
		want   error
		chunks int // chunks built; -1: any
	}{
		{"bad prefix in the third chunk", 300, nil, false, errdefs.ErrInvalidInput, 3},
		{"failed batch", -1, errBoom, false, errBoom, -1},
		{"cancelled", -1, nil, true, context.Canceled, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{sig: inference.Signature{Mask: true, Width: 1}, fail: tc.fail}
			_, m := openFake(t, f, inference.ModelOptions{Provider: "fake", MaxBatchSize: 4}, inference.Score, 0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			var chunks int
			_, err := m.Stream(ctx, n, func(lo, hi int) []inference.Input {
				chunks++
				out := make([]inference.Input, hi-lo)
				for i := range out {
					out[i].IDs = []int64{int64(lo + i), 1}
					if lo+i == tc.bad {
						out[i].Prefix = 2
					}
				}
				return out
			})
			if !errors.Is(err, tc.want) {
				t.Errorf("Stream: %v, want %v", err, tc.want)
			}
			if tc.chunks >= 0 && chunks != tc.chunks {
				t.Errorf("%d chunks built, want %d", chunks, tc.chunks)
			}
			if c := m.Stats().Calls; c != 1 {
				t.Errorf("%d calls counted, want 1", c)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	f := &fake{bucket: 1, sig: inference.Signature{Width: 1}}
	rt := newRuntime(t, f, inference.ModelOptions{})
	path := modelFile(t)
	for _, tc := range []struct {
		name string
		path string
		o    *inference.ModelOptions
		want error
	}{
		{"unknown provider", path, &inference.ModelOptions{Provider: "tpu"}, errdefs.ErrInvalidInput},
		{"negative threads", path, &inference.ModelOptions{IntraOpThreads: -1}, errdefs.ErrInvalidInput},
		{"missing file", filepath.Join(t.TempDir(), "none.onnx"), nil, errdefs.ErrNotFound},
	} {
		if m, err := rt.Open(tc.path, inference.Score, 0, tc.o); !errors.Is(err, tc.want) {
			if m != nil {
				m.Close()
			}
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := inference.New(&inference.Options{Backends: map[string]inference.Backend{"": f}}); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("unnamed backend: %v", err)
	}
	if !errors.Is(inference.ErrModel, errdefs.ErrInvalidInput) {
		t.Error("ErrModel does not wrap errdefs.ErrInvalidInput")
	}
}

// TestTokenizerCache: a runtime loads a tokenizer file once; a nil
// runtime stands for Default; a missing file is ErrNotFound.
func TestTokenizerCache(t *testing.T) {
	path := testassets.BertTokenizer(t)
	rt := newRuntime(t, &fake{}, inference.ModelOptions{})
	a, err := rt.Tokenizer(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.Tokenizer(path)
	if err != nil || a != b {
		t.Fatalf("second load: %p, %v; want the cached %p", b, err, a)
	}
	var none *inference.Runtime
	if c, err := none.Tokenizer(path); err != nil || c == a {
		t.Fatalf("nil runtime: %p, %v; want Default's own copy", c, err)
	}
	if _, err := rt.Tokenizer(filepath.Join(t.TempDir(), "tokenizer.json")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing file: %v, want ErrNotFound", err)
	}
}
