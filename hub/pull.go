package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"twostage/convert"
	"twostage/convert/hf"
	"twostage/errdefs"
	"twostage/internal/par"
	"twostage/modeldir"
)

// Model is a pulled model.
type Model struct {
	// Ref is the reference the model was pulled or looked up by.
	Ref Ref
	// Commit is the repository commit the files come from.
	Commit string
	// Family and Dtype describe the converted model directory.
	Family, Dtype string
	// Snapshot is the raw checkpoint directory (config.json, *.safetensors,
	// tokenizer files) in the cache.
	Snapshot string
	// Dir is the converted model directory (package modeldir); "" in List
	// for a snapshot not converted yet.
	Dir string
	// Downloaded is the number of bytes this pull fetched (0 when every file
	// was cached).
	Downloaded int64
	// Files is the number of files this pull fetched.
	Files int
}

// PullOptions tunes one Pull. Nil means: family from the name or
// config.json, DefaultDtype, the model directory in the cache.
type PullOptions struct {
	// Family overrides the family (a modeldir family).
	Family string
	// Dtype is the stored weight type of the converted model: fp32 or fp16
	// (default DefaultDtype(family)).
	Dtype string
	// To, when set, is where the model directory is written instead of the
	// cache (it must not exist or be empty, unless it already holds this
	// very model, which is then kept). The raw snapshot is still cached.
	To string
	// ConvertProgress, when set, receives the conversion's progress.
	ConvertProgress func(done, total int64)
}

// Pull makes ref ("zerank-2", "ORG/NAME", either with "@REVISION") available
// as a converted model directory: it resolves the revision to a commit,
// downloads the files the family needs into the cache (only those missing),
// and converts them, once per commit, family and dtype. Concurrent pulls of
// one repository, from goroutines or processes, wait for each other. In
// offline mode it sends no request and fails with ErrNotPulled when the
// cache lacks the snapshot.
func (c *Client) Pull(ctx context.Context, ref string, opts *PullOptions) (*Model, error) {
	o := PullOptions{}
	if opts != nil {
		o = *opts
	}
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	family := o.Family
	if family == "" {
		family = r.Family
	}
	if family != "" && !slices.Contains(modeldir.Families, family) {
		return nil, fmt.Errorf("hub: family %q: want one of %s: %w", family, strings.Join(modeldir.Families, ", "), errdefs.ErrInvalidInput)
	}
	if o.Dtype != "" && o.Dtype != modeldir.DtypeFP32 && o.Dtype != modeldir.DtypeFP16 {
		return nil, fmt.Errorf("hub: dtype %q: want fp32 or fp16: %w", o.Dtype, errdefs.ErrInvalidInput)
	}
	rd := c.repoDir(r.Repo)
	if c.offline {
		if _, ok := cachedCommit(rd, r.Revision); !ok {
			return nil, fmt.Errorf("hub: %s is not in the cache %s and HF_HUB_OFFLINE is set: pull it once online: %w", r, c.home, ErrNotPulled)
		}
	}
	unlock, err := lock(ctx, rd)
	if err != nil {
		return nil, err
	}
	defer unlock()

	m := &Model{Ref: r}
	var siblings []string
	if c.offline {
		m.Commit, _ = cachedCommit(rd, r.Revision)
		if !exists(snapshotDir(rd, m.Commit)) {
			return nil, fmt.Errorf("hub: %s (commit %s) is not in the cache %s and HF_HUB_OFFLINE is set: %w", r, m.Commit, c.home, ErrNotPulled)
		}
	} else {
		info, err := c.info(ctx, r.Repo, r.Revision)
		if err != nil {
			return nil, err
		}
		m.Commit = info.SHA
		for _, s := range info.Siblings {
			siblings = append(siblings, s.RFilename)
		}
	}
	snap, inc := snapshotDir(rd, m.Commit), incompleteDir(rd, m.Commit)
	k := &counter{report: c.progress}

	if family == "" {
		// The family comes from config.json, fetched ahead of the rest.
		dir := snap
		if !exists(filepath.Join(snap, configFile)) {
			if c.offline {
				return nil, fmt.Errorf("hub: %s: no config.json in the cache: %w", r, ErrNotPulled)
			}
			if !slices.Contains(siblings, configFile) {
				return nil, fmt.Errorf("hub: %s has no config.json: %w", r.Repo, ErrFileNotFound)
			}
			if err := c.fetchFiles(ctx, r.Repo, m, inc, []string{configFile}, k); err != nil {
				return nil, err
			}
			dir = inc
		}
		cfg, err := hf.Read(dir)
		if err != nil {
			return nil, fmt.Errorf("hub: %s: %w", r, err)
		}
		if family, err = convert.GuessFamily(cfg); err != nil {
			return nil, fmt.Errorf("hub: %s: %w (pass a family)", r, err)
		}
	}
	m.Family = family
	m.Dtype = o.Dtype
	if m.Dtype == "" {
		m.Dtype = DefaultDtype(family)
	}

	if !c.offline {
		need, err := neededFiles(r.Repo, siblings, family)
		if err != nil {
			return nil, err
		}
		var missing []string
		for _, f := range need {
			if !exists(filepath.Join(snap, f)) {
				missing = append(missing, f)
			}
		}
		if err := c.fetchFiles(ctx, r.Repo, m, inc, missing, k); err != nil {
			return nil, err
		}
		if err := install(inc, snap, missing); err != nil {
			return nil, err
		}
		if r.Revision != m.Commit {
			if err := writeAtomic(refPath(rd, r.Revision), []byte(m.Commit+"\n")); err != nil {
				return nil, err
			}
		}
	}
	m.Snapshot = snap

	source := r.Repo + "@" + m.Commit
	m.Dir = o.To
	if m.Dir == "" {
		m.Dir = filepath.Join(modelsDir(rd, m.Commit), modelName(family, m.Dtype))
	}
	if cfg, err := modeldir.Load(m.Dir); err == nil {
		if o.To == "" || (cfg.SourceModel == source && cfg.Family == family && cfg.Dtype == m.Dtype) {
			return m, nil // converted before
		}
	}
	if err := convertSnapshot(ctx, snap, m.Dir, family, m.Dtype, source, o.ConvertProgress); err != nil {
		return nil, err
	}
	return m, nil
}

