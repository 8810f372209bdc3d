package issuer_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"certd/issuer"
)

// sealPNG is a round red seal on a transparent background, size px wide.
func sealPNG(t testing.TB, size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	c, r2 := size/2, (size/2)*(size/2)
	for y := range size {
		for x := range size {
			if d := (x-c)*(x-c) + (y-c)*(y-c); d < r2 && d > r2*3/4 || (x-c)*(x-c)+(y-c)*(y-c) < r2/16 {
				img.SetNRGBA(x, y, color.NRGBA{200, 20, 20, 255})
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSealPreview: a seal is seen on a sample certificate before it is
// saved. The preview is a picture of the college's sample certificate with
// the new seal where the layout puts it (the centre of the seal is red,
// the same spot is not without it), next to the one with the seal on file;
// nothing is stored; a broken image is refused as saving it would be; and
// no one previews for another college. Before, an upload was saved at once
// with nothing to look at.
func TestSealPreview(t *testing.T) {
	p := newPrinter(t)
	f := newFixture(t)
	f.svc.Printer = p
	seal := sealPNG(t, 400)
	cur, next, err := f.svc.SealPreview(f.ctx, clerk, "jlvtc", seal)
	if err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Error("a picture of a seal on file when there is none")
	}
	if d := os.Getenv("CERTD_SHOTS"); d != "" {
		_ = os.WriteFile(filepath.Join(d, "seal-sample.png"), next, 0o600)
	}
	img, err := png.Decode(bytes.NewReader(next))
	if err != nil {
		t.Fatal(err)
	}
	// The full layout centres the seal at (152, 219) mm; 4 px a millimetre.
	red := func(img image.Image) bool {
		r, g, b, _ := img.At(152*4, 219*4).RGBA()
		return r>>8 > 150 && g>>8 < 100 && b>>8 < 100
	}
	if w := img.Bounds().Dx(); w != 840 || !red(img) {
		t.Errorf("preview %dpx wide, red at the seal's centre: %v", w, red(img))
	}
	in, _ := f.svc.Institution(f.ctx, clerk, "jlvtc")
	if len(in.Print.Seal) != 0 {
		t.Fatal("the preview stored the seal")
	}
	bare, err := p.SamplePNG(in, nil, f.svc.Now())
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := png.Decode(bytes.NewReader(bare)); red(img) {
		t.Error("red at the seal's place without a seal")
	}
	if _, _, err := f.svc.SealPreview(f.ctx, clerk, "jlvtc", []byte("not a png")); !issuer.Is(err, issuer.ErrInvalid) {
		t.Errorf("broken seal: %v", err)
	}
	if _, _, err := f.svc.SealPreview(f.ctx, issuer.Actor{Name: "x", InstitutionID: "other"}, "jlvtc", seal); !issuer.Is(err, issuer.ErrForbidden) && !issuer.Is(err, issuer.ErrNotFound) {
		t.Errorf("another college's preview: %v", err)
	}
}
