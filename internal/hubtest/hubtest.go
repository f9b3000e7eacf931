// Package hubtest is an in-process stand-in for the Hugging Face Hub, for
// tests of package hub and of `twostage pull`. It serves exactly the routes
// and headers huggingface_hub relies on:
//
//   - GET /api/models/{org}/{name}/revision/{rev}: {"id", "sha", "siblings": [{"rfilename"}]}
//   - GET|HEAD /{org}/{name}/resolve/{rev}/{file}: small files answer 200 with
//     ETag (the git blob sha1) and X-Repo-Commit; LFS files answer 302 to a
//     second host (the CDN) with X-Linked-Etag (the sha256), X-Linked-Size
//     and X-Repo-Commit; both hosts honour Range: bytes=N-.
//
// Errors carry X-Error-Code as the Hub's do (RepoNotFound, RevisionNotFound,
// EntryNotFound, GatedRepo). The server fails the test on any request for a
// file the repository's Need excludes, and on any Authorization header sent
// to the CDN host. Faults (status answers, dropped connections, corrupt or
// mis-sized bodies) are injected per file.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Repo is one stand-in repository.
type Repo struct {
	// ID is "org/name".
	ID string
	// Files maps repository paths to contents.
	Files map[string][]byte
	// Gated repositories answer 401 without a token and 403 with a wrong
	// one.
	Gated bool
	// Need, when set, says which files a pull may request; a request for
	// any other fails the test.
	Need func(file string) bool
}

// Fault is one injected misbehaviour, used by the next request for its file.
type Fault struct {
	// Status answers the resolve request with this status instead.
	Status int
	// RetryAfter is sent with Status, when set.
	RetryAfter string
	// DropAfter cuts the connection after this many body bytes.
	DropAfter int64
	// StallAfter sends this many body bytes, then nothing until the client
	// gives up on the request.
	StallAfter int64
	// Corrupt flips a byte of the body (same length, wrong checksum).
	Corrupt bool
	// WrongSize announces a size one byte larger than the file's.
	WrongSize bool
}

// Request is one request the server saw.
type Request struct {
	// Host is "hub" or "cdn".
	Host string
	// Method, Path (unescaped) and the Range and Authorization headers.
	Method, Path, Range, Auth string
	// Repo and File name the resolved file ("" for API calls and the CDN).
	Repo, File string
}

// Server is a running stand-in Hub. Close it (or let t.Cleanup do so).
type Server struct {
	// Hub and CDN are the two hosts; URL is the Hub's base URL, the value
	// for HF_ENDPOINT.
	Hub, CDN *httptest.Server
	URL      string
	// Token is the token gated repositories accept.
	Token string

	t      T
	mu     sync.Mutex
	repos  map[string]*repo
	blobs  map[string]blob // by sha256
	faults map[string][]Fault
	reqs   []Request
	cdnFlt map[string]Fault
	nextID int
}

type repo struct {
	Repo
	commit string
}

type blob struct {
	repo, file string
	data       []byte
}

// T is the part of testing.TB the server uses: it reports unwanted
// requests with Errorf and closes itself with Cleanup.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
}

// New starts a stand-in Hub and its CDN host, closed at the end of t.
func New(t T) *Server {
	t.Helper()
	s := &Server{t: t, Token: "hf_test_token", repos: map[string]*repo{}, blobs: map[string]blob{}, faults: map[string][]Fault{}, cdnFlt: map[string]Fault{}}
	s.Hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.CDN = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	s.URL = s.Hub.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops both hosts.
func (s *Server) Close() {
	s.Hub.Close()
	s.CDN.Close()
}

// IsLFS reports whether the stand-in stores file in LFS (redirected to the
// CDN): weights of every format.
func IsLFS(file string) bool {
	for _, ext := range []string{".safetensors", ".bin", ".onnx", ".onnx_data", ".gguf", ".h5", ".msgpack", ".pt"} {
		if strings.HasSuffix(file, ext) {
			return true
		}
	}
	return false
}

// Add adds a repository and returns its commit: a sha1 over its files, so
// that the same files always give the same commit.
func (s *Server) Add(r Repo) string {
	h := sha1.New()
	names := make([]string, 0, len(r.Files))
	for n := range r.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sum := sha256.Sum256(r.Files[n])
		fmt.Fprintf(h, "%s %x\n", n, sum)
	}
	commit := hex.EncodeToString(h.Sum(nil))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[r.ID] = &repo{r, commit}
	for n, b := range r.Files {
		if IsLFS(n) {
			sum := sha256.Sum256(b)
			s.blobs[hex.EncodeToString(sum[:])] = blob{r.ID, n, b}
		}
	}
	return commit
}

// RepoFromDir reads every file under dir into a Repo with id, plus extra
// files (decoys such as pytorch_model.bin).
func RepoFromDir(id, dir string, extra map[string][]byte) (Repo, error) {
	r := Repo{ID: id, Files: map[string][]byte{}}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		r.Files[filepath.ToSlash(rel)] = b
		return err
	})
	for n, b := range extra {
		r.Files[n] = b
	}
	return r, err
}

