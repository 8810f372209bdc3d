package render

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jung-kurt/gofpdf"
)

const dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
const droid = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// Fonts and tools these tests read PDFs with come from Debian packages.
// Without them a test skips, or leaves out the checks that need them; under
// CI=true, where .ci/run installs them all, a missing one fails the test
// instead, so that a CI run cannot pass on checks that never ran.

func haveFile(t testing.TB, p string) bool {
	t.Helper()
	if _, err := os.Stat(p); err != nil {
		absent(t, fmt.Sprintf("%s not installed (apt-get install fonts-lxgw-wenkai fonts-dejavu-core fonts-droid-fallback): %v", p, err))
		return false
	}
	return true
}

func haveTool(t testing.TB, name string) bool {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		absent(t, name+" not installed (apt-get install -y poppler-utils zbar-tools qpdf)")
		return false
	}
	return true
}

func absent(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI requires it", why)
	}
	t.Log(why)
}

func needFile(t testing.TB, p string) {
	t.Helper()
	if !haveFile(t, p) {
		t.SkipNow()
	}
}

func needTool(t testing.TB, name string) {
	t.Helper()
	if !haveTool(t, name) {
		t.SkipNow()
	}
}

var (
	rendOnce sync.Map // Config key → *Renderer, building a Renderer parses 15 MB
)

