package hub

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"twostage/modeldir"
)

// repoDir is the cache directory of one repository.
func (c *Client) repoDir(repo string) string {
	return filepath.Join(c.home, "hub", "models--"+strings.ReplaceAll(repo, "/", "--"))
}

func snapshotDir(rd, commit string) string   { return filepath.Join(rd, "snapshots", commit) }
func incompleteDir(rd, commit string) string { return filepath.Join(rd, "incomplete", commit) }
func modelsDir(rd, commit string) string     { return filepath.Join(rd, "models", commit) }
func refPath(rd, rev string) string          { return filepath.Join(rd, "refs", url.PathEscape(rev)) }

// modelName is the name of a converted model directory under models/COMMIT.
func modelName(family, dtype string) string { return family + "-" + dtype }

// DefaultDtype is the stored weight type a pull converts to when none is
// asked for: fp16 for the Qwen3 decoders (half the disk of fp32; the graph
// still computes in fp32 on CPU), fp32 for the small BERT models.
func DefaultDtype(family string) string {
	if modeldir.IsDecoder(family) {
		return modeldir.DtypeFP16
	}
	return modeldir.DtypeFP32
}

// lock takes the repository's flock(2), waiting for other pulls (goroutines
// or processes) until ctx ends. The returned func releases it.
func lock(ctx context.Context, rd string) (func(), error) {
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(rd, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("hub: lock %s: %w", rd, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("hub: waiting for another pull of %s: %w", rd, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// writeAtomic writes b to path through a temporary file and a rename.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	_, err = tmp.Write(b)
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// cachedCommit resolves rev from the cache: a full commit stands for
// itself, anything else goes through refs/.
func cachedCommit(rd, rev string) (string, bool) {
	if commitRe.MatchString(rev) {
		return rev, true
	}
	b, err := os.ReadFile(refPath(rd, rev))
	if err != nil {
		return "", false
	}
	commit := strings.TrimSpace(string(b))
	return commit, commitRe.MatchString(commit)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Lookup finds a pulled model in the cache without any request. family
// picks among several conversions of the same commit ("" takes the one the
// name implies, else any). Errors wrap ErrNotPulled (or ErrInvalidRef), and
// say which `twostage pull` would fetch the model.
func (c *Client) Lookup(ref, family string) (*Model, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	if family == "" {
		family = r.Family
	}
	rd := c.repoDir(r.Repo)
	notPulled := fmt.Errorf("hub: %s is not pulled into %s; run `twostage pull %s`: %w", r, c.home, r, ErrNotPulled)
	commit, ok := cachedCommit(rd, r.Revision)
	if !ok {
		return nil, notPulled
	}
	ents, err := os.ReadDir(modelsDir(rd, commit))
	if err != nil {
		return nil, notPulled
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && exists(filepath.Join(modelsDir(rd, commit), e.Name(), modeldir.ConfigFile)) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, notPulled
	}
	pick := ""
	if family != "" {
		for _, want := range []string{modelName(family, DefaultDtype(family)), modelName(family, modeldir.DtypeFP32), modelName(family, modeldir.DtypeFP16)} {
			for _, n := range names {
				if n == want && pick == "" {
					pick = n
				}
			}
		}
		if pick == "" {
			return nil, fmt.Errorf("hub: %s is pulled, but not as family %s (have %s); run `twostage pull %s --family %s`: %w",
				r, family, strings.Join(names, ", "), r, family, ErrNotPulled)
		}
	} else {
		sort.Strings(names)
		pick = names[0]
	}
	dir := filepath.Join(modelsDir(rd, commit), pick)
	cfg, err := modeldir.Load(dir)
	if err != nil {
		return nil, err
	}
	return &Model{Ref: r, Commit: commit, Family: cfg.Family, Dtype: cfg.Dtype, Snapshot: snapshotDir(rd, commit), Dir: dir}, nil
}

// List returns the models in the cache: every converted model directory,
// and every snapshot not yet converted (Dir ""), ordered by repository.
// Ref.Revision lists the revisions that point at the commit, comma
// separated ("" when none does).
func (c *Client) List() ([]Model, error) {
	repos, err := filepath.Glob(filepath.Join(c.home, "hub", "models--*"))
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	var out []Model
	for _, rd := range repos {
		repo := strings.Replace(strings.TrimPrefix(filepath.Base(rd), "models--"), "--", "/", 1)
		revs := map[string][]string{}
		if ents, err := os.ReadDir(filepath.Join(rd, "refs")); err == nil {
			for _, e := range ents {
				rev, err := url.PathUnescape(e.Name())
				if commit, ok := cachedCommit(rd, rev); err == nil && ok {
					revs[commit] = append(revs[commit], rev)
				}
			}
		}
		name := repo
		for _, k := range known {
			if k.Repo == repo {
				name = k.Name
			}
		}
		snaps, _ := os.ReadDir(filepath.Join(rd, "snapshots"))
		for _, s := range snaps {
			commit := s.Name()
			if !commitRe.MatchString(commit) {
				continue
			}
			ref := Ref{Name: name, Repo: repo, Revision: strings.Join(revs[commit], ",")}
			models, _ := os.ReadDir(modelsDir(rd, commit))
			n := 0
			for _, m := range models {
				dir := filepath.Join(modelsDir(rd, commit), m.Name())
				if strings.HasPrefix(m.Name(), ".") {
					continue
				}
				cfg, err := modeldir.Load(dir)
				if err != nil {
					continue
				}
				n++
				out = append(out, Model{Ref: ref, Commit: commit, Family: cfg.Family, Dtype: cfg.Dtype, Snapshot: snapshotDir(rd, commit), Dir: dir})
			}
			if n == 0 {
				out = append(out, Model{Ref: ref, Commit: commit, Snapshot: snapshotDir(rd, commit)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Ref.Repo < out[j].Ref.Repo })
	return out, nil
}