// Inject queues faults for repo's file; each request for the file takes
// the next one.
func (s *Server) Inject(repo, file string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := repo + "/" + file
	s.faults[k] = append(s.faults[k], faults...)
}

// Requests returns every request seen so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count returns the number of resolve requests for repo's file.
func (s *Server) Count(repo, file string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Repo == repo && r.File == file {
			n++
		}
	}
	return n
}

// Reset forgets the requests seen so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
}

func (s *Server) fault(k string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[k]
	if len(q) == 0 {
		return Fault{}, false
	}
	s.faults[k] = q[1:]
	return q[0], true
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	req := Request{Host: "hub", Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization")}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.record(req)
		hubError(w, http.StatusMethodNotAllowed, "", "method not allowed")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	api := len(parts) >= 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "revision"
	resolve := len(parts) >= 5 && parts[2] == "resolve"
	if !api && !resolve {
		s.record(req)
		s.t.Errorf("hubtest: request for an unknown route %s %s", r.Method, r.URL.Path)
		hubError(w, http.StatusNotFound, "", "no such route")
		return
	}
	var id, rev, file string
	if api {
		id, rev = parts[2]+"/"+parts[3], strings.Join(parts[5:], "/")
	} else {
		id, rev, file = parts[0]+"/"+parts[1], parts[3], strings.Join(parts[4:], "/")
		req.Repo, req.File = id, file
	}
	s.record(req)
	s.mu.Lock()
	rp := s.repos[id]
	s.mu.Unlock()
	if rp == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return
	}
	if rp.Gated {
		switch r.Header.Get("Authorization") {
		case "":
			hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it.")
			return
		case "Bearer " + s.Token:
		default:
			hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+id+" is restricted and you are not in the authorized list.")
			return
		}
	}
	if rev != rp.commit && rev != "main" {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	if api {
		type sib struct {
			RFilename string `json:"rfilename"`
		}
		var sibs []sib
		for n := range rp.Files {
			sibs = append(sibs, sib{n})
		}
		sort.Slice(sibs, func(i, j int) bool { return sibs[i].RFilename < sibs[j].RFilename })
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": id, "modelId": id, "sha": rp.commit, "siblings": sibs})
		return
	}
	data, ok := rp.Files[file]
	if !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", file+" does not exist on \""+rev+"\"")
		return
	}
	if rp.Need != nil && !rp.Need(file) {
		s.t.Errorf("hubtest: request for %s/%s, a file the family does not need", id, file)
	}
	f, _ := s.fault(id + "/" + file)
	if f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		hubError(w, f.Status, "", http.StatusText(f.Status))
		return
	}
	w.Header().Set("X-Repo-Commit", rp.commit)
	size := int64(len(data))
	if f.WrongSize {
		size++
	}
	if IsLFS(file) {
		sum := sha256.Sum256(data)
		hexSum := hex.EncodeToString(sum[:])
		w.Header().Set("X-Linked-Etag", `"`+hexSum+`"`)
		w.Header().Set("X-Linked-Size", strconv.FormatInt(size, 10))
		w.Header().Set("ETag", `"`+hexSum+`"`)
		loc := s.CDN.URL + "/repos/" + hexSum
		if f != (Fault{}) {
			s.mu.Lock()
			s.nextID++
			key := strconv.Itoa(s.nextID)
			s.cdnFlt[key] = f
			s.mu.Unlock()
			loc += "?fault=" + url.QueryEscape(key)
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
		return
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(h.Sum(nil))+`"`)
	serveBytes(w, r, data, f)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.record(Request{Host: "cdn", Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization")})
	if r.Header.Get("Authorization") != "" {
		s.t.Errorf("hubtest: the CDN host received an Authorization header for %s", r.URL.Path)
	}
	s.mu.Lock()
	b, ok := s.blobs[strings.TrimPrefix(r.URL.Path, "/repos/")]
	f := s.cdnFlt[r.URL.Query().Get("fault")]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "no such blob", http.StatusNotFound)
		return
	}
	serveBytes(w, r, b.data, f)
}

// serveBytes answers with data, or the part a "bytes=N-" Range asks for,
// applying f's body faults.
func serveBytes(w http.ResponseWriter, r *http.Request, data []byte, f Fault) {
	if f.Corrupt && len(data) > 0 {
		data = append([]byte(nil), data...)
		data[len(data)/2] ^= 0xff
	}
	w.Header().Set("Accept-Ranges", "bytes")
	start := int64(0)
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"), 10, 64)
		if err != nil || !strings.HasPrefix(rg, "bytes=") || !strings.HasSuffix(rg, "-") {
			http.Error(w, "only bytes=N- ranges", http.StatusBadRequest)
			return
		}
		if n >= int64(len(data)) {
			// As S3 behind the Hub's CDN does: a body explaining the refusal.
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			fmt.Fprint(w, "<Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message></Error>")
			return
		}
		start, status = n, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(data)-1, len(data)))
	}
	body := data[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if f.DropAfter > 0 && f.DropAfter < int64(len(body)) {
		w.Write(body[:f.DropAfter])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	if f.StallAfter > 0 && f.StallAfter < int64(len(body)) {
		w.Write(body[:f.StallAfter])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		<-r.Context().Done()
		return
	}
	w.Write(body)
}
