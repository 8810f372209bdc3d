package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jung-kurt/gofpdf"
	"github.com/skip2/go-qrcode"
)

// DefaultFontPath is where Debian's fonts-lxgw-wenkai installs the face
// certd prints with. LXGW WenKai is a Kai face (suits certificates), is
// OFL-licensed, has glyf outlines, and covers CJK Ext-A and much of Ext-B.
const DefaultFontPath = "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf"

const ptToMM = 25.4 / 72

// Certificate is everything printed on one certificate. It mirrors the
// issuer's record but is defined here so that render does not depend on
// package issuer (issuer depends on render).
type Certificate struct {
	Number, InstitutionName   string
	IssuedOn                  time.Time // civil date (midnight UTC); printed 2026年6月30日
	Name, DocType, DocNumber  string    // DocType already in Chinese, e.g. 居民身份证
	OccupationName, Specialty string    // Specialty "" is printed "--"
	LevelZh, LevelEn          string    // "三级/高级工", "Level 3 / Senior Worker"
	VerifyURL                 string    // full URL encoded in the QR
	VerifyCode                string    // printed under the QR for manual entry
	Token                     string    // signed record (compact JWS), attached as certificate.jwt
	Photo                     []byte    // JPEG/PNG, optional: an empty frame is printed when nil
	Seal                      []byte    // institution seal, PNG/JPEG, optional
	// Void, when set, prints the certificate as void: a revoked or
	// superseded certificate's copy made after the fact, never to be taken
	// for the valid original (issue 13 point 4).
	Void *Void
}

// Void is the mark across a certificate that is no longer valid: a large
// diagonal headline (作废 REVOKED, 已更正 SUPERSEDED) with a line under it,
// and a red frame and banner at the top of the page.
type Void struct {
	Headline string // e.g. "作废 REVOKED"
	Line     string // e.g. "已于2026-12-03撤销 / revoked on 2026-12-03"
}

// Config selects fonts and layout. The zero value prints the full layout
// with LXGW WenKai.
type Config struct {
	FontPath  string   // .ttf or .ttc; DefaultFontPath when empty
	FontFace  string   // face of a .ttc: name or index; first face when empty
	Fallbacks []string // further .ttf/.ttc files (first face) tried for glyphs the main font lacks
	Template  []byte   // optional layout JSON replacing the embedded one for Layout
	English   bool     // print the English line under labels, title and body
	Layout    string   // "full" (default) or "preprinted"
	OffsetX   float64  // mm added to every x, to calibrate a printer on preprinted stock
	OffsetY   float64  // mm added to every y
}

// Renderer prints certificates. It is safe for concurrent use; build one
// per process and share it.
type Renderer struct {
	cfg    Config
	layout *Layout
	faces  []*face
	static []rune // template text + ASCII, part of every font subset
	images imageCache
}