func renderer(t testing.TB, cfg Config) *Renderer {
	t.Helper()
	needFile(t, DefaultFontPath)
	key := fmt.Sprintf("%+v", cfg)
	if r, ok := rendOnce.Load(key); ok {
		return r.(*Renderer)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rendOnce.Store(key, r)
	return r
}

var testPhoto = sync.OnceValue(func() []byte { return makePhoto(1) })

// makePhoto draws a 1-inch photo at 300 dpi with noise, so that its JPEG is
// about as big as a real one; seeds give distinct photos.
func makePhoto(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	img := image.NewRGBA(image.Rect(0, 0, 295, 413))
	for y := 0; y < 413; y++ {
		for x := 0; x < 295; x++ {
			dx, dy := float64(x-147), float64(y-170)
			c := color.RGBA{240, 240, 245, 255}
			if dx*dx/(70*70)+dy*dy/(95*95) < 1 || (y > 290 && math.Abs(dx) < float64(y-200)) {
				n := uint8(rng.IntN(30))
				c = color.RGBA{150 + n, 110 + n, 90 + n, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	return b.Bytes()
}

var testSeal = sync.OnceValue(func() []byte {
	// Red ring with a star on a transparent background, like a scanned seal.
	const n = 400
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	red := color.NRGBA{210, 20, 20, 230}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			dx, dy := float64(x-n/2), float64(y-n/2)
			d := math.Hypot(dx, dy)
			a := math.Atan2(dy, dx)
			star := d < 60*(0.5+0.5*math.Abs(math.Cos(2.5*a)))
			if (d > 170 && d < 192) || star {
				img.Set(x, y, red)
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
})

func sample(name string) Certificate {
	return Certificate{
		Number:          "Y000022000001263000001",
		InstitutionName: "吉林工业职业技术学院",
		IssuedOn:        time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC),
		Name:            name,
		DocType:         "居民身份证",
		DocNumber:       "220102200001011234",
		OccupationName:  "电工",
		Specialty:       "",
		LevelZh:         "三级/高级工",
		LevelEn:         "Level 3 / Senior Worker",
		VerifyURL:       "https://cert.jlgy.edu.cn/v/Y000022000001263000001?c=7KQ2-M9XD-4HTP",
		VerifyCode:      "7KQ2-M9XD-4HTP",
		Token:           "eyJhbGciOiJFZERTQSJ9.eyJudW1iZXIiOiJZMDAwMDIyMDAwMDAxMjYzMDAwMDAxIn0.c2lnbmF0dXJl",
		Photo:           testPhoto(),
		Seal:            testSeal(),
	}
}

var sampleNames = []string{"欧阳娜娜", "阿卜杜热合曼·买买提", "𠮷野家", "龘", "John Smith"}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	needTool(t, name)
	// stdout only: zbarimg and friends print D-Bus noise on stderr.
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.Bytes())
	}
	return string(out)
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSamples renders every sample name in every layout (full, full with
// English, preprinted), one of them with a long college name, a 工种 and no
// photo, and checks with independent tools what a reader gets: a valid
// one-page A4 PDF whose text holds every value, the labels only where the
// layout prints them, English only when asked for, the photo only when
// there is one, the seal only where the paper lacks it, and a QR code that
// decodes to the verification address. With CERTD_RENDER_OUT=dir it also
// leaves the PDFs and the calibration page there for people to look at.
func TestSamples(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdfinfo", "pdfimages", "qpdf", "pdftoppm", "zbarimg"} {
		needTool(t, tool)
	}
	out := os.Getenv("CERTD_RENDER_OUT")
	layouts := []struct {
		tag     string
		cfg     Config
		labels  bool // the full layouts print labels and title; preprinted stock has them
		english bool
		seal    bool // preprinted stock carries the seal
	}{
		{"full", Config{}, true, false, true},
		{"full-en", Config{English: true}, true, true, true},
		{"preprinted", Config{Layout: "preprinted"}, false, false, false},
	}
	for _, l := range layouts {
		r := renderer(t, l.cfg)
		for i, name := range sampleNames {
			t.Run(fmt.Sprintf("%s/%d", l.tag, i), func(t *testing.T) {
				c := sample(name)
				c.Number = fmt.Sprintf("Y00002200000126300000%d", i+1)
				if i == 1 {
					c.InstitutionName = "吉林省长春市经济技术开发区职业技术学校（汽车工程分校）"
					c.Specialty = "维修电工"
					c.Photo = nil
				}
				b, err := r.Render(c)
				if err != nil {
					t.Fatal(err)
				}
				p := writeTemp(t, "c.pdf", b)
				if out != "" {
					if err := os.WriteFile(filepath.Join(out, fmt.Sprintf("%s-%d.pdf", l.tag, i)), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if got := run(t, "qpdf", "--check", p); !strings.Contains(got, "No syntax or stream encoding errors") {
					t.Errorf("qpdf --check: %s", got)
				}
				info := run(t, "pdfinfo", p)
				if !regexp.MustCompile(`Pages:\s+1\n`).MatchString(info) || !strings.Contains(info, "(A4)") {
					t.Errorf("want one A4 page, pdfinfo:\n%s", info)
				}
				// -raw keeps reading order; a long value wrapped over two
				// lines reads whole once the line breaks are gone.
				text := strings.ReplaceAll(run(t, "pdftotext", "-raw", p, "-"), "\n", "")
				values := []string{strings.ReplaceAll(name, "𠮷", ""), // 𠮷 is drawn as an outline, not text
					c.Number, c.InstitutionName, c.DocType, c.DocNumber, c.OccupationName, c.LevelZh, "2026年6月30日", c.VerifyCode, c.Specialty}
				for _, want := range values {
					if !strings.Contains(text, want) {
						t.Errorf("text lacks %q:\n%s", want, text)
					}
				}
				for want, present := range map[string]bool{
					"职业技能等级证书": l.labels, "证书编号": l.labels, "http://jndj.osta.org.cn": l.labels,
					"Vocational Skill Level Certificate": l.english, c.LevelEn: l.english,
				} {
					if strings.Contains(text, want) != present {
						t.Errorf("text holds %q: %v, want %v:\n%s", want, !present, present, text)
					}
				}
				images := strings.Count(run(t, "pdfimages", "-list", p), "\n") - 2 // two header lines
				want := 0
				if c.Photo != nil {
					want++
				}
				if l.seal {
					want++
				}
				if images != want {
					t.Errorf("%d images embedded, want %d (photo: %v, seal: %v)", images, want, c.Photo != nil, l.seal)
				}
				if i == 1 {
					png := strings.TrimSuffix(p, ".pdf")
					run(t, "pdftoppm", "-r", "150", "-png", "-singlefile", p, png)
					if qr := strings.TrimSpace(run(t, "zbarimg", "-q", "--raw", png+".png")); qr != c.VerifyURL {
						t.Errorf("QR decodes to %q, want %q", qr, c.VerifyURL)
					}
				}
			})
		}
		if l.cfg.Layout == "preprinted" {
			b, err := r.CalibrationPage()
			if err != nil {
				t.Fatal(err)
			}
			p := writeTemp(t, "calibration.pdf", b)
			if text := run(t, "pdftotext", p, "-"); !strings.Contains(text, "套打校准页") || !strings.Contains(text, "layout=preprinted") {
				t.Errorf("calibration page text:\n%s", text)
			}
			if out != "" {
				if err := os.WriteFile(filepath.Join(out, "calibration.pdf"), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	needFile(t, DefaultFontPath)
	cases := []struct {
		name string
		cfg  Config
		kind error
		want string
	}{
		{"missing font", Config{FontPath: "/nonexistent/font.ttf"}, ErrFont, "无法读取字体文件"},
		{"no CJK", Config{FontPath: dejavu}, ErrFont, "不含中文字形"},
		{"bad template", Config{Template: []byte(`{"mode":"full",`)}, ErrTemplate, "版式模板无效"},
		{"unknown layout", Config{Layout: "poster"}, ErrTemplate, "未知版式"},
		{"title changed", Config{Template: bytes.Replace(mustAsset(t, "full"), []byte(`"text": "职业技能等级证书"`), []byte(`"text": "技能证书"`), 1)}, ErrTemplate, "职业技能等级证书"},
		{"small QR", Config{Template: bytes.Replace(mustAsset(t, "full"), []byte(`"kind": "qr", "x": 26, "y": 196, "w": 32`), []byte(`"kind": "qr", "x": 26, "y": 196, "w": 20`), 1)}, ErrTemplate, "二维码宽度至少"},
		{"no osta URL", Config{Template: bytes.ReplaceAll(mustAsset(t, "full"), []byte("pjjg.osta.org.cn"), []byte("example.org"))}, ErrTemplate, "pjjg.osta.org.cn"},
	}
	if !haveFile(t, dejavu) {
		cases = cases[:1]
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg)
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), " / ") {
				t.Fatalf("got %v, want %v containing %q (bilingual)", err, c.kind, c.want)
			}
			// Chinese comes first.
			if strings.IndexFunc(err.Error(), func(r rune) bool { return r > 0x2E80 }) > strings.Index(err.Error(), " / ") {
				t.Fatalf("Chinese should come first: %v", err)
			}
		})
	}
}

func mustAsset(t *testing.T, name string) []byte {
	b, err := embeddedLayout(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheck(t *testing.T) {
	r := renderer(t, Config{})
	if err := r.Check(sampleNames...); err != nil {
		t.Fatalf("sample names should be printable: %v", err)
	}
	err := r.Check("张\U0010FFFD三", "李\x07", "\U000E0100ok")
	var mg *MissingGlyphsError
	if !errors.As(err, &mg) || !errors.Is(err, ErrGlyph) {
		t.Fatalf("want *MissingGlyphsError, got %v", err)
	}
	want := []rune{0x10FFFD, 0x07, 0xE0100}
	if fmt.Sprint(mg.Runes) != fmt.Sprint(want) {
		t.Fatalf("runes %U, want %U", mg.Runes, want)
	}
	if !strings.Contains(err.Error(), "U+10FFFD") || !strings.HasPrefix(err.Error(), "字体中缺少") {
		t.Fatalf("message: %v", err)
	}
	// Render refuses the same characters rather than printing a blank.
	c := sample("张\U0010FFFD三")
	if _, err := r.Render(c); !errors.As(err, &mg) || !strings.Contains(err.Error(), c.Number) {
		t.Fatalf("Render should refuse a missing glyph naming the certificate, got %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	r := renderer(t, Config{English: true})
	a, err := r.Render(sample("欧阳娜娜"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a clock-dependent field would now differ
	b, err := r.Render(sample("欧阳娜娜"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same input gave different PDFs")
	}
	r2, err := New(Config{English: true})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r2.Render(sample("欧阳娜娜"))
	if !bytes.Equal(a, c) {
		t.Fatal("a second Renderer gave different bytes")
	}
	d, _ := r.Render(sample("欧阳娜"))
	if bytes.Equal(a, d) {
		t.Fatal("different input gave the same PDF")
	}
}

// TestFontBytesUnchanged proves gofpdf never writes into the shared font:
// run it with -race.
func TestFontBytesUnchanged(t *testing.T) {
	var fallbacks []string
	if haveFile(t, droid) {
		fallbacks = []string{droid}
	}
	r, err := New(Config{Fallbacks: fallbacks})
	if err != nil {
		t.Fatal(err)
	}
	hash := func() [][32]byte {
		var hs [][32]byte
		for _, f := range r.faces {
			hs = append(hs, sha256.Sum256(f.ttf))
		}
		return hs
	}
	before := hash()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				c := sample(sampleNames[(i+j)%len(sampleNames)] + string(rune(0x4E00+i*97+j)))
				if _, err := r.Render(c); err != nil {
					errs <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if fmt.Sprint(before) != fmt.Sprint(hash()) {
		t.Fatal("font bytes changed during rendering")
	}
}

// TestWithTools checks what a reader and a phone see: text layer, QR,
// attachment and structural validity.
func TestWithTools(t *testing.T) {
	for _, tool := range []string{"pdftotext", "zbarimg", "qpdf", "pdfdetach", "pdftoppm", "pdffonts"} {
		needTool(t, tool)
	}
	r := renderer(t, Config{English: true})
	for _, name := range sampleNames {
		t.Run(name, func(t *testing.T) {
			c := sample(name)
			c.Specialty = "维修电工"
			b, err := r.Render(c)
			if err != nil {
				t.Fatal(err)
			}
			p := writeTemp(t, "c.pdf", b)
			text := run(t, "pdftotext", "-layout", p, "-")
			textName := strings.ReplaceAll(name, "𠮷", "") // drawn as an outline, not text
			for _, want := range []string{"职业技能等级证书", textName, "居民身份证", "220102200001011234", "电工", "维修电工", "三级/高级工",
				c.Number, "吉林工业职业技术学院", "2026年6月30日", "http://jndj.osta.org.cn", "http://pjjg.osta.org.cn",
				"证书信息查询网址", "机构信息查询网址", c.VerifyCode, c.VerifyURL, "Level 3 / Senior Worker", "特发此证"} {
				if !strings.Contains(text, want) {
					t.Errorf("pdftotext lacks %q:\n%s", want, text)
				}
			}
			if strings.ContainsRune(text, '\uFFFD') {
				t.Errorf("pdftotext shows a replacement character")
			}
			run(t, "pdftoppm", "-r", "150", "-png", "-singlefile", p, strings.TrimSuffix(p, ".pdf"))
			qr := run(t, "zbarimg", "-q", "--raw", strings.TrimSuffix(p, ".pdf")+".png")
			if strings.TrimSpace(qr) != c.VerifyURL {
				t.Errorf("QR decodes to %q, want %q", qr, c.VerifyURL)
			}
			if out := run(t, "qpdf", "--check", p); !strings.Contains(out, "No syntax or stream encoding errors") {
				t.Errorf("qpdf: %s", out)
			}
			if out := run(t, "pdfdetach", "-list", p); !strings.Contains(out, "certificate.jwt") {
				t.Errorf("pdfdetach -list: %s", out)
			}
			jwt := filepath.Join(t.TempDir(), "certificate.jwt")
			run(t, "pdfdetach", "-save", "1", "-o", jwt, p)
			if got, _ := os.ReadFile(jwt); string(got) != c.Token {
				t.Errorf("attachment = %q, want the token", got)
			}
			fonts := run(t, "pdffonts", p)
			if n := strings.Count(fonts, "CID TrueType"); n != 1 {
				t.Errorf("want exactly one embedded font, pdffonts:\n%s", fonts)
			}
			info := run(t, "pdfinfo", p)
			for _, want := range []string{c.Number, "A4", "Pages:           1"} {
				if !strings.Contains(info, want) {
					t.Errorf("pdfinfo lacks %q:\n%s", want, info)
				}
			}
		})
	}
}

// TestNonBMPOutline checks the outline path against gofpdf's own text:
// 吉 drawn as an outline must land on the same pixels as 吉 drawn as text,
// and 𠮷 (drawn the same way) must leave ink and keep the following text.
func TestNonBMPOutline(t *testing.T) {
	needTool(t, "pdftoppm")
	r := renderer(t, Config{})
	raster := func(draw func(pdf *gofpdf.Fpdf)) *image.Gray {
		pdf, err := r.docFor([]string{"吉野家"})
		if err != nil {
			t.Fatal(err)
		}
		pdf.AddPage()
		draw(pdf)
		var buf bytes.Buffer
		if err := pdf.Output(&buf); err != nil {
			t.Fatal(err)
		}
		p := writeTemp(t, "g.pdf", buf.Bytes())
		run(t, "pdftoppm", "-r", "300", "-gray", "-png", "-singlefile", "-x", "0", "-y", "0", "-W", "600", "-H", "400", p, strings.TrimSuffix(p, ".pdf"))
		f, err := os.Open(strings.TrimSuffix(p, ".pdf") + ".png")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		g := image.NewGray(img.Bounds())
		for y := 0; y < g.Rect.Dy(); y++ {
			for x := 0; x < g.Rect.Dx(); x++ {
				g.Set(x, y, img.At(x, y))
			}
		}
		return g
	}
	black := [3]int{0, 0, 0}
	asText := raster(func(pdf *gofpdf.Fpdf) { _ = r.drawText(pdf, 10, 20, 48, "吉野家", black) })
	asOutline := raster(func(pdf *gofpdf.Fpdf) {
		_ = r.drawOutline(pdf, r.faces[0], r.faces[0].glyph('吉'), 10, 20, 48)
		_ = r.drawText(pdf, 10+r.width("吉", 48), 20, 48, "野家", black)
	})
	ext := raster(func(pdf *gofpdf.Fpdf) { _ = r.drawText(pdf, 10, 20, 48, "𠮷野家", black) })
	ink, diff, extInk := 0, 0, 0
	for i := range asText.Pix {
		if asText.Pix[i] < 128 {
			ink++
		}
		if ext.Pix[i] < 128 {
			extInk++
		}
		d := int(asText.Pix[i]) - int(asOutline.Pix[i])
		if d > 64 || d < -64 {
			diff++
		}
	}
	t.Logf("ink %d px, outline vs text differ in %d px; 𠮷野家 ink %d px", ink, diff, extInk)
	if ink < 1000 || diff > ink/50 {
		t.Fatalf("outline of 吉 does not match its text rendering: %d of %d px differ", diff, ink)
	}
	if math.Abs(float64(extInk-ink)) > 0.1*float64(ink) {
		t.Fatalf("𠮷野家 ink %d far from 吉野家 ink %d", extInk, ink)
	}
	// Text after 𠮷 stays text.
	b, _ := r.Render(sample("𠮷野家"))
	if txt := run(t, "pdftotext", writeTemp(t, "c.pdf", b), "-"); !strings.Contains(txt, "野家") {
		t.Fatal("野家 missing from the text layer")
	}
}

func TestBadInput(t *testing.T) {
	r := renderer(t, Config{})
	broken := testSeal()[:len(testSeal())/2]
	huge := func() []byte {
		var b bytes.Buffer
		_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 4100, 20)))
		return b.Bytes()
	}()
	cases := []struct {
		name string
		mod  func(*Certificate)
		kind error
		want string
	}{
		{"broken seal", func(c *Certificate) { c.Seal = broken }, ErrImage, "印章图片已损坏"},
		{"truncated JPEG photo", func(c *Certificate) { c.Photo = testPhoto()[:len(testPhoto())/2] }, ErrImage, "照片已损坏"},
		{"photo not image", func(c *Certificate) { c.Photo = []byte("%PDF-1.4 not a photo") }, ErrImage, "照片不是可识别的 PNG 或 JPEG"},
		{"photo too wide", func(c *Certificate) { c.Photo = huge }, ErrImage, "照片尺寸过大"},
		{"photo too big", func(c *Certificate) { c.Photo = make([]byte, MaxImageBytes+1) }, ErrImage, "照片过大"},
		{"no name", func(c *Certificate) { c.Name = " " }, ErrInput, "缺少姓名"},
		{"no token", func(c *Certificate) { c.Token = "" }, ErrInput, "缺少签名记录"},
		{"newline", func(c *Certificate) { c.Name = "张\n三" }, ErrGlyph, "无法打印的字符"},
		{"name too long", func(c *Certificate) { c.Name = strings.Repeat("长", 60) }, ErrInput, "「姓名」过长"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := sample("张三")
			tc.mod(&c)
			_, err := r.Render(c)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), " / ") {
				t.Fatalf("got %v, want %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
	if err := CheckImage(testSeal(), "印章/seal"); err != nil {
		t.Fatal(err)
	}
	if err := CheckImage([]byte("GIF89a"), "印章/seal"); !errors.Is(err, ErrImage) || !strings.HasPrefix(err.Error(), "印章/seal") {
		t.Fatalf("CheckImage: %v", err)
	}
}

func TestLongValuesFit(t *testing.T) {
	needTool(t, "pdftotext")
	r := renderer(t, Config{})
	c := sample("阿卜杜热合曼·买买提·艾力江")
	c.InstitutionName = "吉林省长春市经济技术开发区职业技术学校（汽车工程分校）"
	c.Specialty = "工业机器人系统运维与智能制造产线集成调试"
	b, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	txt := run(t, "pdftotext", "-raw", writeTemp(t, "c.pdf", b), "-")
	flat := strings.ReplaceAll(txt, "\n", "")
	for _, want := range []string{c.Name, c.InstitutionName, c.Specialty} {
		if !strings.Contains(flat, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
}

func TestPanicIsRecovered(t *testing.T) {
	r := renderer(t, Config{})
	c := sample("张三")
	// What gofpdf does with a non-BMP rune, standing in for any panic deep
	// inside it.
	pageHook = func(pdf *gofpdf.Fpdf) {
		pdf.SetFont("f0", "", 12)
		pdf.Text(10, 10, "\U00020BB7")
		_ = pdf.Output(io.Discard)
		panic("gofpdf did not panic; forcing one")
	}
	defer func() { pageHook = nil }()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic escaped Render: %v", p)
		}
	}()
	_, err := r.Render(c)
	if !errors.Is(err, ErrRender) || !strings.Contains(err.Error(), c.Number) {
		t.Fatalf("want ErrRender naming %s, got %v", c.Number, err)
	}
	t.Log(err)
	var buf bytes.Buffer
	if err := r.Batch([]Certificate{c}, &buf); !errors.Is(err, ErrRender) || !strings.Contains(err.Error(), c.Number) {
		t.Fatalf("Batch: want ErrRender naming %s, got %v", c.Number, err)
	}
}

func TestTTCAndFallback(t *testing.T) {
	needFile(t, DefaultFontPath)
	needFile(t, dejavu)
	lx, _ := os.ReadFile(DefaultFontPath)
	dv, _ := os.ReadFile(dejavu)
	p := writeTemp(t, "pair.ttc", makeTTC(t, dv, lx))
	r, err := New(Config{FontPath: p, FontFace: "LXGW WenKai"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Render(sample("欧阳娜娜")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{FontPath: p, FontFace: "No Such Face"}); !errors.Is(err, ErrFont) || !strings.Contains(err.Error(), "LXGW") {
		t.Fatalf("unknown face: %v", err)
	}
	if _, err := New(Config{FontPath: p}); !errors.Is(err, ErrFont) {
		t.Fatalf("face 0 is DejaVu, which has no CJK: %v", err)
	}
	// Fallback: a primary font that lacks the name's characters (a subset
	// of LXGW holding only the template text), with full LXGW behind it.
	full := renderer(t, Config{})
	small, err := full.faces[0].subset(full.static)
	if err != nil {
		t.Fatal(err)
	}
	sp := writeTemp(t, "small.ttf", small)
	alone, err := New(Config{FontPath: sp})
	if err != nil {
		t.Fatal(err)
	}
	var mg *MissingGlyphsError
	if err := alone.Check("欧阳娜娜𠮷"); !errors.As(err, &mg) || len(mg.Runes) != 4 {
		t.Fatalf("subset font should lack 欧阳娜𠮷: %v", err)
	}
	withFB, err := New(Config{FontPath: sp, Fallbacks: []string{DefaultFontPath}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := withFB.Render(sample("欧阳娜娜𠮷"))
	if err != nil {
		t.Fatal(err)
	}
	if haveTool(t, "pdftotext") {
		p := writeTemp(t, "fb.pdf", b)
		if txt := run(t, "pdftotext", p, "-"); !strings.Contains(txt, "欧阳娜娜") {
			t.Fatalf("fallback text missing:\n%s", txt)
		}
		if fonts := run(t, "pdffonts", p); strings.Count(fonts, "CID TrueType") != 2 {
			t.Fatalf("want main + fallback font:\n%s", fonts)
		}
	}
}

// makeTTC wraps standalone fonts into a TrueType collection.
func makeTTC(t *testing.T, fonts ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	hdr := 12 + 4*len(fonts)
	out.Write([]byte("ttcf\x00\x01\x00\x00"))
	out.Write([]byte{0, 0, 0, byte(len(fonts))})
	dirs := make([]int, len(fonts))
	pos := hdr
	for i, f := range fonts {
		n := int(f[4])<<8 | int(f[5])
		dirs[i] = pos
		pos += 12 + 16*n
	}
	for _, d := range dirs {
		out.Write([]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
	}
	var body bytes.Buffer
	dirBytes := make([][]byte, len(fonts))
	for i, f := range fonts {
		n := int(f[4])<<8 | int(f[5])
		dir := append([]byte(nil), f[:12+16*n]...)
		for j := 0; j < n; j++ {
			rec := dir[12+16*j:]
			off := int(rec[8])<<24 | int(rec[9])<<16 | int(rec[10])<<8 | int(rec[11])
			l := int(rec[12])<<24 | int(rec[13])<<16 | int(rec[14])<<8 | int(rec[15])
			no := pos + body.Len()
			rec[8], rec[9], rec[10], rec[11] = byte(no>>24), byte(no>>16), byte(no>>8), byte(no)
			body.Write(f[off : off+l])
			for body.Len()%4 != 0 {
				body.WriteByte(0)
			}
		}
		dirBytes[i] = dir
	}
	for _, d := range dirBytes {
		out.Write(d)
	}
	out.Write(body.Bytes())
	return out.Bytes()
}

func TestBatchAndZip(t *testing.T) {
	r := renderer(t, Config{})
	var certs []Certificate
	for i, n := range sampleNames {
		c := sample(n)
		c.Number = fmt.Sprintf("Y00002200000126300001%d", i)
		certs = append(certs, c)
	}
	var buf bytes.Buffer
	if err := r.Batch(certs, &buf); err != nil {
		t.Fatal(err)
	}
	if haveTool(t, "pdfinfo") {
		p := writeTemp(t, "b.pdf", buf.Bytes())
		if info := run(t, "pdfinfo", p); !regexp.MustCompile(fmt.Sprintf(`Pages:\s+%d\n`, len(certs))).MatchString(info) {
			t.Fatalf("pdfinfo: %s", info)
		}
		if fonts := run(t, "pdffonts", p); strings.Count(fonts, "CID TrueType") != 1 {
			t.Fatalf("batch should embed one font:\n%s", fonts)
		}
		txt := run(t, "pdftotext", p, "-")
		for _, c := range certs {
			if !strings.Contains(txt, c.Number) {
				t.Errorf("batch text lacks %s", c.Number)
			}
		}
	}
	bad := append([]Certificate(nil), certs...)
	bad[3].Photo = []byte("junk")
	var out bytes.Buffer
	if err := r.Batch(bad, &out); !errors.Is(err, ErrImage) || out.Len() != 0 {
		t.Fatalf("bad row: err=%v, wrote %d bytes", err, out.Len())
	}
	pdfs, err := r.RenderAll(certs)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]ZipEntry, len(certs))
	for i, c := range certs {
		entries[i] = ZipEntry{Name: c.Number + ".pdf", Data: pdfs[i]}
	}
	var z bytes.Buffer
	if err := WriteZip(&z, certs[0].IssuedOn, entries); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(z.Bytes()), int64(z.Len()))
	if err != nil || len(zr.File) != len(certs) || zr.File[0].Name != certs[0].Number+".pdf" {
		t.Fatalf("zip: %v %d", err, len(zr.File))
	}
}

func TestPreprintedAndCalibration(t *testing.T) {
	needTool(t, "pdftotext")
	r := renderer(t, Config{Layout: "preprinted", OffsetX: 1.5, OffsetY: -2})
	b, err := r.Render(sample("欧阳娜娜"))
	if err != nil {
		t.Fatal(err)
	}
	txt := run(t, "pdftotext", writeTemp(t, "p.pdf", b), "-")
	if strings.Contains(txt, "职业技能等级证书") || strings.Contains(txt, "姓") || !strings.Contains(txt, "欧阳娜娜") {
		t.Fatalf("preprinted layout should print only values:\n%s", txt)
	}
	cal, err := r.CalibrationPage()
	if err != nil {
		t.Fatal(err)
	}
	ct := run(t, "pdftotext", writeTemp(t, "cal.pdf", cal), "-")
	if !strings.Contains(ct, "X=+1.5 mm") || !strings.Contains(ct, "field name") {
		t.Fatalf("calibration page text:\n%s", ct)
	}
	if _, err := New(Config{Layout: "preprinted", OffsetX: 30}); !errors.Is(err, ErrTemplate) {
		t.Fatalf("offset limit: %v", err)
	}
}

// ---- benchmarks ----

func benchCerts(n int) []Certificate {
	surnames := []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段")
	given := []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文华建国志红玉兰春梅海燕晓东宇轩浩然子涵欣怡梓萱一诺")
	occ := []string{"电工", "焊工", "车工", "钳工", "汽车维修工", "育婴员", "保育师", "中式烹调师", "电子商务师", "工业机器人系统运维员"}
	out := make([]Certificate, n)
	for i := range out {
		c := sample("")
		c.Name = string(surnames[i%len(surnames)]) + string(given[(i*7)%len(given)]) + string(given[(i*13+5)%len(given)])
		c.Number = fmt.Sprintf("Y0000220000012635%05d", i)
		c.OccupationName = occ[i%len(occ)]
		c.VerifyURL = fmt.Sprintf("https://cert.jlgy.edu.cn/v/%s?c=%04X-%04X-%04X", c.Number, i*7919%65536, i*104729%65536, i*31%65536)
		c.VerifyCode = c.VerifyURL[len(c.VerifyURL)-14:]
		c.Photo = benchPhotos()[i%len(benchPhotos())]
		out[i] = c
	}
	return out
}

// benchPhotos are distinct, so a batch embeds one photo per certificate as
// it would in production.
var benchPhotos = sync.OnceValue(func() [][]byte {
	ps := make([][]byte, 1000)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(ps); i += 4 {
				ps[i] = makePhoto(uint64(i + 10))
			}
		}(w)
	}
	wg.Wait()
	return ps
})

// comparablePage draws roughly what a certificate holds, the way a bare
// gofpdf program would.
func comparablePage(pdf *gofpdf.Fpdf, c Certificate) {
	pdf.AddPage()
	pdf.SetFont("kai", "", 30)
	pdf.Text(60, 42, "职业技能等级证书")
	pdf.SetFont("kai", "", 12)
	rows := [][2]string{{"姓名", c.Name}, {"证件类型", c.DocType}, {"证件号码", c.DocNumber}, {"职业名称", c.OccupationName},
		{"工种/职业方向", "--"}, {"职业技能等级", c.LevelZh}, {"证书编号", c.Number}, {"评价机构", c.InstitutionName}, {"发证日期", "2026年6月30日"}}
	for i, rw := range rows {
		pdf.Text(28, 72+float64(i)*13, rw[0])
		pdf.Text(62, 72+float64(i)*13, rw[1])
	}
	pdf.Text(28, 256, "证书信息查询网址：http://jndj.osta.org.cn")
	pdf.Text(28, 267, "机构信息查询网址：http://pjjg.osta.org.cn")
	pdf.Rect(153, 64, 25, 35, "D")
}

func benchFont(b *testing.B) []byte {
	needFile(b, DefaultFontPath)
	f, err := os.ReadFile(DefaultFontPath)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkBareGofpdf is the baseline from the issue: a plain gofpdf
// program that hands the full 15 MB font to every document (cloned, as
// libraries.md §1 requires for correctness).
func BenchmarkBareGofpdf(b *testing.B) {
	font := benchFont(b)
	certs := benchCerts(64)
	b.ReportAllocs()
	b.ResetTimer()
	var n sync.Mutex
	i := 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			c := certs[i%len(certs)]
			i++
			n.Unlock()
			pdf := gofpdf.New("P", "mm", "A4", "")
			pdf.AddUTF8FontFromBytes("kai", "", bytes.Clone(font))
			comparablePage(pdf, c)
			if err := pdf.Output(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
}

// BenchmarkBareGofpdfShared skips the clone: faster, but racy (it is the
// configuration libraries.md measured at ~87 PDFs/s).
func BenchmarkBareGofpdfShared(b *testing.B) {
	font := benchFont(b)
	certs := benchCerts(64)
	b.ReportAllocs()
	b.ResetTimer()
	var i int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			c := certs[i%int64(len(certs))]
			i++
			mu.Unlock()
			pdf := gofpdf.New("P", "mm", "A4", "")
			pdf.AddUTF8FontFromBytes("kai", "", font)
			comparablePage(pdf, c)
			if err := pdf.Output(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
}

// BenchmarkRender renders complete certificates (photo, seal, QR,
// attachment) as individual PDFs on all cores.
func BenchmarkRender(b *testing.B) {
	r := renderer(b, Config{})
	certs := benchCerts(64)
	b.ReportAllocs()
	b.ResetTimer()
	var i int64
	var mu sync.Mutex
	var size int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			c := certs[i%int64(len(certs))]
			i++
			mu.Unlock()
			out, err := r.Render(c)
			if err != nil {
				b.Fatal(err)
			}
			mu.Lock()
			size += int64(len(out))
			mu.Unlock()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
	b.ReportMetric(float64(size)/float64(b.N)/1024, "KB/pdf")
}

// BenchmarkBatch1000 prints 1,000 certificates into one PDF.
func BenchmarkBatch1000(b *testing.B) {
	r := renderer(b, Config{})
	certs := benchCerts(1000)
	b.ReportAllocs()
	b.ResetTimer()
	var cw countWriter
	for i := 0; i < b.N; i++ {
		cw = 0
		if err := r.Batch(certs, &cw); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/batch")
	b.ReportMetric(float64(cw)/(1<<20), "MB")
	if sec > 15 || cw > 25<<20 {
		b.Errorf("batch of 1000 took %.1f s and %.1f MB; limits are 15 s and 25 MB", sec, float64(cw)/(1<<20))
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
