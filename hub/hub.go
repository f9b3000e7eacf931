// Package hub pulls models from the Hugging Face Hub into a local cache and
// turns them into twostage model directories, the way huggingface_hub
// downloads them:
//
//   - the file list and the commit from GET {endpoint}/api/models/{repo}/revision/{rev}
//     (siblings[].rfilename, sha);
//   - each file from {endpoint}/{repo}/resolve/{commit}/{file}; large (LFS)
//     files answer with a redirect to a CDN host, which is followed without
//     the Authorization header; X-Repo-Commit pins the commit;
//   - LFS files are checked against the sha256 in X-Linked-Etag and the size
//     in X-Linked-Size; small files against the git blob sha1 in ETag;
//   - interrupted downloads resume with Range requests, within one call after
//     a dropped connection and across calls from the partial file; 429 (with
//     Retry-After) and 5xx answers are retried with backoff; a few files
//     download in parallel.
//
// Only the files a family's conversion reads are fetched (see Needed). The
// environment is read as huggingface_hub reads it: HF_ENDPOINT, HF_TOKEN (or
// the huggingface-cli token file), HF_HUB_OFFLINE=1 (the cache only, no
// request at all), HF_HUB_DOWNLOAD_TIMEOUT (seconds without a byte before a
// transfer is cut and resumed); TWOSTAGE_HOME places the cache.
//
// # Cache layout
//
//	$TWOSTAGE_HOME/hub/models--ORG--NAME/
//	  .lock                        flock(2)ed by every pull of the repository
//	  refs/REVISION                the commit the revision last resolved to
//	  incomplete/COMMIT/           downloads in progress (FILE.part while fetched)
//	  snapshots/COMMIT/            the raw checkpoint, complete and verified
//	  models/COMMIT/FAMILY-DTYPE/  the converted model directory (package modeldir)
//
// A snapshot and a model directory appear by rename only when complete, so a
// failed, corrupt or interrupted pull leaves nothing that looks complete. The
// raw snapshot stays beside the converted model, for backends that read
// checkpoints directly.
package hub

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"twostage/errdefs"
	"twostage/retry"
)

// DefaultEndpoint is the Hub used when neither Options.Endpoint nor
// HF_ENDPOINT names one.
const DefaultEndpoint = "https://huggingface.co"

// Sentinel errors, matched with errors.Is.
var (
	// ErrInvalidRef: a model reference is neither a known name nor ORG/NAME
	// (wraps errdefs.ErrInvalidInput).
	ErrInvalidRef = errdefs.New("hub: invalid model reference", errdefs.ErrInvalidInput)
	// ErrRepoNotFound: the Hub has no such repository, or hides it (wraps
	// errdefs.ErrNotFound).
	ErrRepoNotFound = errdefs.New("hub: repository not found", errdefs.ErrNotFound)
	// ErrRevisionNotFound: the repository has no such branch, tag or commit
	// (wraps errdefs.ErrNotFound).
	ErrRevisionNotFound = errdefs.New("hub: revision not found", errdefs.ErrNotFound)
	// ErrFileNotFound: a file the conversion needs is not in the repository
	// (wraps errdefs.ErrNotFound).
	ErrFileNotFound = errdefs.New("hub: file not found", errdefs.ErrNotFound)
	// ErrUnauthorized: the Hub answered 401 or 403, for a gated or private
	// repository (wraps errdefs.ErrUnavailable).
	ErrUnauthorized = errdefs.New("hub: access denied", errdefs.ErrUnavailable)
	// ErrIntegrity: a downloaded file's sha256, git sha1 or size disagrees
	// with what the Hub announced, or the Hub served another commit.
	ErrIntegrity = errors.New("hub: download does not match the hub's checksum")
	// ErrUnavailable: the Hub kept failing (5xx, 429, network) after the
	// retries (wraps errdefs.ErrUnavailable).
	ErrUnavailable = errdefs.New("hub: unavailable", errdefs.ErrUnavailable)
	// ErrNotPulled: the model is not in the cache (offline mode, or Lookup)
	// (wraps errdefs.ErrNotFound).
	ErrNotPulled = errdefs.New("hub: model not pulled", errdefs.ErrNotFound)
	// ErrUnsupported: the repository has no checkpoint twostage can convert,
	// such as only .bin weights (wraps errdefs.ErrUnsupported).
	ErrUnsupported = errdefs.New("hub: unsupported repository", errdefs.ErrUnsupported)
)

