package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"twostage/retry"
)

// withRetry calls f until it succeeds, fails for good, or the attempts run
// out. f reports whether it made progress (bytes written), which resets the
// attempt count: a download that keeps advancing is never given up on.
func (c *Client) withRetry(ctx context.Context, what string, f func() (progressed bool, err error)) error {
	progressed := false
	err := retry.Do(ctx, c.retry, func(err error) retry.Verdict {
		v := retry.Classify(err)
		v.Progress = progressed
		return v
	}, func(context.Context) error {
		var err error
		progressed, err = f()
		return err
	})
	var re *retry.Error
	if !errors.As(err, &re) {
		return err
	}
	if re.Reason == retry.Canceled {
		return fmt.Errorf("hub: %s: %w", what, re.Ctx)
	}
	return fmt.Errorf("hub: %s: gave up after %d tries: %v: %w", what, re.Attempts, re.Err, ErrUnavailable)
}

// netErr turns a transport error into a retryable one, unless the context
// ended.
func netErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return retry.Transient(err)
}

// statusError classifies an unwanted answer. file is "" for the API call.
func (c *Client) statusError(resp *http.Response, repo, rev, file string) error {
	code := resp.Header.Get("X-Error-Code")
	what := repo
	if file != "" {
		what = repo + ": " + file
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests || s >= 500:
		return retry.AfterHeader(fmt.Errorf("%s answered %s", what, resp.Status), resp.Header.Get("Retry-After"))
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		hint := "set HF_TOKEN to a token that can read it"
		if c.token != "" {
			hint = "the token in HF_TOKEN was refused: accept the model's terms on its Hub page or use a token that can read it"
		}
		return fmt.Errorf("hub: %s: %s: the repository is gated or private; %s: %w", repo, resp.Status, hint, ErrUnauthorized)
	case s == http.StatusNotFound:
		switch {
		case code == "RevisionNotFound":
			return fmt.Errorf("hub: %s has no revision %q: %w", repo, rev, ErrRevisionNotFound)
		case code == "RepoNotFound" || (file == "" && code != "EntryNotFound"):
			return fmt.Errorf("hub: repository %s not found on %s (check the name; private repositories need HF_TOKEN): %w", repo, resp.Request.URL.Host, ErrRepoNotFound)
		default:
			return fmt.Errorf("hub: %s has no file %s at %s: %w", repo, file, rev, ErrFileNotFound)
		}
	}
	return fmt.Errorf("hub: %s: unexpected answer %s: %w", what, resp.Status, ErrUnavailable)
}

func (c *Client) newRequest(ctx context.Context, u *url.URL) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	req.Header.Set("User-Agent", "twostage-hub/1")
	if c.token != "" && c.sameHost(u) {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// repoInfo is the part of the model API's answer that a pull reads.
type repoInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
	} `json:"siblings"`
}

var commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)

