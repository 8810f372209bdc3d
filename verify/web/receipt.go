package web

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/render"
	"certd/verify"
)

// Verification receipts (核验回执): an employer or a credit office files
// its checks. Every check made on /bulk (a sheet, a certificate PDF, a
// holder credential) keeps one; a single certificate gets one on request
// from its page or the API. A receipt records what was found at the time
// of the check, under a random reference anyone who has it can look up
// again (/receipt/REF), where the certificate's status now is shown apart
// from what was recorded. Privacy: a receipt holds no more than the public
// page shows of a certificate (a masked name, no ID number, whatever the
// viewer presented), and a batch per row only the certificate number, the
// conclusion and whether the holder matched: never the names or ID numbers
// a clerk checked.

// ReceiptStore keeps receipts; both shipped stores are one. A store that is
// not keeps none (the check still answers, and says so).
type ReceiptStore interface {
	PutReceipt(ctx context.Context, r issuer.Receipt) error
	Receipt(ctx context.Context, ref string) (issuer.Receipt, error)
}

// receiptKeepYears is how long a receipt is answered: 5 years, about the
// time a credit transfer or a hiring file is kept for review.
const receiptKeepYears = 5

// defaultReceiptLimit is receipts per hour per client: a credit office
// checking sheet after sheet makes tens, not hundreds.
const defaultReceiptLimit = 120

// refLen is a reference's length in characters of the verification-code
// alphabet (32 symbols): 20 of them are 100 random bits.
const refLen = 20

// newRef draws a reference, shown in groups of four (ABCD-EFGH-...).
func newRef() string {
	var b [refLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	var sb strings.Builder
	for i, x := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(codeAlphabet[int(x)%len(codeAlphabet)]) // 256 is a multiple of 32: uniform
	}
	return sb.String()
}

// codeAlphabet is the verification codes' alphabet (no 0/O, 1/I).
const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// normalizeRef reads a reference as typed or linked: case, spaces and
// dashes do not matter.
func normalizeRef(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var raw []byte
	// Bytes, not runes: every byte of a multi-byte character is outside
	// the alphabet, so such a reference is refused all the same.
	up := strings.ToUpper(s)
	for i := 0; i < len(up); i++ {
		switch c := up[i]; {
		case c == '-' || c == ' ':
			continue
		case strings.IndexByte(codeAlphabet, c) >= 0:
			raw = append(raw, c)
		default:
			return "", false
		}
	}
	if len(raw) != refLen {
		return "", false
	}
	var sb strings.Builder
	for i, c := range raw {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(c)
	}
	return sb.String(), true
}

// receipt is a kept receipt as a page shows it: its reference and
// addresses, or why none was kept.
type receipt struct {
	Ref, URL, PDF  string
	NoteZh, NoteEn string
}

// receiptRecord is a receipt's stored body (issuer.Receipt.Body).
type receiptRecord struct {
	V         int          `json:"v"`
	Kind      string       `json:"kind"` // certificate, pdf, credential, batch
	CheckedAt time.Time    `json:"checked_at"`
	Cert      *receiptCert `json:"certificate,omitempty"`
	Rows      []receiptRow `json:"rows,omitempty"`
}

// receiptCert is one certificate as checked: the public page's facts
// (masked name, no ID number), the verdict, the conclusion and every check.
type receiptCert struct {
	Number         string             `json:"number,omitempty"`
	Verdict        verify.Verdict     `json:"verdict"`
	Conclusion     verify.Conclusion  `json:"conclusion"`
	HolderMasked   string             `json:"holder_masked,omitempty"`
	OccupationCode string             `json:"occupation_code,omitempty"`
	OccupationName string             `json:"occupation_name,omitempty"`
	Specialty      string             `json:"specialty,omitempty"`
	LevelZh        string             `json:"level_zh,omitempty"`
	LevelEn        string             `json:"level_en,omitempty"`
	IssuedOn       string             `json:"issued_on,omitempty"`
	IssuerName     string             `json:"issuer_name,omitempty"`
	Institution    string             `json:"institution,omitempty"`
	InstStatus     string             `json:"institution_status,omitempty"`
	Status         *verify.StatusView `json:"status,omitempty"`
	AsOf           string             `json:"as_of,omitempty"`
	Checks         []verify.Check     `json:"checks"`
	// CodeMatches: whether the verification code presented (the QR's, or
	// typed from the paper) was the certificate's; nil when none was.
	CodeMatches *bool `json:"code_matches,omitempty"`
	// Holder is the holder check when one was asked for: whether the name
	// and the ID number matched, never what was given.
	Holder *receiptHolder `json:"holder_check,omitempty"`
}

