package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"twostage/internal/hubtest"
)

// BenchmarkDownload fetches one 32 MiB LFS file from the stand-in Hub two
// ways, alternately in one run: through the client (the resolve request, the
// redirect to the CDN host, a resumable part file, streaming sha256, size
// and commit checks, fsync and rename), and as a bare GET of the CDN URL
// hashed with sha256 into a file. It reports client/bare, the client's
// overhead as a ratio.
//
//	go test -run '^$' -bench Download -benchtime 10x ./hub
func BenchmarkDownload(b *testing.B) {
	data := make([]byte, 32<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	s := hubtest.New(b)
	commit := s.Add(hubtest.Repo{ID: "org/big", Files: map[string][]byte{"model.safetensors": data}})
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	c, err := New(&Options{Endpoint: s.URL, Home: b.TempDir(), Token: "unused"})
	if err != nil {
		b.Fatal(err)
	}
	c.token = ""
	dir := b.TempDir()
	ctx := context.Background()
	var viaClient, bare time.Duration
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(dir, "client")
		os.Remove(dst)
		t0 := time.Now()
		if _, err := c.download(ctx, "org/big", commit, "model.safetensors", dst, nil); err != nil {
			b.Fatal(err)
		}
		viaClient += time.Since(t0)

		t0 = time.Now()
		if got := bareGet(b, s.CDN.URL+"/repos/"+want, filepath.Join(dir, "bare")); got != want {
			b.Fatalf("bare sha256 %s, want %s", got, want)
		}
		bare += time.Since(t0)
	}
	b.ReportMetric(float64(viaClient)/float64(bare), "client/bare")
}

func bareGet(b *testing.B, url, path string) string {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
