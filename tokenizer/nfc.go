package tokenizer

import (
	"sort"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Canonical normalization (NFC, NFD) with the Unicode data of the reference.
//
// Hugging Face tokenizers normalizes with its crate
// unicode-normalization-alignments, whose tables are Unicode 9.0: characters
// assigned later are, for it, starters without decomposition. Go's x/text
// norm tables are newer (and norm.NFC wrongly composes some supplementary
// starters, e.g. U+21F08 U+0301 becomes U+1F0C). So decomposition data and
// combining classes come from x/text (per character, which is correct), the
// characters the reference does not know come from nfcUnknown (tables.go,
// checked against the reference for every code point), and ordering and
// composition are done here.

// refUnknown reports whether the reference's normalizer does not know r.
func refUnknown(r rune) bool {
	i := sort.Search(len(nfcUnknown), func(i int) bool { return nfcUnknown[i].hi >= r })
	return i < len(nfcUnknown) && nfcUnknown[i].lo <= r
}

const (
	hangulSBase  = 0xAC00
	hangulLBase  = 0x1100
	hangulVBase  = 0x1161
	hangulTBase  = 0x11A7
	hangulLCount = 19
	hangulVCount = 21
	hangulTCount = 28
	hangulNCount = hangulVCount * hangulTCount
	hangulSCount = hangulLCount * hangulNCount
)

type cpc struct {
	r   rune
	ccc uint8
}

func runeProps(r rune) norm.Properties {
	var b [utf8.UTFMax]byte
	n := utf8.EncodeRune(b[:], r)
	return norm.NFD.Properties(b[:n])
}

func cccOf(r rune) uint8 {
	if r < 0x300 || refUnknown(r) {
		return 0
	}
	return runeProps(r).CCC()
}

// appendDecomposed appends the full canonical decomposition of r.
func appendDecomposed(buf []cpc, r rune) []cpc {
	if r < 0xC0 {
		return append(buf, cpc{r, 0})
	}
	if s := r - hangulSBase; s >= 0 && s < hangulSCount {
		buf = append(buf, cpc{hangulLBase + s/hangulNCount, 0}, cpc{hangulVBase + (s%hangulNCount)/hangulTCount, 0})
		if t := s % hangulTCount; t != 0 {
			buf = append(buf, cpc{hangulTBase + t, 0})
		}
		return buf
	}
	if refUnknown(r) {
		return append(buf, cpc{r, 0})
	}
	p := runeProps(r)
	d := p.Decomposition()
	if d == nil {
		return append(buf, cpc{r, p.CCC()})
	}
	for len(d) > 0 {
		c, w := utf8.DecodeRune(d)
		d = d[w:]
		buf = append(buf, cpc{c, cccOf(c)})
	}
	return buf
}

// reorder sorts each run of non-starters by combining class (stable).
func reorder(buf []cpc) {
	for i := 0; i < len(buf); {
		if buf[i].ccc == 0 {
			i++
			continue
		}
		j := i
		for j < len(buf) && buf[j].ccc != 0 {
			j++
		}
		if j-i > 1 {
			run := buf[i:j]
			sort.SliceStable(run, func(a, b int) bool { return run[a].ccc < run[b].ccc })
		}
		i = j
	}
}

var (
	composeOnce  sync.Once
	composeTable map[uint64]rune // (starter, combining) -> primary composite
)

// buildComposeTable derives the primary composites from the decompositions:
// a character composes when it has a canonical decomposition, is stable
// under NFC (not a composition exclusion) and the reference knows it.
func buildComposeTable() {
	byDecomp := make(map[string]rune)
	type comp struct {
		r rune
		d []rune
	}
	var comps []comp
	for r := rune(0xC0); r < 0x30000; r++ {
		if r >= 0xD800 && r <= 0xDFFF || r >= hangulSBase && r < hangulSBase+hangulSCount || refUnknown(r) {
			continue
		}
		var b [utf8.UTFMax]byte
		n := utf8.EncodeRune(b[:], r)
		d := norm.NFD.Properties(b[:n]).Decomposition()
		if d == nil {
			continue
		}
		rs := []rune(string(d))
		if len(rs) < 2 || compositionExcluded(r, d) {
			continue
		}
		byDecomp[string(d)] = r
		comps = append(comps, comp{r, rs})
	}
	composeTable = make(map[uint64]rune, len(comps))
	for _, c := range comps {
		head := c.d[:len(c.d)-1]
		first := head[0]
		if len(head) > 1 {
			x, ok := byDecomp[string(head)]
			if !ok {
				continue
			}
			first = x
		}
		composeTable[uint64(first)<<32|uint64(c.d[len(c.d)-1])] = c.r
	}
}

// compositionExcluded reports whether r, with full decomposition d, is not a
// primary composite (a composition exclusion or a non-starter
// decomposition). In the BMP, Go's NFC answers it; above, norm.NFC
// mis-composes some starters, and the only exclusions there are the musical
// symbols.
func compositionExcluded(r rune, d []byte) bool {
	if r > 0xFFFF {
		return r >= 0x1D15E && r <= 0x1D164 || r >= 0x1D1BB && r <= 0x1D1C0
	}
	var b [utf8.UTFMax]byte
	n := utf8.EncodeRune(b[:], r)
	return norm.NFC.String(string(d)) != string(b[:n])
}

func composePair(a, b rune) (rune, bool) {
	if l := a - hangulLBase; l >= 0 && l < hangulLCount {
		if v := b - hangulVBase; v >= 0 && v < hangulVCount {
			return hangulSBase + (l*hangulVCount+v)*hangulTCount, true
		}
		return 0, false
	}
	if s := a - hangulSBase; s >= 0 && s < hangulSCount && s%hangulTCount == 0 {
		if t := b - hangulTBase; t > 0 && t < hangulTCount {
			return a + t, true
		}
		return 0, false
	}
	c, ok := composeTable[uint64(a)<<32|uint64(b)]
	return c, ok
}

// compose applies canonical composition in place and returns the result.
func compose(buf []cpc) []cpc {
	composeOnce.Do(buildComposeTable)
	if len(buf) == 0 {
		return buf
	}
	out := buf[:0]
	starter := -1
	lastCCC := uint8(0)
	for i := 0; i < len(buf); i++ {
		c := buf[i]
		if starter >= 0 {
			blocked := len(out)-1 != starter && (lastCCC == 0 || lastCCC >= c.ccc)
			if !blocked {
				if p, ok := composePair(out[starter].r, c.r); ok {
					out[starter].r = p
					continue
				}
			}
		}
		if c.ccc == 0 {
			starter = len(out)
			lastCCC = 0
		} else {
			lastCCC = c.ccc
		}
		out = append(out, c)
	}
	return out
}

var cpcPool = sync.Pool{New: func() any { return new([]cpc) }}

// canonical returns the NFC (compose) or NFD form of s.
func canonical(s string, composeIt bool) string {
	// Runes below U+0300 are NFC-stable (lead bytes below 0xCC), runes below
	// U+00C0 NFD-stable (bytes below 0xC3).
	limit := byte(0xC3)
	if composeIt {
		limit = 0xCC
	}
	i := 0
	for i < len(s) && s[i] < limit {
		i++
	}
	if i == len(s) {
		return s
	}
	if composeIt && norm.NFC.IsNormalString(s) || !composeIt && norm.NFD.IsNormalString(s) {
		return s
	}
	p := cpcPool.Get().(*[]cpc)
	buf := (*p)[:0]
	for _, r := range s {
		buf = appendDecomposed(buf, r)
	}
	reorder(buf)
	if composeIt {
		buf = compose(buf)
	}
	out := make([]byte, 0, len(s)+8)
	for _, c := range buf {
		out = utf8.AppendRune(out, c.r)
	}
	*p = buf[:0]
	cpcPool.Put(p)
	return string(out)
}
