package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"twostage"
	"twostage/driver"
	"twostage/internal/validate"
	"twostage/rerank/fallback"
)

// apiError is an error with its HTTP status and machine-readable code.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON of every error response. Message repeats
// Error.Message at the top level, where Cohere's clients read it; ID is the
// request id, also sent as the X-Request-Id header.
type ErrorBody struct {
	Error   ErrorDetail `json:"error"`
	Message string      `json:"message"`
	ID      string      `json:"id"`
}

// ErrorDetail is a machine-readable code and a human-readable message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// sentinelCodes maps the errors a call may wrap to their HTTP status and
// code, in order of precedence: the first one an error wraps wins.
var sentinelCodes = []struct {
	err    error
	status int
	code   string
}{
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
	{context.Canceled, 499, "canceled"},
	{twostage.ErrOverloaded, http.StatusTooManyRequests, "overloaded"},
	{twostage.ErrClosed, http.StatusServiceUnavailable, "shutting_down"},
	{twostage.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
	{twostage.ErrNotFound, http.StatusNotFound, "not_found"},
	{twostage.ErrDimension, http.StatusBadRequest, "dimension_mismatch"},
	{twostage.ErrInvalidInput, http.StatusBadRequest, "invalid_input"},
	{twostage.ErrUnsupported, http.StatusBadRequest, "unsupported"},
}

// classify maps an error to its HTTP status and code.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
	}
	for _, c := range sentinelCodes {
		if errors.Is(err, c.err) {
			return &apiError{c.status, c.code, err.Error()}
		}
	}
	return &apiError{http.StatusInternalServerError, "internal", err.Error()}
}

func (s *Server) writeError(w http.ResponseWriter, route string, err error) {
	ae := s.redact(w, route, classify(err), err)
	s.metrics.errors.WithLabelValues(ae.Code).Inc()
	msg := strings.ToValidUTF8(ae.Message, "?")
	writeJSON(w, ae.Status, ErrorBody{Error: ErrorDetail{Code: ae.Code, Message: msg}, Message: msg, ID: responseID(w)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := newResponseBuffer(w)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		var body []byte
		status, body = buf.failure(responseID(w))
		buf.Reset()
		buf.Buffer.Write(body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// readBody reads the whole (size-limited) body.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if b, ok := r.Body.(*bufferedBody); ok {
		return b.data, nil
	}
	data, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, err
	}
	if err != nil {
		return nil, badRequest("bad_request", "read body: %v", err)
	}
	return data, nil
}

// decodeStrict unmarshals one JSON value from data into v, rejecting
// trailing data and fields v does not define (at any depth, but inside a
// rerank document object, which is kept whole): the error names the field
// and, where one is near, the field of names it may be a misspelling of.
// The rerank request defines every field of the APIs it mimics (see
// RerankRequest), so their clients' requests decode.
func decodeStrict(data []byte, v any, names []string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("malformed_json", "empty body; send a JSON object")
	}
	if !utf8.Valid(data) {
		return badRequest("invalid_input", "body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var de *documentError
		if name, ok := validate.UnknownField(err); ok {
			return &unknownFieldError{badRequest("invalid_input", "%s", validate.UnknownFieldMessage(name, names)), name}
		}
		switch {
		case errors.As(err, &te):
			return badRequest("invalid_input", "field %q: %s is not a valid %s", te.Field, te.Value, te.Type)
		case errors.As(err, &de):
			return badRequest("invalid_input", "%s", de.msg)
		}
		return badRequest("malformed_json", "malformed JSON: %v", err)
	}
	if dec.More() {
		return badRequest("malformed_json", "malformed JSON: data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("malformed_json", "malformed JSON: data after the object")
	}
	return nil
}

// unknownFieldError is the 400 for a field the request does not define;
// name is the field, for inDocument.
type unknownFieldError struct {
	*apiError
	name string
}

func (e *unknownFieldError) Unwrap() error { return e.apiError }

// RerankDocument is a document of a rerank request: a JSON string or an
// object (Cohere v1, Jina) whose fields all come back in the response.
type RerankDocument struct {
	// Text is the string, or the object's "text".
	Text string `json:"text"`
	// Object is an object document's JSON as sent; nil for a string.
	Object json.RawMessage `json:"-"`

	hasText bool // the object has "text"
}

// documentError is a rerank document of the wrong shape.
type documentError struct{ msg string }

func (e *documentError) Error() string { return e.msg }

// UnmarshalJSON accepts "text" or an object, kept whole ({"text": ...,
// other fields}).
func (d *RerankDocument) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &d.Text)
	}
	if len(b) > 0 && b[0] == '{' {
		return d.unmarshalObject(b)
	}
	return &documentError{fmt.Sprintf("document must be a string or {\"text\": ...}, not %.20s", strings.ToValidUTF8(string(b), "?"))}
}