// Options configures a Client. Nil or zero fields take the environment's
// values, then the defaults.
type Options struct {
	// Endpoint is the Hub's base URL (default: $HF_ENDPOINT, else
	// https://huggingface.co).
	Endpoint string
	// Token is the bearer token for gated and private repositories
	// (default: $HF_TOKEN, else the huggingface-cli token file:
	// $HF_TOKEN_PATH, $HF_HOME/token or ~/.cache/huggingface/token).
	Token string
	// Home is the cache root (default: $TWOSTAGE_HOME, else the user cache
	// directory + "twostage").
	Home string
	// Offline uses the cache only and sends no request; HF_HUB_OFFLINE=1
	// sets it too.
	Offline bool
	// HTTPClient sends the requests (default: a client with a 60 s
	// response-header timeout). Its CheckRedirect is not used: redirects
	// are followed by the Client itself.
	HTTPClient *http.Client
	// Parallel is the number of files downloaded at once (default 4).
	Parallel int
	// Retry bounds the retries of each request (default: 6 attempts, 500 ms
	// doubling to 20 s). Retry-After takes the backoff's place, shortened to
	// MaxRetryAfter (default 5 minutes; LongWait default retry.Shorten).
	Retry retry.Policy
	// Progress, when set, is called (serially) as bytes arrive, with the
	// bytes fetched so far in this pull and the sum of the sizes of the
	// files known so far.
	Progress func(done, total int64)
	// StallTimeout cuts a transfer that receives nothing for this long; it
	// is then resumed like a dropped connection (default:
	// $HF_HUB_DOWNLOAD_TIMEOUT seconds, else 30 s).
	StallTimeout time.Duration
}

// Client pulls models. It is safe for concurrent use; concurrent pulls of
// one repository, in one process or several, wait for each other.
type Client struct {
	endpoint *url.URL
	token    string
	home     string
	offline  bool
	http     *http.Client
	parallel int
	retry    retry.Policy
	progress func(done, total int64)
	stall    time.Duration
}

// New returns a Client.
func New(opts *Options) (*Client, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Endpoint == "" {
		o.Endpoint = os.Getenv("HF_ENDPOINT")
	}
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	ep, err := url.Parse(strings.TrimRight(o.Endpoint, "/"))
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		return nil, fmt.Errorf("hub: endpoint %q is not an http(s) URL: %w", o.Endpoint, errdefs.ErrInvalidInput)
	}
	if o.Token == "" {
		o.Token = envToken()
	}
	if o.Home == "" {
		if o.Home, err = DefaultHome(); err != nil {
			return nil, err
		}
	}
	if !o.Offline {
		o.Offline = EnvOffline()
	}
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 60 * time.Second
		o.HTTPClient = &http.Client{Transport: t}
	}
	hc := *o.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	o.Retry = o.Retry.WithDefaults(retry.Policy{Attempts: 6, Initial: 500 * time.Millisecond, Max: 20 * time.Second,
		MaxRetryAfter: 5 * time.Minute, LongWait: retry.Shorten})
	if o.StallTimeout <= 0 {
		o.StallTimeout = 30 * time.Second
		if s, err := strconv.ParseFloat(os.Getenv("HF_HUB_DOWNLOAD_TIMEOUT"), 64); err == nil && s > 0 {
			o.StallTimeout = time.Duration(s * float64(time.Second))
		}
	}
	c := &Client{endpoint: ep, token: strings.TrimSpace(o.Token), home: o.Home, offline: o.Offline, http: &hc,
		parallel: o.Parallel, retry: o.Retry, stall: o.StallTimeout}
	if o.Progress != nil {
		var mu sync.Mutex
		c.progress = func(done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			o.Progress(done, total)
		}
	}
	return c, nil
}

// Home returns the cache root.
func (c *Client) Home() string { return c.home }

// Offline reports whether the client sends no requests.
func (c *Client) Offline() bool { return c.offline }

// DefaultHome returns $TWOSTAGE_HOME, else the user cache directory +
// "twostage".
func DefaultHome() (string, error) {
	if h := os.Getenv("TWOSTAGE_HOME"); h != "" {
		return h, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("hub: no cache directory (set TWOSTAGE_HOME): %w", err)
	}
	return filepath.Join(d, "twostage"), nil
}

// EnvOffline reports whether HF_HUB_OFFLINE asks for offline mode (1, true,
// yes or on).
func EnvOffline() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("HF_HUB_OFFLINE"))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// envToken returns $HF_TOKEN, else the contents of the huggingface-cli token
// file.
func envToken() string {
	if t := strings.TrimSpace(os.Getenv("HF_TOKEN")); t != "" {
		return t
	}
	path := os.Getenv("HF_TOKEN_PATH")
	if path == "" {
		hfHome := os.Getenv("HF_HOME")
		if hfHome == "" {
			xdg := os.Getenv("XDG_CACHE_HOME")
			if xdg == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return ""
				}
				xdg = filepath.Join(home, ".cache")
			}
			hfHome = filepath.Join(xdg, "huggingface")
		}
		path = filepath.Join(hfHome, "token")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sameHost reports whether u is on the Hub's own host (scheme, host and
// port), the only host that ever sees the token.
func (c *Client) sameHost(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.endpoint.Scheme) && strings.EqualFold(u.Host, c.endpoint.Host)
}
