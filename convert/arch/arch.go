// Package arch defines the forward pass of each architecture twostage runs
// (the Qwen3 decoder scored at its last real token, for zerank and
// Qwen3-Reranker; BERT with its classifier head or its hidden states) once,
// over a small tensor-op interface, Ops. A backend of Ops turns the one
// definition into a program: StableHLO (for PJRT, one program per batch x
// sequence bucket, weights as parameters) or a float64 evaluation (the
// reference scores).
//
// A backend may also implement Prefixed (and PrefixedFused): its decoder
// programs then take part in shared prefixes, a prefix's keys and values
// computed once and attended to by the rows that continue it.
//
// The definitions work on right-padded batches [B, S] with an attention mask.
// Which precision a backend computes in is the backend's policy, stated once
// there: matrix products take the weight's type (the compute type for
// matrices, float32 for the score head) and return float32; norms, softmax
// and the residual stream are float32.
package arch

import (
	"fmt"
	"math"

	"twostage/convert/hf"
	"twostage/errdefs"
	"twostage/modeldir"
)

// Ops is the tensor-op interface an architecture is written over. T is the
// backend's tensor handle. Ops report no errors: a backend records its first
// error and returns it when the program is finished.
//
// Shapes are written [B, S, ...]: B the batch, S the (padded) sequence.
// Binary element-wise ops broadcast numpy-style (trailing axes aligned,
// size-1 axes stretched). Every float result is float32 unless said.
type Ops[T any] interface {
	// IDs, Mask and TypeIDs are the integer inputs [B, S]: token ids,
	// attention mask (1 real, 0 padding; rows right-padded) and BERT's
	// token type ids.
	IDs() T
	Mask() T
	TypeIDs() T
	// Weight is the checkpoint tensor name (canonical: without "model." or
	// "bert." prefixes) of the given dimensions. Rank-2 weights are in the
	// compute type; vectors are float32.
	Weight(name string, dims ...int) T
	// Rows is rows of the [V, dim] tensor name, as a float32 [len(rows), dim]
	// matrix (the LM-head rows a score needs).
	Rows(name string, rows []int, dim int) T
	// Const is a float32 scalar; Vector a float32 vector.
	Const(v float64) T
	Vector(v []float64) T
	// Positions is the token positions 0..S-1 as float32 [1, S, 1, 1];
	// PositionIDs the same as integers [B, S] (for Embed).
	Positions() T
	PositionIDs() T

	// Embed gathers rows of table [V, H] by ids [B, S]: [B, S, H].
	Embed(table, ids T) T
	// Linear is x [..., K] times w [N, K] transposed: [..., N], computed in
	// w's type.
	Linear(x, w T) T
	// Add, Sub, Mul and Div are element-wise binary ops (broadcasting);
	// Neg, Rsqrt, Cos, Sin, Sigmoid, Tanh and Erf apply element-wise.
	Add(a, b T) T
	Sub(a, b T) T
	Mul(a, b T) T
	Div(a, b T) T
	Neg(x T) T
	Rsqrt(x T) T
	Cos(x T) T
	Sin(x T) T
	Sigmoid(x T) T
	Tanh(x T) T
	Erf(x T) T
	// Mean is the mean over the last axis, kept as size 1.
	Mean(x T) T
	// Softmax is over the last axis.
	Softmax(x T) T
	// Slice is x[..., from:to] on the last axis; Concat joins on the last axis.
	Slice(x T, from, to int) T
	Concat(a, b T) T
	// SplitHeads is [B, S, n*D] -> [B, S, n, D]; MergeHeads the inverse.
	SplitHeads(x T, n int) T
	MergeHeads(x T) T
	// Scores is q [B, S, nQ, D] times k [B, T, nK, D] over D: [B, nQ, S, T];
	// query head h uses key head h / (nQ/nK). Computed in the compute type.
	Scores(q, k T) T
	// Context is p [B, nQ, S, T] times v [B, T, nK, D] over T: [B, S, nQ, D],
	// head h using value head h / (nQ/nK). Computed in the compute type.
	Context(p, v T) T
	// AttentionBias is the additive bias [B, 1, S, T] from the mask: 0 where
	// key t is real (and, when causal, t <= s), -1e9 elsewhere.
	AttentionBias(causal bool) T
	// Last is x [B, S, H] at each row's last real token; First at position 0.
	Last(x T) T
	First(x T) T
}