type receiptHolder struct {
	Name bool  `json:"name_matches"`
	ID   *bool `json:"id_number_matches,omitempty"`
	// NotChecked: the caps on guessing refused the check (or the ID part).
	NotChecked bool `json:"not_checked,omitempty"`
}

// receiptRow is one row of a batch: no name, no ID number.
type receiptRow struct {
	Number     string            `json:"number,omitempty"` // empty for a row whose number was malformed
	Conclusion verify.Conclusion `json:"conclusion,omitempty"`
	// Holder: "yes" the name (and ID number, if given) matched, "no" it
	// did not, "" not checked.
	Holder    string `json:"holder,omitempty"`
	IDChecked bool   `json:"id_checked,omitempty"`
	Error     string `json:"error,omitempty"` // a malformed row's problem (Chinese / English)
}

// Errors of the receipt routes.
var (
	errNoReceipt = issuer.Errorf(issuer.ErrNotFound, "receipt_not_found",
		"没有该编号的核验回执（编号有误，或已超过5年保存期限）", "no receipt has this reference (mistyped, or older than the 5 years receipts are kept)")
	errBadRef = issuer.Errorf(issuer.ErrInvalid, "receipt_ref",
		"回执编号格式不正确（应为20位字母或数字，如 ABCD-EFGH-JKLM-NPQR-STUV）", "malformed receipt reference (20 letters or digits, e.g. ABCD-EFGH-JKLM-NPQR-STUV)")
	errReceiptLimited = issuer.Errorf(issuer.ErrForbidden, codeRateLimited,
		"核验回执生成过于频繁，请一小时后再试（核验本身不受影响）", "too many receipts from your network; try again in an hour (checks themselves are not limited by this)")
	errReceiptsOff = issuer.Errorf(issuer.ErrUnavailable, "receipts_unavailable",
		"本服务暂不保存核验回执", "this service keeps no receipts")
	errReceiptSave = issuer.Errorf(issuer.ErrUnavailable, "receipt_unavailable",
		"核验回执暂时无法保存，请稍后再试", "the receipt could not be kept right now; try again later")
	errReceiptPDF = issuer.Errorf(issuer.ErrUnavailable, "receipt_pdf_unavailable",
		"回执 PDF 暂不可用（服务器未配置证书字体）；回执页面可正常查看", "the receipt PDF is unavailable (the server has no certificate font); the receipt page works")
)

// keep stores a record as a receipt, within the client's hourly budget.
// The returned receipt says why none was kept, when none was.
func (h *handlers) keep(c *fiber.Ctx, rec *receiptRecord) (receipt, *issuer.Error) {
	if h.receipts == nil {
		return receipt{NoteZh: errReceiptsOff.Zh, NoteEn: errReceiptsOff.En}, errReceiptsOff
	}
	if !h.receiptLim.allow(h.clientKey(c), 1) {
		return receipt{NoteZh: "本次核验未生成回执：来自您网络的回执已达每小时上限", NoteEn: "no receipt was kept for this check: your network reached the hourly limit of receipts"}, errReceiptLimited
	}
	rec.V = 1
	body, err := json.Marshal(rec)
	if err != nil || len(body) > issuer.MaxReceiptBody {
		return receipt{NoteZh: errReceiptSave.Zh, NoteEn: errReceiptSave.En}, errReceiptSave
	}
	r := issuer.Receipt{Kind: rec.Kind, CreatedAt: rec.CheckedAt, ExpiresAt: rec.CheckedAt.AddDate(receiptKeepYears, 0, 0), Body: body}
	// The database write outlives a request cut short at its deadline: a
	// receipt whose reference was shown must exist.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), 3*time.Second)
	defer cancel()
	for try := 0; ; try++ {
		r.Ref = newRef()
		err = h.receipts.PutReceipt(ctx, r)
		if err == nil || !issuer.Is(err, issuer.ErrConflict) || try == 2 {
			break
		}
	}
	if err != nil {
		h.log.Warn("receipt not kept", "error", err)
		return receipt{NoteZh: errReceiptSave.Zh, NoteEn: errReceiptSave.En}, errReceiptSave
	}
	return h.receiptLinks(r.Ref), nil
}

