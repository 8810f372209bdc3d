package web

import (
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify/cache"
	"certd/verify/internal/verifytest"
)

// TestScreenshots renders the valid, revoked, not-found, unavailable and
// stale (cannot confirm the current status) pages in headless
// Chromium at a 390x844 phone viewport and checks that each shows its
// verdict colour as a large block near the top. The PNGs are kept in
// $CERTD_SCREENSHOT_DIR when set, for a person to look at. Without
// Chromium the test skips.
func TestScreenshots(t *testing.T) {
	bin := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no Chromium installed (apt-get install chromium); skipping screenshots")
	}
	dir := os.Getenv("CERTD_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := verifytest.NewWorld(t, openSQLite(t), 4)
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, w.Certs[3].Number, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	a := newApp(t, w.Store, Deps{})
	base := a.listen(t)
	// A second instance whose database has gone away.
	bs := &verifytest.BrokenStore{Store: w.Store}
	bs.Broken.Store(true)
	down := newApp(t, bs, Deps{}).listen(t)
	// A third that has not read the register's changes for over a second.
	fs := &verifytest.BrokenStore{Store: w.Store}
	sa := newApp(t, fs, Deps{})
	sa.do(t, "GET", "/v/"+w.Certs[2].Number, nil)
	fs.AuditFrozen.Store(true)
	time.Sleep(cache.DefaultFreshness + 100*time.Millisecond)
	stale := sa.listen(t)
	tests := []struct {
		name, path string
		colour     [3]uint8 // the verdict block's background
		base       string
	}{
		{"valid", "/v/" + w.Certs[0].Number + "?c=" + w.Certs[0].VerifyCode, [3]uint8{0x00, 0xa8, 0x62}, ""},
		{"revoked", "/v/" + w.Certs[3].Number, [3]uint8{0xd9, 0x2d, 0x20}, ""},
		{"not-found", "/v/Y000022000001263999999", [3]uint8{0x47, 0x54, 0x67}, ""},
		{"valid-en", "/v/" + w.Certs[0].Number + "?lang=en", [3]uint8{0x00, 0xa8, 0x62}, ""},
		{"unavailable", "/v/" + w.Certs[1].Number, [3]uint8{0x47, 0x54, 0x67}, down},
		{"stale", "/v/" + w.Certs[2].Number, [3]uint8{0x47, 0x5a, 0x85}, stale},
		// The forged-paper case: a real number with another code.
		{"wrong-code", "/v/" + w.Certs[0].Number + "?lang=zh&c=" + w.Certs[1].VerifyCode, [3]uint8{0xd9, 0x2d, 0x20}, ""},
		// Amber, after the institution is suspended (below).
		{"institution-suspended", "/v/" + w.Certs[0].Number + "?lang=zh&c=" + w.Certs[0].VerifyCode, [3]uint8{0xb5, 0x47, 0x08}, ""},
	}
	for _, tt := range tests {
		if tt.name == "institution-suspended" {
			// Registrations take effect by the second: not in the second of issue.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
			if _, err := w.Iss.SetStatus(w.Ctx, verifytest.Authority, "jlvtc", issuer.Suspended, "test"); err != nil {
				t.Fatal(err)
			}
			verifytest.Eventually(t, 2*time.Second, "suspension visible", func() bool {
				_, body := a.do(t, "GET", "/api/v1/certificates/"+w.Certs[0].Number, nil)
				return strings.Contains(body, `"conclusion":"valid_institution_suspended"`)
			})
		}
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, tt.name+".png")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			b := base
			if tt.base != "" {
				b = tt.base
			}
			cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
				"--hide-scrollbars", "--window-size=390,844", "--user-data-dir="+t.TempDir(), "--screenshot="+out, b+tt.path)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("chromium: %v\n%s", err, b)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != 390 || b.Dy() != 844 {
				t.Fatalf("screenshot is %v", b)
			}
			// The verdict block fills the width in the first third of the
			// screen: count its colour there.
			n := countColour(img, image.Rect(0, 0, 390, 280), tt.colour)
			if n < 390*80 {
				t.Errorf("verdict colour %x covers %d pixels above the fold, want a large block", tt.colour, n)
			}
		})
	}
}

func countColour(img image.Image, r image.Rectangle, c [3]uint8) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if near(cr>>8, c[0]) && near(cg>>8, c[1]) && near(cb>>8, c[2]) {
				n++
			}
		}
	}
	return n
}

func near(a uint32, b uint8) bool { d := int(a) - int(b); return d > -6 && d < 6 }