// info resolves rev to a commit and lists the repository's files.
func (c *Client) info(ctx context.Context, repo, rev string) (*repoInfo, error) {
	u, err := url.Parse(c.endpoint.String() + "/api/models/" + repo + "/revision/" + url.PathEscape(rev))
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	var info repoInfo
	err = c.withRetry(ctx, repo+" revision "+rev, func() (bool, error) {
		req, err := c.newRequest(ctx, u)
		if err != nil {
			return false, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return false, netErr(ctx, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, c.statusError(resp, repo, rev, "")
		}
		info = repoInfo{}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&info); err != nil {
			return false, netErr(ctx, fmt.Errorf("reading the file list: %w", err))
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if !commitRe.MatchString(info.SHA) {
		return nil, fmt.Errorf("hub: %s@%s: the hub gave no commit (sha %q): %w", repo, rev, info.SHA, ErrIntegrity)
	}
	return &info, nil
}

// fileMeta is what the Hub says about one file, from the headers of its
// own (not the CDN's) responses.
type fileMeta struct {
	commit string // X-Repo-Commit
	etag   string // ETag: the git blob sha1 for small files
	sha256 string // X-Linked-Etag: the sha256 of an LFS file
	size   int64  // X-Linked-Size, else the body's full length; -1 unknown
}

func unquote(etag string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(etag), "W/"), `"`)
}

func (m *fileMeta) merge(h http.Header) {
	set := func(p *string, v string) {
		if *p == "" && v != "" {
			*p = v
		}
	}
	set(&m.commit, h.Get("X-Repo-Commit"))
	set(&m.sha256, unquote(h.Get("X-Linked-Etag")))
	set(&m.etag, unquote(h.Get("ETag")))
	if m.size < 0 {
		if n, err := strconv.ParseInt(h.Get("X-Linked-Size"), 10, 64); err == nil && n >= 0 {
			m.size = n
		}
	}
}

// open sends the GET for a file from offset, following redirects by hand:
// the Hub's own headers are read from its answer (a 302 for LFS files), and
// the token goes to the Hub's host only. The returned response is 200, 206
// or 416.
func (c *Client) open(ctx context.Context, repo, commit, file string, offset int64) (*http.Response, *fileMeta, error) {
	u, err := url.Parse(c.endpoint.String() + "/" + repo + "/resolve/" + commit + "/" + escapePath(file))
	if err != nil {
		return nil, nil, fmt.Errorf("hub: %w", err)
	}
	meta := &fileMeta{size: -1}
	for hop := 0; hop < 10; hop++ {
		req, err := c.newRequest(ctx, u)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Accept-Encoding", "identity")
		if offset > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, nil, netErr(ctx, err)
		}
		if c.sameHost(u) {
			meta.merge(resp.Header)
		}
		switch s := resp.StatusCode; {
		case s == http.StatusOK || s == http.StatusPartialContent || s == http.StatusRequestedRangeNotSatisfiable:
			return resp, meta, nil
		case s >= 300 && s < 400 && s != http.StatusNotModified:
			loc, err := resp.Location()
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if err != nil {
				return nil, nil, fmt.Errorf("hub: %s: %s: redirect without a location: %w", repo, file, ErrUnavailable)
			}
			u = loc
		default:
			err := c.statusError(resp, repo, commit, file)
			resp.Body.Close()
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("hub: %s: %s: too many redirects: %w", repo, file, ErrUnavailable)
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// counter reports the progress of one pull.
type counter struct {
	mu          sync.Mutex
	done, total int64
	report      func(done, total int64)
}

func (k *counter) add(done, total int64) {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.done += done
	k.total += total
	d, t := k.done, k.total
	k.mu.Unlock()
	if k.report != nil {
		k.report(d, t)
	}
}

// countingWriter adds what passes through to a counter.
type countingWriter struct{ k *counter }

func (w countingWriter) Write(p []byte) (int, error) {
	w.k.add(int64(len(p)), 0)
	return len(p), nil
}

// download fetches repo@commit's file into dst, verified, through dst.part,
// which a later call resumes from. It returns the bytes fetched.
func (c *Client) download(ctx context.Context, repo, commit, file, dst string, k *counter) (int64, error) {
	part := dst + ".part"
	var fetched int64
	sized := false
	err := c.withRetry(ctx, repo+": "+file, func() (bool, error) {
		n, err := c.fetchOnce(ctx, repo, commit, file, part, k, &sized)
		fetched += n
		if err == nil {
			if err := os.Rename(part, dst); err != nil {
				return false, fmt.Errorf("hub: %w", err)
			}
		}
		return n > 0, err
	})
	return fetched, err
}

// fetchOnce makes one attempt at the file: resume from the part file's
// length, append, verify. It returns the bytes received.
func (c *Client) fetchOnce(ctx context.Context, repo, commit, file, part string, k *counter, sized *bool) (int64, error) {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("hub: %w", err)
	}
	// A transfer that stalls (no byte for StallTimeout) is cut and resumed,
	// like a dropped connection.
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(c.stall, cancel)
	defer stall.Stop()
	resp, meta, err := c.open(reqCtx, repo, commit, file, have)
	if err != nil {
		if ctx.Err() == nil && reqCtx.Err() != nil {
			err = retry.Transient(fmt.Errorf("%s: %s: no answer for %v", repo, file, c.stall))
		}
		return 0, err
	}
	defer resp.Body.Close()
	body := &stallReader{r: resp.Body, t: stall, d: c.stall}
	if meta.commit != "" && meta.commit != commit {
		return 0, fmt.Errorf("hub: %s: %s: asked for commit %s, the hub served %s: %w", repo, file, commit, meta.commit, ErrIntegrity)
	}
	total := int64(-1)
	whole := false
	switch resp.StatusCode {
	case http.StatusRequestedRangeNotSatisfiable:
		if meta.size >= 0 && have == meta.size {
			whole = true // the part file is whole: verify it, ignore the body
			break
		}
		if err := f.Truncate(0); err != nil {
			return 0, fmt.Errorf("hub: %w", err)
		}
		return 0, retry.After(fmt.Errorf("%s: %s: range %d- refused", repo, file, have), 0)
	case http.StatusPartialContent:
		start, end, tot, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			if err := f.Truncate(0); err != nil {
				return 0, fmt.Errorf("hub: %w", err)
			}
			return 0, retry.After(fmt.Errorf("%s: %s: asked for bytes %d-, got %q", repo, file, have, resp.Header.Get("Content-Range")), 0)
		}
		total = tot
		if tot < 0 {
			total = end + 1
		}
	case http.StatusOK:
		if have > 0 {
			if err := f.Truncate(0); err != nil {
				return 0, fmt.Errorf("hub: %w", err)
			}
			have = 0
		}
		if resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
	}
	if meta.size < 0 {
		meta.size = total
	}
	if !*sized && meta.size >= 0 {
		*sized = true
		k.add(have, meta.size) // bytes already on disk count as done
	}
	var h hash.Hash
	lfs := meta.sha256 != ""
	if lfs {
		h = sha256.New()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("hub: %w", err)
		}
		stall.Stop() // rereading gigabytes is not a stall
		if _, err := io.CopyN(h, f, have); err != nil {
			return 0, fmt.Errorf("hub: rereading %s: %w", part, err)
		}
		if reqCtx.Err() == nil {
			stall.Reset(c.stall)
		}
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return 0, fmt.Errorf("hub: %w", err)
	}
	var w io.Writer = f
	if lfs {
		w = io.MultiWriter(f, h)
	}
	if k != nil {
		w = io.MultiWriter(w, countingWriter{k})
	}
	var n int64
	if !whole {
		n, err = io.CopyBuffer(w, body, make([]byte, 1<<20))
	}
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if reqCtx.Err() != nil {
			err = fmt.Errorf("stalled for %v: %w", c.stall, err)
		}
		return n, retry.Transient(fmt.Errorf("%s: %s: connection lost after %d bytes: %w", repo, file, have+n, err))
	}
	got := have + n
	if meta.size >= 0 && got != meta.size {
		os.Remove(part)
		return n, fmt.Errorf("hub: %s: %s: got %d bytes, the hub announced %d: %w", repo, file, got, meta.size, ErrIntegrity)
	}
	switch {
	case lfs:
		if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, meta.sha256) {
			os.Remove(part)
			return n, fmt.Errorf("hub: %s: %s: sha256 %s, the hub announced %s: %w", repo, file, sum, meta.sha256, ErrIntegrity)
		}
	case commitRe.MatchString(meta.etag):
		sum, err := gitBlobSHA1(f, got)
		if err != nil {
			return n, err
		}
		if sum != meta.etag {
			os.Remove(part)
			return n, fmt.Errorf("hub: %s: %s: git sha1 %s, the hub announced %s: %w", repo, file, sum, meta.etag, ErrIntegrity)
		}
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("hub: %w", err)
	}
	return n, nil
}

// gitBlobSHA1 is git's object id of the first size bytes of f.
func gitBlobSHA1(f *os.File, size int64) (string, error) {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", size)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	if _, err := io.CopyN(h, f, size); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// contentRange parses "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func contentRange(v string) (start, end, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	total = -1
	if tot != "*" {
		total, err3 = strconv.ParseInt(tot, 10, 64)
	}
	return start, end, total, err1 == nil && err2 == nil && err3 == nil && start >= 0 && end >= start
}

// stallReader pushes a stall timer back on every read that returns bytes.
type stallReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.t.Reset(s.d)
	}
	return n, err
}
