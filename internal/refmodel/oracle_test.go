package refmodel

// The independent oracle: see TestDefinitionMatchesOracle.

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"twostage/convert/hf"
	"twostage/convert/safetensors"
	"twostage/errdefs"
	"twostage/modeldir"
)

// oracle is the per-token float64 forward pass the package served before
// the architectures were defined once (convert/arch): written from Hugging
// Face's modelling code one unpadded sequence at a time, sharing nothing
// with convert/arch, it checks that definition.
type oracle struct {
	family string
	cfg    *hf.Config
	ck     *safetensors.Checkpoint
	w      map[string][]float64
	rows   map[string]string // vocabulary table key -> checkpoint tensor name
}

// vocabTables are read row by row rather than loaded.
var vocabTables = []string{"embed_tokens.weight", "lm_head.weight", "embeddings.word_embeddings.weight"}

// newOracle reads the weights of the checkpoint that model has open (its
// files stay model's to close).
func newOracle(model *Model) (*oracle, error) {
	ck := model.ck
	m := &oracle{family: model.family, cfg: model.cfg, ck: ck, w: map[string][]float64{}, rows: map[string]string{}}
	for _, name := range ck.Names() {
		// Drop the "model." / "bert." prefixes so both layouts look alike.
		key := strings.TrimPrefix(strings.TrimPrefix(name, "model."), "bert.")
		if slices.Contains(vocabTables, key) {
			m.rows[key] = name
			continue
		}
		v, _, err := ck.ReadFloat32(name)
		if err != nil {
			return nil, fmt.Errorf("refmodel: %w", err)
		}
		f := make([]float64, len(v))
		for i, x := range v {
			f[i] = float64(x)
		}
		m.w[key] = f
	}
	return m, nil
}

// row returns row r of a vocabulary-sized table.
func (m *oracle) row(key string, r int) []float64 {
	name, ok := m.rows[key]
	if !ok {
		panic(fmt.Sprintf("refmodel: missing tensor %s", key))
	}
	v, _, err := m.ck.ReadRows(name, []int{r})
	if err != nil {
		panic(fmt.Sprintf("refmodel: %v", err))
	}
	out := make([]float64, len(v[0]))
	for i, x := range v[0] {
		out[i] = float64(x)
	}
	return out
}

func (m *oracle) get(name string) []float64 {
	v, ok := m.w[name]
	if !ok {
		panic(fmt.Sprintf("refmodel: missing tensor %s", name))
	}
	return v
}

// linear is y = W x (+ b), W stored [out, in] row-major as in torch.
func linear(w []float64, b []float64, x []float64) []float64 {
	in := len(x)
	out := len(w) / in
	y := make([]float64, out)
	for o := 0; o < out; o++ {
		row := w[o*in : (o+1)*in]
		s := 0.0
		for i, xi := range x {
			s += row[i] * xi
		}
		if b != nil {
			s += b[o]
		}
		y[o] = s
	}
	return y
}

func rmsNorm(x, w []float64, eps float64) []float64 {
	ss := 0.0
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+eps)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v * r * w[i]
	}
	return y
}

func layerNorm(x, w, b []float64, eps float64) []float64 {
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	vr := 0.0
	for _, v := range x {
		vr += (v - mean) * (v - mean)
	}
	vr /= float64(len(x))
	r := 1 / math.Sqrt(vr+eps)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = (v-mean)*r*w[i] + b[i]
	}
	return y
}

