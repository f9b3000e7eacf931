//go:build faiss && !faiss_system

package faisslocal

import (
	"debug/elf"
	"testing"

	"twostage/internal/testassets"
)

// TestFAISSCodeLayout checks that FAISS's code sits in this test binary at
// the same place, modulo a page, as in the prelinked object it comes from
// (.deps/faiss/faiss.o, see link.go): the layout of FAISS's hot loops no
// longer depends on what else a program links. With -lfaiss this binary
// and cmd/faissbench put fvec_inner_product_ref 32 bytes apart modulo 64.
func TestFAISSCodeLayout(t *testing.T) {
	const sym = "_ZN5faiss22fvec_inner_product_refEPKfS1_m" // faiss::fvec_inner_product_ref
	f, err := elf.Open(testassets.Path(t, "faiss/faiss.o"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	if text == nil {
		t.Fatal("faiss.o has no .text section")
	}
	if text.Addralign != 4096 {
		t.Fatalf("faiss.o's .text is aligned to %d bytes, want 4096", text.Addralign)
	}
	for _, s := range syms {
		if s.Name != sym {
			continue
		}
		if int(s.Section) >= len(f.Sections) || f.Sections[s.Section] != text {
			t.Fatalf("%s is not in faiss.o's .text", sym)
		}
		got, want := codeAddress()%4096, uintptr(s.Value%4096)
		if got != want {
			t.Fatalf("fvec_inner_product_ref at %#x modulo 4096 in this binary, %#x in faiss.o", got, want)
		}
		return
	}
	t.Fatalf("faiss.o has no symbol %s", sym)
}