func (h *handlers) receiptLinks(ref string) receipt {
	return receipt{Ref: ref, URL: h.base + "/receipt/" + ref, PDF: h.base + "/receipt/" + ref + "/pdf"}
}

// keepBatch keeps a sheet's check: per row the number, the conclusion and
// whether the holder matched.
func (h *handlers) keepBatch(c *fiber.Ctx, at time.Time, _ string, res []itemResult) receipt {
	rec := &receiptRecord{Kind: "batch", CheckedAt: at, Rows: batchRows(res)}
	r, _ := h.keep(c, rec)
	return r
}

func batchRows(res []itemResult) []receiptRow {
	rows := make([]receiptRow, len(res))
	for i, r := range res {
		row := receiptRow{Conclusion: r.Conclusion}
		if r.Verdict != "" {
			row.Number = r.Number
		} else {
			// A malformed number is whatever was typed: not kept.
			row.Error = r.Error
		}
		if m := r.Match; m != nil && !r.HolderNotChecked {
			row.Holder = "no"
			if m.Name && (m.IDNumber == nil || *m.IDNumber) && !m.IDNotChecked {
				row.Holder = "yes"
			}
			row.IDChecked = m.IDNumber != nil
		}
		rows[i] = row
	}
	return rows
}

// keepPresented keeps the check of a presented record (a certificate PDF
// or a holder credential): the facts with the name masked as the public
// page masks it, the verdict, the conclusion and every check.
func (h *handlers) keepPresented(c *fiber.Ctx, at time.Time, kind string, res *verify.TokenResult) receipt {
	rc := &receiptCert{Number: res.Number, Verdict: res.Verdict, Conclusion: res.Conclusion, Status: res.Status, Checks: res.Checks}
	if cv := res.Certificate; cv != nil {
		certFacts(rc, cv)
		rc.HolderMasked = ""
		if cv.HolderName != "" {
			rc.HolderMasked = ident.MaskName(cv.HolderName)
		}
	}
	if iv := res.Institution; iv != nil {
		rc.Institution, rc.InstStatus = iv.Name, iv.Current
	}
	r, _ := h.keep(c, &receiptRecord{Kind: kind, CheckedAt: at, Cert: rc})
	return r
}

// certFacts copies what a receipt shows of a certificate, the holder's name
// as cv gives it (callers with a presented record mask it).
func certFacts(rc *receiptCert, cv *verify.CertView) {
	rc.OccupationCode, rc.OccupationName, rc.Specialty = cv.OccupationCode, cv.OccupationName, cv.Specialty
	rc.LevelZh, rc.LevelEn, rc.IssuedOn, rc.IssuerName = cv.LevelZh, cv.LevelEn, cv.IssuedOn, cv.IssuerName
	rc.HolderMasked = cv.HolderName
}

// singleCheck checks one certificate as its page does (the QR's code, a
// name and ID number to confirm) and returns the record a receipt keeps.
// refused is the caps' answer when the name check was not made.
func (h *handlers) singleCheck(ctx context.Context, client, number, code string, codeGiven bool, name, idNumber string) (*receiptCert, error) {
	e, err := h.svc.Lookup(ctx, number)
	if err != nil {
		return nil, err
	}
	rec := e.Record()
	codeOK := codeGiven && rec.CodeMatches(code)
	var m *verify.Match
	var holder *receiptHolder
	if strings.TrimSpace(name) != "" && rec.Found {
		got, refused, err := h.checkMatch(ctx, rec, client, name, idNumber)
		if err != nil {
			return nil, err
		}
		if refused == nil {
			m = &got
		}
		holder = holderOf(m, refused != nil)
	}
	return certRecord(rec, codeGiven, codeOK, m, holder), nil
}

// certRecord is what a receipt keeps of one certificate's check: the
// public view, whatever the viewer proved (the receipt may be passed on,
// so it shows the masked name only), with the conclusion the viewer got.
func certRecord(rec *verify.Record, codeGiven, codeOK bool, m *verify.Match, holder *receiptHolder) *receiptCert {
	v := rec.ForMatch(verify.Public, m)
	v.Conclude(codeGiven, codeOK, m)
	if holder != nil && holder.NotChecked && m == nil {
		v.Conclusion = verify.HolderNotChecked(v.Verdict)
	}
	rc := &receiptCert{Number: v.Number, Verdict: v.Verdict, Conclusion: v.Conclusion, Status: v.Status, Checks: failuresFirst(v.Checks), Holder: holder}
	if v.Verdict == verify.Stale {
		rc.AsOf = v.AsOf
	}
	if codeGiven {
		rc.CodeMatches = &codeOK
	}
	if cv := v.Certificate; cv != nil {
		certFacts(rc, cv) // the public view's name is masked already
	}
	if iv := v.Institution; iv != nil {
		rc.Institution, rc.InstStatus = iv.Name, iv.Current
	}
	return rc
}