// RerankRequest is the body of /v1/rerank and /v2/rerank: Cohere v1, v2
// and Jina requests are accepted unchanged. It defines every field those
// APIs document, so that no other field is ignored: an unknown one is a 400
// naming it.
type RerankRequest struct {
	Model     string           `json:"model"`
	Query     *string          `json:"query"`
	Documents []RerankDocument `json:"documents"`
	TopN      *int             `json:"top_n"`
	// ReturnDocuments defaults to true on /v1/rerank (Jina; Cohere v1
	// clients ignore the extra field) and false on /v2/rerank (Cohere v2).
	ReturnDocuments *bool `json:"return_documents"`
	// RankFields names the object fields ranked, in order (Cohere v1).
	RankFields []string `json:"rank_fields"`
	// MaxTokensPerDoc cuts each ranked text to this many tokens (Cohere v2).
	MaxTokensPerDoc *int `json:"max_tokens_per_doc"`
	// MaxChunksPerDoc is Cohere v1's: a long document is scored in at most
	// this many chunks, its best chunk's score its own. It is "long_documents":
	// "chunk" with "max_chunks". Sent alone (no twostage option beside it)
	// to a reranker that takes no per-call options (lexical, a remote API),
	// which does not chunk here, the cap is met and the request is served
	// as without it, so Cohere v1 clients need no change.
	MaxChunksPerDoc *int `json:"max_chunks_per_doc"`
	// Priority is Cohere v2's scheduling hint under load; it does not change
	// results, and this server serves requests in arrival order.
	Priority *int `json:"priority"`
	// RerankFields are twostage's extensions: instruction, long documents,
	// max_tokens_per_query.
	RerankFields

	texts []string               // what is ranked, per document
	opts  twostage.RerankOptions // RerankFields, as checked by decodeRerank
	// capOnly: opts are max_chunks_per_doc's alone (see MaxChunksPerDoc).
	capOnly bool
}

// RerankFields are the per-call rerank options of /v1/rerank, /v2/rerank
// and /v1/search (twostage.RerankOptions): fields that Cohere's and Jina's
// clients do not send, so their requests are unchanged.
type RerankFields struct {
	// Instruction is the task instruction (vLLM's field): zerank's in
	// ZeroEntropy's format, Qwen3-Reranker's <Instruct>.
	Instruction string `json:"instruction"`
	// LongDocuments is "truncate" (the default) or "chunk".
	LongDocuments string `json:"long_documents"`
	// ChunkTokens, ChunkOverlap and MaxChunks size the windows of "chunk".
	ChunkTokens  int `json:"chunk_tokens"`
	ChunkOverlap int `json:"chunk_overlap"`
	MaxChunks    int `json:"max_chunks"`
	// MaxTokensPerQuery cuts the query to this many tokens (vLLM).
	MaxTokensPerQuery *int `json:"max_tokens_per_query"`
}

// options checks f and the request's max_tokens_per_doc (perDoc, nil
// when left out) and returns f's twostage.RerankOptions, token caps left
// out (the caller applies them).
func (f *RerankFields) options(perDoc *int) (twostage.RerankOptions, error) {
	o := twostage.RerankOptions{Instruction: f.Instruction, LongDocuments: twostage.LongDocuments(f.LongDocuments),
		ChunkTokens: f.ChunkTokens, ChunkOverlap: f.ChunkOverlap, MaxChunks: f.MaxChunks}
	switch {
	case perDoc != nil && *perDoc < 1:
		return o, badRequest("invalid_input", `"max_tokens_per_doc" %d: want at least 1`, *perDoc)
	case f.MaxTokensPerQuery != nil && *f.MaxTokensPerQuery < 1:
		return o, badRequest("invalid_input", `"max_tokens_per_query" %d: want at least 1`, *f.MaxTokensPerQuery)
	}
	if err := o.Check(); err != nil {
		return o, badRequest("invalid_input", "%v", err)
	}
	return o, nil
}

