package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/jung-kurt/gofpdf"
	"github.com/skip2/go-qrcode"
)

// Slip is a claim slip (领取凭条): what a holder needs to claim their
// certificate on the holder pages, handed to them privately. It carries the
// holder code, which is printed nowhere on the certificate.
type Slip struct {
	Number, InstitutionName, Name string
	OccupationName, LevelZh       string
	HolderCode                    string // formatted, e.g. ABCD-EFGH-JKLM
	ClaimURL                      string // the holder pages, e.g. https://…/me?n=NUMBER
}

var slipStatic = []string{
	"职业技能等级证书领取凭条", "Certificate claim slip", "持证人", "Holder", "证书编号", "Number", "职业等级", "Occupation and level",
	"发证机构", "Issued by", "持证人领取码", "Holder code", "领取地址", "Claim at",
	"请持证人本人妥善保管，不要交给他人或拍照转发。", "For the holder only: keep it safe; do not hand it on or post a photo of it.",
	"凭证书编号、领取码和本人姓名登录“我的证书”，可查看证书状态、下载PDF、", "With the number, this code and your full name, sign in at “My certificates” to see",
	"创建有期限、可随时撤回的分享链接。领取码遗失或泄露，请联系发证机构重置。", "the status, download the PDF and make share links you can withdraw. Lost code: ask the college to reset it.",
}

// Slips writes one claim slip per page into one PDF, for printing on plain
// paper: kept apart from the certificates' print file, which goes on
// certificate stock.
func (r *Renderer) Slips(slips []Slip, w io.Writer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = newError(ErrRender, "领取凭条生成时发生内部错误", fmt.Sprintf("claim slips: PDF generation panicked: %v", p), nil)
		}
	}()
	if len(slips) == 0 {
		return newError(ErrInput, "领取凭条列表为空", "no claim slips to print", nil)
	}
	texts := append([]string{}, slipStatic...)
	qrs := make([][][]bool, len(slips))
	for i, s := range slips {
		for _, f := range []string{s.Number, s.InstitutionName, s.Name, s.OccupationName, s.LevelZh, s.HolderCode, s.ClaimURL} {
			if !utf8.ValidString(f) {
				return newError(ErrInput, fmt.Sprintf("证书 %s 含有无效的 UTF-8 文本", s.Number), fmt.Sprintf("certificate %s: invalid UTF-8", s.Number), nil)
			}
			texts = append(texts, f)
		}
		q, err := qrcode.New(s.ClaimURL, qrcode.Medium)
		if err != nil {
			return newError(ErrInput, "领取地址无法编码为二维码", "the claim address cannot be encoded as a QR code", err)
		}
		qrs[i] = q.Bitmap()
	}
	if missing := r.missing(texts); len(missing) > 0 {
		mg := &MissingGlyphsError{Runes: missing}
		zh, en := mg.lists()
		return newError(ErrGlyph, "领取凭条含有无法打印的字符："+zh, "the claim slips have unprintable characters: "+en, mg)
	}
	pdf, err := r.docFor(texts)
	if err != nil {
		return err
	}
	pdf.SetTitle("领取凭条 Claim slips", true)
	pdf.SetCreator("certd", false)
	for i, s := range slips {
		if err := r.slipPage(pdf, s, qrs[i]); err != nil {
			return err
		}
	}
	if err := pdf.Error(); err != nil {
		return newError(ErrRender, "领取凭条排版失败", "claim slip layout failed", err)
	}
	if err := pdf.Output(w); err != nil {
		return newError(ErrRender, "领取凭条 PDF 生成失败", "claim slip PDF output failed", err)
	}
	return nil
}

// Slip renders one claim slip as its own PDF.
func (r *Renderer) Slip(s Slip) ([]byte, error) {
	var buf bytes.Buffer
	if err := r.Slips([]Slip{s}, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// slipPage draws one slip in the top half of the page, so that a slip cut
// off an A4 sheet fits an envelope; the layout's calibration offsets do not
// apply (plain paper).
func (r *Renderer) slipPage(pdf *gofpdf.Fpdf, s Slip, qr [][]bool) error {
	pdf.AddPage()
	l := r.layout
	ink, grey := [3]int{20, 20, 20}, [3]int{90, 90, 90}
	m := 15.0
	w := l.PageW - 2*m
	y := m + 8
	text := func(x, y, size float64, s string, c [3]int) error { return r.drawText(pdf, x, y, size, s, c) }
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	add(text(m, y, 20, "职业技能等级证书领取凭条", ink))
	add(text(m, y+7, 10, "Certificate claim slip", grey))
	y += 20
	rows := [][3]string{
		{"持证人", "Holder", s.Name},
		{"证书编号", "Number", s.Number},
		{"职业等级", "Occupation and level", strings.TrimSpace(s.OccupationName + " " + s.LevelZh)},
		{"发证机构", "Issued by", s.InstitutionName},
	}
	for _, row := range rows {
		add(text(m, y, 11, row[0], grey))
		add(text(m, y+4.5, 7.5, row[1], grey))
		add(text(m+38, y+1, 13, row[2], ink))
		y += 11
	}
	y += 4
	add(text(m, y, 11, "持证人领取码", grey))
	add(text(m, y+4.5, 7.5, "Holder code", grey))
	add(text(m+38, y+3, 24, s.HolderCode, ink))
	y += 16
	add(text(m, y, 11, "领取地址", grey))
	add(text(m, y+4.5, 7.5, "Claim at", grey))
	add(text(m+38, y+1, 11, s.ClaimURL, ink))
	pdf.LinkString(m+38, y-4, r.width(s.ClaimURL, 11), 6, s.ClaimURL)
	y += 12
	for i := 14; i < len(slipStatic); i += 2 {
		add(text(m, y, 9.5, slipStatic[i], ink))
		add(text(m, y+4, 7.5, slipStatic[i+1], grey))
		y += 10
	}
	// A dashed line to cut along.
	pdf.SetDrawColor(120, 120, 120)
	pdf.SetLineWidth(0.3)
	pdf.SetDashPattern([]float64{2, 1.5}, 0)
	pdf.Rect(m-5, m-5, w+10, y-m+2, "D")
	pdf.SetDashPattern(nil, 0)
	// The QR code of the claim address, at the right.
	size := 40.0
	e := &Element{X: l.PageW - m - size - r.cfg.OffsetX, Y: m + 20 - r.cfg.OffsetY, W: size}
	r.drawQR(pdf, e, qr)
	pdf.LinkString(l.PageW-m-size, m+20, size, size, s.ClaimURL)
	return errors.Join(errs...)
}