// holderOf is the receipt's holder check of a confirmation.
func holderOf(m *verify.Match, refused bool) *receiptHolder {
	if refused {
		return &receiptHolder{NotChecked: true}
	}
	if m == nil {
		return nil
	}
	return &receiptHolder{Name: m.Name, ID: m.IDNumber, NotChecked: m.IDNotChecked}
}

// pageReceipt serves POST /v/:number/receipt: the page's receipt button.
// The check is made again (the receipt records what certd found, not what
// a form says), then the receipt page is shown.
func (h *handlers) pageReceipt(c *fiber.Ctx) error {
	number, err := verify.NormalizeNumber(c.Params("number"))
	if err != nil {
		return h.failWith(c, err)
	}
	code, codeGiven := "", false
	if raw := strings.TrimSpace(c.FormValue("c")); raw != "" {
		var ok bool
		if code, ok = verify.NormalizeCode(raw); !ok {
			return h.fail(c, errBadCode)
		}
		codeGiven = true
	}
	name, idNumber := c.FormValue("name"), c.FormValue("id_number")
	if len(name) > maxNameLen || len(idNumber) > maxIDLen {
		return h.fail(c, verify.ErrInputTooLong)
	}
	if strings.TrimSpace(name) != "" && !h.confirm.allow(h.clientKey(c), 1) {
		return h.limited(c)
	}
	rc, err := h.singleCheck(c.UserContext(), h.clientKey(c), number, code, codeGiven, name, idNumber)
	if err != nil {
		return h.unavailable(c, err)
	}
	r, problem := h.keep(c, &receiptRecord{Kind: "certificate", CheckedAt: time.Now(), Cert: rc})
	if problem != nil {
		return h.fail(c, problem)
	}
	c.Set("Cache-Control", "no-store")
	return c.Redirect("/receipt/"+r.Ref+langQuery(c), fiber.StatusSeeOther)
}

// receiptRequest is the body of POST /api/v1/receipts.
type receiptRequest struct {
	Number   string `json:"number"`
	Code     string `json:"code,omitempty"`
	Name     string `json:"name,omitempty"`
	IDNumber string `json:"id_number,omitempty"`
}

// apiReceipt serves POST /api/v1/receipts: one certificate checked as GET
// /api/v1/certificates/NUMBER checks it, kept as a receipt.
func (h *handlers) apiReceipt(c *fiber.Ctx) error {
	c.Set("Cache-Control", "no-store")
	if !strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEApplicationJSON) {
		return h.fail(c, errMediaType)
	}
	var req receiptRequest
	if len(c.Body()) > maxTokenBody || json.Unmarshal(c.Body(), &req) != nil {
		return h.fail(c, errRequestJSON)
	}
	number, err := verify.NormalizeNumber(req.Number)
	if err != nil {
		return h.failWith(c, err)
	}
	code, codeGiven := "", false
	if strings.TrimSpace(req.Code) != "" {
		var ok bool
		if code, ok = verify.NormalizeCode(req.Code); !ok {
			return h.fail(c, errBadCode)
		}
		codeGiven = true
	}
	if len(req.Name) > maxNameLen || len(req.IDNumber) > maxIDLen {
		return h.fail(c, verify.ErrInputTooLong)
	}
	if strings.TrimSpace(req.Name) != "" && !h.confirm.allow(h.clientKey(c), 1) {
		return h.limited(c)
	}
	rc, err := h.singleCheck(c.UserContext(), h.clientKey(c), number, code, codeGiven, req.Name, req.IDNumber)
	if err != nil {
		return h.unavailable(c, err)
	}
	rec := &receiptRecord{Kind: "certificate", CheckedAt: time.Now(), Cert: rc}
	r, problem := h.keep(c, rec)
	if problem != nil {
		return h.fail(c, problem)
	}
	return c.Status(fiber.StatusCreated).JSON(h.receiptJSON(r, rec, nil))
}