// Fused is implemented by a backend that has fused kernels for the chains
// of ops below (ONNX Runtime's com.microsoft operators); the definitions
// then call them instead of emitting the chains. Each computes what the
// chain it replaces computes.
type Fused[T any] interface {
	// RMSNorm is x / sqrt(mean(x^2) + eps) * w over the last axis.
	RMSNorm(x, w T, eps float64) T
	// AddRMSNorm is sum = x + y and RMSNorm(sum, w, eps).
	AddRMSNorm(x, y, w T, eps float64) (sum, norm T)
	// AddLayerNorm is the layer norm of x + y with weight w and bias b.
	AddLayerNorm(x, y, w, b T, eps float64) T
	// Projections is Linear(x, w) for each of ws (weights [N_i, K] over the
	// same x), computed as one product.
	Projections(x T, ws ...T) []T
	// Gelu is the exact (erf) GELU.
	Gelu(x T) T
	// RotaryAttention is causal attention over each row's real tokens,
	// scaled by 1/sqrt(D), after the rotate-half rotary embedding with
	// base theta on q [B, S, nQ, D] and k [B, S, nK, D]; v is [B, S, nK, D],
	// query head h uses key head h / (nQ/nK). The result is [B, S, nQ*D].
	RotaryAttention(q, k, v T, theta float64) T
	// SelfAttention is bidirectional attention over the real keys, scaled
	// by 1/sqrt(H/heads), with heads heads, of the projections x wq + bq,
	// x wk + bk, x wv + bv of x [B, S, H] (w are [H, H] Weights, b [H]):
	// [B, S, H].
	SelfAttention(x, wq, bq, wk, bk, wv, bv T, heads int) T
}

// Prefixed is implemented by a backend whose programs take part in shared
// prefixes (decoders only): a prefix program outputs, per layer, the keys
// and values of its rows, and a continuation program's rows attend to the
// keys and values of an earlier prefix before their own tokens. A backend
// that does not implement it builds whole-pair programs only.
//
// A prefix program is an ordinary program whose Present calls are its
// outputs. In a continuation program, row b continues a prefix of P_b real
// tokens (the rows' prefixes are right-padded to P, and P_b may be 0); its
// own tokens sit at positions P_b..P_b+S-1. Then, for a backend that
// implements Prefixed, two Ops change meaning: Positions is the per-row
// positions P_b + s, float32 [B, S, 1, 1] (or [1, S, 1, 1] when every P_b
// is 0), and AttentionBias(true) is the bias [B, 1, S, P+S] over the keys
// [past ; own]: past key t is visible where t < P_b, own key j where it is
// real and j <= s. A backend may serve both kinds with one program (ONNX:
// past inputs of length 0, present outputs for no rows) or build them
// apart (float64, StableHLO).
type Prefixed[T any] interface {
	// Past is layer l's prefix keys (after k_norm, before the rotary
	// embedding) and values for each row, [B, P, nK, D], and true; false
	// when the program continues no prefix (then the definition is the
	// whole-pair one).
	Past(layer int) (k, v T, ok bool)
	// PastPositions is the past key positions 0..P-1, float32 [1, P, 1, 1].
	PastPositions() T
	// ConcatSeq joins a [B, P, ...] and b [B, S, ...] on axis 1.
	ConcatSeq(a, b T) T
	// Present records layer l's keys (after k_norm, before the rotary
	// embedding) and values, [B, S, nK, D], as outputs of a prefix program;
	// a program that outputs none ignores it.
	Present(layer int, k, v T)
}

// PrefixedFused is implemented by a fused backend that implements
// Prefixed: the definitions then call RotaryAttentionPast instead of
// RotaryAttention when the program continues a prefix.
type PrefixedFused[T any] interface {
	// RotaryAttentionPast is RotaryAttention over each row's keys
	// [past ; own]: pk and pv [B, P, nK, D] are Past's keys (rotated here
	// at positions 0..P-1; key t real where t < P_b) and values, and the
	// row's own q, k, v sit at positions P_b + s, attending causally to
	// their own real tokens. The result is [B, S, nQ*D].
	RotaryAttentionPast(q, k, v, pk, pv T, theta float64) T
}