func softmax(x []float64) {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	s := 0.0
	for i, v := range x {
		x[i] = math.Exp(v - mx)
		s += x[i]
	}
	for i := range x {
		x[i] /= s
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func (m *oracle) checkIDs(ids []int64) error {
	if len(ids) == 0 {
		return fmt.Errorf("refmodel: empty sequence: %w", errdefs.ErrInvalidInput)
	}
	for _, id := range ids {
		if id < 0 || id >= int64(m.cfg.VocabSize) {
			return fmt.Errorf("refmodel: token id %d outside vocab %d: %w", id, m.cfg.VocabSize, errdefs.ErrInvalidInput)
		}
	}
	return nil
}

// score returns the raw cross-encoder score of one unpadded sequence:
// the "Yes" logit (zerank), logit(yes) - logit(no) (qwen3-reranker), or the
// classifier logit (bert-cross-encoder). typeIDs is used by BERT only (nil
// means all zeros).
func (m *oracle) score(ids, typeIDs []int64) (float64, error) {
	if err := m.checkIDs(ids); err != nil {
		return 0, err
	}
	switch m.family {
	case modeldir.FamilyZerank, modeldir.FamilyQwen3Reranker:
		h := m.qwen3(ids)
		logit := func(tok int) float64 {
			if _, ok := m.rows["lm_head.weight"]; ok {
				return dot(m.row("lm_head.weight", tok), h)
			}
			return dot(m.row("embed_tokens.weight", tok), h) // tied
		}
		if m.family == modeldir.FamilyZerank {
			return logit(9454), nil
		}
		return logit(9693) - logit(2152), nil
	case modeldir.FamilyBertCrossEncoder:
		hs := m.bert(ids, typeIDs)
		pooled := linear(m.get("pooler.dense.weight"), m.get("pooler.dense.bias"), hs[0])
		for i, v := range pooled {
			pooled[i] = math.Tanh(v)
		}
		return linear(m.get("classifier.weight"), m.get("classifier.bias"), pooled)[0], nil
	}
	return 0, fmt.Errorf("refmodel: family %s has no score: %w", m.family, errdefs.ErrUnsupported)
}

// hiddenStates returns BERT's last_hidden_state for one unpadded sequence,
// [len(ids)][hidden].
func (m *oracle) hiddenStates(ids, typeIDs []int64) ([][]float64, error) {
	if err := m.checkIDs(ids); err != nil {
		return nil, err
	}
	if m.cfg.Kind() != hf.KindBert {
		return nil, fmt.Errorf("refmodel: hidden states of %s: %w", m.family, errdefs.ErrUnsupported)
	}
	return m.bert(ids, typeIDs), nil
}

// qwen3 runs the decoder and returns the final-normed hidden state of the
// last token.
func (m *oracle) qwen3(ids []int64) []float64 {
	c := m.cfg
	nH, nKV, D := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	S := len(ids)
	x := make([][]float64, S)
	for s, id := range ids {
		x[s] = m.row("embed_tokens.weight", int(id))
	}
	// rope rotates head vector v at position pos (rotate-half convention).
	rope := func(v []float64, pos int) {
		half := D / 2
		for i := 0; i < half; i++ {
			theta := float64(pos) * math.Pow(c.RopeTheta, -2*float64(i)/float64(D))
			cs, sn := math.Cos(theta), math.Sin(theta)
			a, b := v[i], v[i+half]
			v[i] = a*cs - b*sn
			v[i+half] = b*cs + a*sn
		}
	}
	bias := func(name string) []float64 { return m.w[name] } // nil when attention_bias is false
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf("layers.%d.", l)
		q := make([][][]float64, S) // [s][head][D]
		k := make([][][]float64, S)
		v := make([][][]float64, S)
		for s := 0; s < S; s++ {
			h := rmsNorm(x[s], m.get(p+"input_layernorm.weight"), c.RMSNormEps)
			qs := linear(m.get(p+"self_attn.q_proj.weight"), bias(p+"self_attn.q_proj.bias"), h)
			ks := linear(m.get(p+"self_attn.k_proj.weight"), bias(p+"self_attn.k_proj.bias"), h)
			vs := linear(m.get(p+"self_attn.v_proj.weight"), bias(p+"self_attn.v_proj.bias"), h)
			for n := 0; n < nH; n++ {
				hv := rmsNorm(qs[n*D:(n+1)*D], m.get(p+"self_attn.q_norm.weight"), c.RMSNormEps)
				rope(hv, s)
				q[s] = append(q[s], hv)
			}
			for n := 0; n < nKV; n++ {
				hv := rmsNorm(ks[n*D:(n+1)*D], m.get(p+"self_attn.k_norm.weight"), c.RMSNormEps)
				rope(hv, s)
				k[s] = append(k[s], hv)
				v[s] = append(v[s], vs[n*D:(n+1)*D])
			}
		}
		rep := nH / nKV
		for s := 0; s < S; s++ {
			attn := make([]float64, nH*D)
			for n := 0; n < nH; n++ {
				kv := n / rep
				sc := make([]float64, s+1) // causal: keys 0..s
				for t := 0; t <= s; t++ {
					sc[t] = dot(q[s][n], k[t][kv]) / math.Sqrt(float64(D))
				}
				softmax(sc)
				for t := 0; t <= s; t++ {
					for d := 0; d < D; d++ {
						attn[n*D+d] += sc[t] * v[t][kv][d]
					}
				}
			}
			o := linear(m.get(p+"self_attn.o_proj.weight"), nil, attn)
			for i := range o {
				x[s][i] += o[i]
			}
			h := rmsNorm(x[s], m.get(p+"post_attention_layernorm.weight"), c.RMSNormEps)
			gate := linear(m.get(p+"mlp.gate_proj.weight"), nil, h)
			up := linear(m.get(p+"mlp.up_proj.weight"), nil, h)
			for i, g := range gate {
				gate[i] = g / (1 + math.Exp(-g)) * up[i] // SiLU(gate) * up
			}
			d := linear(m.get(p+"mlp.down_proj.weight"), nil, gate)
			for i := range d {
				x[s][i] += d[i]
			}
		}
	}
	return rmsNorm(x[S-1], m.get("norm.weight"), c.RMSNormEps)
}

func (m *oracle) bert(ids, typeIDs []int64) [][]float64 {
	c := m.cfg
	H, nH := c.HiddenSize, c.NumAttentionHeads
	D := H / nH
	S := len(ids)
	pos, typ := m.get("embeddings.position_embeddings.weight"), m.get("embeddings.token_type_embeddings.weight")
	x := make([][]float64, S)
	for s, id := range ids {
		t := 0
		if typeIDs != nil {
			t = int(typeIDs[s])
		}
		e := m.row("embeddings.word_embeddings.weight", int(id))
		for i := range e {
			e[i] += pos[s*H+i] + typ[t*H+i]
		}
		x[s] = layerNorm(e, m.get("embeddings.LayerNorm.weight"), m.get("embeddings.LayerNorm.bias"), c.LayerNormEps)
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		p := fmt.Sprintf("encoder.layer.%d.", l)
		lin := func(name string, v []float64) []float64 {
			return linear(m.get(p+name+".weight"), m.get(p+name+".bias"), v)
		}
		q, k, v := make([][]float64, S), make([][]float64, S), make([][]float64, S)
		for s := 0; s < S; s++ {
			q[s], k[s], v[s] = lin("attention.self.query", x[s]), lin("attention.self.key", x[s]), lin("attention.self.value", x[s])
		}
		next := make([][]float64, S)
		for s := 0; s < S; s++ {
			ctx := make([]float64, H)
			for n := 0; n < nH; n++ {
				sc := make([]float64, S) // bidirectional
				for t := 0; t < S; t++ {
					sc[t] = dot(q[s][n*D:(n+1)*D], k[t][n*D:(n+1)*D]) / math.Sqrt(float64(D))
				}
				softmax(sc)
				for t := 0; t < S; t++ {
					for d := 0; d < D; d++ {
						ctx[n*D+d] += sc[t] * v[t][n*D+d]
					}
				}
			}
			a := lin("attention.output.dense", ctx)
			for i := range a {
				a[i] += x[s][i]
			}
			a = layerNorm(a, m.get(p+"attention.output.LayerNorm.weight"), m.get(p+"attention.output.LayerNorm.bias"), c.LayerNormEps)
			in := lin("intermediate.dense", a)
			for i, z := range in {
				in[i] = 0.5 * z * (1 + math.Erf(z/math.Sqrt2)) // exact GELU
			}
			o := lin("output.dense", in)
			for i := range o {
				o[i] += a[i]
			}
			next[s] = layerNorm(o, m.get(p+"output.LayerNorm.weight"), m.get(p+"output.LayerNorm.bias"), c.LayerNormEps)
		}
		x = next
	}
	return x
}