// decodeRerank parses and validates a rerank body.
func decodeRerank(data []byte, maxDocs int) (*RerankRequest, error) {
	var req RerankRequest
	if err := decodeStrict(data, &req, rerankFieldNames); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, badRequest("invalid_input", "%v", err)
	}
	switch {
	case req.Query == nil:
		return nil, badRequest("invalid_input", `missing "query"`)
	case strings.TrimSpace(*req.Query) == "":
		return nil, badRequest("invalid_input", `"query" is empty`)
	case !utf8.ValidString(*req.Query):
		return nil, badRequest("invalid_input", `"query" is not valid UTF-8`)
	case req.Documents == nil:
		return nil, badRequest("invalid_input", `missing "documents"`)
	case len(req.Documents) == 0:
		return nil, badRequest("invalid_input", `"documents" is empty; send at least one`)
	case len(req.Documents) > maxDocs:
		return nil, badRequest("too_many_documents", "%d documents; at most %d per request", len(req.Documents), maxDocs)
	case req.TopN != nil && *req.TopN < 1:
		return nil, badRequest("invalid_input", `"top_n" %d: want at least 1 (leave it out for all)`, *req.TopN)
	}
	opts, err := req.RerankFields.options(req.MaxTokensPerDoc)
	if err != nil {
		return nil, err
	}
	if n := req.MaxChunksPerDoc; n != nil {
		switch {
		case *n < 1:
			return nil, badRequest("invalid_input", `"max_chunks_per_doc" %d: want at least 1`, *n)
		case opts.LongDocuments == twostage.Truncate:
			return nil, badRequest("invalid_input", `"max_chunks_per_doc" asks for "long_documents": "chunk", not "truncate"`)
		case opts.MaxChunks != 0 && opts.MaxChunks != *n:
			return nil, badRequest("invalid_input", `"max_chunks_per_doc" %d and "max_chunks" %d differ; send one`, *n, opts.MaxChunks)
		}
		req.capOnly = opts.IsZero()
		opts.LongDocuments, opts.MaxChunks = twostage.Chunk, *n
	}
	req.opts = opts
	texts, err := rankTexts(req.Documents, req.RankFields)
	if err != nil {
		return nil, err
	}
	req.texts = texts
	return &req, nil
}

// RerankResult is one entry of a rerank response; Document is the document
// as sent (a string as {"text": ...}).
type RerankResult struct {
	Index          int             `json:"index"`
	RelevanceScore float64         `json:"relevance_score"`
	RawScore       float64         `json:"raw_score"`
	Document       *RerankDocument `json:"document,omitempty"`
	// Chunk is the best window's character offsets in the ranked text,
	// with "long_documents": "chunk".
	Chunk *twostage.Span `json:"chunk,omitempty"`
}

// RerankResponse is the union of the Cohere and Jina responses, with
// raw_score added: results sorted by relevance_score, highest first. ID is
// the request id (the X-Request-Id header); Model echoes the request's
// model, or names the reranker used when the request named none.
type RerankResponse struct {
	ID      string         `json:"id"`
	Model   string         `json:"model"`
	Results []RerankResult `json:"results"`
	Meta    rerankMeta     `json:"meta"`
	Usage   RerankUsage    `json:"usage"`
	// Reranker names the fallback stage that answered, when there is one.
	Reranker string `json:"reranker,omitempty"`
}

// RerankUsage is Jina's usage: the tokens ranked, the query's once per
// document plus each document's (after max_tokens_per_doc), counted with
// the reranker's tokenizer or, without one, estimated (see TokenCutter).
type RerankUsage struct {
	TotalTokens int `json:"total_tokens"`
}

type rerankMeta struct {
	APIVersion struct {
		Version string `json:"version"`
	} `json:"api_version"`
	BilledUnits struct {
		SearchUnits int `json:"search_units"`
	} `json:"billed_units"`
}

