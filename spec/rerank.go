package spec

import (
	"context"
	"slices"
	"strings"

	"twostage"
	"twostage/inference"
	"twostage/modeldir"
	"twostage/rerank"
)

// The local reranker schemes: lexical (model-free BM25) and the ONNX
// engine's zerank: and onnx:. openEngine reads every engine option: a new
// option is one key in engineSpecKeys and one field set there.

// engineSpecKeys are the options of the zerank: and onnx: reranker specs.
var engineSpecKeys = []string{"max_length", "instruction", "batch", "batch_tokens", "threads", "provider", "device", "platform", "compute", "family", "prefix"}

func init() {
	mustRegister(RegisterReranker("lexical", "model-free BM25 over the candidates", func(ctx context.Context, spec string) (twostage.Reranker, error) {
		if a := Arg(spec); a != "" {
			return nil, badf("reranker %q: lexical takes no argument", spec)
		}
		return rerank.NewLexical(), nil
	}))
	help := "[,max_length=N][,instruction=S][,batch=N][,batch_tokens=N][,threads=N][,provider=cpu|cuda|tensorrt|xla][,device=N]" +
		"[,platform=cpu|cuda][,compute=fp32|bf16|fp16][,family=F][,prefix=auto|on|off]" + chunkSpecHelp + " (provider=xla: DIR is a Hugging Face checkpoint)"
	mustRegister(RegisterReranker("zerank", "zerank-2 (or zerank-1) converted by `twostage convert`, on ONNX Runtime; zerank:DIR"+help,
		func(ctx context.Context, spec string) (twostage.Reranker, error) {
			return openEngine(spec, modeldir.FamilyZerank)
		}))
	mustRegister(RegisterReranker("onnx", "any converted cross-encoder (zerank, qwen3-reranker, bert-cross-encoder; family from twostage.json); onnx:DIR"+help,
		func(ctx context.Context, spec string) (twostage.Reranker, error) { return openEngine(spec, "") }))
}

// openEngine opens the shared rerank engine for a zerank:DIR or onnx:DIR
// spec; family, when set, is the family the directory must hold.
func openEngine(spec, family string) (*rerank.Engine, error) {
	dir, opts, err := options(spec, slices.Concat(engineSpecKeys, chunkSpecKeys)...)
	if err != nil {
		return nil, err
	}
	if err := xlaOnly(spec, opts); err != nil {
		return nil, err
	}
	prefix, err := rerank.ParsePrefixMode(opts["prefix"])
	if err != nil {
		return nil, badf("%q: prefix=%s (want auto, on or off)", spec, opts["prefix"])
	}
	if dir, err = ModelDir(dir, family); err != nil {
		return nil, err
	}
	o := &rerank.EngineOptions{Instruction: opts["instruction"]}
	if err := chunkOptions(spec, opts, o); err != nil {
		return nil, err
	}
	o.Provider, o.Platform, o.Compute, o.Family = opts["provider"], opts["platform"], opts["compute"], opts["family"]
	o.SharedPrefix = prefix
	for key, p := range map[string]*int{"max_length": &o.MaxLength, "batch": &o.MaxBatchSize, "batch_tokens": &o.MaxBatchTokens,
		"threads": &o.IntraOpThreads, "device": &o.DeviceID} {
		if *p, err = intOpt(spec, opts, key); err != nil {
			return nil, err
		}
	}
	if family != "" && strings.EqualFold(o.Provider, inference.ProviderXLA) {
		// A Hugging Face checkpoint has no twostage.json: the scheme names
		// the family (zerank and qwen3-reranker share an architecture).
		if o.Family == "" {
			o.Family = family
		} else if o.Family != family {
			return nil, badf("%q: family=%s on a %s reranker", spec, o.Family, family)
		}
	} else if family != "" {
		cfg, err := modeldir.Load(dir)
		if err != nil {
			return nil, err
		}
		if cfg.Family != family {
			return nil, badf("%q: %s holds a %s model, not %s (use onnx:%s)", spec, dir, cfg.Family, family, dir)
		}
	}
	return rerank.Open(dir, o)
}

// xlaOnly refuses the keys of provider xla (platform, compute, family) with
// another provider, before the model is looked for.
func xlaOnly(spec string, opts map[string]string) error {
	if strings.EqualFold(opts["provider"], inference.ProviderXLA) {
		return nil
	}
	for _, k := range []string{"platform", "compute", "family"} {
		if _, ok := opts[k]; ok {
			return badf("%q: %s is for provider=xla (platform, compute and family are)", spec, k)
		}
	}
	return nil
}
