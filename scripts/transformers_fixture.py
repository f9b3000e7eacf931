#!/usr/bin/env python3
"""transformers_fixture.py: reference scores from Hugging Face transformers, in
float64, for the tiny checkpoints internal/refmodel's TestTransformersFixture
writes (it runs this script when TWOSTAGE_WRITE_FIXTURE=1).

    python transformers_fixture.py REQUEST_JSON

REQUEST_JSON: [{"name", "family", "dir", "ids": [[...]...], "type_ids": [[...]...]}]
Prints JSON: {name: [score...]} where the score is what refmodel.Score
returns: the "Yes" logit (id 9454) at the last position (zerank),
logit(yes 9693) - logit(no 2152) (qwen3-reranker), or the classifier logit
(bert-cross-encoder). Uses .deps/pystack (torch, transformers). The rotary
angles, RMSNorm and the attention softmax, which transformers computes in
float32 whatever the model's dtype, are kept in float64 (float64_rope,
float64_rmsnorm, _softmax64); the rest is transformers' own code.
"""
import json
import sys

import torch
import transformers

torch.set_default_dtype(torch.float64)

# The eager attention asks softmax for float32 whatever the model's dtype;
# keep float64 inputs in float64.
_softmax = torch.nn.functional.softmax


def _softmax64(x, dim=None, _stacklevel=3, dtype=None):
    if x.dtype == torch.float64:
        dtype = None
    return _softmax(x, dim=dim, _stacklevel=_stacklevel, dtype=dtype)


torch.nn.functional.softmax = _softmax64


def float64_rope(m):
    """transformers computes rotary angles in float32 whatever the model's
    dtype (inv_freq and the angle product), which alone leaves about 1e-7
    relative error; this recomputes them in float64, the rest of the model is
    transformers' own code."""
    rot = m.model.rotary_emb
    cfg = m.config
    theta = getattr(cfg, "rope_theta", None)
    if theta is None:
        theta = cfg.rope_parameters["rope_theta"]
    hd = cfg.head_dim
    inv = 1.0 / (float(theta) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    scale = float(getattr(rot, "attention_scaling", 1.0))

    def forward(x, position_ids):
        freqs = position_ids[:, :, None].to(torch.float64) * inv[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * scale).to(x.dtype), (emb.sin() * scale).to(x.dtype)

    rot.forward = forward


def float64_rmsnorm(m):
    """transformers' Qwen3RMSNorm casts to float32 to normalize; this keeps
    the model's float64 (same formula: weight * x / sqrt(mean(x^2) + eps))."""
    for mod in m.modules():
        if type(mod).__name__.endswith("RMSNorm"):
            def forward(h, mod=mod):
                v = h.pow(2).mean(-1, keepdim=True)
                return mod.weight * (h * torch.rsqrt(v + mod.variance_epsilon))
            mod.forward = forward


def main():
    reqs = json.load(open(sys.argv[1]))
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "scores": {}}
    for r in reqs:
        fam = r["family"]
        if fam == "bert-cross-encoder":
            m = transformers.AutoModelForSequenceClassification.from_pretrained(r["dir"], torch_dtype=torch.float64, attn_implementation="eager")
        else:
            m = transformers.AutoModelForCausalLM.from_pretrained(r["dir"], torch_dtype=torch.float64, attn_implementation="eager")
        m.eval()
        if fam != "bert-cross-encoder":
            float64_rope(m)
            float64_rmsnorm(m)
        scores = []
        for k, ids in enumerate(r["ids"]):
            x = torch.tensor([ids])
            with torch.no_grad():
                if fam == "bert-cross-encoder":
                    tt = torch.tensor([r["type_ids"][k]])
                    s = m(input_ids=x, token_type_ids=tt, attention_mask=torch.ones_like(x)).logits[0, 0].item()
                else:
                    logits = m(input_ids=x, attention_mask=torch.ones_like(x)).logits[0, -1]
                    if fam == "zerank":
                        s = logits[9454].item()
                    else:
                        s = (logits[9693] - logits[2152]).item()
            scores.append(s)
        out["scores"][r["name"]] = scores
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
