package issuer_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"testing"
)

// TestSealPreviewThinSealBounded: a seal upload within the limits but of
// an extreme shape (16×4000 px, normalised to 2×640) is previewed without
// drawing the part that falls off the page. Before, the seal was scaled to
// its full height at the page's resolution (160 mm wide, so 51 m tall:
// 4 px/mm × 51,200 mm × 640 px × 4 bytes ≈ 130 MB and its CatmullRom
// scaling) for each of the two pictures.
func TestSealPreviewThinSealBounded(t *testing.T) {
	p := newPrinter(t)
	f := newFixture(t)
	f.svc.Printer = p
	img := image.NewNRGBA(image.Rect(0, 0, 16, 4000))
	for y := range 4000 {
		for x := range 16 {
			img.SetNRGBA(x, y, color.NRGBA{200, 20, 20, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	// Warm the renderer (fonts) first.
	if _, _, err := f.svc.SealPreview(f.ctx, clerk, "jlvtc", sealPNG(t, 400)); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, _, err := f.svc.SealPreview(f.ctx, clerk, "jlvtc", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// A page at 4 px/mm is 840×1188 px, 4 MB of RGBA; the upload's own
	// decode is 256 KB. 30 MB leaves room for the fonts' glyph caches.
	if got := after.TotalAlloc - before.TotalAlloc; got > 30<<20 {
		t.Errorf("previewing a 16×4000 seal allocated %d MB", got>>20)
	}
}
