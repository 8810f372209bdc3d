package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"certd/issuer/ident"
	"certd/issuer/render"
)

// PrintSettings are a college's printing choices. They are kept with the
// institution version (so every change is audited) but are not part of the
// registration the authority signs: a seal image vouches for nothing a
// verifier checks.
type PrintSettings struct {
	Seal     []byte  `json:"seal,omitempty"`     // PNG with transparency, printed over the issue date
	Layout   string  `json:"layout,omitempty"`   // "full" (default) or "preprinted"
	Template []byte  `json:"template,omitempty"` // layout JSON overriding the shipped one
	OffsetX  float64 `json:"offset_x,omitempty"` // mm, printer calibration for preprinted stock
	OffsetY  float64 `json:"offset_y,omitempty"`
	English  bool    `json:"english,omitempty"` // print the English line under each label
}

// Printer turns certificate records into PDFs. It holds one renderer per
// distinct print setting (building one parses the font, so they are
// cached), and the public address the QR codes point to.
type Printer struct {
	font      render.Config
	publicURL string
	base      *render.Renderer

	mu    sync.Mutex
	cache map[string]*render.Renderer
}

// NewPrinter loads the certificate font. It fails, before anything is
// issued, on a missing font or one that cannot print Chinese.
func NewPrinter(font render.Config, publicURL string) (*Printer, error) {
	base, err := render.New(font)
	if err != nil {
		return nil, err
	}
	return &Printer{font: font, publicURL: publicURL, base: base, cache: map[string]*render.Renderer{}}, nil
}

// Check reports characters the font cannot print (see GlyphChecker).
func (p *Printer) Check(fields ...string) error { return p.base.Check(fields...) }

// renderer returns the renderer for an institution's print settings.
func (p *Printer) renderer(ps PrintSettings) (*render.Renderer, error) {
	if ps.Layout == "" && len(ps.Template) == 0 && ps.OffsetX == 0 && ps.OffsetY == 0 && !ps.English {
		return p.base, nil
	}
	sum := sha256.Sum256(ps.Template)
	key := ps.Layout + "|" + hex.EncodeToString(sum[:]) + "|" + strconv.FormatFloat(ps.OffsetX, 'f', 2, 64) + "|" + strconv.FormatFloat(ps.OffsetY, 'f', 2, 64) + "|" + strconv.FormatBool(ps.English)
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.cache[key]; ok {
		return r, nil
	}
	cfg := p.font
	cfg.Layout, cfg.Template, cfg.OffsetX, cfg.OffsetY, cfg.English = ps.Layout, ps.Template, ps.OffsetX, ps.OffsetY, ps.English
	r, err := render.New(cfg)
	if err != nil {
		return nil, err
	}
	p.cache[key] = r
	return r, nil
}

// CheckSettings validates print settings before they are stored: the seal
// decodes, the template and offsets are usable.
func (p *Printer) CheckSettings(ps PrintSettings) error {
	if len(ps.Seal) > 0 {
		if err := render.CheckImage(ps.Seal, "seal"); err != nil {
			zh, en := halves(err)
			return &Error{Kind: ErrInvalid, Code: "seal_invalid", Zh: "印章图片无效：" + zh, En: "the seal image is invalid: " + en, Err: err}
		}
	}
	if _, err := p.renderer(ps); err != nil {
		zh, en := halves(err)
		return &Error{Kind: ErrInvalid, Code: "print_settings_invalid", Zh: "打印设置无效：" + zh, En: "the print settings are invalid: " + en, Err: err}
	}
	return nil
}

// VerifyURL is the address in a certificate's QR code: the public page of
// the number, with the verification code that unlocks the full name.
func (p *Printer) VerifyURL(c Certificate) string { return VerifyURL(p.publicURL, c) }

func (p *Printer) view(in Institution, c Certificate, photo []byte) render.Certificate {
	return p.viewAt("", in, c, photo)
}

// viewAt is view with the QR code pointing at publicURL, the address a
// print job was recorded with ("" for the printer's own), so that a PDF
// made late is the one that would have been made on time.
func (p *Printer) viewAt(publicURL string, in Institution, c Certificate, photo []byte) render.Certificate {
	verifyURL := p.VerifyURL(c)
	if publicURL != "" {
		verifyURL = VerifyURL(publicURL, c)
	}
	return render.Certificate{
		Number: c.Number, InstitutionName: in.Name, IssuedOn: c.IssuedOn,
		Name: c.Holder.Name, DocType: c.Holder.DocType.Chinese(), DocNumber: c.Holder.DocNumber,
		OccupationName: c.OccupationName, Specialty: c.Specialty, LevelZh: c.Level.Chinese(), LevelEn: c.Level.English(),
		VerifyURL: verifyURL, VerifyCode: c.VerifyCode, Token: c.Token, Photo: photo, Seal: in.Print.Seal,
		Void: VoidMark(c),
	}
}

