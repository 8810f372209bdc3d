package render

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jung-kurt/gofpdf"
	"github.com/skip2/go-qrcode"
)

// Receipt is a verification receipt (核验回执) as printed: what a check
// found, when, and the reference under which anyone can look it up again.
// The caller (the public side) decides every text; the renderer lays it out
// on A4 in the certificate font, with the lookup address as a QR code.
type Receipt struct {
	Title, TitleEn string
	// Headline is the conclusion in large type, in HeadlineColor.
	Headline      string
	HeadlineColor [3]int
	Fields        []ReceiptLine // facts: checked at, reference, certificate...
	Checks        []ReceiptLine // the checks made: label, outcome and detail
	// Table is a batch's rows under TableHeader; Widths are the columns'
	// shares of the page width (they need not sum to 1).
	TableHeader []string
	Widths      []float64
	Table       [][]string
	// RowColors colour a row's text (nil: ink), one entry per Table row.
	RowColors [][3]int
	Notes     []string // small print at the end
	Ref       string
	URL       string // the lookup address, printed and as a QR code
	Made      time.Time
}

// ReceiptLine is one labelled line: Zh and En name it, Value says it.
type ReceiptLine struct {
	Zh, En, Value string
	Color         [3]int // of Value; zero: ink
}

// Receipt lays out a receipt as one PDF: a title, the headline, the facts
// and the checks, the table of a batch over as many pages as it needs, the
// notes, and on the first page the QR code of the lookup address.
func (r *Renderer) Receipt(rc Receipt) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newError(ErrRender, "核验回执生成时发生内部错误", fmt.Sprintf("receipt: PDF generation panicked: %v", p), nil)
		}
	}()
	texts := []string{rc.Title, rc.TitleEn, rc.Headline, rc.Ref, rc.URL, receiptStatic}
	for _, ls := range [][]ReceiptLine{rc.Fields, rc.Checks} {
		for _, l := range ls {
			texts = append(texts, l.Zh, l.En, l.Value)
		}
	}
	texts = append(texts, rc.TableHeader...)
	for _, row := range rc.Table {
		texts = append(texts, row...)
	}
	texts = append(texts, rc.Notes...)
	for _, s := range texts {
		if !utf8.ValidString(s) {
			return nil, newError(ErrInput, "回执含有无效的 UTF-8 文本", "the receipt has invalid UTF-8", nil)
		}
	}
	if missing := r.missing(texts); len(missing) > 0 {
		mg := &MissingGlyphsError{Runes: missing}
		zh, en := mg.lists()
		return nil, newError(ErrGlyph, "回执含有无法打印的字符："+zh, "the receipt has unprintable characters: "+en, mg)
	}
	var qr [][]bool
	if rc.URL != "" {
		q, err := qrcode.New(rc.URL, qrcode.Medium)
		if err != nil {
			return nil, newError(ErrInput, "回执查询地址无法编码为二维码", "the receipt's address cannot be encoded as a QR code", err)
		}
		qr = q.Bitmap()
	}
	pdf, err := r.docFor(texts)
	if err != nil {
		return nil, err
	}
	pdf.SetTitle(bmpOnly(rc.Title+" "+rc.TitleEn), true)
	pdf.SetCreator("certd", false)
	if !rc.Made.IsZero() {
		pdf.SetCreationDate(rc.Made.UTC())
		pdf.SetModificationDate(rc.Made.UTC())
	}
	rp := &receiptPage{r: r, pdf: pdf, rc: &rc}
	rp.draw(qr)
	if err := errors.Join(rp.errs...); err != nil {
		return nil, newError(ErrRender, "核验回执排版失败", "receipt layout failed", err)
	}
	if err := pdf.Error(); err != nil {
		return nil, newError(ErrRender, "核验回执排版失败", "receipt layout failed", err)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, newError(ErrRender, "核验回执 PDF 生成失败", "receipt PDF output failed", err)
	}
	return buf.Bytes(), nil
}

// receiptPage is the layout state of one receipt: the pen's y and the
// page count.
type receiptPage struct {
	r     *Renderer
	pdf   *gofpdf.Fpdf
	rc    *Receipt
	y     float64
	pages int
	errs  []error
}

// receiptStatic is the receipt's own text (headings, page numbers), part
// of every receipt's font subset.
const receiptStatic = "核验项目 Checks performed 第页共 · Page of 0123456789"

const (
	rcMargin = 15.0
	rcBottom = 284.0
)

var (
	rcInk  = [3]int{20, 20, 20}
	rcGrey = [3]int{100, 100, 100}
)

func (p *receiptPage) text(x, y, size float64, s string, c [3]int) {
	if c == [3]int{} {
		c = rcInk
	}
	p.errs = append(p.errs, p.r.drawText(p.pdf, x, y, size, s, c))
}

func (p *receiptPage) newPage() {
	p.pdf.AddPage()
	p.pages++
	p.y = rcMargin + 6
	if p.pages > 1 {
		p.text(rcMargin, p.y, 9, p.rc.Title+" · "+p.rc.Ref, rcGrey)
		p.y += 8
	}
}

// need starts a new page unless h mm are left on this one.
func (p *receiptPage) need(h float64) bool {
	if p.y+h > rcBottom {
		p.newPage()
		return true
	}
	return false
}

