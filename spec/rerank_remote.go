package spec

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"twostage"
	"twostage/rerank/fallback"
	"twostage/rerank/remote"
)

// Remote reranker schemes. Keys come from the environment only (see package
// remote); a spec never holds one. A model other than the API's default goes
// in the URL fragment: cohere:https://api.cohere.com#model=rerank-v3.5; so
// does ZeroEntropy's latency mode: zeroentropy:#latency=slow.
func init() {
	helps := map[remote.Kind]string{
		remote.ZeroEntropy: "ZeroEntropy API (zerank-2); zeroentropy or zeroentropy:URL, key in ZEROENTROPY_API_KEY",
		remote.Cohere:      "Cohere v2 rerank API; cohere or cohere:URL, key in COHERE_API_KEY",
		remote.Jina:        "Jina rerank API; jina or jina:URL, key in JINA_API_KEY",
		remote.VLLM:        "vLLM /v1/rerank; vllm:URL, optional key in VLLM_API_KEY",
		remote.TEI:         "Text Embeddings Inference /rerank; tei:URL, optional key in TEI_API_KEY",
		remote.Twostage:    "another twostage server; twostage:URL, optional key in TWOSTAGE_API_KEY",
	}
	for _, k := range remote.Kinds() {
		mustRegister(RegisterReranker(string(k), helps[k], func(ctx context.Context, spec string) (twostage.Reranker, error) {
			return openRemote(k, spec)
		}))
	}
	mustRegister(RegisterReranker("chain", "fallback chain tried in order, e.g. chain:zerank:DIR|zeroentropy (first success wins)", openChain))
}

func openRemote(k remote.Kind, spec string) (twostage.Reranker, error) {
	u, frag, _ := strings.Cut(Arg(spec), "#")
	opts := &remote.Options{}
	if frag != "" {
		if err := remoteFragment(frag, opts); err != nil {
			return nil, badf("reranker %q: %v", spec, err)
		}
	}
	r, err := remote.New(k, remoteURL(u), opts)
	if err != nil {
		if errors.Is(err, twostage.ErrInvalidInput) { // badf names ErrBadSpec ("invalid input") once, at the end
			return nil, badf("reranker %q: %s", spec, strings.TrimSuffix(err.Error(), ": "+twostage.ErrInvalidInput.Error()))
		}
		return nil, err
	}
	return r, nil
}

// openChain opens "chain:A|B|C": each part is any reranker spec.
func openChain(ctx context.Context, spec string) (twostage.Reranker, error) {
	parts := strings.Split(strings.TrimPrefix(spec, "chain:"), "|")
	var stages []fallback.Stage
	closeOpened := func() {
		for _, s := range stages {
			if c, ok := s.Reranker.(interface{ Close() error }); ok {
				c.Close()
			}
		}
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" || p == "none" || SchemeOf(p) == "chain" {
			closeOpened()
			return nil, badf("reranker %q: stage %q: want a reranker spec (not empty, none or another chain)", spec, p)
		}
		r, err := OpenReranker(ctx, p)
		if err != nil {
			closeOpened()
			return nil, fmt.Errorf("spec: chain stage %q: %w", p, err)
		}
		stages = append(stages, fallback.Stage{Name: p, Reranker: r})
	}
	c, err := fallback.New(stages...)
	if err != nil {
		closeOpened()
		return nil, err
	}
	return c, nil
}

// remoteFragment reads a remote spec's fragment: model=NAME and, for
// ZeroEntropy, latency=fast|slow|auto, joined by '&'.
func remoteFragment(frag string, opts *remote.Options) error {
	for _, kv := range strings.Split(frag, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case v == "":
			return errors.New("the URL fragment must be #model=NAME (or latency=fast|slow|auto, joined by &)")
		case k == "model":
			opts.Model = v
		case k == "latency":
			opts.Latency = v
		default:
			return fmt.Errorf("unknown fragment key %q: the URL fragment must be #model=NAME (or latency=fast|slow|auto, joined by &)", k)
		}
	}
	return nil
}

// remoteURL gives a URL without a scheme https://, so an API key is never
// sent in clear unless http:// is written out.
func remoteURL(u string) string {
	if u != "" && !strings.Contains(u, "://") {
		return "https://" + u
	}
	return u
}