// VoidMark is the mark every PDF of a certificate that is no longer valid
// carries (render.Void): 作废 REVOKED with the date, or 已更正 SUPERSEDED
// with the new number. Nil for a valid certificate.
func VoidMark(c Certificate) *render.Void {
	switch c.Status {
	case Revoked:
		on := ""
		if c.Revocation != nil {
			on = c.Revocation.At.In(ChinaTime).Format(DateLayout)
		}
		return &render.Void{Headline: "作废 REVOKED",
			Line: "本证书已于" + on + "撤销，不再有效 / revoked on " + on + "; no longer valid"}
	case Superseded:
		return &render.Void{Headline: "已更正 SUPERSEDED",
			Line: "本证书已作废，以新证书 " + c.SupersededBy + " 为准 / void: replaced by " + c.SupersededBy}
	}
	return nil
}

// Render renders one certificate of institution in.
func (p *Printer) Render(in Institution, c Certificate, photo []byte) ([]byte, error) {
	r, err := p.renderer(in.Print)
	if err != nil {
		return nil, err
	}
	return r.Render(p.view(in, c, photo))
}

// RenderAndStore renders certs on every core and stores each PDF with its
// SHA-256, setting PDFSHA256 in certs. photo may be nil.
func (p *Printer) RenderAndStore(ctx context.Context, st Store, in Institution, certs []Certificate, photo func(Certificate) []byte) error {
	r, err := p.renderer(in.Print)
	if err != nil {
		return err
	}
	const chunk = 256 // bounds memory: PDFs are stored as they are made
	for start := 0; start < len(certs); start += chunk {
		part := certs[start:min(start+chunk, len(certs))]
		views := make([]render.Certificate, len(part))
		for i, c := range part {
			var ph []byte
			if photo != nil {
				ph = photo(c)
			}
			views[i] = p.view(in, c, ph)
		}
		pdfs, err := r.RenderAll(views)
		if err != nil {
			return err
		}
		if len(pdfs) != len(part) {
			return fmt.Errorf("render: %d PDFs for %d certificates", len(pdfs), len(part))
		}
		nums := make([]string, len(part))
		for i := range part {
			nums[i] = part[i].Number
		}
		if err := stagePDFs(st, nums, pdfs); err != nil {
			return err
		}
		for i := range part {
			c, pdf := &part[i], pdfs[i]
			if err := st.PutPDF(ctx, c.Number, pdf); err != nil {
				return err
			}
			sum := sha256.Sum256(pdf)
			c.PDFSHA256 = hex.EncodeToString(sum[:])
		}
	}
	return nil
}

// Batch writes the print file of certs: one PDF, one page each.
func (p *Printer) Batch(in Institution, certs []Certificate, photo func(Certificate) []byte, w io.Writer) error {
	r, err := p.renderer(in.Print)
	if err != nil {
		return err
	}
	views := make([]render.Certificate, len(certs))
	for i, c := range certs {
		var ph []byte
		if photo != nil {
			ph = photo(c)
		}
		views[i] = p.view(in, c, ph)
	}
	return r.Batch(views, w)
}

// Calibration returns the calibration page for an institution's settings.
func (p *Printer) Calibration(in Institution) ([]byte, error) {
	r, err := p.renderer(in.Print)
	if err != nil {
		return nil, err
	}
	return r.CalibrationPage()
}

// SetPrintSettings stores new print settings as a new institution version
// (none when they are the settings in force, see putVersion). A college
// administrator may change its own; the authority any.
func (s *Service) SetPrintSettings(ctx context.Context, actor Actor, id string, ps PrintSettings) (Institution, error) {
	if err := actor.MayActFor(id); err != nil {
		return Institution{}, err
	}
	if s.Printer != nil {
		if err := s.Printer.CheckSettings(ps); err != nil {
			return Institution{}, err
		}
	}
	cur, err := s.store.Institution(ctx, id)
	if err != nil {
		return Institution{}, notFoundInstitution(err, id)
	}
	in := cur.clone()
	in.Version++
	in.Print = ps
	return s.putVersion(ctx, actor, &cur, in, nil, "institution.print_settings", map[string]any{"layout": ps.Layout, "seal_bytes": len(ps.Seal), "offset_x": ps.OffsetX, "offset_y": ps.OffsetY})
}

