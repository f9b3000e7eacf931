// Package ort is the ONNX Runtime binding: it finds the library, holds the
// one reference-counted process-wide environment (onnxruntime_go allows one
// per process), and wraps sessions over github.com/yalue/onnxruntime_go
// with explicit execution-provider choice. Package inference's ORT backend
// is its user; tests and tools use it for raw sessions.
//
// # Finding the library
//
// The ONNX Runtime shared library (ORT >= 1.24; the project fetches 1.30 CPU)
// is looked up, first hit wins:
//
//  1. the ONNXRUNTIME_LIB environment variable (a file path);
//  2. $TWOSTAGE_DEPS/lib/libonnxruntime.so, when TWOSTAGE_DEPS is set;
//  3. .deps/lib/libonnxruntime.so in the current working directory or any
//     directory above it (the repository root when run from inside the
//     repository, as tests and `go run` are).
//
// When none loads, Acquire returns an error wrapping errdefs.ErrUnavailable
// that names every path tried.
//
// # Lifetime
//
// Acquire initializes the environment on first use and returns a release
// function; the environment is destroyed when the last holder releases it.
// NewSession acquires on its own behalf and Session.Close releases, so most
// callers never call Acquire directly.
//
// Tensors (onnxruntime_go Values) belong to the environment too: destroy them
// before the last reference is released, or hold an Acquire reference of your
// own for as long as you keep tensors, because destroying a tensor after the
// environment is gone crashes the process.
package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"twostage/errdefs"
)

// EnvLibrary is the environment variable naming the ONNX Runtime library file.
const EnvLibrary = "ONNXRUNTIME_LIB"

// EnvDeps is the environment variable naming the fetched-assets directory
// (the one scripts/deps.sh fills); the library is then EnvDeps/lib/libonnxruntime.so.
const EnvDeps = "TWOSTAGE_DEPS"

// depsLibrary is the library's path inside the fetched-assets directory.
var depsLibrary = filepath.Join("lib", "libonnxruntime.so")

var env struct {
	mu   sync.Mutex
	refs int
	path string
}

// Candidates returns the library paths Acquire tries, in order.
func Candidates() []string {
	var out []string
	if p := os.Getenv(EnvLibrary); p != "" {
		out = append(out, p)
	}
	if d := os.Getenv(EnvDeps); d != "" {
		out = append(out, filepath.Join(d, depsLibrary))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; {
			p := filepath.Join(dir, ".deps", depsLibrary)
			if _, err := os.Stat(p); err == nil {
				out = append(out, p)
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return out
}

// Acquire takes a reference on the process-wide ONNX Runtime environment,
// initializing it on first use. The returned release function drops the
// reference (later calls of the same function are no-ops returning
// errdefs.ErrClosed); the environment is destroyed with the last reference.
func Acquire() (release func() error, err error) {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.refs == 0 {
		if err := initialize(); err != nil {
			return nil, err
		}
	}
	env.refs++
	var once sync.Once
	return func() error {
		err := fmt.Errorf("ort: environment reference already released: %w", errdefs.ErrClosed)
		once.Do(func() { err = releaseRef() })
		return err
	}, nil
}

func releaseRef() error {
	env.mu.Lock()
	defer env.mu.Unlock()
	env.refs--
	if env.refs > 0 {
		return nil
	}
	env.path = ""
	if err := ortgo.DestroyEnvironment(); err != nil {
		return fmt.Errorf("ort: destroy environment: %w", err)
	}
	return nil
}

// initialize loads the first candidate library that works. Called with env.mu held.
func initialize() error {
	cands := Candidates()
	if len(cands) == 0 {
		return fmt.Errorf("ort: onnx runtime library not found: set %s to libonnxruntime.so (ORT >= 1.24), or %s to a directory holding lib/libonnxruntime.so, or run scripts/deps.sh to fetch .deps/lib/libonnxruntime.so: %w",
			EnvLibrary, EnvDeps, errdefs.ErrUnavailable)
	}
	var errs []string
	for _, p := range cands {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		ortgo.SetSharedLibraryPath(p)
		if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		env.path = p
		return nil
	}
	return fmt.Errorf("ort: no onnx runtime library could be loaded (tried %s; set %s or %s): %w",
		strings.Join(errs, "; "), EnvLibrary, EnvDeps, errdefs.ErrUnavailable)
}

// LibraryPath returns the library the live environment was loaded from, or
// "" when no environment is live.
func LibraryPath() string {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.path
}

// Version returns the ONNX Runtime version string of the live environment
// ("" when none is live).
func Version() string {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.refs == 0 {
		return ""
	}
	return ortgo.GetVersion()
}

// errProvider is wrapped into errors about providers the library lacks.
var errProvider = errors.New("execution provider not available in the loaded onnx runtime library")
