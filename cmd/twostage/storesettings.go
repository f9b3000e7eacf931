package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"twostage"
	"twostage/spec"
)

// storeSettings is what an embedded store (faiss:DIR, mem:FILE) records
// about how it was built, in a small JSON file beside its data, so later
// commands use the same embedder and metric without repeating the flags.
type storeSettings struct {
	Embedder  string          `json:"embedder"`
	Metric    twostage.Metric `json:"metric"`
	Dim       int             `json:"dim"`
	CreatedBy string          `json:"created_by"`
	Data      string          `json:"data,omitempty"` // eval: the data set indexed
	Created   time.Time       `json:"created"`
}

// settingsName is the settings file inside a faiss:DIR store; a mem:FILE
// store keeps FILE.settings.json.
const settingsName = "twostage.json"

// embeddedStore returns where an embedded store keeps its data and its
// settings file, and ok false for stores that are not files on this
// machine (mem: without a file, qdrant, weaviate).
func embeddedStore(store string) (data, settings string, ok bool) {
	arg, _, _ := strings.Cut(spec.Arg(store), "?")
	switch spec.SchemeOf(store) {
	case "faiss":
		if arg == "" {
			return "", "", false
		}
		// MANIFEST is the file faisslocal writes first into a store
		// directory (its documented layout, faisslocal/doc.go).
		return filepath.Join(arg, "MANIFEST"), filepath.Join(arg, settingsName), true
	case "mem":
		if arg == "" {
			return "", "", false
		}
		return arg, arg + ".settings.json", true
	}
	return "", "", false
}

// storeExists reports whether the embedded store at data exists.
func storeExists(data string) (bool, error) {
	_, err := os.Stat(data)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, err
}

func readSettings(path string) (*storeSettings, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // a store made before settings were recorded, or by a Go program
	}
	if err != nil {
		return nil, err
	}
	var s storeSettings
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("store settings %s: %v", path, jsonError(err))
	}
	return &s, nil
}

// writeSettings writes s to path atomically.
func writeSettings(path string, s *storeSettings) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// resolveStore checks the store named by s.store before anything is opened:
// a command that must not create a store fails when there is none, and the
// settings a store recorded replace the defaults of --embedder and
// --metric; a flag that contradicts them is a usage error. It returns the
// recorded settings (nil when none) and whether the store exists.
func (s *stageFlags) resolveStore() (*storeSettings, bool, error) {
	data, setPath, ok := embeddedStore(s.store)
	if !ok {
		return nil, false, nil
	}
	exists, err := storeExists(data)
	if err != nil {
		return nil, false, err
	}
	if !exists {
		if s.mustExist {
			return nil, false, fmt.Errorf("no store at %s; create it with: twostage index --store %s --file DOCS.jsonl: %w",
				s.store, s.store, twostage.ErrNotFound)
		}
		return nil, false, nil
	}
	rec, err := readSettings(setPath)
	if err != nil || rec == nil {
		return nil, true, err
	}
	if s.explicit("embedder") && s.embedder != rec.Embedder {
		return nil, true, usageErr("store %s was built with --embedder %s, not %s; leave --embedder out to use it", s.store, rec.Embedder, s.embedder)
	}
	if s.explicit("metric") && twostage.Metric(s.metric) != rec.Metric {
		return nil, true, usageErr("store %s was built with --metric %s, not %s; leave --metric out to use it", s.store, rec.Metric, s.metric)
	}
	s.embedder, s.metric = rec.Embedder, string(rec.Metric)
	return rec, true, nil
}

// explicit reports whether the flag name was given on the command line.
func (s *stageFlags) explicit(name string) bool {
	return s.fs != nil && flagSet(s.fs, name)
}

// openRecordedStore is openStore for the server: a store that recorded its
// settings must be opened with them, and a config that contradicts them is
// an error that says what to write (the server's config fills its own
// defaults, so it cannot leave the choice to the store).
func openRecordedStore(ctx context.Context, store string, info twostage.Info) (*twostage.Store, error) {
	if _, setPath, ok := embeddedStore(store); ok {
		rec, err := readSettings(setPath)
		if err != nil {
			return nil, err
		}
		if rec != nil && (rec.Metric != info.Metric || rec.Dim != info.Dim) {
			return nil, fmt.Errorf("store %s was built with embedder %s (%d dimensions) and metric %s; the config gives %d dimensions and metric %s: set the collection's embedder and metric to match: %w",
				store, rec.Embedder, rec.Dim, rec.Metric, info.Dim, info.Metric, twostage.ErrInvalidInput)
		}
	}
	return openStore(ctx, store, info)
}