// Model says what a program computes.
type Model struct {
	// Family is a modeldir family.
	Family string
	// Config is the checkpoint's config.json.
	Config *hf.Config
	// HeadTensor is the LM-head tensor (canonical name) of a decoder:
	// "lm_head.weight", or "embed_tokens.weight" when tied.
	HeadTensor string
}

// NewModel checks that cfg's architecture fits family.
func NewModel(family string, cfg *hf.Config, hasLMHead bool) (*Model, error) {
	m := &Model{Family: family, Config: cfg}
	switch {
	case modeldir.IsDecoder(family):
		if cfg.Kind() != hf.KindQwen3 {
			return nil, fmt.Errorf("arch: family %s needs a Qwen3 checkpoint, have model_type %q: %w", family, cfg.ModelType, errdefs.ErrInvalidInput)
		}
		m.HeadTensor = "lm_head.weight"
		if !hasLMHead {
			if !cfg.Tied() {
				return nil, fmt.Errorf("arch: checkpoint has no lm_head.weight and tie_word_embeddings is false: %w", errdefs.ErrInvalidInput)
			}
			m.HeadTensor = "embed_tokens.weight"
		}
		d, _ := modeldir.Defaults(family)
		for _, t := range d.ScoreTokens {
			if t >= cfg.VocabSize {
				return nil, fmt.Errorf("arch: score token %d outside vocab_size %d: %w", t, cfg.VocabSize, errdefs.ErrInvalidInput)
			}
		}
	case family == modeldir.FamilyBertCrossEncoder, family == modeldir.FamilyBertEmbedding:
		if cfg.Kind() != hf.KindBert {
			return nil, fmt.Errorf("arch: family %s needs a BERT checkpoint, have model_type %q: %w", family, cfg.ModelType, errdefs.ErrInvalidInput)
		}
	default:
		return nil, fmt.Errorf("arch: unknown family %q: %w", family, errdefs.ErrUnsupported)
	}
	return m, nil
}

// Output is the model's result: raw scores [B, 1] for cross-encoders, the
// last hidden state [B, S, H] for embedding models.
func Output[T any](o Ops[T], m *Model) T {
	if modeldir.IsDecoder(m.Family) {
		return qwen3(o, m)
	}
	return bert(o, m)
}

// rmsNorm is x / sqrt(mean(x^2) + eps) * w over the last axis.
func rmsNorm[T any](o Ops[T], x, w T, eps float64) T {
	return o.Mul(o.Mul(x, o.Rsqrt(o.Add(o.Mean(o.Mul(x, x)), o.Const(eps)))), w)
}

// layerNorm is (x - mean) / sqrt(var + eps) * w + b over the last axis.
func layerNorm[T any](o Ops[T], x, w, b T, eps float64) T {
	c := o.Sub(x, o.Mean(x))
	return o.Add(o.Mul(o.Mul(c, o.Rsqrt(o.Add(o.Mean(o.Mul(c, c)), o.Const(eps)))), w), b)
}