func (s *Server) handleRerank(w http.ResponseWriter, r *http.Request) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := decodeRerank(data, s.cfg.MaxDocuments)
	if err != nil {
		return err
	}
	if err := s.checkRerank(req); err != nil {
		return err
	}
	name := s.rerankName
	if _, ok := s.rerankers[req.Model]; ok && req.Model != "" {
		name = req.Model
	}
	rr := s.rerankers[name]
	if rr == nil {
		return &apiError{http.StatusNotFound, "not_found", "no reranker is configured for the rerank endpoints"}
	}
	maxTokens := 0
	if req.MaxTokensPerDoc != nil {
		maxTokens = *req.MaxTokensPerDoc
	}
	maxQuery := 0
	if req.MaxTokensPerQuery != nil {
		maxQuery = *req.MaxTokensPerQuery
	}
	query, docs, tokens, err := cutDocuments(rr, *req.Query, req.texts, maxQuery, maxTokens)
	if err != nil {
		return err
	}
	returnDocs := r.URL.Path == "/v1/rerank"
	if req.ReturnDocuments != nil {
		returnDocs = *req.ReturnDocuments
	}
	s.metrics.rerankDocs.Observe(float64(len(docs)))
	ctx, rep := fallback.Track(r.Context())
	t := time.Now()
	opts := req.opts
	if _, ok := rr.(twostage.OptionsReranker); !ok && req.capOnly {
		opts = twostage.RerankOptions{} // max_chunks_per_doc alone: rr does not chunk
	}
	scores, err := twostage.RerankWith(ctx, rr, query, docs, opts)
	s.metrics.stage.WithLabelValues("rerank").Observe(time.Since(t).Seconds())
	if err != nil {
		return err
	}
	res := make([]RerankResult, len(docs))
	for i, sc := range scores {
		res[i] = RerankResult{Index: i, RelevanceScore: sc.Score, RawScore: sc.Raw, Chunk: sc.Chunk}
		if returnDocs {
			res[i].Document = &req.Documents[i]
		}
	}
	slices.SortStableFunc(res, func(a, b RerankResult) int {
		switch {
		case a.RelevanceScore > b.RelevanceScore:
			return -1
		case a.RelevanceScore < b.RelevanceScore:
			return 1
		}
		return 0
	})
	if req.TopN != nil && *req.TopN < len(res) {
		res = res[:*req.TopN]
	}
	model := req.Model
	if model == "" {
		model = name
	}
	out := RerankResponse{ID: responseID(w), Model: model, Results: res, Reranker: rep.Served(), Usage: RerankUsage{TotalTokens: tokens}}
	out.Meta.APIVersion.Version = "2"
	out.Meta.BilledUnits.SearchUnits = searchUnits(len(docs))
	writeJSON(w, http.StatusOK, out)
	return nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SearchRequest is the body of /v1/search.
type SearchRequest struct {
	Query      string           `json:"query"`
	Collection string           `json:"collection"`
	TopN       *int             `json:"top_n"`
	CandidateK *int             `json:"candidate_k"`
	Filter     *twostage.Filter `json:"filter"`
	MinScore   *float64         `json:"min_score"`
	Vector     []float32        `json:"vector"`
	NoRerank   bool             `json:"no_rerank"`
	OnError    string           `json:"on_rerank_error"`

	// OmitText leaves the documents' text out of the hits.
	OmitText bool `json:"omit_text"`

	// MaxTokensPerDoc cuts each hit's text to this many tokens before
	// reranking; RerankFields are the other per-call rerank options.
	MaxTokensPerDoc *int `json:"max_tokens_per_doc"`
	RerankFields

	rerank twostage.RerankOptions // RerankFields, as checked by decodeSearch
}

// The fields each endpoint knows, for the near name of an unknown one: the
// request's own and those of the objects inside it.
var (
	rerankFieldNames = validate.JSONKeys(RerankRequest{})
	searchFieldNames = slices.Concat(validate.JSONKeys(SearchRequest{}), filterFieldNames)
	upsertFieldNames = slices.Concat(validate.JSONKeys(UpsertRequest{}), documentFieldNames)
	deleteFieldNames = validate.JSONKeys(DeleteRequest{})

	zero               = 0.0
	filterFieldNames   = validate.JSONKeys(twostage.Filter{Field: "f", Value: 0, Values: []any{0}, Gt: &zero, Gte: &zero, Lt: &zero, Lte: &zero, Filters: []*twostage.Filter{{}}})
	documentFieldNames = validate.JSONKeys(twostage.Document{Vector: []float32{0}, Metadata: map[string]any{"k": 0}})
)

