package embed

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"

	"twostage/errdefs"
)

// OpenAIMaxBatch is the most inputs the OpenAI embeddings API accepts in one
// request, and the default batch size of NewOpenAI.
const OpenAIMaxBatch = 2048

// OpenAI embeds through an OpenAI-compatible POST /v1/embeddings endpoint:
// OpenAI itself, vLLM, Ollama (http://localhost:11434/v1), Text Embeddings
// Inference's OpenAI route, LiteLLM and the like. It is safe for concurrent
// use; Close marks it closed.
type OpenAI struct {
	*remote
}

type openaiAPI struct {
	url        string
	model      string
	dimensions int
}

// NewOpenAI returns an embedder for model at baseURL: the API root
// ("https://api.openai.com/v1", "http://localhost:8000/v1") or the full
// ".../embeddings" URL; a root without a path gets "/v1". Unless opts.Dim is
// set, one probe request learns the dimension, so a server that is down
// fails here with an error wrapping errdefs.ErrUnavailable.
func NewOpenAI(ctx context.Context, baseURL, model string, opts *HTTPOptions) (*OpenAI, error) {
	return newOpenAI(ctx, baseURL, model, 0, opts)
}

// NewOpenAIDimensions is NewOpenAI that asks the server for dims-dimensional
// vectors (the request's "dimensions" field, for models trained to be
// shortened, such as text-embedding-3-small). Servers that cannot shorten
// the model's vectors answer with an error.
func NewOpenAIDimensions(ctx context.Context, baseURL, model string, dims int, opts *HTTPOptions) (*OpenAI, error) {
	if dims <= 0 {
		return nil, fmt.Errorf("embed: openai: dimensions %d must be positive: %w", dims, errdefs.ErrInvalidInput)
	}
	return newOpenAI(ctx, baseURL, model, dims, opts)
}

func newOpenAI(ctx context.Context, baseURL, model string, dims int, opts *HTTPOptions) (*OpenAI, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if model == "" {
		return nil, fmt.Errorf("embed: openai: empty model name: %w", errdefs.ErrInvalidInput)
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("embed: openai: base url %q is not an http(s) url: %w", baseURL, errdefs.ErrInvalidInput)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1"
	}
	if dims > 0 {
		if o.Dim != 0 && o.Dim != dims {
			return nil, fmt.Errorf("embed: openai: Dim %d differs from the requested dimensions %d: %w", o.Dim, dims, errdefs.ErrInvalidInput)
		}
		o.Dim = dims
	}
	if o.BatchSize == 0 {
		o.BatchSize = OpenAIMaxBatch
	}
	if o.MaxBatchChars == 0 {
		o.MaxBatchChars = 1_000_000
	}
	a := &openaiAPI{url: joinURL(u.String(), "/embeddings"), model: model, dimensions: dims}
	r := &remote{api: a, opts: o, batchSize: o.BatchSize, dim: o.Dim}
	if r.dim == 0 {
		if err := r.probe(ctx); err != nil {
			return nil, err
		}
	}
	return &OpenAI{r}, nil
}

func (a *openaiAPI) name() string     { return "openai" }
func (a *openaiAPI) endpoint() string { return a.url }

func (a *openaiAPI) body(texts []string) ([]byte, error) {
	req := struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
		Dimensions     int      `json:"dimensions,omitempty"`
	}{a.model, texts, "float", a.dimensions}
	return json.Marshal(req)
}

func (a *openaiAPI) parse(body []byte, n int) ([][]float32, error) {
	var resp struct {
		Data []struct {
			Index     *int            `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	if len(resp.Data) != n {
		return nil, fmt.Errorf("%d embeddings for %d inputs", len(resp.Data), n)
	}
	out := make([][]float32, n)
	for i, d := range resp.Data {
		idx := i
		if d.Index != nil {
			idx = *d.Index
		}
		if idx < 0 || idx >= n || out[idx] != nil {
			return nil, fmt.Errorf("embedding index %d out of range or repeated", idx)
		}
		v, err := decodeEmbedding(d.Embedding)
		if err != nil {
			return nil, fmt.Errorf("embedding %d: %w", idx, err)
		}
		out[idx] = v
	}
	return out, nil
}

// decodeEmbedding reads a JSON array of numbers, or a base64 string of
// little-endian float32s (encoding_format "base64").
func decodeEmbedding(raw json.RawMessage) ([]float32, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		if len(b)%4 != 0 {
			return nil, errors.New("base64 embedding is not a whole number of float32s")
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v, nil
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("missing embedding")
	}
	if err := noNulls(raw); err != nil {
		return nil, err
	}
	return v, nil
}

func (a *openaiAPI) errorMessage(body []byte) string { return errorMessage(body) }

// errorMessage pulls the message out of the error bodies of OpenAI
// ({"error": {"message": ...}}), vLLM ({"message": ...}) and TEI
// ({"error": "...", "error_type": ...}); else a snippet of the body.
func errorMessage(body []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		var s string
		if json.Unmarshal(e.Error, &s) == nil && s != "" {
			return s
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.Error, &o) == nil && o.Message != "" {
			return o.Message
		}
		if e.Message != "" {
			return e.Message
		}
	}
	if len(body) == 0 {
		return ""
	}
	return snippet(body)
}