// errNoPrinter is why nothing can be printed: the reason the process gave
// (Service.NoPrinter), else the font.
func (s *Service) errNoPrinter() error {
	if s.NoPrinter != nil {
		return s.NoPrinter
	}
	return errNoPrinter()
}

func errNoPrinter() error {
	return Errorf(ErrUnavailable, "no_printer", "未配置可用的证书字体，无法生成PDF", "no usable certificate font is configured; PDFs cannot be made")
}

// PDF returns a certificate's PDF: the bytes stored when it was issued, so
// the file is the same every time and can be checked against the hash on
// record. A certificate whose PDF is not made yet (its batch's print job
// was interrupted) is rendered now from its print job, with the photo and
// address the job holds, and stored, when the actor may change the
// institution's records; anyone else is told it has not been made yet. A
// certificate issued before print jobs existed, whose PDF was never made,
// is rendered without a photo (none was kept). A revoked or superseded
// certificate's PDF is a fresh copy marked void (VoidMark), for anyone who
// may read it.
func (s *Service) PDF(ctx context.Context, actor Actor, number string) ([]byte, error) {
	c, err := s.Certificate(ctx, actor, number)
	if err != nil {
		return nil, err
	}
	return s.pdfOf(ctx, actor, c)
}

// pdfOf is PDF for a certificate the actor may read.
func (s *Service) pdfOf(ctx context.Context, actor Actor, c Certificate) ([]byte, error) {
	if c.Status != Valid {
		// The stored PDF is the certificate as issued, clean: a copy made
		// after revocation or correction must say it is void. Made fresh
		// each time (without the photo, which certd does not keep) and
		// never stored: the stored file and its hash stay the issued ones.
		if s.Printer == nil {
			return nil, s.errNoPrinter()
		}
		in, err := s.store.Institution(ctx, c.InstitutionID)
		if err != nil {
			return nil, err
		}
		return s.Printer.Render(in, c, nil)
	}
	pdf, err := s.store.PDF(ctx, c.Number)
	if !Is(err, ErrNotFound) {
		return pdf, err
	}
	// Rendering stores a new PDF: a change, not a read.
	if actor.MayActFor(c.InstitutionID) != nil {
		return nil, Errorf(ErrUnavailable, "pdf_missing", "证书 %s 的PDF尚未生成，请由本校操作员打开该证书后再下载",
			"the PDF of certificate %s has not been made yet; an operator of the college must open it first", c.Number)
	}
	if s.Printer == nil {
		return nil, s.errNoPrinter()
	}
	if pdf, ok, err := s.printPending(ctx, c); ok || err != nil {
		return pdf, err
	}
	in, err := s.institutionVersion(ctx, c.InstitutionID, c.InstitutionVer)
	if err != nil {
		return nil, err
	}
	if pdf, err = s.Printer.Render(in, c, nil); err != nil {
		return nil, err
	}
	if err := s.store.PutPDF(ctx, c.Number, pdf); err != nil {
		return nil, err
	}
	return pdf, nil
}

// BatchZip writes every certificate of a batch, each its own PDF named so
// that a clerk can hand it out (HandOutName: 学号_姓名_编号.pdf), into a ZIP
// for the college. A
// certificate whose PDF cannot be had fails the whole archive rather than
// going missing from it.
func (s *Service) BatchZip(ctx context.Context, actor Actor, batchID string, w io.Writer) error {
	b, certs, err := s.batchCertificates(ctx, actor, batchID)
	if err != nil {
		return err
	}
	entries := make([]render.ZipEntry, 0, len(certs))
	for _, c := range certs {
		pdf, err := s.pdfOf(ctx, actor, c)
		if err != nil {
			return err
		}
		entries = append(entries, render.ZipEntry{Name: HandOutName(c) + ".pdf", Data: pdf})
	}
	// The claim slips go with the certificates for those who hand both
	// out; an auditor's copy has none (the holder codes are not theirs).
	if actor.MayActFor(b.InstitutionID) == nil {
		slips, err := s.slipZipEntries(ctx, b.InstitutionID, certs)
		if err != nil {
			return err
		}
		entries = append(entries, slips...)
	}
	return render.WriteZip(w, b.CreatedAt, entries)
}

