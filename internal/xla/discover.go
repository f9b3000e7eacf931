// Package xla runs the architectures of package convert/arch on OpenXLA's
// PJRT runtime: it finds and loads a PJRT plugin (CPU, or JAX's CUDA
// plugin), keeps one reference-counted client per plugin and device,
// compiles one StableHLO program per (model, bucket shape) once, uploads a
// checkpoint's weights once as device buffers, and runs right-padded batches
// of token ids to raw per-row scores (or hidden states). A decoder's rows
// may continue shared prefixes (RunPrefixed): the distinct prefixes run
// once, as a prefix program whose per-layer keys and values stay on the
// device as the past that the rows' continuation program takes.
//
// It is the only package that touches PJRT. The runtime needs cgo and the
// build tag xla; without the tag Open returns an error saying so, and the
// rest of the module builds and vets as usual.
//
// Plugins are found, in order: in PJRT_PLUGIN_LIBRARY_PATH (a plugin file or
// a colon-separated list of directories), in $TWOSTAGE_DEPS/pjrt, in
// .deps/pjrt of the working directory or a parent, then in go-xla's own search directories
// (~/.local/lib/go-xla, /usr/local/lib/go-xla, ...). A plugin is a file
// named pjrt_c_api_<platform>_plugin.so; for cuda, JAX's xla_cuda_plugin.so
// too. A platform whose plugin is missing or does not load fails Open with
// an error wrapping errdefs.ErrUnsupported that lists every place searched:
// there is never a fallback to another device.
package xla

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"twostage/errdefs"
)

// Platforms.
const (
	// PlatformCPU is XLA's CPU plugin.
	PlatformCPU = "cpu"
	// PlatformCUDA is XLA's CUDA plugin (JAX's jax-cuda13-pjrt or
	// jax-cuda12-pjrt wheel).
	PlatformCUDA = "cuda"
)

// PluginEnv names the plugin file or the directories to search first.
const PluginEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// DepsEnv names the project's asset directory (.deps, as scripts/deps.sh
// fills it), searched second: $TWOSTAGE_DEPS/pjrt.
const DepsEnv = "TWOSTAGE_DEPS"

// ErrNoPlugin is wrapped by Open's error when no loadable plugin was found.
var ErrNoPlugin = errdefs.New("xla: no PJRT plugin", errdefs.ErrUnsupported)

// pluginNames are the file names of platform's plugin, in order of preference.
func pluginNames(platform string) []string {
	names := []string{"pjrt_c_api_" + platform + "_plugin.so"}
	if platform == PlatformCUDA {
		names = append(names, "xla_cuda_plugin.so")
	}
	return names
}

// defaultDirs are go-xla's own search directories (its defaults when
// PJRT_PLUGIN_LIBRARY_PATH is unset).
func defaultDirs() []string {
	var dirs []string
	if home, err := os.UserHomeDir(); err == nil {
		g := filepath.Join(home, ".local", "lib", "go-xla")
		dirs = append(dirs, g, filepath.Join(g, "nvidia"), filepath.Join(home, ".local", "lib", "gomlx", "pjrt"))
	}
	return append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt")
}

// FindPlugin returns the path of platform's plugin. env is the value of
// PJRT_PLUGIN_LIBRARY_PATH ("" when unset), then $TWOSTAGE_DEPS/pjrt is
// searched, and wd is the directory whose .deps/pjrt (or a parent's) is. The error wraps ErrNoPlugin and
// lists every place searched.
func FindPlugin(platform, env, wd string) (string, error) {
	if platform != PlatformCPU && platform != PlatformCUDA {
		return "", fmt.Errorf("xla: unknown platform %q (want cpu or cuda): %w", platform, errdefs.ErrInvalidInput)
	}
	var searched []string
	look := func(dir string) string {
		for _, n := range pluginNames(platform) {
			p := filepath.Join(dir, n)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
		searched = append(searched, dir)
		return ""
	}
	for _, e := range strings.Split(env, ":") {
		if e == "" {
			continue
		}
		if st, err := os.Stat(e); err == nil && !st.IsDir() {
			// A plugin file named directly: it must be the platform's.
			base := filepath.Base(e)
			for _, n := range pluginNames(platform) {
				if base == n {
					return e, nil
				}
			}
			searched = append(searched, e+" (not a "+platform+" plugin)")
			continue
		}
		if p := look(e); p != "" {
			return p, nil
		}
	}
	if d := os.Getenv(DepsEnv); d != "" { // as ONNX Runtime's lookup reads $TWOSTAGE_DEPS/lib
		if p := look(filepath.Join(d, "pjrt")); p != "" {
			return p, nil
		}
	}
	if wd != "" {
		for d := wd; ; {
			if p := look(filepath.Join(d, ".deps", "pjrt")); p != "" {
				return p, nil
			}
			up := filepath.Dir(d)
			if up == d {
				break
			}
			d = up
		}
	}
	for _, d := range defaultDirs() {
		if p := look(d); p != "" {
			return p, nil
		}
	}
	return "", fmt.Errorf("xla: %s plugin (%s) not found in %s=%q, nor in %s; run `make deps` (cpu) or see the README (cuda): %w",
		platform, strings.Join(pluginNames(platform), " or "), PluginEnv, env, strings.Join(searched, ", "), ErrNoPlugin)
}