// qwen3 is the Qwen3 decoder (Hugging Face transformers' Qwen3 modelling
// code), scored at the last real token by the family's LM-head rows:
// logit("Yes") for zerank, logit("yes") - logit("no") for Qwen3-Reranker.
func qwen3[T any](o Ops[T], m *Model) T {
	c := m.Config
	H, V, I := c.HiddenSize, c.VocabSize, c.IntermediateSize
	nH, nKV, D := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	eps := c.RMSNormEps

	f, fused := any(o).(Fused[T])
	pre, prefixed := any(o).(Prefixed[T])
	fp, fusedPast := any(o).(PrefixedFused[T])
	if fused && prefixed && !fusedPast {
		prefixed = false // a fused backend continues prefixes only through RotaryAttentionPast
	}
	// Rotary embedding, rotate-half convention: angles [B or 1, S, 1, D]
	// (past keys: [1, P, 1, D]). A fused backend's attention applies it.
	var inv []float64
	var cos, sin, bias, scale T
	if !fused {
		inv = make([]float64, D)
		for i := 0; i < D/2; i++ {
			inv[i] = math.Pow(c.RopeTheta, -2*float64(i)/float64(D))
			inv[i+D/2] = inv[i]
		}
		angles := o.Mul(o.Positions(), o.Vector(inv))
		cos, sin = o.Cos(angles), o.Sin(angles)
		bias = o.AttentionBias(true)
		scale = o.Const(1 / math.Sqrt(float64(D)))
	}
	rotate := func(x, cos, sin T) T { // x [B, S, n, D]
		rot := o.Concat(o.Neg(o.Slice(x, D/2, D)), o.Slice(x, 0, D/2))
		return o.Add(o.Mul(x, cos), o.Mul(rot, sin))
	}
	rope := func(x T) T { return rotate(x, cos, sin) }
	var pastCos, pastSin T
	havePastAngles := false
	ropePast := func(x T) T { // past keys at 0..P-1
		if !havePastAngles {
			angles := o.Mul(pre.PastPositions(), o.Vector(inv))
			pastCos, pastSin, havePastAngles = o.Cos(angles), o.Sin(angles), true
		}
		return rotate(x, pastCos, pastSin)
	}
	// qkv are the q, k and v projections of h (with biases when the
	// checkpoint has them).
	qkv := func(h T, p string) (q, k, v T) {
		names, outs := []string{"q_proj", "k_proj", "v_proj"}, []int{nH * D, nKV * D, nKV * D}
		ys := make([]T, 3)
		if fused {
			ws := make([]T, 3)
			for i := range ws {
				ws[i] = o.Weight(p+"self_attn."+names[i]+".weight", outs[i], H)
			}
			copy(ys, f.Projections(h, ws...))
		} else {
			for i := range ys {
				ys[i] = o.Linear(h, o.Weight(p+"self_attn."+names[i]+".weight", outs[i], H))
			}
		}
		if c.AttentionBias {
			for i := range ys {
				ys[i] = o.Add(ys[i], o.Weight(p+"self_attn."+names[i]+".bias", outs[i]))
			}
		}
		return o.SplitHeads(ys[0], nH), o.SplitHeads(ys[1], nKV), o.SplitHeads(ys[2], nKV)
	}
	norm := func(x T, name string, n int) T {
		if fused {
			return f.RMSNorm(x, o.Weight(name, n), eps)
		}
		return rmsNorm(o, x, o.Weight(name, n), eps)
	}
	// addNorm is the residual add x + y and its norm (the next block's input).
	addNorm := func(x, y T, name string) (T, T) {
		if fused {
			return f.AddRMSNorm(x, y, o.Weight(name, H), eps)
		}
		x = o.Add(x, y)
		return x, rmsNorm(o, x, o.Weight(name, H), eps)
	}

	x := o.Embed(o.Weight("embed_tokens.weight", V, H), o.IDs())
	h := norm(x, "layers.0.input_layernorm.weight", H)
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf("layers.%d.", l)
		q, k, v := qkv(h, p)
		q = norm(q, p+"self_attn.q_norm.weight", D)
		k = norm(k, p+"self_attn.k_norm.weight", D)
		var pk, pv T
		past := false
		if prefixed {
			pre.Present(l, k, v)
			pk, pv, past = pre.Past(l)
		}
		var ctx T
		switch {
		case fused && past:
			ctx = fp.RotaryAttentionPast(q, k, v, pk, pv, c.RopeTheta)
		case fused:
			ctx = f.RotaryAttention(q, k, v, c.RopeTheta)
		case past:
			keys, values := pre.ConcatSeq(ropePast(pk), rope(k)), pre.ConcatSeq(pv, v)
			probs := o.Softmax(o.Add(o.Scores(o.Mul(rope(q), scale), keys), bias))
			ctx = o.MergeHeads(o.Context(probs, values))
		default:
			probs := o.Softmax(o.Add(o.Scores(o.Mul(rope(q), scale), rope(k)), bias))
			ctx = o.MergeHeads(o.Context(probs, v))
		}
		x, h = addNorm(x, o.Linear(ctx, o.Weight(p+"self_attn.o_proj.weight", H, nH*D)), p+"post_attention_layernorm.weight")

		gate := o.Linear(h, o.Weight(p+"mlp.gate_proj.weight", I, H))
		act := o.Mul(o.Mul(gate, o.Sigmoid(gate)), o.Linear(h, o.Weight(p+"mlp.up_proj.weight", I, H)))
		down := o.Linear(act, o.Weight(p+"mlp.down_proj.weight", H, I))
		if l+1 < c.NumHiddenLayers {
			x, h = addNorm(x, down, fmt.Sprintf("layers.%d.input_layernorm.weight", l+1))
		} else {
			x = o.Add(x, down)
		}
	}
	last := norm(o.Last(x), "norm.weight", H) // [B, H]
	d, _ := modeldir.Defaults(m.Family)
	logits := o.Linear(last, o.Rows(m.HeadTensor, d.ScoreTokens, H)) // [B, k]
	if len(d.ScoreTokens) == 2 {
		return o.Sub(o.Slice(logits, 0, 1), o.Slice(logits, 1, 2))
	}
	return logits
}