// rerankFieldsSet names the rerank options the request sets, quoted.
func (req *SearchRequest) rerankFieldsSet() []string {
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"instruction", req.Instruction != ""}, {"long_documents", req.LongDocuments != ""},
		{"chunk_tokens", req.ChunkTokens != 0}, {"chunk_overlap", req.ChunkOverlap != 0}, {"max_chunks", req.MaxChunks != 0},
		{"max_tokens_per_doc", req.MaxTokensPerDoc != nil}, {"max_tokens_per_query", req.MaxTokensPerQuery != nil},
	} {
		if f.set {
			set = append(set, strconv.Quote(f.name))
		}
	}
	return set
}

func decodeSearch(data []byte) (*SearchRequest, error) {
	var req SearchRequest
	if err := decodeStrict(data, &req, searchFieldNames); err != nil {
		return nil, err
	}
	if err := searchLimits(&req); err != nil {
		return nil, badRequest("invalid_input", "%v", err)
	}
	switch {
	case strings.TrimSpace(req.Query) == "" && req.Vector == nil:
		return nil, badRequest("invalid_input", `missing "query"`)
	case !utf8.ValidString(req.Query) || !utf8.ValidString(req.Collection):
		return nil, badRequest("invalid_input", "query or collection is not valid UTF-8")
	case req.OnError != "" && req.OnError != "fail" && req.OnError != "degrade":
		return nil, badRequest("invalid_input", `"on_rerank_error" %q: want fail or degrade`, req.OnError)
	}
	ro, err := req.RerankFields.options(req.MaxTokensPerDoc)
	if err != nil {
		return nil, err
	}
	if set := req.rerankFieldsSet(); req.NoRerank && len(set) > 0 { // Pipeline.Search refuses them too, without the fields' names
		return nil, badRequest("invalid_input", `%s with "no_rerank": rerank options apply to the rerank stage; send one or the other`, strings.Join(set, ", "))
	}
	req.rerank = ro
	if req.Filter != nil {
		f, err := req.Filter.Normalize()
		if err != nil {
			return nil, badRequest("invalid_input", "filter: %v", err)
		}
		req.Filter = f
	}
	return &req, nil
}

// searchLimits checks top_n, candidate_k and min_score by the rules every
// caller shares (twostage.CheckLimits); a top_n or candidate_k of 0 means
// the collection's default, as if left out.
func searchLimits(req *SearchRequest) error {
	deref := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	var minScore float64
	if req.MinScore != nil {
		minScore = *req.MinScore
	}
	if req.NoRerank && minScore != 0 { // CheckLimits refuses it too, without the fields' names
		return fmt.Errorf(`"min_score" %v with "no_rerank": min_score drops hits by their rerank score; send one`, minScore)
	}
	// A search by vector alone is not reranked (Pipeline.Search); whether
	// the collection has a reranker is the pipeline's to check.
	rerank := !req.NoRerank && (strings.TrimSpace(req.Query) != "" || req.Vector == nil)
	if err := twostage.CheckLimits(deref(req.TopN), deref(req.CandidateK), minScore, rerank); err != nil {
		return err
	}
	if deref(req.TopN) == 0 {
		req.TopN = nil
	}
	if deref(req.CandidateK) == 0 {
		req.CandidateK = nil
	}
	return nil
}

// SearchResponse is the answer of /v1/search.
type SearchResponse struct {
	Collection string         `json:"collection"`
	Hits       []twostage.Hit `json:"hits"`
	Candidates int            `json:"candidates"`
	Reranked   bool           `json:"reranked"`
	Degraded   bool           `json:"degraded"`
	Cause      string         `json:"cause,omitempty"`
	// Reranker names the fallback stage that answered, when there is one.
	Reranker string        `json:"reranker,omitempty"`
	Timings  SearchTimings `json:"timings"`
}