// neededFiles filters the repository's files to those the family needs and
// checks that the conversion's inputs are all there.
func neededFiles(repo string, siblings []string, family string) ([]string, error) {
	var need []string
	weights := false
	for _, f := range siblings {
		if Needed(f, family) {
			need = append(need, f)
			weights = weights || strings.HasSuffix(f, safetensorsX)
		}
	}
	for _, f := range []string{configFile, tokenizerJS} {
		if !slices.Contains(need, f) {
			return nil, fmt.Errorf("hub: %s has no %s: %w", repo, f, ErrFileNotFound)
		}
	}
	if !weights {
		return nil, fmt.Errorf("hub: %s has no safetensors weights (only other formats, which twostage does not read): %w", repo, ErrUnsupported)
	}
	// Small files first, so a missing or gated one fails before gigabytes move.
	sort.SliceStable(need, func(i, j int) bool {
		return !strings.HasSuffix(need[i], safetensorsX) && strings.HasSuffix(need[j], safetensorsX)
	})
	return need, nil
}

// fetchFiles downloads files into inc, a few at a time; files already
// verified there (from an earlier, interrupted pull) are kept.
func (c *Client) fetchFiles(ctx context.Context, repo string, m *Model, inc string, files []string, k *counter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	return par.For(len(files), c.parallel, func(i int) error {
		dst := filepath.Join(inc, filepath.FromSlash(files[i]))
		if exists(dst) {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		n, err := c.download(ctx, repo, m.Commit, files[i], dst, k)
		if err != nil {
			cancel()
			return err
		}
		mu.Lock()
		m.Downloaded += n
		m.Files++
		mu.Unlock()
		return nil
	})
}

// install moves the downloaded files from inc into the snapshot: the whole
// directory by one rename when the snapshot is new, else file by file.
func install(inc, snap string, files []string) error {
	if len(files) == 0 {
		os.RemoveAll(inc)
		return nil
	}
	if !exists(snap) {
		if err := os.MkdirAll(filepath.Dir(snap), 0o755); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		if err := os.Rename(inc, snap); err != nil {
			return fmt.Errorf("hub: install snapshot: %w", err)
		}
		removeParts(snap)
		return nil
	}
	for _, f := range files {
		dst := filepath.Join(snap, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		if err := os.Rename(filepath.Join(inc, filepath.FromSlash(f)), dst); err != nil {
			return fmt.Errorf("hub: install %s: %w", f, err)
		}
	}
	os.RemoveAll(inc)
	return nil
}

// removeParts deletes leftover .part files (of files this family does not
// need) from a freshly installed snapshot.
func removeParts(dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".part") {
			os.Remove(p)
		}
		return nil
	})
}

// convertSnapshot converts snap into dst through a sibling temporary
// directory, then renames it into place. convert applies a
// sentence-transformers bi-encoder's pooling, normalization and sequence
// length (internal/stconfig).
func convertSnapshot(ctx context.Context, snap, dst, family, dtype, source string, progress func(done, total int64)) error {
	if ents, err := os.ReadDir(dst); err == nil && len(ents) > 0 {
		return fmt.Errorf("hub: output directory %s is not empty: %w", dst, errdefs.ErrInvalidInput)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".convert-")
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "model")
	opts := &convert.Options{Family: family, Dtype: dtype, Source: source, Progress: progress}
	if _, err := convert.Convert(ctx, snap, out, opts); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("hub: replace %s: %w", dst, err)
	}
	if err := os.Rename(out, dst); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}