// bert is the BERT encoder (post-norm, exact GELU): the classifier logit
// [B, 1] (tanh pooler on the first token, then the classifier) for a
// cross-encoder, the last hidden state [B, S, H] for an embedding model.
func bert[T any](o Ops[T], m *Model) T {
	c := m.Config
	H, nH, I := c.HiddenSize, c.NumAttentionHeads, c.IntermediateSize
	D := H / nH
	eps := c.LayerNormEps
	lin := func(x T, name string, out, in int) T {
		return o.Add(o.Linear(x, o.Weight(name+".weight", out, in)), o.Weight(name+".bias", out))
	}
	f, fused := any(o).(Fused[T])
	ln := func(x T, name string) T {
		return layerNorm(o, x, o.Weight(name+".weight", H), o.Weight(name+".bias", H), eps)
	}
	// addLN is the layer norm of the residual sum x + y.
	addLN := func(x, y T, name string) T {
		if fused {
			return f.AddLayerNorm(x, y, o.Weight(name+".weight", H), o.Weight(name+".bias", H), eps)
		}
		return ln(o.Add(x, y), name)
	}
	// Position embeddings 0..S-1: the first S rows, gathered by position.
	pos := o.Weight("embeddings.position_embeddings.weight", c.MaxPositionEmbeddings, H)
	x := o.Add(o.Embed(o.Weight("embeddings.word_embeddings.weight", c.VocabSize, H), o.IDs()),
		o.Embed(o.Weight("embeddings.token_type_embeddings.weight", c.TypeVocabSize, H), o.TypeIDs()))
	x = addLN(x, o.Embed(pos, o.PositionIDs()), "embeddings.LayerNorm")
	var bias, scale T
	if !fused {
		bias = o.AttentionBias(false)
		scale = o.Const(1 / math.Sqrt(float64(D)))
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		var ctx T
		if fused {
			w := func(n string) (T, T) {
				return o.Weight(p+"attention.self."+n+".weight", H, H), o.Weight(p+"attention.self."+n+".bias", H)
			}
			wq, bq := w("query")
			wk, bk := w("key")
			wv, bv := w("value")
			ctx = f.SelfAttention(x, wq, bq, wk, bk, wv, bv, nH)
		} else {
			q := lin(x, p+"attention.self.query", H, H)
			k := lin(x, p+"attention.self.key", H, H)
			v := lin(x, p+"attention.self.value", H, H)
			probs := o.Softmax(o.Add(o.Scores(o.Mul(o.SplitHeads(q, nH), scale), o.SplitHeads(k, nH)), bias))
			ctx = o.MergeHeads(o.Context(probs, o.SplitHeads(v, nH)))
		}
		a := addLN(lin(ctx, p+"attention.output.dense", H, H), x, p+"attention.output.LayerNorm")
		in := lin(a, p+"intermediate.dense", I, H)
		if fused {
			in = f.Gelu(in)
		} else {
			in = o.Mul(o.Mul(in, o.Const(0.5)), o.Add(o.Const(1), o.Erf(o.Mul(in, o.Const(1/math.Sqrt2)))))
		}
		x = addLN(lin(in, p+"output.dense", H, I), a, p+"output.LayerNorm")
	}
	if m.Family == modeldir.FamilyBertEmbedding {
		return x
	}
	pooled := o.Tanh(lin(o.First(x), "pooler.dense", H, H))
	return lin(pooled, "classifier", 1, H)
}

// decoder reports whether m is a decoder (the families that take part in
// shared prefixes).
func (m *Model) decoder() bool { return modeldir.IsDecoder(m.Family) }
