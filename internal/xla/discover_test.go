package xla

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostage/errdefs"
)

func TestFindPlugin(t *testing.T) {
	tmp := t.TempDir()
	write := func(rel string) string {
		p := filepath.Join(tmp, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not a plugin"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deps := write("repo/.deps/pjrt/pjrt_c_api_cpu_plugin.so")
	envDir := write("env/pjrt_c_api_cpu_plugin.so")
	jax := write("site/jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	wd := filepath.Join(tmp, "repo", "a", "b")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, platform, env, wd, want string
	}{
		{"env directory first", PlatformCPU, filepath.Dir(envDir), wd, envDir},
		{"env list, empty entries skipped", PlatformCPU, ":" + filepath.Join(tmp, "none") + ":" + filepath.Dir(envDir), wd, envDir},
		{"env file", PlatformCPU, envDir, wd, envDir},
		{".deps in a parent", PlatformCPU, "", wd, deps},
		{"jax cuda plugin by directory", PlatformCUDA, filepath.Dir(jax), wd, jax},
		{"jax cuda plugin by file", PlatformCUDA, jax, "", jax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindPlugin(tc.platform, tc.env, tc.wd)
			if err != nil || got != tc.want {
				t.Errorf("FindPlugin = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	// Nothing for cuda: the error names every place searched, and wraps
	// ErrNoPlugin and ErrUnsupported. The cpu plugin is never taken instead.
	_, err := FindPlugin(PlatformCUDA, filepath.Dir(envDir), wd)
	if !errors.Is(err, ErrNoPlugin) || !errors.Is(err, errdefs.ErrUnsupported) {
		t.Fatalf("cuda with only cpu plugins: %v, want ErrNoPlugin", err)
	}
	for _, want := range []string{filepath.Dir(envDir), filepath.Join(tmp, "repo", ".deps", "pjrt"), filepath.Join(wd, ".deps", "pjrt"), "/usr/local/lib/go-xla", "pjrt_c_api_cuda_plugin.so or xla_cuda_plugin.so"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	// A plugin file of another platform named directly is refused.
	if _, err := FindPlugin(PlatformCUDA, envDir, ""); !errors.Is(err, ErrNoPlugin) || !strings.Contains(err.Error(), "not a cuda plugin") {
		t.Errorf("cpu plugin file for cuda: %v", err)
	}
	if _, err := FindPlugin("tpu", "", wd); !errors.Is(err, errdefs.ErrInvalidInput) {
		t.Errorf("unknown platform: %v, want ErrInvalidInput", err)
	}
}

func TestBuckets(t *testing.T) {
	tests := []struct{ b, s, maxLen, B, S int }{
		{1, 1, 512, 1, 16},
		{3, 17, 512, 3, 24},
		{5, 100, 512, 6, 128},
		{9, 300, 512, 12, 384},
		{32, 400, 512, 32, 512},
		{17, 500, 500, 24, 500},
		{2, 40, 0, 2, 48},
	}
	for _, tc := range tests {
		if B, S := Buckets(tc.b, tc.s, tc.maxLen); B != tc.B || S != tc.S {
			t.Errorf("Buckets(%d, %d, %d) = %d, %d; want %d, %d", tc.b, tc.s, tc.maxLen, B, S, tc.B, tc.S)
		}
	}
}

// TestFindPluginTwostageDeps: $TWOSTAGE_DEPS/pjrt is searched as ONNX
// Runtime's lookup searches $TWOSTAGE_DEPS/lib, so the binary finds both
// outside the repository with one variable.
func TestFindPluginTwostageDeps(t *testing.T) {
	deps := t.TempDir()
	p := filepath.Join(deps, "pjrt", "pjrt_c_api_cpu_plugin.so")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("not a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TWOSTAGE_DEPS", deps)
	if got, err := FindPlugin(PlatformCPU, "", t.TempDir()); err != nil || got != p {
		t.Errorf("FindPlugin = %q, %v; want %q", got, err, p)
	}
}