// New loads fonts and the layout once. It fails on an unreadable font, a
// font that cannot print Chinese, or an invalid template.
func New(cfg Config) (*Renderer, error) {
	if cfg.FontPath == "" {
		cfg.FontPath = DefaultFontPath
	}
	if cfg.Layout == "" {
		cfg.Layout = "full"
	}
	if cfg.Layout != "full" && cfg.Layout != "preprinted" {
		return nil, newError(ErrTemplate, fmt.Sprintf("未知版式 %q（应为 full 或 preprinted）", cfg.Layout), fmt.Sprintf("unknown layout %q (want full or preprinted)", cfg.Layout), nil)
	}
	if abs(cfg.OffsetX) > 20 || abs(cfg.OffsetY) > 20 {
		return nil, newError(ErrTemplate, "套打偏移量超过 ±20 毫米", "print offset exceeds ±20 mm", nil)
	}
	main, err := loadFace(cfg.FontPath, cfg.FontFace)
	if err != nil {
		return nil, err
	}
	// A font without these cannot print the title; catching it here beats
	// discovering blank certificates after printing.
	for _, r := range certTitle {
		if main.glyph(r) == 0 {
			return nil, newError(ErrFont,
				fmt.Sprintf("字体 %s 不含中文字形（缺少「%c」），请使用中文字体，例如 %s", cfg.FontPath, r, DefaultFontPath),
				fmt.Sprintf("font %s has no CJK glyphs (no %q); use a Chinese font such as %s", cfg.FontPath, r, DefaultFontPath), nil)
		}
	}
	faces := []*face{main}
	for _, p := range cfg.Fallbacks {
		f, err := loadFace(p, "")
		if err != nil {
			return nil, err
		}
		faces = append(faces, f)
	}
	tpl := cfg.Template
	if tpl == nil {
		if tpl, err = embeddedLayout(cfg.Layout); err != nil {
			return nil, newError(ErrTemplate, "内置版式缺失", "embedded layout missing", err)
		}
	}
	layout, err := parseLayout(tpl, cfg.Layout)
	if err != nil {
		return nil, err
	}
	r := &Renderer{cfg: cfg, layout: layout, faces: faces}
	static := layout.staticText(cfg.English) + "0123456789年月日-"
	for c := rune(0x20); c < 0x7F; c++ {
		if main.glyph(c) != 0 {
			static += string(c)
		}
	}
	// Template text must be printable in full, like any field.
	if err := r.Check(layout.staticText(cfg.English)); err != nil {
		return nil, newError(ErrTemplate, "版式中的文字无法用所选字体打印", "layout text cannot be printed with the configured fonts", err)
	}
	r.static = []rune(static)
	return r, nil
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// faceOf picks the first font that has r.
func (r *Renderer) faceOf(c rune) (int, uint16) {
	for i, f := range r.faces {
		if g := f.glyph(c); g != 0 {
			return i, g
		}
	}
	return -1, 0
}

// Check reports every character of fields that cannot be printed: no glyph
// in any configured font, or a control character. The error (ErrGlyph)
// names them, and its cause, a *MissingGlyphsError, lists the runes.
func (r *Renderer) Check(fields ...string) error {
	if missing := r.missing(fields); len(missing) > 0 {
		return missingGlyphs(missing)
	}
	return nil
}

// missing returns the characters of fields that cannot be printed, each
// once, in order of first appearance.
func (r *Renderer) missing(fields []string) []rune {
	var missing []rune
	seen := map[rune]bool{}
	for _, s := range fields {
		for _, c := range s {
			if seen[c] {
				continue
			}
			seen[c] = true
			if unicode.IsControl(c) || c == utf8.RuneError {
				missing = append(missing, c)
				continue
			}
			if i, _ := r.faceOf(c); i < 0 {
				missing = append(missing, c)
			}
		}
	}
	return missing
}

// prepared is a certificate that passed validation, with its images
// normalised for gofpdf.
type prepared struct {
	c           Certificate
	photo, seal *normImage
	qr          [][]bool // QR modules, quiet zone included
}

var requiredFields = []struct {
	zh, en string
	get    func(*Certificate) string
}{
	{"证书编号", "number", func(c *Certificate) string { return c.Number }},
	{"评价机构名称", "institution name", func(c *Certificate) string { return c.InstitutionName }},
	{"姓名", "name", func(c *Certificate) string { return c.Name }},
	{"证件类型", "document type", func(c *Certificate) string { return c.DocType }},
	{"证件号码", "document number", func(c *Certificate) string { return c.DocNumber }},
	{"职业名称", "occupation", func(c *Certificate) string { return c.OccupationName }},
	{"职业技能等级", "level", func(c *Certificate) string { return c.LevelZh }},
	{"二维码网址", "verify URL", func(c *Certificate) string { return c.VerifyURL }},
}

func (r *Renderer) prepare(c Certificate, needToken bool) (*prepared, error) {
	for _, f := range requiredFields {
		if strings.TrimSpace(f.get(&c)) == "" {
			return nil, newError(ErrInput, fmt.Sprintf("证书 %s 缺少%s", c.Number, f.zh), fmt.Sprintf("certificate %s: %s is empty", c.Number, f.en), nil)
		}
	}
	if c.IssuedOn.IsZero() {
		return nil, newError(ErrInput, fmt.Sprintf("证书 %s 缺少发证日期", c.Number), fmt.Sprintf("certificate %s: issue date is missing", c.Number), nil)
	}
	if needToken && c.Token == "" {
		return nil, newError(ErrInput, fmt.Sprintf("证书 %s 缺少签名记录", c.Number), fmt.Sprintf("certificate %s: signed token is missing", c.Number), nil)
	}
	for _, s := range r.printed(&c) {
		if !utf8.ValidString(s) {
			return nil, newError(ErrInput, fmt.Sprintf("证书 %s 含有无效的 UTF-8 文本", c.Number), fmt.Sprintf("certificate %s: invalid UTF-8", c.Number), nil)
		}
	}
	if missing := r.missing(r.printed(&c)); len(missing) > 0 {
		mg := &MissingGlyphsError{Runes: missing}
		zh, en := mg.lists()
		return nil, newError(ErrGlyph, fmt.Sprintf("证书 %s 含有无法打印的字符：%s", c.Number, zh), fmt.Sprintf("certificate %s has unprintable characters: %s", c.Number, en), mg)
	}
	p := &prepared{c: c}
	q, err := qrcode.New(c.VerifyURL, qrcode.Medium)
	if err != nil {
		return nil, newError(ErrInput, fmt.Sprintf("证书 %s 的验证网址无法编码为二维码", c.Number), fmt.Sprintf("certificate %s: verify URL cannot be encoded as a QR code", c.Number), err)
	}
	p.qr = q.Bitmap() // includes the 4-module quiet zone
	if len(c.Photo) > 0 {
		if p.photo, err = r.images.get(c.Photo, photoImage); err != nil {
			return nil, err
		}
	}
	if len(c.Seal) > 0 {
		if p.seal, err = r.images.get(c.Seal, sealImage); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// printed is every variable string the layout may print for c.
func (r *Renderer) printed(c *Certificate) []string {
	v := values(c)
	out := make([]string, 0, len(v)+2)
	for _, k := range sortedKeys(v) {
		out = append(out, v[k])
	}
	if r.cfg.English {
		out = append(out, c.LevelEn, englishDate(c.IssuedOn))
	}
	if c.Void != nil {
		out = append(out, c.Void.Headline, c.Void.Line)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func values(c *Certificate) map[string]string {
	spec := strings.TrimSpace(c.Specialty)
	if spec == "" {
		spec = "--" // 人社鉴发〔2021〕1号: never leave 工种/职业方向 blank
	}
	occFull := c.OccupationName
	if spec != "--" {
		occFull += "（" + spec + "）"
	}
	return map[string]string{
		"name": c.Name, "docType": c.DocType, "docNumber": c.DocNumber,
		"occupation": c.OccupationName, "specialty": spec, "occupationFull": occFull,
		"level": c.LevelZh, "number": c.Number, "institution": c.InstitutionName,
		"issuedOn": chineseDate(c.IssuedOn), "verifyCode": c.VerifyCode, "verifyURL": c.VerifyURL,
	}
}

func chineseDate(t time.Time) string {
	return fmt.Sprintf("%d年%d月%d日", t.Year(), int(t.Month()), t.Day())
}

func englishDate(t time.Time) string { return t.Format("2 January 2006") }

// docFor starts a gofpdf document whose fonts are subsets holding exactly
// the BMP characters of texts plus the template's fixed text. Each call
// builds fresh subset bytes, so gofpdf's in-place writes can never reach
// the shared font.
func (r *Renderer) docFor(texts []string) (*gofpdf.Fpdf, error) {
	perFace := make([][]rune, len(r.faces))
	seen := map[rune]bool{}
	add := func(c rune) {
		if seen[c] || c > 0xFFFE {
			return // non-BMP glyphs are drawn as outlines, never as text
		}
		seen[c] = true
		if i, _ := r.faceOf(c); i >= 0 {
			perFace[i] = append(perFace[i], c)
		}
	}
	for _, c := range r.static {
		add(c)
	}
	for _, s := range texts {
		for _, c := range s {
			add(c)
		}
	}
	l := r.layout
	pdf := gofpdf.NewCustom(&gofpdf.InitType{UnitStr: "mm", Size: gofpdf.SizeType{Wd: l.PageW, Ht: l.PageH}})
	pdf.SetCompression(true)
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(0, 0, 0)
	pdf.SetCatalogSort(true)
	for i, rs := range perFace {
		if len(rs) == 0 {
			continue
		}
		sub, err := r.faces[i].subset(rs)
		if err != nil {
			return nil, newError(ErrFont, "字体子集生成失败", "building the font subset failed", err)
		}
		pdf.AddUTF8FontFromBytes(family(i), "", sub)
	}
	if err := pdf.Error(); err != nil {
		return nil, newError(ErrFont, "字体加载失败", "gofpdf rejected the font subset", err)
	}
	return pdf, nil
}

func family(i int) string { return fmt.Sprintf("f%d", i) }

func setDates(pdf *gofpdf.Fpdf, t time.Time) {
	// Fixed dates make output a pure function of the input, so a stored
	// hash of a certificate can be checked by re-rendering.
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	pdf.SetCreationDate(d)
	pdf.SetModificationDate(d)
}

// bmpOnly protects metadata: gofpdf's UTF-16 conversion garbles 4-byte
// UTF-8 sequences.
func bmpOnly(s string) string {
	return strings.Map(func(c rune) rune {
		if c > 0xFFFF {
			return '\uFFFD'
		}
		return c
	}, s)
}

// Render prints one certificate as a standalone PDF with the signed record
// attached as certificate.jwt. Identical input gives identical bytes.
func (r *Renderer) Render(c Certificate) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, newError(ErrRender, fmt.Sprintf("证书 %s 生成 PDF 时发生内部错误", c.Number), fmt.Sprintf("certificate %s: PDF generation panicked: %v", c.Number, p), nil)
		}
	}()
	p, err := r.prepare(c, true)
	if err != nil {
		return nil, err
	}
	pdf, err := r.docFor(r.printed(&p.c))
	if err != nil {
		return nil, err
	}
	setDates(pdf, c.IssuedOn)
	pdf.SetTitle(certTitle+" "+c.Number, true)
	pdf.SetSubject(bmpOnly(fmt.Sprintf("职业技能等级证书 Vocational Skill Level Certificate %s %s %s", c.Number, c.OccupationName, c.LevelZh)), true)
	pdf.SetAuthor(bmpOnly(c.InstitutionName), true)
	pdf.SetCreator("certd", false)
	pdf.SetKeywords(bmpOnly(strings.Join([]string{c.Number, certTitle, "certificate.jwt"}, " ")), true)
	pdf.SetAttachments([]gofpdf.Attachment{{
		Content:     []byte(c.Token),
		Filename:    "certificate.jwt",
		Description: "Signed certificate record (JWS) " + c.Number,
	}})
	if err := r.page(pdf, p); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, newError(ErrRender, fmt.Sprintf("证书 %s 生成 PDF 失败", c.Number), fmt.Sprintf("certificate %s: PDF output failed", c.Number), err)
	}
	return buf.Bytes(), nil
}

// Batch prints all certificates into one PDF, one per page, sharing one
// font subset (the union of their characters) and one copy of each seal.
// Everything is validated before the first page is drawn, so a bad row
// never yields a half-printed batch.
func (r *Renderer) Batch(certs []Certificate, w io.Writer) (err error) {
	current := ""
	defer func() {
		if p := recover(); p != nil {
			err = newError(ErrRender, fmt.Sprintf("批量打印在证书 %s 处发生内部错误", current), fmt.Sprintf("batch: PDF generation panicked at certificate %s: %v", current, p), nil)
		}
	}()
	if len(certs) == 0 {
		return newError(ErrInput, "批量打印列表为空", "batch is empty", nil)
	}
	// Validation, image normalisation and QR encoding are independent per
	// certificate; only the page drawing has to be sequential.
	ps := make([]*prepared, len(certs))
	errs := make([]error, len(certs))
	onAllCores(len(certs), func(i int) { ps[i], errs[i] = r.prepareSafe(certs[i]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var texts []string
	for _, p := range ps {
		texts = append(texts, r.printed(&p.c)...)
	}
	pdf, err := r.docFor(texts)
	if err != nil {
		return err
	}
	first := certs[0]
	setDates(pdf, first.IssuedOn)
	pdf.SetTitle(fmt.Sprintf("%s %s … %s (%d)", certTitle, first.Number, certs[len(certs)-1].Number, len(certs)), true)
	pdf.SetCreator("certd", false)
	for _, p := range ps {
		current = p.c.Number
		if err := r.page(pdf, p); err != nil {
			return err
		}
	}
	current = ""
	if err := pdf.Output(w); err != nil {
		return newError(ErrRender, "批量 PDF 生成失败", "batch PDF output failed", err)
	}
	return nil
}

// prepareSafe runs prepare in a worker goroutine, where a panic would
// otherwise kill the process.
func (r *Renderer) prepareSafe(c Certificate) (p *prepared, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, newError(ErrRender, fmt.Sprintf("证书 %s 预处理时发生内部错误", c.Number), fmt.Sprintf("certificate %s: preparation panicked: %v", c.Number, v), nil)
		}
	}()
	return r.prepare(c, false)
}

// RenderAll renders individual PDFs on all cores, in input order. It stops
// at the first error.
func (r *Renderer) RenderAll(certs []Certificate) ([][]byte, error) {
	out := make([][]byte, len(certs))
	errs := make([]error, len(certs))
	onAllCores(len(certs), func(i int) { out[i], errs[i] = r.Render(certs[i]) })
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// onAllCores calls f(0) … f(n-1) on GOMAXPROCS workers, a bounded pool:
// rendering allocates megabytes per document, so never one goroutine each.
func onAllCores(n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