// wrap breaks s into lines no wider than w mm at size pt: after a space
// or a CJK character where it can, so that English words stay whole.
func (p *receiptPage) wrap(s string, size, w float64) []string {
	var lines []string
	var cur []rune
	var widths []float64
	var cw float64
	brk := -1 // index in cur after which a line may end
	for _, c := range s {
		gw := p.r.width(string(c), size)
		if cw+gw > w && len(cur) > 0 {
			cut := len(cur)
			if brk >= 0 && brk+1 < len(cur) && c != ' ' {
				cut = brk + 1
			}
			lines = append(lines, strings.TrimRight(string(cur[:cut]), " "))
			rest, restW := append([]rune{}, cur[cut:]...), widths[cut:]
			cur, widths, cw, brk = rest, append([]float64{}, restW...), 0, -1
			for _, x := range widths {
				cw += x
			}
			if c == ' ' && len(cur) == 0 {
				continue
			}
		}
		cur = append(cur, c)
		widths = append(widths, gw)
		cw += gw
		if c == ' ' || c >= 0x2E80 {
			brk = len(cur) - 1
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

func (p *receiptPage) draw(qr [][]bool) {
	rc, l := p.rc, p.r.layout
	pageW := l.PageW
	w := pageW - 2*rcMargin
	p.newPage()
	qrSize := 34.0
	p.text(rcMargin, p.y+2, 20, rc.Title, rcInk)
	p.text(rcMargin, p.y+9, 10, rc.TitleEn, rcGrey)
	if qr != nil {
		e := &Element{X: pageW - rcMargin - qrSize - p.r.cfg.OffsetX, Y: rcMargin - 4 - p.r.cfg.OffsetY, W: qrSize}
		p.r.drawQR(p.pdf, e, qr)
		p.pdf.LinkString(pageW-rcMargin-qrSize, rcMargin-4, qrSize, qrSize, rc.URL)
	}
	p.y += 20
	if rc.Headline != "" {
		for _, line := range p.wrap(rc.Headline, 18, w-qrSize-4) {
			p.text(rcMargin, p.y+4, 18, line, rc.HeadlineColor)
			p.y += 9
		}
		p.y += 2
	}
	p.y = max(p.y, rcMargin+qrSize)
	labelW := 50.0
	lines := func(ls []ReceiptLine) {
		for _, f := range ls {
			vals := p.wrap(f.Value, 10.5, w-labelW)
			zh, en := p.wrap(f.Zh, 10, labelW-3), p.wrap(f.En, 7, labelW-3)
			lh := float64(len(zh))*4.5 + float64(len(en))*3.2
			h := max(8.2, float64(len(vals))*4.8+3.4, lh+1.8)
			p.need(h)
			y := p.y + 4
			for _, l := range zh {
				p.text(rcMargin, y, 10, l, rcGrey)
				y += 4.5
			}
			y -= 0.5
			for _, l := range en {
				p.text(rcMargin, y, 7, l, rcGrey)
				y += 3.2
			}
			for i, v := range vals {
				p.text(rcMargin+labelW, p.y+4+float64(i)*4.8, 10.5, v, f.Color)
			}
			p.y += h
		}
	}
	lines(rc.Fields)
	if len(rc.Checks) > 0 {
		p.need(16)
		p.y += 3
		p.text(rcMargin, p.y+4, 12, "核验项目", rcInk)
		p.text(rcMargin+22, p.y+4, 9, "Checks performed", rcGrey)
		p.y += 8
		lines(rc.Checks)
	}
	if len(rc.Table) > 0 {
		p.table(w)
	}
	if len(rc.Notes) > 0 {
		p.y += 3
		for _, n := range rc.Notes {
			for _, line := range p.wrap(n, 8.5, w) {
				p.need(5)
				p.text(rcMargin, p.y+4, 8.5, line, rcGrey)
				p.y += 4.5
			}
		}
	}
	// Page numbers, once the count is known.
	for i := 1; i <= p.pages; i++ {
		p.pdf.SetPage(i)
		p.text(pageW-rcMargin-30, 290, 8, fmt.Sprintf("第 %d 页 共 %d 页 · Page %d of %d", i, p.pages, i, p.pages), rcGrey)
	}
}

// table draws a batch's rows, the header again on every page.
func (p *receiptPage) table(w float64) {
	rc := p.rc
	var sum float64
	for _, x := range rc.Widths {
		sum += x
	}
	cols := make([]float64, len(rc.TableHeader))
	for i := range cols {
		share := 1.0 / float64(len(cols))
		if i < len(rc.Widths) && sum > 0 {
			share = rc.Widths[i] / sum
		}
		cols[i] = share * w
	}
	const size, lh = 8.5, 4.2
	header := func() {
		p.pdf.SetFillColor(225, 228, 234)
		p.pdf.Rect(rcMargin, p.y, w, 6, "F")
		x := rcMargin
		for i, h := range rc.TableHeader {
			p.text(x+1, p.y+4.2, size, h, rcInk)
			x += cols[i]
		}
		p.y += 7
	}
	p.need(20)
	p.y += 2
	header()
	for ri, row := range rc.Table {
		cells := make([][]string, len(cols))
		n := 1
		for i := range cols {
			v := ""
			if i < len(row) {
				v = row[i]
			}
			cells[i] = p.wrap(v, size, cols[i]-2)
			n = max(n, len(cells[i]))
		}
		if p.need(float64(n)*lh + 1.5) {
			header()
		}
		c := rcInk
		if ri < len(rc.RowColors) && rc.RowColors[ri] != [3]int{} {
			c = rc.RowColors[ri]
		}
		x := rcMargin
		for i, lines := range cells {
			for j, line := range lines {
				p.text(x+1, p.y+3.3+float64(j)*lh, size, line, c)
			}
			x += cols[i]
		}
		p.y += float64(n)*lh + 1.5
		p.pdf.SetDrawColor(220, 220, 220)
		p.pdf.SetLineWidth(0.1)
		p.pdf.Line(rcMargin, p.y-0.7, rcMargin+w, p.y-0.7)
	}
}