// receiptAnswer is the JSON of a receipt: what was recorded and, on a
// lookup, the status now, kept apart.
type receiptAnswer struct {
	Reference string         `json:"reference"`
	URL       string         `json:"url"`
	PDF       string         `json:"pdf"`
	CheckedAt string         `json:"checked_at"`
	ExpiresAt string         `json:"expires_at"`
	Recorded  *receiptRecord `json:"recorded"`
	Current   []currentRow   `json:"current,omitempty"`
}

// currentRow is a certificate's status as the lookup was made.
type currentRow struct {
	Number       string             `json:"number"`
	Verdict      verify.Verdict     `json:"verdict"`
	Conclusion   verify.Conclusion  `json:"conclusion"`
	ConclusionZh string             `json:"conclusion_zh"`
	ConclusionEn string             `json:"conclusion_en"`
	Status       *verify.StatusView `json:"status,omitempty"`
	// Changed: the conclusion now differs from the one recorded (for a
	// batch row, from the certificate's part of it).
	Changed bool `json:"changed"`
}

func (h *handlers) receiptJSON(r receipt, rec *receiptRecord, cur []currentRow) receiptAnswer {
	return receiptAnswer{Reference: r.Ref, URL: r.URL, PDF: r.PDF, CheckedAt: rec.CheckedAt.In(issuer.ChinaTime).Format(time.RFC3339),
		ExpiresAt: rec.CheckedAt.AddDate(receiptKeepYears, 0, 0).In(issuer.ChinaTime).Format(time.RFC3339), Recorded: rec, Current: cur}
}

// loadReceipt reads a receipt by the reference in the path.
func (h *handlers) loadReceipt(c *fiber.Ctx) (receipt, *receiptRecord, *issuer.Error) {
	ref, ok := normalizeRef(c.Params("ref"))
	if !ok {
		return receipt{}, nil, errBadRef
	}
	if h.receipts == nil {
		return receipt{}, nil, errNoReceipt
	}
	st, err := h.receipts.Receipt(c.UserContext(), ref)
	if issuer.Is(err, issuer.ErrNotFound) || err == nil && !time.Now().Before(st.ExpiresAt) {
		return receipt{}, nil, errNoReceipt
	}
	if err != nil {
		return receipt{}, nil, errReceiptSave
	}
	var rec receiptRecord
	if json.Unmarshal(st.Body, &rec) != nil {
		h.log.Error("stored receipt unreadable", "kind", st.Kind)
		return receipt{}, nil, errInternal
	}
	return h.receiptLinks(ref), &rec, nil
}

// current looks up the certificates of a receipt now. Rows without a
// number have none.
func (h *handlers) current(ctx context.Context, rec *receiptRecord) ([]currentRow, error) {
	var numbers []string
	recorded := map[string]verify.Conclusion{}
	if rec.Cert != nil && rec.Cert.Number != "" {
		numbers = append(numbers, rec.Cert.Number)
		recorded[rec.Cert.Number] = rec.Cert.Conclusion
	}
	seen := map[string]bool{}
	for _, r := range rec.Rows {
		if r.Number != "" && !seen[r.Number] {
			seen[r.Number] = true
			numbers = append(numbers, r.Number)
			recorded[r.Number] = r.Conclusion
		}
	}
	h.svc.Prefetch(numbers)
	out := make([]currentRow, 0, len(numbers))
	for _, n := range numbers {
		if ctx.Err() != nil {
			return nil, verify.ErrDeadline
		}
		e, err := h.svc.Lookup(ctx, n)
		if err != nil {
			return nil, err
		}
		v := e.Record().For(verify.Public)
		cr := currentRow{Number: n, Verdict: v.Verdict, Conclusion: v.Conclusion, ConclusionZh: v.ConclusionZh, ConclusionEn: v.ConclusionEn, Status: v.Status}
		// The certificate's own part of what was recorded: a row's name
		// check is not made again, so name_mismatch compares as valid.
		was := recorded[n]
		switch was {
		case verify.ConclusionNameMismatch, verify.ConclusionIDMismatch, verify.ConclusionHolderNotChecked, verify.ConclusionCodeMismatch:
			was = verify.ConclusionValid
		}
		cr.Changed = cr.Conclusion != was
		out = append(out, cr)
	}
	return out, nil
}