// HandOutName is the base of a certificate's file name in a batch ZIP:
// 学号_姓名_编号, or 姓名_编号 without a student number, each part made safe
// for file systems (render.SafeFileName). The number keeps names unique and
// leads back to the record. archive/zip flags a name that is not ASCII as
// UTF-8, so Windows Explorer and macOS Archive Utility show the Chinese.
func HandOutName(c Certificate) string {
	sno, name := render.SafeFileName(c.Holder.StudentNo), render.SafeFileName(c.Holder.Name)
	// A file name has 255 bytes once unpacked, the claim slip's suffix
	// included: the name, then the 学号, lose characters from their end
	// until the whole fits (the number stays whole).
	budget := maxFileNameBytes - len(slipSuffix) - len("_"+c.Number)
	for len(sno)+len(name)+2 > budget && (name != "" || sno != "") {
		if name != "" {
			name = shorten(name)
		} else {
			sno = shorten(sno)
		}
	}
	var parts []string
	if sno != "" {
		parts = append(parts, sno)
	}
	if name != "" {
		parts = append(parts, name)
	}
	return strings.Join(append(parts, c.Number), "_")
}

// maxFileNameBytes is the longest file name Linux and macOS unpack.
const maxFileNameBytes = 255

// slipSuffix ends a claim slip's name in a batch ZIP (slips.go).
const slipSuffix = "_领取凭条.pdf"

// shorten drops s's last character, and dots and spaces left at its end.
func shorten(s string) string {
	_, n := utf8.DecodeLastRuneInString(s)
	return strings.TrimRight(s[:len(s)-n], ". ")
}

// PrintBatch writes a batch's print file to w: one PDF with a page per
// certificate, in number order, for printing the whole roster at once.
// photos are the holders' photos uploaded with the roster. certd keeps
// none, so a print file made later (photos nil) has empty photo frames,
// while each certificate's own PDF, made at issuance, keeps its photo. This
// is the one print step after issuing, for the console and the command
// line alike.
func (s *Service) PrintBatch(ctx context.Context, actor Actor, batchID string, photos *Photos, w io.Writer) error {
	b, certs, err := s.batchCertificates(ctx, actor, batchID)
	if err != nil {
		return err
	}
	if s.Printer == nil {
		return s.errNoPrinter()
	}
	in, err := s.store.Institution(ctx, b.InstitutionID)
	if err != nil {
		return err
	}
	return s.Printer.Batch(in, certs, photos.For, w)
}

// Calibration returns the calibration page for an institution's current
// print settings, to whoever may read the institution (see Institution).
func (s *Service) Calibration(ctx context.Context, actor Actor, id string) ([]byte, error) {
	in, err := s.Institution(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if s.Printer == nil {
		return nil, s.errNoPrinter()
	}
	return s.Printer.Calibration(in)
}

// Receipt prints a verification receipt in the certificate font (the
// public side's 核验回执): plain A4, no institution's print settings.
func (p *Printer) Receipt(rc render.Receipt) ([]byte, error) { return p.base.Receipt(rc) }

// sampleScale is the resolution of seal previews, in pixels a millimetre:
// an A4 page 840×1188, enough to judge a 40 mm seal's size and place.
const sampleScale = 4

// SamplePNG is a picture of a sample certificate of the institution, as
// its print settings lay it out, carrying seal (nil: none): what the
// console shows before a new seal is saved, next to the seal on file.
func (p *Printer) SamplePNG(in Institution, seal []byte, today time.Time) ([]byte, error) {
	r, err := p.renderer(in.Print)
	if err != nil {
		return nil, err
	}
	c := Certificate{
		Number: in.Prefix + today.Format("06") + "3000000", IssuedOn: Day(today),
		Holder:     Holder{Name: "张三（样例）", DocType: ident.ResidentID, DocNumber: "110101199003070000"},
		Occupation: "0-00-00-00", OccupationName: "样例职业", Level: 3, VerifyCode: "SAMPLE",
	}
	v := p.view(in, c, nil)
	v.Seal = seal
	return r.PreviewPNG(v, sampleScale)
}

// SealPreview checks a seal image as saving it would and returns two
// pictures of a sample certificate of the institution: with the seal on
// file (nil when there is none) and with the new one. Nothing is stored.
func (s *Service) SealPreview(ctx context.Context, actor Actor, id string, seal []byte) (current, next []byte, err error) {
	if err := actor.MayActFor(id); err != nil {
		return nil, nil, err
	}
	if s.Printer == nil {
		return nil, nil, s.errNoPrinter()
	}
	in, err := s.store.Institution(ctx, id)
	if err != nil {
		return nil, nil, notFoundInstitution(err, id)
	}
	ps := in.Print
	ps.Seal = seal
	if err := s.Printer.CheckSettings(ps); err != nil {
		return nil, nil, err
	}
	if len(in.Print.Seal) > 0 {
		if current, err = s.Printer.SamplePNG(in, in.Print.Seal, s.now()); err != nil {
			return nil, nil, err
		}
	}
	next, err = s.Printer.SamplePNG(in, seal, s.now())
	return current, next, err
}
