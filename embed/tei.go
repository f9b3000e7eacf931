package embed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"twostage/errdefs"
)

// TEIDefaultBatch is the batch size NewTEI uses when the server's GET /info
// cannot be read (TEI's own default max_client_batch_size).
const TEIDefaultBatch = 32

// TEI embeds through Hugging Face Text Embeddings Inference's native
// POST /embed route, asking the server to truncate over-long inputs and to
// L2-normalize. It is safe for concurrent use; Close marks it closed.
type TEI struct {
	*remote
	info TEIInfo
}

// TEIInfo is the part of TEI's GET /info answer the embedder uses.
type TEIInfo struct {
	ModelID            string `json:"model_id"`
	MaxInputLength     int    `json:"max_input_length"`
	MaxBatchTokens     int    `json:"max_batch_tokens"`
	MaxClientBatchSize int    `json:"max_client_batch_size"`
}

type teiAPI struct{ url string }

// NewTEI returns an embedder for the TEI server at baseURL
// ("http://localhost:8080"). It reads GET /info for the server's batch
// limit (max_client_batch_size) unless opts.BatchSize is set, and, unless
// opts.Dim is set, embeds one probe text to learn the dimension: a server
// that is down fails here with an error wrapping errdefs.ErrUnavailable.
func NewTEI(ctx context.Context, baseURL string, opts *HTTPOptions) (*TEI, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("embed: tei: base url %q is not an http(s) url: %w", baseURL, errdefs.ErrInvalidInput)
	}
	base := strings.TrimSuffix(strings.TrimRight(u.String(), "/"), "/embed")
	t := &TEI{}
	if o.BatchSize == 0 {
		o.BatchSize = TEIDefaultBatch
		if info, err := teiInfo(ctx, o, base); err == nil {
			t.info = info
			if info.MaxClientBatchSize > 0 {
				o.BatchSize = info.MaxClientBatchSize
			}
		} else {
			o.Logger.Debug("embed: tei: no /info; using the default batch size", "err", err, "batch", o.BatchSize)
		}
	}
	t.remote = &remote{api: &teiAPI{url: base + "/embed"}, opts: o, batchSize: o.BatchSize, dim: o.Dim}
	if t.dim == 0 {
		if err := t.probe(ctx); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Info returns what GET /info reported when the embedder was created (zero
// when it was not read).
func (t *TEI) Info() TEIInfo { return t.info }

func teiInfo(ctx context.Context, o HTTPOptions, base string) (TEIInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var info TEIInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/info", nil)
	if err != nil {
		return info, err
	}
	if o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("GET /info: HTTP %d", resp.StatusCode)
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info)
	return info, err
}

func (a *teiAPI) name() string     { return "tei" }
func (a *teiAPI) endpoint() string { return a.url }

func (a *teiAPI) body(texts []string) ([]byte, error) {
	return json.Marshal(struct {
		Inputs    []string `json:"inputs"`
		Truncate  bool     `json:"truncate"`
		Normalize bool     `json:"normalize"`
	}{texts, true, true})
}

func (a *teiAPI) parse(body []byte, n int) ([][]float32, error) {
	var vs [][]float32
	if err := json.Unmarshal(body, &vs); err != nil {
		return nil, err
	}
	if len(vs) != n {
		return nil, fmt.Errorf("%d embeddings for %d inputs", len(vs), n)
	}
	for i, v := range vs {
		if v == nil {
			return nil, fmt.Errorf("embedding %d missing", i)
		}
	}
	if err := noNulls(body); err != nil {
		return nil, err
	}
	return vs, nil
}

func (a *teiAPI) errorMessage(body []byte) string { return errorMessage(body) }