// SearchTimings are the stage durations in milliseconds.
type SearchTimings struct {
	EmbedMS    float64 `json:"embed_ms"`
	RetrieveMS float64 `json:"retrieve_ms"`
	RerankMS   float64 `json:"rerank_ms"`
	TotalMS    float64 `json:"total_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Server) collection(name string) (*collection, error) {
	if name == "" {
		if len(s.collections) == 1 {
			for _, c := range s.collections {
				return c, nil
			}
		}
		return nil, badRequest("invalid_input", `missing "collection"; one of: %s`, strings.Join(names(s.collections), ", "))
	}
	c, ok := s.collections[name]
	if !ok {
		return nil, &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("no collection %q", name)}
	}
	return c, nil
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	req, err := decodeSearch(data)
	if err != nil {
		return err
	}
	if err := s.checkQuery(req.Query); err != nil {
		return err
	}
	c, err := s.collection(req.Collection)
	if err != nil {
		return err
	}
	opts := twostage.SearchOptions{TopN: c.cfg.TopN, CandidateK: c.cfg.CandidateK, Filter: req.Filter, Vector: req.Vector, NoRerank: req.NoRerank}
	if req.TopN != nil {
		opts.TopN = *req.TopN
		if req.CandidateK == nil {
			opts.CandidateK = max(opts.CandidateK, opts.TopN)
		}
	}
	if req.CandidateK != nil {
		opts.CandidateK = *req.CandidateK
	}
	if req.MinScore != nil {
		opts.MinScore = *req.MinScore
	}
	ro := req.rerank
	if req.MaxTokensPerDoc != nil {
		ro.MaxTokensPerDoc = *req.MaxTokensPerDoc
	}
	if req.MaxTokensPerQuery != nil {
		ro.MaxTokensPerQuery = *req.MaxTokensPerQuery
	}
	opts.Rerank = ro
	switch req.OnError {
	case "fail":
		p := twostage.FailOnRerankError
		opts.Policy = &p
	case "degrade":
		p := twostage.DegradeOnRerankError
		opts.Policy = &p
	}
	ctx, rep := fallback.Track(r.Context())
	res, err := c.pipeline.Search(ctx, req.Query, opts)
	if err != nil {
		return err
	}
	s.metrics.observeSearch(c.name, res)
	out := SearchResponse{
		Collection: c.name, Hits: res.Hits, Candidates: res.Candidates, Reranked: res.Reranked,
		Degraded: res.Degraded, Reranker: rep.Served(),
		Timings: SearchTimings{ms(res.Timings.Embed), ms(res.Timings.Retrieve), ms(res.Timings.Rerank), ms(res.Timings.Total)},
	}
	if out.Hits == nil {
		out.Hits = []twostage.Hit{}
	}
	omitText(out.Hits, req.OmitText)
	if res.Cause != nil {
		out.Cause = res.Cause.Error()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// UpsertRequest is the body of POST /v1/collections/{name}/documents.
type UpsertRequest struct {
	Documents []twostage.Document `json:"documents"`
}

func decodeUpsert(data []byte, maxDocs int) (*UpsertRequest, error) {
	var req UpsertRequest
	if err := decodeStrict(data, &req, upsertFieldNames); err != nil {
		return nil, inDocument(data, err)
	}
	switch {
	case req.Documents == nil:
		return nil, badRequest("invalid_input", `missing "documents"`)
	case len(req.Documents) > maxDocs:
		return nil, badRequest("too_many_documents", "%d documents; at most %d per request", len(req.Documents), maxDocs)
	}
	for i := range req.Documents {
		d := &req.Documents[i]
		if d.ID == "" {
			return nil, badRequest("invalid_input", "document %d has no id", i)
		}
		if len(d.Vector) == 0 && strings.TrimSpace(d.Text) == "" { // "txt" for "text" would store the embedding of ""
			return nil, badRequest("invalid_input", `document %q has no "text" to embed and no "vector"`, d.ID)
		}
		md, err := jsonMetadata(d.Metadata)
		if err != nil {
			return nil, badRequest("invalid_input", "document %q: %v", d.ID, err)
		}
		d.Metadata = md
	}
	return &req, nil
}

// inDocument adds the index and id of the first document that holds the
// unknown field err names, when one does (the decoder does not say where
// it was).
func inDocument(data []byte, err error) error {
	var ue *unknownFieldError
	if !errors.As(err, &ue) {
		return err
	}
	var docs struct {
		Documents []map[string]json.RawMessage `json:"documents"`
	}
	if json.Unmarshal(data, &docs) != nil {
		return err
	}
	for i, d := range docs.Documents {
		if _, ok := d[ue.name]; !ok {
			continue
		}
		var id string
		if json.Unmarshal(d["id"], &id) == nil && id != "" {
			return badRequest(ue.Code, "document %d (%q): %s", i, id, ue.Message)
		}
		return badRequest(ue.Code, "document %d: %s", i, ue.Message)
	}
	return err
}

// jsonMetadata converts json.Number values to int64 or float64 and checks
// the portable types.
func jsonMetadata(md map[string]any) (map[string]any, error) {
	for k, v := range md {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				md[k] = i
			} else if f, err := n.Float64(); err == nil {
				md[k] = f
			} else {
				return nil, fmt.Errorf("metadata %q: number %s out of range", k, n)
			}
		}
	}
	return driver.NormalizeMetadata(md)
}

// DeleteRequest is the body of DELETE /v1/collections/{name}/documents
// (ids may also come as ?id=a&id=b).
type DeleteRequest struct {
	IDs []string `json:"ids"`
}

func decodeDelete(data []byte, query []string, maxDocs int) (*DeleteRequest, error) {
	req := &DeleteRequest{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := decodeStrict(data, req, deleteFieldNames); err != nil {
			return nil, err
		}
	}
	req.IDs = append(req.IDs, query...)
	switch {
	case len(req.IDs) == 0:
		return nil, badRequest("invalid_input", `no ids: send {"ids": [...]} or ?id=...`)
	case len(req.IDs) > maxDocs:
		return nil, badRequest("too_many_documents", "%d ids; at most %d per request", len(req.IDs), maxDocs)
	}
	for i, id := range req.IDs {
		if id == "" || !utf8.ValidString(id) {
			return nil, badRequest("invalid_input", "id %d is empty or not valid UTF-8", i)
		}
	}
	return req, nil
}

func (s *Server) handleDocuments(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "POST, DELETE")
		return &apiError{http.StatusMethodNotAllowed, "method_not_allowed", r.Method + " is not allowed; use POST or DELETE"}
	}
	c, err := s.collection(r.PathValue("name"))
	if err != nil {
		return err
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if r.Method == http.MethodDelete {
		req, err := decodeDelete(data, r.URL.Query()["id"], s.cfg.MaxDocuments)
		if err != nil {
			return err
		}
		out, err := deleteDocuments(r.Context(), c, req.IDs)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	req, err := decodeUpsert(data, s.cfg.MaxDocuments)
	if err != nil {
		return err
	}
	if err := s.checkUpsert(req); err != nil {
		return err
	}
	t := time.Now()
	if err := c.pipeline.Index(r.Context(), req.Documents, nil); err != nil {
		return err
	}
	s.metrics.stage.WithLabelValues("index").Observe(time.Since(t).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{"collection": c.name, "upserted": len(req.Documents)})
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// ReadyChecker is an optional reranker or embedder capability: Ready reports
// whether it can serve (a model loaded, a device present). /readyz calls it.
type ReadyChecker interface {
	Ready(ctx context.Context) error
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	checks := map[string]string{}
	ok := true
	fail := func(name string, err error) {
		ok = false
		checks[name] = err.Error()
	}
	if s.draining.Load() {
		fail("server", errors.New("shutting down"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	for _, name := range names(s.collections) {
		if _, err := s.collections[name].store.Count(ctx); err != nil {
			fail("store:"+name, err)
		} else {
			checks["store:"+name] = "ok"
		}
	}
	for _, name := range names(s.rerankers) {
		if rc, isRC := s.rerankers[name].(ReadyChecker); isRC {
			if err := rc.Ready(ctx); err != nil {
				fail("reranker:"+name, err)
				continue
			}
		}
		checks["reranker:"+name] = "ok"
	}
	status, word := http.StatusOK, "ready"
	if !ok {
		status, word = http.StatusServiceUnavailable, "not ready"
	}
	writeJSON(w, status, map[string]any{"status": word, "checks": checks})
	return nil
}
