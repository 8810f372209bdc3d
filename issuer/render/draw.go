package render

import (
	"fmt"
	"math"
	"strings"
	"unicode"

	"github.com/jung-kurt/gofpdf"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// keyNames names fields in overflow errors.
var keyNames = map[string][2]string{
	"name": {"姓名", "name"}, "docType": {"证件类型", "document type"}, "docNumber": {"证件号码", "document number"},
	"occupation": {"职业名称", "occupation"}, "specialty": {"工种/职业方向", "specialty"}, "level": {"职业技能等级", "level"},
	"number": {"证书编号", "number"}, "institution": {"评价机构名称", "institution"}, "issuedOn": {"发证日期", "issue date"},
	"verifyCode": {"验证码", "verification code"}, "verifyURL": {"验证网址", "verification URL"}, "body": {"证书正文", "body text"},
}

func (r *Renderer) tx(x float64) float64 { return x + r.cfg.OffsetX }
func (r *Renderer) ty(y float64) float64 { return y + r.cfg.OffsetY }

// glyphWidth is the advance of c in 1/1000 em. For BMP text it is rounded
// exactly as gofpdf rounds its width table, so runs drawn by gofpdf and
// runs drawn as outlines line up.
func (r *Renderer) glyphWidth(c rune) float64 {
	i, g := r.faceOf(c)
	if i < 0 {
		return 0
	}
	f := r.faces[i]
	w := float64(f.advance(g)) * 1000 / float64(f.upem)
	if c <= 0xFFFF {
		w = math.Round(w)
	}
	return w
}

// width of s in mm at size pt.
func (r *Renderer) width(s string, size float64) float64 {
	var w float64
	for _, c := range s {
		w += r.glyphWidth(c)
	}
	return w * size / 1000 * ptToMM
}

// drawText prints s with its left end at x and baseline y. Runs of BMP
// characters go through gofpdf as real text (searchable, copyable); each
// character outside the BMP, which gofpdf cannot encode, is drawn as its
// filled outline taken from the full font.
func (r *Renderer) drawText(pdf *gofpdf.Fpdf, x, y, size float64, s string, color [3]int) error {
	pdf.SetTextColor(color[0], color[1], color[2])
	pdf.SetFillColor(color[0], color[1], color[2])
	var run []rune
	runFace := -1
	flush := func() {
		if len(run) == 0 {
			return
		}
		t := string(run)
		pdf.SetFont(family(runFace), "", size)
		pdf.Text(x, y, t)
		x += r.width(t, size)
		run = run[:0]
	}
	for _, c := range s {
		i, g := r.faceOf(c)
		if i < 0 {
			return missingGlyphs([]rune{c})
		}
		if c > 0xFFFF {
			flush()
			if err := r.drawOutline(pdf, r.faces[i], g, x, y, size); err != nil {
				return newError(ErrRender, fmt.Sprintf("无法绘制字符「%c」", c), fmt.Sprintf("cannot draw %U", c), err)
			}
			x += r.glyphWidth(c) * size / 1000 * ptToMM
			continue
		}
		if i != runFace {
			flush()
			runFace = i
		}
		run = append(run, c)
	}
	flush()
	return nil
}

// drawOutline fills the TrueType outline of gid. TrueType contours are
// quadratic; gofpdf's CurveTo emits the PDF "v" operator, which is a cubic
// whose first control point is the current point, not a quadratic, so each
// quadratic is raised to the exact equivalent cubic instead.
func (r *Renderer) drawOutline(pdf *gofpdf.Fpdf, f *face, gid uint16, x, y, size float64) error {
	segs, err := f.outline(gid)
	if err != nil {
		return err
	}
	scale := size * ptToMM / float64(f.upem) / 64 // 26.6 fixed point font units → mm
	px := func(v fixed.Int26_6) float64 { return x + float64(v)*scale }
	py := func(v fixed.Int26_6) float64 { return y + float64(v)*scale } // sfnt's y already points down
	var cx, cy float64
	open := false
	for _, s := range segs {
		a := s.Args
		switch s.Op {
		case sfnt.SegmentOpMoveTo:
			if open {
				pdf.ClosePath()
			}
			cx, cy = px(a[0].X), py(a[0].Y)
			pdf.MoveTo(cx, cy)
			open = true
		case sfnt.SegmentOpLineTo:
			cx, cy = px(a[0].X), py(a[0].Y)
			pdf.LineTo(cx, cy)
		case sfnt.SegmentOpQuadTo:
			qx, qy := px(a[0].X), py(a[0].Y)
			ex, ey := px(a[1].X), py(a[1].Y)
			pdf.CurveBezierCubicTo(cx+2*(qx-cx)/3, cy+2*(qy-cy)/3, ex+2*(qx-ex)/3, ey+2*(qy-ey)/3, ex, ey)
			cx, cy = ex, ey
		case sfnt.SegmentOpCubeTo:
			cx, cy = px(a[2].X), py(a[2].Y)
			pdf.CurveBezierCubicTo(px(a[0].X), py(a[0].Y), px(a[1].X), py(a[1].Y), cx, cy)
		}
	}
	if open {
		pdf.ClosePath()
		pdf.DrawPath("f") // nonzero winding, as TrueType requires
	}
	return nil
}

// fit returns the largest size in [min, size] (0.25 pt steps) at which s
// fits in w millimetres.
func (r *Renderer) fit(s string, w, size, min float64) (float64, bool) {
	for sz := size; sz >= min-1e-9; sz -= 0.25 {
		if r.width(s, sz) <= w+1e-6 {
			return sz, true
		}
	}
	return min, false
}

// Characters that must not begin a line (a light form of 禁则处理).
const noLineStart = "，。、；：？！）》」』’”・·,.;:?!)]%"

// wrap breaks s into lines no wider than w, the first line shortened by
// indent mm. Latin words and numbers stay whole; CJK breaks anywhere.
func (r *Renderer) wrap(s string, w, size, indent float64) []string {
	var tokens []string
	var word []rune
	for _, c := range s {
		if c < 0x80 && !unicode.IsSpace(c) && !strings.ContainsRune(noLineStart, c) {
			word = append(word, c)
			continue
		}
		if len(word) > 0 {
			tokens = append(tokens, string(word))
			word = word[:0]
		}
		tokens = append(tokens, string(c))
	}
	if len(word) > 0 {
		tokens = append(tokens, string(word))
	}
	var lines []string
	var cur strings.Builder
	avail := w - indent
	for _, t := range tokens {
		tw := r.width(t, size)
		cw := r.width(cur.String(), size)
		if cw+tw <= avail+1e-6 || cur.Len() == 0 || strings.Contains(noLineStart, t) {
			if cur.Len() == 0 && strings.TrimSpace(t) == "" {
				continue
			}
			cur.WriteString(t)
			continue
		}
		// Prefer breaking after a nearby comma over splitting a phrase like
		// 特发此证 across lines.
		line, carry := []rune(cur.String()), ""
		for k := len(line) - 1; k >= 0 && k >= len(line)-6; k-- {
			if strings.ContainsRune("，、；：", line[k]) {
				line, carry = line[:k+1], string(line[k+1:])
				break
			}
		}
		lines = append(lines, strings.TrimRight(string(line), " "))
		cur.Reset()
		avail = w
		cur.WriteString(carry)
		if strings.TrimSpace(t) != "" || cur.Len() > 0 {
			cur.WriteString(t)
		}
	}
	if cur.Len() > 0 {
		lines = append(lines, strings.TrimRight(cur.String(), " "))
	}
	return lines
}

func (r *Renderer) aligned(e *Element, x, w float64, s string, size float64) float64 {
	switch e.Align {
	case "C":
		return x + (w-r.width(s, size))/2
	case "R":
		return x + w - r.width(s, size)
	}
	return x
}

func colorOr(c *[3]int, def [3]int) [3]int {
	if c != nil {
		return *c
	}
	return def
}

// page draws one certificate. Seal last, so the ink lies over the date.
func (r *Renderer) page(pdf *gofpdf.Fpdf, p *prepared) error {
	l := r.layout
	c := &p.c
	v := values(c)
	pdf.AddPage()
	if pageHook != nil {
		pageHook(pdf)
	}
	var seals []*Element
	for i := range l.Elements {
		e := &l.Elements[i]
		var err error
		switch e.Kind {
		case "rect":
			col := colorOr(e.Color, l.Color)
			pdf.SetDrawColor(col[0], col[1], col[2])
			pdf.SetLineWidth(math.Max(e.LineWidth, 0.1))
			pdf.Rect(r.tx(e.X), r.ty(e.Y), e.W, e.H, "D")
		case "text":
			err = r.drawStatic(pdf, e, e.Text, e.En)
		case "field":
			err = r.drawField(pdf, e, v, c)
		case "paragraph":
			err = r.drawParagraph(pdf, e, v, c)
		case "photo":
			r.drawPhoto(pdf, e, p.photo)
		case "qr":
			r.drawQR(pdf, e, p.qr)
			// The same address as a link: a PDF opened on a phone or a
			// computer is one tap from its verification page.
			pdf.LinkString(r.tx(e.X), r.ty(e.Y), e.W, e.W, c.VerifyURL)
		case "seal":
			seals = append(seals, e)
		}
		if err != nil {
			return err
		}
	}
	if p.seal != nil {
		for _, e := range seals {
			r.drawSeal(pdf, e, p.seal)
		}
	}
	if c.Void != nil {
		if err := r.drawVoid(pdf, c.Void); err != nil {
			return err
		}
	}
	if err := pdf.Error(); err != nil {
		return newError(ErrRender, fmt.Sprintf("证书 %s 排版失败", c.Number), fmt.Sprintf("certificate %s: layout failed", c.Number), err)
	}
	return nil
}

// pageHook lets tests inject a failure inside gofpdf; nil in production.
var pageHook func(*gofpdf.Fpdf)

func (r *Renderer) drawStatic(pdf *gofpdf.Fpdf, e *Element, zh, en string) error {
	l := r.layout
	size, _ := r.fit(zh, e.W, e.Size, e.MinSize)
	if err := r.drawText(pdf, r.tx(r.aligned(e, e.X, e.W, zh, size)), r.ty(e.Y), size, zh, colorOr(e.Color, l.Color)); err != nil {
		return err
	}
	if r.cfg.English && en != "" {
		es, _ := r.fit(en, e.W, e.EnSize, 4)
		return r.drawText(pdf, r.tx(r.aligned(e, e.X, e.W, en, es)), r.ty(e.Y+e.EnDY), es, en, l.EnColor)
	}
	return nil
}

func overflow(key, number string) error {
	n := keyNames[key]
	return newError(ErrInput,
		fmt.Sprintf("证书 %s 的「%s」过长，版面内无法完整打印", number, n[0]),
		fmt.Sprintf("certificate %s: %s is too long to print within the layout", number, n[1]), nil)
}

func (r *Renderer) drawField(pdf *gofpdf.Fpdf, e *Element, v map[string]string, c *Certificate) error {
	l := r.layout
	if e.Label != "" {
		if err := r.drawText(pdf, r.tx(e.X), r.ty(e.Y), e.LabelSize, e.Label, l.LabelColor); err != nil {
			return err
		}
		if r.cfg.English && e.LabelEn != "" {
			es, _ := r.fit(e.LabelEn, e.LabelW-1, e.EnSize, 4)
			if err := r.drawText(pdf, r.tx(e.X), r.ty(e.Y+e.EnDY), es, e.LabelEn, l.EnColor); err != nil {
				return err
			}
		}
	}
	val := v[e.Key]
	x, w := e.X+e.LabelW, e.W-e.LabelW
	col := colorOr(e.Color, l.Color)
	if size, ok := r.fit(val, w, e.Size, e.MinSize); ok {
		if err := r.drawText(pdf, r.tx(r.aligned(e, x, w, val, size)), r.ty(e.Y), size, val, col); err != nil {
			return err
		}
	} else {
		lines, size, ok := r.fitLines(val, w, e, 0)
		if !ok {
			return overflow(e.Key, c.Number)
		}
		lh := e.LineHeight
		if lh == 0 {
			lh = size * ptToMM * 1.3
		}
		for i, ln := range lines {
			if err := r.drawText(pdf, r.tx(r.aligned(e, x, w, ln, size)), r.ty(e.Y+float64(i)*lh), size, ln, col); err != nil {
				return err
			}
		}
		return nil
	}
	if !r.cfg.English {
		return nil
	}
	en := ""
	switch e.Key {
	case "level":
		en = c.LevelEn
	case "issuedOn":
		en = englishDate(c.IssuedOn)
	}
	if en == "" {
		return nil
	}
	es, _ := r.fit(en, w, e.EnSize, 4)
	return r.drawText(pdf, r.tx(r.aligned(e, x, w, en, es)), r.ty(e.Y+e.EnDY), es, en, l.EnColor)
}

// fitLines shrinks s until it wraps into at most MaxLines lines.
func (r *Renderer) fitLines(s string, w float64, e *Element, indentEm float64) ([]string, float64, bool) {
	max := e.MaxLines
	if max == 0 {
		max = 1
	}
	for sz := e.Size; sz >= e.MinSize-1e-9; sz -= 0.25 {
		lines := r.wrap(s, w, sz, indentEm*sz*ptToMM)
		if len(lines) > max {
			continue
		}
		tooWide := false
		for _, ln := range lines {
			// A single unbreakable token wider than the line cannot be fixed by wrapping.
			tooWide = tooWide || r.width(ln, sz) > w+r.width("。", sz)+1e-6
		}
		if !tooWide {
			return lines, sz, true
		}
	}
	return nil, 0, false
}

func expand(t string, v map[string]string, c *Certificate) string {
	pairs := []string{"{levelEn}", c.LevelEn, "{date}", v["issuedOn"], "{dateEn}", englishDate(c.IssuedOn)}
	for _, k := range sortedKeys(v) {
		pairs = append(pairs, "{"+k+"}", v[k])
	}
	return strings.NewReplacer(pairs...).Replace(t)
}

func (r *Renderer) drawParagraph(pdf *gofpdf.Fpdf, e *Element, v map[string]string, c *Certificate) error {
	l := r.layout
	col := colorOr(e.Color, l.Color)
	text := expand(e.Text, v, c)
	lines, size, ok := r.fitLines(text, e.W, e, e.Indent)
	if !ok {
		return overflow("body", c.Number)
	}
	y := e.Y
	lh := e.LineHeight * size / e.Size
	for i, ln := range lines {
		x := e.X
		if i == 0 {
			x += e.Indent * size * ptToMM
		}
		if err := r.drawText(pdf, r.tx(x), r.ty(y), size, ln, col); err != nil {
			return err
		}
		y += lh
	}
	if r.cfg.English && e.En != "" {
		es := e.EnSize
		elh := es * ptToMM * 1.5
		y += math.Max(e.EnDY, elh+1) - lh // first English baseline below the last Chinese line
		for _, ln := range r.wrap(expand(e.En, v, c), e.W, es, 0) {
			if err := r.drawText(pdf, r.tx(e.X), r.ty(y), es, ln, l.EnColor); err != nil {
				return err
			}
			y += elh
		}
	}
	return nil
}

func (r *Renderer) drawPhoto(pdf *gofpdf.Fpdf, e *Element, img *normImage) {
	pdf.SetDrawColor(120, 120, 120)
	pdf.SetLineWidth(0.3)
	x, y := r.tx(e.X), r.ty(e.Y)
	if img != nil {
		// Contain, centred: never crop a face, never distort it.
		w, h := e.W, e.W*float64(img.h)/float64(img.w)
		if h > e.H {
			h, w = e.H, e.H*float64(img.w)/float64(img.h)
		}
		r.placeImage(pdf, img, x+(e.W-w)/2, y+(e.H-h)/2, w, h)
	}
	pdf.Rect(x, y, e.W, e.H, "D")
}

func (r *Renderer) drawSeal(pdf *gofpdf.Fpdf, e *Element, img *normImage) {
	w := e.W
	h := w * float64(img.h) / float64(img.w)
	// Multiply lets the text show through the ink like a real stamp and
	// makes the white background vanish without an alpha channel, which
	// gofpdf would otherwise re-compress for every document.
	pdf.SetAlpha(1, "Multiply")
	r.placeImage(pdf, img, r.tx(e.X-w/2), r.ty(e.Y-h/2), w, h)
	pdf.SetAlpha(1, "Normal")
}

func (r *Renderer) placeImage(pdf *gofpdf.Fpdf, img *normImage, x, y, w, h float64) {
	opt := gofpdf.ImageOptions{ImageType: img.typ}
	if pdf.GetImageInfo(img.name) == nil {
		pdf.RegisterImageOptionsReader(img.name, opt, newReader(img.data))
	}
	pdf.ImageOptions(img.name, x, y, w, h, false, opt, 0, "")
}

// drawQR draws the symbol as vector rectangles, quiet zone included in the
// element's width. It writes raw PDF: a transform that makes one module one
// unit, then one integer "re" per run of dark modules and a single fill.
// The single fill avoids the hairline seams that separately filled
// neighbours show in some viewers; integer coordinates keep a batch of
// 1,000 QR codes small.
func (r *Renderer) drawQR(pdf *gofpdf.Fpdf, e *Element, bm [][]bool) {
	k := pdf.GetConversionRatio()
	m := e.W / float64(len(bm)) * k
	x0, y0 := r.tx(e.X)*k, (r.layout.PageH-r.ty(e.Y))*k
	var sb strings.Builder
	fmt.Fprintf(&sb, "q 0 g %.4f 0 0 %.4f %.3f %.3f cm\n", m, -m, x0, y0)
	for row, line := range bm {
		for col := 0; col < len(line); {
			if !line[col] {
				col++
				continue
			}
			start := col
			for col < len(line) && line[col] {
				col++
			}
			fmt.Fprintf(&sb, "%d %d %d 1 re\n", start, row, col-start)
		}
	}
	sb.WriteString("f Q")
	pdf.RawWriteStr(sb.String())
}

// voidRed is the colour of the void mark.
var voidRed = [3]int{200, 16, 46}

// drawVoid marks the page as void, over everything on it: a red frame, a
// banner across the top with the headline and its line, and the headline
// again, large and translucent, across the diagonal, so that no part of the
// page can be cut out or copied and read as valid. The page stays legible:
// a void copy is a record of what was issued.
func (r *Renderer) drawVoid(pdf *gofpdf.Fpdf, v *Void) error {
	l := r.layout
	w, h := l.PageW, l.PageH
	pdf.SetDrawColor(voidRed[0], voidRed[1], voidRed[2])
	pdf.SetLineWidth(2.5)
	pdf.Rect(3, 3, w-6, h-6, "D")
	// The banner: white behind, so that it reads over any background.
	band := 22.0
	pdf.SetFillColor(255, 255, 255)
	pdf.Rect(6, 6, w-12, band, "F")
	pdf.SetLineWidth(0.8)
	pdf.Rect(6, 6, w-12, band, "D")
	size, _ := r.fit(v.Headline, w-24, 24, 10)
	if err := r.drawText(pdf, (w-r.width(v.Headline, size))/2, 6+size*ptToMM+1, size, v.Headline, voidRed); err != nil {
		return err
	}
	ls, _ := r.fit(v.Line, w-24, 11, 6)
	if err := r.drawText(pdf, (w-r.width(v.Line, ls))/2, 6+band-3, ls, v.Line, voidRed); err != nil {
		return err
	}
	// The diagonal: as wide as the page's diagonal allows.
	diag := math.Hypot(w, h)
	big, _ := r.fit(v.Headline, diag*0.62, 120, 20)
	angle := math.Atan2(h, w) * 180 / math.Pi
	pdf.SetAlpha(0.3, "Normal")
	pdf.TransformBegin()
	pdf.TransformRotate(angle, w/2, h/2)
	err := r.drawText(pdf, (w-r.width(v.Headline, big))/2, h/2+big*ptToMM*0.35, big, v.Headline, voidRed)
	small, _ := r.fit(v.Line, diag*0.6, 22, 8)
	if err == nil {
		err = r.drawText(pdf, (w-r.width(v.Line, small))/2, h/2+big*ptToMM*0.35+small*ptToMM*1.6, small, v.Line, voidRed)
	}
	pdf.TransformEnd()
	pdf.SetAlpha(1, "Normal")
	return err
}
