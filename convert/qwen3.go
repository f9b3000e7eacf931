package convert

import (
	"fmt"
	"math"

	"twostage/convert/hf"
	og "twostage/convert/onnxgraph"
)

// buildQwen3 emits the Qwen3 decoder with a score head over scoreTokens: one
// token gives that row's logit; two give row0 - row1.
func buildQwen3(l *loader, c *hf.Config, scoreTokens []int) error {
	g := l.g
	H, V := c.HiddenSize, c.VocabSize
	nH, nKV, D, I := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.IntermediateSize
	rep := nH / nKV
	for _, t := range scoreTokens {
		if t >= V {
			return fmt.Errorf("convert: score token %d outside vocab_size %d: %w", t, V, ErrConfig)
		}
	}
	p := "model."
	if !l.ck.Has(p+"embed_tokens.weight") && l.ck.Has("embed_tokens.weight") {
		p = ""
	}
	ids := g.Input("input_ids", og.Int64, "batch", "sequence")
	mask := g.Input("attention_mask", og.Int64, "batch", "sequence")

	embW, err := l.table(p+"embed_tokens.weight", V, H)
	if err != nil {
		return err
	}
	// The score head: only the needed LM-head rows.
	head := "lm_head.weight"
	switch {
	case l.ck.Has(head):
		info, _ := l.ck.Info(head)
		if len(info.Shape) != 2 || info.Shape[0] != int64(V) || info.Shape[1] != int64(H) {
			return fmt.Errorf("convert: tensor lm_head.weight has shape %v, config.json implies [%d %d]: %w", info.Shape, V, H, ErrShape)
		}
		l.advance(info.Bytes())
	case c.Tied():
		head = p + "embed_tokens.weight"
	default:
		return fmt.Errorf("convert: checkpoint has no tensor \"lm_head.weight\" and tie_word_embeddings is false: %w", ErrMissingTensor)
	}
	var rows [][]float32
	if !l.dry {
		if rows, _, err = l.ck.ReadRows(head, scoreTokens); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	score := make([]float32, H)
	for i := range score {
		if len(rows) == 0 { // dry run
			break
		}
		s := float64(rows[0][i])
		if len(rows) == 2 {
			s -= float64(rows[1][i])
		}
		score[i] = float32(s)
	}
	scoreW, err := l.param("score_head", score, int64(H), 1)
	if err != nil {
		return err
	}
	// Gather first, then widen: an fp16 table stays fp16 in memory.
	x := l.widen(l.op("Gather", embW, ids)) // [B,S,H]

	// Rotary tables for positions 0..S-1, laid out [S,1,D] to broadcast over
	// [B,S,heads,D].
	posI := l.seqPositions(ids)
	posF := g.Op("Cast", []string{posI}, og.Int("to", int64(og.Float)))
	inv := make([]float32, D/2)
	for i := range inv {
		inv[i] = float32(1 / math.Pow(c.RopeTheta, float64(2*i)/float64(D)))
	}
	invFreq := g.ConstFloat(og.Float, inv, 1, int64(D/2))
	freqs := l.op("Mul", l.op("Unsqueeze", posF, l.i64(1)), invFreq) // [S, D/2]
	angles := g.Op("Concat", []string{freqs, freqs}, og.Int("axis", -1))
	cos := l.op("Unsqueeze", l.op("Cos", angles), l.i64(1)) // [S,1,D]
	sin := l.op("Unsqueeze", l.op("Sin", angles), l.i64(1))

	// Attention bias [B,1,1,S,S]: 0 where key j <= query i and key j is real.
	causal := l.op("LessOrEqual", l.op("Unsqueeze", posI, l.i64(0)), l.op("Unsqueeze", posI, l.i64(1))) // [S,S]: j <= i
	keyOK := l.op("Unsqueeze", g.Op("Cast", []string{mask}, og.Int("to", int64(og.Bool))), l.i64(1, 2, 3))
	bias := l.op("Where", l.op("And", causal, keyOK), l.f32(0), l.f32(-1e9))

	eps := l.f32(float32(c.RMSNormEps))
	rms := func(x, w string) string {
		ms := g.Op("ReduceMean", []string{l.op("Mul", x, x)}, og.Ints("axes", -1), og.Int("keepdims", 1))
		return l.op("Mul", l.op("Div", x, l.op("Sqrt", l.op("Add", ms, eps))), w)
	}
	split := l.i64(int64(D/2), int64(D/2))
	rope := func(x string) string { // rotate-half RoPE on x [B,S,heads,D]
		parts := g.OpN("Split", []string{x, split}, 2, og.Int("axis", -1))
		rot := g.Op("Concat", []string{l.op("Neg", parts[1]), parts[0]}, og.Int("axis", -1))
		return l.op("Add", l.op("Mul", x, cos), l.op("Mul", rot, sin))
	}
	scale := l.f32(float32(1 / math.Sqrt(float64(D))))
	shapeQ := l.i64(0, 0, int64(nH), int64(D))
	shapeKV := l.i64(0, 0, int64(nKV), int64(D))
	shapeGroups := l.i64(0, 0, int64(nKV), int64(rep), int64(D))
	shapeFlat := l.i64(0, 0, -1)
	bias3 := func(pfx string, n int) (string, error) {
		if !c.AttentionBias {
			return "", nil
		}
		return l.vector(pfx+".bias", n)
	}

	for i := 0; i < c.NumHiddenLayers; i++ {
		lp := fmt.Sprintf("%slayers.%d.", p, i)
		var w [12]string
		names := []struct {
			n       string
			out, in int
		}{
			{"self_attn.q_proj.weight", nH * D, H}, {"self_attn.k_proj.weight", nKV * D, H},
			{"self_attn.v_proj.weight", nKV * D, H}, {"self_attn.o_proj.weight", H, nH * D},
			{"mlp.gate_proj.weight", I, H}, {"mlp.up_proj.weight", I, H}, {"mlp.down_proj.weight", H, I},
		}
		for j, n := range names {
			if w[j], err = l.linear(lp+n.n, n.out, n.in); err != nil {
				return err
			}
		}
		vecs := []struct {
			n string
			d int
		}{{"input_layernorm.weight", H}, {"post_attention_layernorm.weight", H}, {"self_attn.q_norm.weight", D}, {"self_attn.k_norm.weight", D}}
		for j, v := range vecs {
			if w[7+j], err = l.vector(lp+v.n, v.d); err != nil {
				return err
			}
		}
		bq, err := bias3(lp+"self_attn.q_proj", nH*D)
		if err != nil {
			return err
		}
		bk, err := bias3(lp+"self_attn.k_proj", nKV*D)
		if err != nil {
			return err
		}
		bv, err := bias3(lp+"self_attn.v_proj", nKV*D)
		if err != nil {
			return err
		}
		wq, wk, wv, wo, wg, wu, wd := w[0], w[1], w[2], w[3], w[4], w[5], w[6]
		lnIn, lnPost, qNorm, kNorm := w[7], w[8], w[9], w[10]

		h := rms(x, lnIn)
		q := rope(rms(l.op("Reshape", l.matmulAdd(h, wq, bq), shapeQ), qNorm))  // [B,S,nH,D]
		k := rope(rms(l.op("Reshape", l.matmulAdd(h, wk, bk), shapeKV), kNorm)) // [B,S,nKV,D]
		v := l.op("Reshape", l.matmulAdd(h, wv, bv), shapeKV)
		// Grouped-query attention by broadcasting: query head n uses KV head n / rep.
		q = g.Op("Transpose", []string{l.op("Reshape", l.op("Mul", q, scale), shapeGroups)}, og.Ints("perm", 0, 2, 3, 1, 4)) // [B,nKV,rep,S,D]
		kt := l.op("Unsqueeze", g.Op("Transpose", []string{k}, og.Ints("perm", 0, 2, 3, 1)), l.i64(2))                       // [B,nKV,1,D,S]
		vt := l.op("Unsqueeze", g.Op("Transpose", []string{v}, og.Ints("perm", 0, 2, 1, 3)), l.i64(2))                       // [B,nKV,1,S,D]
		// Softmax and the residual stream stay float32 in every mode.
		probs := g.Op("Softmax", []string{l.op("Add", l.mmAct(q, kt), bias)}, og.Int("axis", -1))
		ctx := g.Op("Transpose", []string{l.mmAct(probs, vt)}, og.Ints("perm", 0, 3, 1, 2, 4)) // [B,S,nKV,rep,D]
		x = l.op("Add", x, l.mm(l.op("Reshape", ctx, shapeFlat), wo))

		h = rms(x, lnPost)
		gate := l.mm(h, wg)
		act := l.op("Mul", l.op("Mul", gate, l.op("Sigmoid", gate)), l.mm(h, wu))
		x = l.op("Add", x, l.mm(act, wd))
	}
	norm, err := l.vector(p+"norm.weight", H)
	if err != nil {
		return err
	}
	// The last real token of each right-padded row: sum(attention_mask) - 1.
	last := l.op("Sub", g.Op("ReduceSum", []string{mask, l.i64(1)}, og.Int("keepdims", 1)), l.i64(1)) // [B,1]
	hLast := g.Op("GatherND", []string{x, last}, og.Int("batch_dims", 1))                             // [B,H]
	logits := l.op("MatMul", rms(hLast, norm), scoreW)                                                // [B,1]
	g.Output(logits, "logits", og.Float, "batch", 1)
	return nil
}
