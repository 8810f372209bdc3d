package render

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"runtime"
	"testing"
)

// TestPatchedGofpdfSameBytes: certd builds gofpdf from a patched copy
// (issuer/render/gofpdf, see docs/design.md) that computes the font ID
// and compresses streams faster but must write the very same PDFs. The
// hashes below were taken with the released gofpdf v1.16.2 from the same
// certificates (with and without photo, seal, English, void mark) and the
// font whose SHA-256 is fontSum; with another font the bytes differ
// anyway, and the test says so instead of failing.
func TestPatchedGofpdfSameBytes(t *testing.T) {
	const fontSum = "bbf534b0ca093928f94d1782855e65a19a32cde82b075d495d072025521953c8"
	want := map[string]string{
		"plain":   "9dc62e7f22687624b39cb7750e3162ada2790ec1f84f983cd7e5ef55972c385e",
		"photo":   "8068e378e8114434fd998f36f519b0da6368a27c37cda854438f0190798c6279",
		"english": "5cce5e4ecf65d80a4b16672f1ce92a5b80dad2953004c8b0b62faa0ea72c818d",
		"void":    "1c9c474a9394f62d37b6df82c4aa357caf05f64795e3fb9b3758435a34e91c9b",
	}
	needFile(t, DefaultFontPath)
	font, err := os.ReadFile(DefaultFontPath)
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(font); hex.EncodeToString(s[:]) != fontSum {
		t.Skipf("the installed %s is not the font the hashes were taken with", DefaultFontPath)
	}
	got := patchCases(t)
	for name, sum := range got {
		if sum != want[name] {
			t.Errorf("%s: PDF SHA-256 %s, gofpdf v1.16.2 made %s", name, sum, want[name])
		}
	}
}

func patchCases(t *testing.T) map[string]string {
	t.Helper()
	base := benchCerts(3)
	plain := base[0]
	plain.Photo, plain.Seal = nil, nil
	photo := base[1]
	void := base[2]
	void.Void = &Void{Headline: "作废 REVOKED", Line: "本证书已于2026-12-03撤销，不再有效 / revoked on 2026-12-03; no longer valid"}
	out := map[string]string{}
	for _, c := range []struct {
		name string
		cfg  Config
		cert Certificate
	}{{"plain", Config{}, plain}, {"photo", Config{}, photo}, {"english", Config{English: true}, photo}, {"void", Config{}, void}} {
		pdf, err := renderer(t, c.cfg).Render(c.cert)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(pdf)
		out[c.name] = hex.EncodeToString(s[:])
	}
	return out
}

// TestRenderAllocation bounds what one certificate's PDF allocates: the
// released gofpdf allocated 5.9 MB a certificate, most of it the JSON of
// the font's 65,536 widths (for the font's ID) and a fresh zlib writer per
// stream; the patched copy, 2.5 MB. Allocation is what a certificate's
// time follows (a figure, unlike a time, the machine's load does not move).
func TestRenderAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops what is put back: the figure would not be the real build's")
	}
	r := renderer(t, Config{})
	certs := benchCerts(8)
	if _, err := r.Render(certs[0]); err != nil { // warm the image cache and pools
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range certs {
		if _, err := r.Render(c); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(certs))
	t.Logf("%.2f MB allocated a certificate", per/(1<<20))
	if per > 4<<20 {
		t.Errorf("a certificate's PDF allocates %.1f MB, more than 4 MB: the per-document font work is back", per/(1<<20))
	}
}
