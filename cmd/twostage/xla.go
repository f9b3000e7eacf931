package main

import (
	"flag"
	"strings"

	"twostage/inference"
	"twostage/rerank"
)

// xlaOpts are the flags of provider xla, shared by rerank and bench rerank.
type xlaOpts struct {
	platform, compute, family *string
}

// xlaFlags adds --platform, --compute and --family to fs.
func xlaFlags(fs *flag.FlagSet) *xlaOpts {
	return &xlaOpts{
		platform: fs.String("platform", "", "provider xla: PJRT device, cpu or cuda (default cpu; plugin from PJRT_PLUGIN_LIBRARY_PATH or .deps/pjrt)"),
		compute:  fs.String("compute", "", "provider xla: weight and matrix-product type, fp32, bf16 or fp16 (default fp32)"),
		family:   fs.String("family", "", "provider xla: model family when config.json cannot tell (zerank or qwen3-reranker; default zerank for Qwen3)"),
	}
}

// check refuses the flags with another provider than xla (named in any
// case, as the engine takes it).
func (x *xlaOpts) check(provider string) error {
	if !strings.EqualFold(provider, inference.ProviderXLA) && (*x.platform != "" || *x.compute != "" || *x.family != "") {
		return usageErr("--platform, --compute and --family are for --provider xla, not %s", provider)
	}
	return nil
}

// apply sets the xla options on o and returns it.
func (x *xlaOpts) apply(o *rerank.EngineOptions) *rerank.EngineOptions {
	o.Platform, o.Compute, o.Family = *x.platform, *x.compute, *x.family
	return o
}
