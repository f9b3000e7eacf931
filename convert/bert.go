package convert

import (
	"fmt"
	"math"

	"twostage/convert/hf"
	og "twostage/convert/onnxgraph"
)

// buildBert emits a post-LayerNorm BERT encoder; with classifier it ends in
// the pooler and the one-logit classification head, else it outputs
// last_hidden_state.
func buildBert(l *loader, c *hf.Config, classifier bool) error {
	g := l.g
	H, V, nH, I := c.HiddenSize, c.VocabSize, c.NumAttentionHeads, c.IntermediateSize
	D := H / nH
	p := ""
	if l.ck.Has("bert.embeddings.word_embeddings.weight") {
		p = "bert."
	}
	ids := g.Input("input_ids", og.Int64, "batch", "sequence")
	mask := g.Input("attention_mask", og.Int64, "batch", "sequence")
	types := g.Input("token_type_ids", og.Int64, "batch", "sequence")

	// LayerNorm parameters are "weight"/"bias", or "gamma"/"beta" in old checkpoints.
	layerNorm := func(pfx string, x string) (string, error) {
		wn, bn := pfx+".weight", pfx+".bias"
		if !l.ck.Has(wn) && l.ck.Has(pfx+".gamma") {
			wn, bn = pfx+".gamma", pfx+".beta"
		}
		w, err := l.vector(wn, H)
		if err != nil {
			return "", err
		}
		b, err := l.vector(bn, H)
		if err != nil {
			return "", err
		}
		return g.Op("LayerNormalization", []string{x, w, b}, og.Int("axis", -1), og.Float32("epsilon", float32(c.LayerNormEps))), nil
	}
	table := func(name string, rows int) (string, error) { return l.table(name, rows, H) }
	dense := func(pfx string, out, in int) (w, b string, err error) {
		if w, err = l.linear(pfx+".weight", out, in); err != nil {
			return
		}
		b, err = l.vector(pfx+".bias", out)
		return
	}

	word, err := table(p+"embeddings.word_embeddings.weight", V)
	if err != nil {
		return err
	}
	pos, err := table(p+"embeddings.position_embeddings.weight", c.MaxPositionEmbeddings)
	if err != nil {
		return err
	}
	tt, err := table(p+"embeddings.token_type_embeddings.weight", c.TypeVocabSize)
	if err != nil {
		return err
	}
	x := l.widen(l.op("Gather", word, ids))
	x = l.op("Add", x, l.widen(l.op("Gather", pos, l.seqPositions(ids))))
	x = l.op("Add", x, l.widen(l.op("Gather", tt, types)))
	if x, err = layerNorm(p+"embeddings.LayerNorm", x); err != nil {
		return err
	}
	keyOK := l.op("Unsqueeze", g.Op("Cast", []string{mask}, og.Int("to", int64(og.Bool))), l.i64(1, 2)) // [B,1,1,S]
	bias := l.op("Where", keyOK, l.f32(0), l.f32(-1e9))
	scale := l.f32(float32(1 / math.Sqrt(float64(D))))
	shapeHeads := l.i64(0, 0, int64(nH), int64(D))
	shapeFlat := l.i64(0, 0, int64(H))
	invSqrt2 := l.f32(float32(1 / math.Sqrt2))

	for i := 0; i < c.NumHiddenLayers; i++ {
		lp := fmt.Sprintf("%sencoder.layer.%d.", p, i)
		var ws, bs [6]string
		for j, d := range []struct {
			n       string
			out, in int
		}{
			{"attention.self.query", H, H}, {"attention.self.key", H, H}, {"attention.self.value", H, H},
			{"attention.output.dense", H, H}, {"intermediate.dense", I, H}, {"output.dense", H, I},
		} {
			if ws[j], bs[j], err = dense(lp+d.n, d.out, d.in); err != nil {
				return err
			}
		}
		heads := func(v string, perm ...int64) string {
			return g.Op("Transpose", []string{l.op("Reshape", v, shapeHeads)}, og.Ints("perm", perm...))
		}
		q := heads(l.matmulAdd(x, ws[0], bs[0]), 0, 2, 1, 3) // [B,nH,S,D]
		k := heads(l.matmulAdd(x, ws[1], bs[1]), 0, 2, 3, 1) // [B,nH,D,S]
		v := heads(l.matmulAdd(x, ws[2], bs[2]), 0, 2, 1, 3) // [B,nH,S,D]
		scores := l.op("Add", l.op("Mul", l.mmAct(q, k), scale), bias)
		probs := g.Op("Softmax", []string{scores}, og.Int("axis", -1))
		ctx := l.op("Reshape", g.Op("Transpose", []string{l.mmAct(probs, v)}, og.Ints("perm", 0, 2, 1, 3)), shapeFlat)
		if x, err = layerNorm(lp+"attention.output.LayerNorm", l.op("Add", l.matmulAdd(ctx, ws[3], bs[3]), x)); err != nil {
			return err
		}
		inter := l.matmulAdd(x, ws[4], bs[4])
		// Exact GELU: x/2 * (1 + erf(x/sqrt 2)).
		gelu := l.op("Mul", l.op("Mul", inter, l.f32(0.5)), l.op("Add", l.f32(1), l.op("Erf", l.op("Mul", inter, invSqrt2))))
		if x, err = layerNorm(lp+"output.LayerNorm", l.op("Add", l.matmulAdd(gelu, ws[5], bs[5]), x)); err != nil {
			return err
		}
	}
	if !classifier {
		g.Output(x, "last_hidden_state", og.Float, "batch", "sequence", int64(H))
		return nil
	}
	pw, pb, err := dense(p+"pooler.dense", H, H)
	if err != nil {
		return err
	}
	cw, cb, err := dense("classifier", 1, H)
	if err != nil {
		return err
	}
	cls := g.Op("Gather", []string{x, l.scalarI64(0)}, og.Int("axis", 1)) // [B,H]
	pooled := l.op("Tanh", l.matmulAdd(cls, pw, pb))
	g.Output(l.matmulAdd(pooled, cw, cb), "logits", og.Float, "batch", 1)
	return nil
}
