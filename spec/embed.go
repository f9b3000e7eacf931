package spec

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"twostage"
	"twostage/embed"
	"twostage/modeldir"
)

// The embedder schemes: hash: (model-free), onnx: (a bi-encoder on ONNX
// Runtime), openai: and tei: (HTTP APIs).

// Environment variables holding the API key of HTTP embedders, first found
// wins. Keys never go on the command line, where ps and shell history see
// them.
var apiKeyEnv = []string{"TWOSTAGE_EMBED_API_KEY", "OPENAI_API_KEY"}

func init() {
	mustRegister(RegisterEmbedder("hash", "model-free hashing embedder; hash:DIM, default 384", func(ctx context.Context, spec string) (twostage.Embedder, error) {
		dim := 0
		if a := Arg(spec); a != "" {
			var err error
			if dim, err = strconv.Atoi(a); err != nil {
				return nil, badf("embedder %q: dimension %q is not a number", spec, a)
			}
		}
		return embed.NewHashing(dim)
	}))
	mustRegister(RegisterEmbedder("onnx", "ONNX bi-encoder; onnx:DIR[,pooling=mean|cls|last][,normalize=BOOL][,max_length=N]"+
		"[,query_prefix=S][,passage_prefix=S][,batch=N][,batch_tokens=N][,threads=N][,provider=cpu|cuda|tensorrt|xla]"+
		"[,platform=cpu|cuda][,compute=fp32|bf16|fp16] (provider=xla: DIR is a Hugging Face checkpoint)", openONNX))
	mustRegister(RegisterEmbedder("openai", "OpenAI-compatible /v1/embeddings (OpenAI, vLLM, Ollama, TEI); openai:URL,model=NAME[,dim=N]"+
		"[,dimensions=N][,batch=N][,timeout=DUR][,retries=N][,query_prefix=S][,passage_prefix=S]; key from "+strings.Join(apiKeyEnv, " or "), openOpenAI))
	mustRegister(RegisterEmbedder("tei", "Text Embeddings Inference /embed; tei:URL[,dim=N][,batch=N][,timeout=DUR][,retries=N]"+
		"[,query_prefix=S][,passage_prefix=S]; key from "+apiKeyEnv[0], openTEI))
}

func openONNX(ctx context.Context, spec string) (twostage.Embedder, error) {
	dir, opts, err := options(spec, "pooling", "normalize", "max_length", "query_prefix", "passage_prefix", "batch", "batch_tokens", "threads", "provider",
		"platform", "compute")
	if err != nil {
		return nil, err
	}
	if err := xlaOnly(spec, opts); err != nil {
		return nil, err
	}
	if dir, err = ModelDir(dir, modeldir.FamilyBertEmbedding); err != nil {
		return nil, err
	}
	o := &embed.ONNXOptions{Pooling: opts["pooling"], QueryPrefix: opts["query_prefix"], PassagePrefix: opts["passage_prefix"]}
	o.Provider, o.Platform, o.Compute = opts["provider"], opts["platform"], opts["compute"]
	if v, ok := opts["normalize"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, badf("%q: normalize=%q is not true or false", spec, v)
		}
		o.Normalize = &b
	}
	for key, p := range map[string]*int{"max_length": &o.MaxLength, "batch": &o.MaxBatchSize, "batch_tokens": &o.MaxBatchTokens, "threads": &o.IntraOpThreads} {
		if *p, err = intOpt(spec, opts, key); err != nil {
			return nil, err
		}
	}
	return embed.NewONNX(dir, o)
}

// httpOptions reads the options shared by the HTTP embedders.
func httpOptions(spec string, opts map[string]string) (*embed.HTTPOptions, error) {
	o := &embed.HTTPOptions{QueryPrefix: opts["query_prefix"], PassagePrefix: opts["passage_prefix"]}
	for _, k := range apiKeyEnv {
		if v := os.Getenv(k); v != "" {
			o.APIKey = v
			break
		}
	}
	var err error
	var retries int
	for key, p := range map[string]*int{"dim": &o.Dim, "batch": &o.BatchSize, "retries": &retries} {
		if *p, err = intOpt(spec, opts, key); err != nil {
			return nil, err
		}
	}
	if _, ok := opts["retries"]; ok {
		o.Retry.Attempts = retries + 1 // retries=0: none
	}
	if v, ok := opts["timeout"]; ok {
		if o.Timeout, err = time.ParseDuration(v); err != nil || o.Timeout <= 0 {
			return nil, badf("%q: timeout=%q is not a positive duration such as 30s", spec, v)
		}
	}
	return o, nil
}

func openOpenAI(ctx context.Context, spec string) (twostage.Embedder, error) {
	url, opts, err := options(spec, "model", "dim", "dimensions", "batch", "timeout", "retries", "query_prefix", "passage_prefix")
	if err != nil {
		return nil, err
	}
	if opts["model"] == "" {
		return nil, badf("%q: missing model=NAME", spec)
	}
	o, err := httpOptions(spec, opts)
	if err != nil {
		return nil, err
	}
	dims, err := intOpt(spec, opts, "dimensions")
	if err != nil {
		return nil, err
	}
	if dims > 0 {
		return embed.NewOpenAIDimensions(ctx, url, opts["model"], dims, o)
	}
	return embed.NewOpenAI(ctx, url, opts["model"], o)
}

func openTEI(ctx context.Context, spec string) (twostage.Embedder, error) {
	url, opts, err := options(spec, "dim", "batch", "timeout", "retries", "query_prefix", "passage_prefix")
	if err != nil {
		return nil, err
	}
	o, err := httpOptions(spec, opts)
	if err != nil {
		return nil, err
	}
	return embed.NewTEI(ctx, url, o)
}
