package console

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"certd/issuer"
	"certd/issuer/render"
)

func testSeal(t testing.TB, rgb color.NRGBA) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 300, 300))
	for y := 40; y < 260; y++ {
		for x := 40; x < 260; x++ {
			if (x-150)*(x-150)+(y-150)*(y-150) < 110*110 {
				img.SetNRGBA(x, y, rgb)
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func uploadSeal(t *testing.T, w *world, ck *http.Cookie, csrf string, seal []byte) resp {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("_csrf", csrf)
	fw, _ := mw.CreateFormFile("seal", "seal.png")
	fw.Write(seal)
	mw.Close()
	req := httptest.NewRequest("POST", "/console/settings/seal", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(ck)
	res, err := w.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header.Get("Location"), string(b)}
}

// TestSealPreviewBeforeSave: an uploaded seal is shown on a sample
// certificate, next to the seal on file, and saved only when the
// administrator confirms that very image (with the form's CSRF token);
// another college's administrator cannot save it into theirs or alpha's.
// Before, the upload was saved at once, unseen.
func TestSealPreviewBeforeSave(t *testing.T) {
	if _, err := os.Stat(render.DefaultFontPath); err != nil && os.Getenv("CI") != "true" {
		t.Skip("certificate font not installed")
	}
	w := newWorld(t, backends[0].open)
	p, err := issuer.NewPrinter(render.Config{}, "https://certd.example.cn")
	if err != nil {
		t.Fatal(err)
	}
	w.svc.Printer = p
	ctx := context.Background()
	seal := func() []byte { in, _ := w.st.Institution(ctx, "alpha"); return in.Print.Seal }
	ck, csrf := w.session("aadm")
	tokenOf := regexp.MustCompile(`name="token" value="([0-9a-f]{64})"`)

	red := testSeal(t, color.NRGBA{200, 20, 20, 255})
	r := uploadSeal(t, w, ck, csrf, red)
	m := tokenOf.FindStringSubmatch(r.body)
	if r.status != 200 || m == nil || strings.Count(r.body, `src="data:image/png;base64,`) != 1 || !strings.Contains(r.body, "尚未上传印章") {
		t.Fatalf("preview of a first seal: %d %.600s", r.status, r.body)
	}
	if seal() != nil {
		t.Fatal("the upload was saved before confirmation")
	}
	// Another college's administrator cannot confirm it, into either college.
	bck, bcsrf := w.session("badm")
	if r := w.do("POST", "/console/settings/seal/confirm", bck, url.Values{"_csrf": {bcsrf}, "token": {m[1]}}, nil); r.status != 400 {
		t.Errorf("beta confirming alpha's seal: %d", r.status)
	}
	if in, _ := w.st.Institution(ctx, "beta"); in.Print.Seal != nil {
		t.Error("alpha's seal was saved into beta")
	}
	// Without the CSRF token, nothing.
	if r := w.do("POST", "/console/settings/seal/confirm", ck, url.Values{"token": {m[1]}}, nil); r.status != 403 || seal() != nil {
		t.Errorf("confirm without CSRF: %d", r.status)
	}
	if r := w.do("POST", "/console/settings/seal/confirm", ck, url.Values{"_csrf": {csrf}, "token": {m[1]}}, nil); r.status != 303 || !bytes.Equal(seal(), red) {
		t.Fatalf("confirm: %d %q", r.status, r.loc)
	}
	// A token is good once.
	if r := w.do("POST", "/console/settings/seal/confirm", ck, url.Values{"_csrf": {csrf}, "token": {m[1]}}, nil); r.status != 400 || !strings.Contains(r.body, "预览已过期") {
		t.Errorf("second confirm: %d", r.status)
	}
	// The settings page shows the seal on file; a new upload shows both.
	if r := w.do("GET", "/console/settings", ck, nil, nil); !strings.Contains(r.body, `src="/console/settings/seal.png"`) {
		t.Error("settings page does not show the seal on file")
	}
	if r := w.do("GET", "/console/settings/seal.png", ck, nil, nil); r.status != 200 || r.body != string(red) {
		t.Errorf("seal.png: %d", r.status)
	}
	blue := testSeal(t, color.NRGBA{20, 20, 200, 255})
	r = uploadSeal(t, w, ck, csrf, blue)
	if r.status != 200 || strings.Count(r.body, `src="data:image/png;base64,`) != 2 || !bytes.Equal(seal(), red) {
		t.Errorf("preview of a second seal: %d, %d pictures", r.status, strings.Count(r.body, `src="data:image/png;base64,`))
	}
	if d := os.Getenv("CERTD_SHOTS_HTML"); d != "" {
		_ = os.WriteFile(d+"/seal.html", []byte(r.body), 0o600)
	}
	// A broken image is refused at the upload.
	if r := uploadSeal(t, w, ck, csrf, []byte("\x89PNG\r\n\x1a\nbroken")); r.status != 400 {
		t.Errorf("broken seal: %d", r.status)
	}
}