// apiReceiptLookup serves GET /api/v1/receipts/:ref.
func (h *handlers) apiReceiptLookup(c *fiber.Ctx) error {
	c.Set("Cache-Control", "private, no-cache")
	r, rec, problem := h.loadReceipt(c)
	if problem != nil {
		return h.fail(c, problem)
	}
	cur, err := h.current(c.UserContext(), rec)
	if err != nil {
		return h.failWith(c, err)
	}
	return c.JSON(h.receiptJSON(r, rec, cur))
}

// receiptView is a receipt as its page shows it.
type receiptView struct {
	receipt
	Rec       *receiptRecord
	CheckedAt string
	Until     string
	Kind      string // what was checked, in words
	Cert      *receiptCert
	Headline  string
	Tone      verify.Tone
	Checks    []verify.Check
	// A batch: the counts and its rows with the status now beside them.
	Total, Accept, Review int
	Rows                  []receiptPageRow
	// Now is the status now of a single certificate; Changed counts a
	// batch's rows whose certificate changed since.
	Now     *currentRow
	Changed int
}

type receiptPageRow struct {
	Row        int
	Number     string
	Conclusion string
	Holder     string
	OK         bool
	Now        *currentRow
}

// receiptPage serves GET /receipt/:ref: what was recorded at the time of
// the check, and, apart, the certificate's status now.
func (h *handlers) receiptPage(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	c.Set("Cache-Control", "private, no-cache")
	r, rec, problem := h.loadReceipt(c)
	if problem != nil {
		return h.fail(c, problem)
	}
	cur, err := h.current(c.UserContext(), rec)
	if err != nil {
		return h.failWith(c, err)
	}
	rv := h.receiptView(en, r, rec, cur)
	d := h.pageData(c, "/receipt/"+r.Ref, en, t(en, "核验回执 ", "Verification receipt ")+r.Ref, "")
	d.ReceiptView = rv
	return h.renderPage(c, fiber.StatusOK, "receipt", d)
}

func (h *handlers) receiptView(en bool, r receipt, rec *receiptRecord, cur []currentRow) *receiptView {
	rv := &receiptView{receipt: r, Rec: rec, CheckedAt: checkedAtText(rec.CheckedAt),
		Until: rec.CheckedAt.AddDate(receiptKeepYears, 0, 0).In(issuer.ChinaTime).Format("2006-01-02"), Cert: rec.Cert}
	rv.Kind = kindText(en, rec.Kind)
	now := map[string]*currentRow{}
	for i := range cur {
		now[cur[i].Number] = &cur[i]
	}
	if rc := rec.Cert; rc != nil {
		rv.Headline, rv.Tone = t(en, rc.Conclusion.Chinese(), upperFirst(rc.Conclusion.English())), rc.Conclusion.Tone()
		rv.Checks = rc.Checks
		rv.Now = now[rc.Number]
	}
	for i, row := range rec.Rows {
		ok := row.Conclusion == verify.ConclusionValid && row.Holder == "yes"
		pr := receiptPageRow{Row: i + 1, Number: row.Number, Conclusion: t(en, row.Conclusion.Chinese(), row.Conclusion.English()), OK: ok, Now: now[row.Number]}
		if row.Conclusion == "" {
			pr.Conclusion = t(en, "无法核验", "could not check")
			if row.Error != "" {
				pr.Conclusion += t(en, "：", ": ") + row.Error
			}
		}
		pr.Holder = holderText(en, row.Holder, row.IDChecked)
		rv.Total++
		if ok {
			rv.Accept++
		} else {
			rv.Review++
		}
		if pr.Now != nil && pr.Now.Changed {
			rv.Changed++
		}
		rv.Rows = append(rv.Rows, pr)
	}
	return rv
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func kindText(en bool, kind string) string {
	switch kind {
	case "certificate":
		return t(en, "单张证书（证书编号）", "one certificate (by its number)")
	case "pdf":
		return t(en, "证书 PDF 文件", "a certificate PDF file")
	case "credential":
		return t(en, "持证人数字凭证（SD-JWT VC）", "a holder credential (SD-JWT VC)")
	case "batch":
		return t(en, "批量核验表格", "a bulk check sheet")
	}
	return kind
}

func holderText(en bool, holder string, idChecked bool) string {
	switch holder {
	case "yes":
		if idChecked {
			return t(en, "姓名、证件号码一致", "name and ID number match")
		}
		return t(en, "姓名一致", "name matches")
	case "no":
		return t(en, "不一致", "does not match")
	}
	return t(en, "未核对", "not checked")
}

// toneColor is a conclusion's colour on paper.
func toneColor(tn verify.Tone) [3]int {
	switch tn {
	case verify.ToneGood:
		return [3]int{6, 118, 71}
	case verify.ToneCaution:
		return [3]int{181, 71, 8}
	case verify.ToneBad:
		return [3]int{180, 35, 24}
	}
	return [3]int{71, 84, 103}
}

// receiptPDF serves GET /receipt/:ref/pdf: the receipt as a document to
// file, made from what was recorded (the status now is for the page).
func (h *handlers) receiptPDF(c *fiber.Ctx) error {
	r, rec, problem := h.loadReceipt(c)
	if problem != nil {
		return h.fail(c, problem)
	}
	if h.receiptPrinter == nil {
		return h.fail(c, errReceiptPDF)
	}
	b, err := h.receiptPrinter(receiptDoc(r, rec))
	if err != nil {
		h.log.Error("receipt PDF", "error", err)
		return h.fail(c, errReceiptPDF)
	}
	c.Set("Cache-Control", "private, max-age=3600")
	c.Set(fiber.HeaderContentType, "application/pdf")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="receipt-`+r.Ref+`.pdf"`)
	return c.Send(b)
}

// outcomeText is a check's outcome in both languages.
func outcomeText(o verify.Outcome) string {
	switch o {
	case verify.Pass:
		return "通过 passed"
	case verify.Fail:
		return "未通过 failed"
	}
	return "无法核验 could not check"
}

// receiptDoc lays a receipt's record out for the PDF: Chinese first, the
// English beside it, as on the certificate.
func receiptDoc(r receipt, rec *receiptRecord) render.Receipt {
	doc := render.Receipt{Title: "职业技能等级证书核验回执", TitleEn: "Skill level certificate verification receipt",
		Ref: r.Ref, URL: r.URL, Made: rec.CheckedAt}
	doc.Fields = append(doc.Fields,
		render.ReceiptLine{Zh: "回执编号", En: "Reference", Value: r.Ref},
		render.ReceiptLine{Zh: "核验时间", En: "Checked at", Value: checkedAtText(rec.CheckedAt)},
		render.ReceiptLine{Zh: "核验对象", En: "What was checked", Value: kindText(false, rec.Kind) + " / " + kindText(true, rec.Kind)},
	)
	if rc := rec.Cert; rc != nil {
		doc.Headline = rc.Conclusion.Chinese() + "  " + upperFirst(rc.Conclusion.English())
		doc.HeadlineColor = toneColor(rc.Conclusion.Tone())
		add := func(zh, en, v string) {
			if v != "" {
				doc.Fields = append(doc.Fields, render.ReceiptLine{Zh: zh, En: en, Value: v})
			}
		}
		add("结论说明", "Meaning", strings.TrimSpace(rc.Conclusion.Explain(false)+" "+rc.Conclusion.Explain(true)))
		add("证书编号", "Number", rc.Number)
		add("持证人（部分隐去）", "Holder (masked)", rc.HolderMasked)
		add("职业（工种）", "Occupation", strings.TrimSpace(rc.OccupationName+" "+rc.Specialty))
		add("等级", "Level", strings.TrimSpace(rc.LevelZh+" "+rc.LevelEn))
		add("发证日期", "Issued on", rc.IssuedOn)
		add("发证机构", "Issued by", rc.IssuerName)
		// A valid status is the status check's "passed" below; revoked
		// and superseded say when, why and by which number.
		if s := rc.Status; s != nil && s.Status != "valid" {
			add("证书状态", "Status", statusText(s))
		}
		if rc.CodeMatches != nil {
			add("验证码", "Verification code", map[bool]string{true: "与证书一致 matches the certificate", false: "与证书不符 does not match the certificate"}[*rc.CodeMatches])
		}
		if hc := rc.Holder; hc != nil {
			v := "姓名" + map[bool]string{true: "一致", false: "不一致"}[hc.Name] + " name " + map[bool]string{true: "matches", false: "does not match"}[hc.Name]
			if hc.ID != nil {
				v += "；证件号码" + map[bool]string{true: "一致", false: "不一致"}[*hc.ID] + " / ID number " + map[bool]string{true: "matches", false: "does not match"}[*hc.ID]
			}
			if hc.NotChecked {
				v = "未核对（防猜测限制）not checked (limits on guessing)"
			}
			add("持证人核对", "Holder check", v)
		}
		for _, ck := range rc.Checks {
			line := render.ReceiptLine{Zh: ck.Zh, En: ck.En, Value: outcomeText(ck.Outcome)}
			if d := strings.TrimSpace(ck.DetailZh + " " + ck.DetailEn); d != "" {
				line.Value += "：" + d
			}
			if ck.Outcome == verify.Fail {
				line.Color = [3]int{180, 35, 24}
			}
			doc.Checks = append(doc.Checks, line)
		}
	}
	if len(rec.Rows) > 0 {
		accept := 0
		doc.TableHeader = []string{"#", "证书编号 Number", "结论 Conclusion", "持证人 Holder"}
		doc.Widths = []float64{6, 30, 34, 30}
		for i, row := range rec.Rows {
			ok := row.Conclusion == verify.ConclusionValid && row.Holder == "yes"
			if ok {
				accept++
			}
			concl := row.Conclusion.Chinese() + " " + row.Conclusion.English()
			if row.Conclusion == "" {
				concl = "无法核验 could not check"
				if row.Error != "" {
					concl += "：" + row.Error
				}
			}
			doc.Table = append(doc.Table, []string{itoa(i + 1), row.Number, concl, holderText(false, row.Holder, row.IDChecked) + " " + holderText(true, row.Holder, row.IDChecked)})
			color := [3]int{180, 35, 24}
			if ok {
				color = [3]int{6, 118, 71}
			}
			doc.RowColors = append(doc.RowColors, color)
		}
		doc.Headline = itoa(len(rec.Rows)) + " 行：" + itoa(accept) + " 行可以采信，" + itoa(len(rec.Rows)-accept) + " 行需要处理"
		doc.HeadlineColor = [3]int{20, 20, 20}
		doc.Fields = append(doc.Fields, render.ReceiptLine{Zh: "结果", En: "Result", Value: itoa(len(rec.Rows)) + " rows: " + itoa(accept) + " can be accepted (valid, holder matches), " + itoa(len(rec.Rows)-accept) + " need action"})
		doc.Checks = append(doc.Checks,
			render.ReceiptLine{Zh: "每行的核验", En: "Checked per row", Value: "签名、发证机构备案、职业等级是否在备案范围内、证书状态（撤销/更正）、持证人姓名（及证件号码，如填写）是否一致 / signature, registration of the institution, scope, status (revoked, superseded), holder's name (and ID number, if given)"})
	}
	doc.Notes = []string{
		"本回执记录核验当时的结果。证书此后可能被撤销或更正：凭回执编号在 " + r.URL + " 可随时查看记录的结果和证书当前状态（回执保存5年）。",
		"This receipt records the result at the time of the check. A certificate may be revoked or corrected later: " + r.URL + " shows what was recorded and the certificate's status now (receipts are kept 5 years).",
		"回执不含持证人的完整姓名和证件号码；批量核验只记录每行的证书编号、结论和持证人是否一致。 The receipt holds no full name or ID number; for a batch, only each row's number, conclusion and whether the holder matched.",
	}
	return doc
}

func statusText(s *verify.StatusView) string {
	switch s.Status {
	case "revoked":
		return "已于" + s.RevokedOn + "撤销：" + s.ReasonZh + " / revoked " + s.RevokedOn + ": " + s.ReasonEn
	case "superseded":
		return "已更正，新证书 " + s.SupersededBy + " / superseded by " + s.SupersededBy
	case "valid":
		return "有效 valid"
	}
	return s.Status
}

func itoa(i int) string { return strconv.Itoa(i) }

// receiptForm is what the verification page's receipt button sends: the
// code the page was opened with, and the name and ID number just
// confirmed (the viewer's own input, on a page no cache keeps).
type receiptForm struct {
	Code, Name string
	IDAsked    bool // an ID number was confirmed: its receipt comes with the confirmation form
}

// langQuery keeps an explicit language choice across a redirect.
func langQuery(c *fiber.Ctx) string {
	if l := c.Query("lang"); l == "en" || l == "zh" {
		return "?lang=" + l
	}
	return ""
}

// receiptLookupForm turns a typed reference into the receipt's address.
func (h *handlers) receiptLookupForm(c *fiber.Ctx) error {
	ref, ok := normalizeRef(c.Query("ref"))
	if !ok {
		return h.fail(c, errBadRef)
	}
	return c.Redirect("/receipt/"+ref+langQuery(c), fiber.StatusSeeOther)
}
