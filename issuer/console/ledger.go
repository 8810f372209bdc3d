package console

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/occupation"
)

// batch loads the batch named in the path, as the service lets the caller
// see it.
func (c *Console) batch(fc *fiber.Ctx, rc *reqCtx) (issuer.Batch, error) {
	id := fc.Params("id")
	if len(id) > 64 {
		return issuer.Batch{}, notFound()
	}
	return c.svc.Batch(fc.UserContext(), rc.actor, id)
}

func (c *Console) batchCerts(fc *fiber.Ctx, rc *reqCtx, b issuer.Batch) ([]issuer.Certificate, error) {
	return c.svc.Certificates(fc.UserContext(), rc.actor, issuer.CertificateFilter{InstitutionID: b.InstitutionID, BatchID: b.ID})
}

type batchData struct {
	Batch issuer.Batch
	Certs []issuer.Certificate
	Fresh bool // the print file made at issuance (with photos) is still at hand
	// Void counts the batch's certificates revoked or superseded since: their
	// pages of every download carry the void mark (issuer.VoidMark).
	Void int
	// Printing is the batch's print job while it has PDFs to make; nil
	// once every PDF exists (or for a batch from before print jobs).
	Printing *printingView
}

// voidCount is how many of certs are no longer valid.
func voidCount(certs []issuer.Certificate) int {
	n := 0
	for _, c := range certs {
		if c.Status != issuer.Valid {
			n++
		}
	}
	return n
}

// printRefresh is how often a batch page being printed reloads itself.
// The console runs no script (its CSP forbids any), so the page refreshes;
// while printing it is a small page (the job's counts, no certificate
// list), so that a clerk watching 10,000 certificates print costs one
// indexed count every printRefresh, not the batch's whole list.
const printRefresh = "2"

// printingView is a batch's printing as its page shows it.
type printingView struct {
	issuer.PrintStatus
	Pct  int
	Left string // "1m05s"; "" when not yet known
}

func newPrintingView(st issuer.PrintStatus) *printingView {
	v := &printingView{PrintStatus: st}
	if st.Total > 0 {
		v.Pct = 100 * st.Printed / st.Total
	}
	if st.Left > 0 {
		v.Left = st.Left.String()
	}
	return v
}

func (c *Console) batchPage(fc *fiber.Ctx, rc *reqCtx) error {
	b, err := c.batch(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	st, hasJob, err := c.svc.BatchPrinting(fc.UserContext(), rc.actor, b.ID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d := batchData{Batch: b}
	if hasJob && st.DoneAt.IsZero() {
		d.Printing = newPrintingView(st)
		if st.Running {
			fc.Set("Refresh", printRefresh)
			return c.render(fc, rc, "batch", d)
		}
	}
	certs, err := c.batchCerts(fc, rc, b)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	void := voidCount(certs)
	d.Certs, d.Fresh, d.Void = certs, c.hasPrintFile(b.ID) && void == 0, void
	return c.render(fc, rc, "batch", d)
}

// batchProgress is a batch's printing as JSON, for whatever watches a
// console from outside the browser (a script, a monitor).
func (c *Console) batchProgress(fc *fiber.Ctx, rc *reqCtx) error {
	b, err := c.batch(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	st, hasJob, err := c.svc.BatchPrinting(fc.UserContext(), rc.actor, b.ID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fc.Set(fiber.HeaderCacheControl, "no-store")
	return fc.JSON(struct {
		Job bool `json:"job"`
		issuer.PrintStatus
		LeftSeconds int `json:"left_seconds"`
	}{hasJob, st, int(st.Left.Seconds())})
}

func (c *Console) batchPrint(fc *fiber.Ctx, rc *reqCtx) error {
	b, err := c.batch(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	// The print file made right after issuing has the photos; certd keeps
	// none, so one made later has empty frames (the per-certificate PDFs
	// in the ZIP keep theirs).
	f, size := c.printFileOf(b.ID)
	if f != nil {
		// The file made at issuance is clean: once a certificate of the
		// batch is revoked or superseded, it is made again, with the void
		// marks (and without the photos, which certd does not keep).
		certs, err := c.batchCerts(fc, rc, b)
		if err != nil {
			_ = f.Close()
			return c.fail(fc, rc, err)
		}
		if voidCount(certs) > 0 {
			_ = f.Close()
			f = nil
		}
	}
	var pdf []byte
	if f == nil {
		var buf bytes.Buffer
		if err := c.svc.PrintBatch(fc.UserContext(), rc.actor, b.ID, nil, &buf); err != nil {
			return c.fail(fc, rc, err)
		}
		pdf = buf.Bytes()
	}
	c.audit(fc, rc, "batch.print", b.InstitutionID, b.ID, nil)
	fc.Set(fiber.HeaderContentType, "application/pdf")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="`+b.ID+`-print.pdf"`)
	if f != nil {
		// Streamed from the job's directory; fasthttp closes f when sent.
		return fc.SendStream(f, int(size))
	}
	return fc.Send(pdf)
}

func (c *Console) batchZip(fc *fiber.Ctx, rc *reqCtx) error {
	b, err := c.batch(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var buf bytes.Buffer
	if err := c.svc.BatchZip(fc.UserContext(), rc.actor, b.ID, &buf); err != nil {
		return c.fail(fc, rc, err)
	}
	c.audit(fc, rc, "batch.download", b.InstitutionID, b.ID, nil)
	fc.Set(fiber.HeaderContentType, "application/zip")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="`+b.ID+`.zip"`)
	return fc.Send(buf.Bytes())
}

func (c *Console) batchNumbersXLSX(fc *fiber.Ctx, rc *reqCtx) error {
	return c.batchNumbers(fc, rc, "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
}

func (c *Console) batchNumbersCSV(fc *fiber.Ctx, rc *reqCtx) error {
	return c.batchNumbers(fc, rc, "csv", "text/csv; charset=utf-8")
}

// batchNumbers sends the list of a batch's new numbers (who got which) as
// a spreadsheet.
func (c *Console) batchNumbers(fc *fiber.Ctx, rc *reqCtx, format, mime string) error {
	b, err := c.batch(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var buf bytes.Buffer
	n, err := c.svc.WriteBatchList(fc.UserContext(), rc.actor, b.ID, format, &buf)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	c.audit(fc, rc, "batch.list", b.InstitutionID, b.ID, map[string]any{"rows": n, "format": format})
	fc.Set(fiber.HeaderContentType, mime)
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="`+b.ID+`-numbers.`+format+`"`)
	return fc.Send(buf.Bytes())
}

// audit records what the caller took away or was refused; a failure to
// record is logged, and does not take the page away from the caller.
func (c *Console) audit(fc *fiber.Ctx, rc *reqCtx, action, inst, subject string, detail map[string]any) {
	if err := c.svc.Record(fc.UserContext(), rc.actor, action, inst, subject, detail); err != nil {
		c.log.Error("console: audit append failed", "action", action, "error", err)
	}
}

// ledgerQuery is the ledger's filter form as the browser sent it.
type ledgerQuery struct {
	Name, Number, Occupation, Level, Batch, Status, From, To, Institution, After string
}

const ledgerPage = 100

func (c *Console) ledgerFilter(fc *fiber.Ctx, rc *reqCtx) (ledgerQuery, issuer.CertificateFilter, error) {
	q := ledgerQuery{Name: fc.Query("name"), Number: fc.Query("number"), Occupation: fc.Query("occupation"), Level: fc.Query("level"),
		Batch: fc.Query("batch"), Status: fc.Query("status"), From: fc.Query("from"), To: fc.Query("to"), Institution: fc.Query("institution"), After: fc.Query("after")}
	for _, v := range []string{q.Name, q.Number, q.Occupation, q.Level, q.Batch, q.Status, q.From, q.To, q.Institution, q.After} {
		if utf8.RuneCountInString(v) > 64 {
			return q, issuer.CertificateFilter{}, errf(issuer.ErrInvalid, "filter_long", "查询条件过长（每项最多64字）", "a filter is too long (at most 64 characters each)")
		}
	}
	// A college sees its own records whatever the query names: the service
	// scopes the filter.
	f := issuer.CertificateFilter{Name: strings.TrimSpace(q.Name), BatchID: strings.TrimSpace(q.Batch), After: q.After, InstitutionID: strings.TrimSpace(q.Institution)}
	if q.Occupation != "" {
		f.Occupation = occupation.NormalizeCode(q.Occupation)
	}
	if q.Level != "" {
		l, ok := occupation.ParseLevel(q.Level)
		if !ok {
			return q, f, errf(issuer.ErrInvalid, "filter_level", "等级“%s”无效", "level %q is not valid", q.Level)
		}
		f.Level = l
	}
	switch issuer.Status(q.Status) {
	case "", issuer.Valid, issuer.Revoked, issuer.Superseded:
		f.Status = issuer.Status(q.Status)
	default:
		return q, f, errf(issuer.ErrInvalid, "filter_status", "状态无效", "unknown status")
	}
	for _, d := range []struct {
		s   string
		dst *time.Time
	}{{q.From, &f.IssuedFrom}, {q.To, &f.IssuedTo}} {
		if d.s == "" {
			continue
		}
		t, err := time.Parse(issuer.DateLayout, d.s)
		if err != nil {
			return q, f, errf(issuer.ErrInvalid, "filter_date", "日期“%s”应为YYYY-MM-DD", "date %q must be YYYY-MM-DD", d.s)
		}
		*d.dst = t
	}
	// A document number can be typed into the name box too.
	if n := strings.TrimSpace(q.Name); len(n) >= 8 && strings.IndexFunc(n, func(r rune) bool { return r > 0x7f }) < 0 && strings.ContainsAny(n, "0123456789") {
		f.Name, f.DocNumber = "", strings.ToUpper(n)
	}
	return q, f, nil
}

type ledgerData struct {
	Q     ledgerQuery
	Certs []issuer.Certificate
	Next  string
	Err   *formErr
	Query string
	// Colleges names every college by ID on the province-wide ledger
	// (nil for a college's own, which needs no such column).
	Colleges    map[string]string
	CollegeList []collegeChoice
}

type collegeChoice struct{ ID, Name string }

// withColleges fills the college column and filter of the province-wide
// ledger.
func (c *Console) withColleges(fc *fiber.Ctx, rc *reqCtx, d *ledgerData) error {
	if !rc.user.Authority() {
		return nil
	}
	all, err := c.svc.Institutions(fc.UserContext(), rc.actor)
	if err != nil {
		return err
	}
	d.Colleges = make(map[string]string, len(all))
	for _, in := range all {
		d.Colleges[in.ID] = in.Name
		d.CollegeList = append(d.CollegeList, collegeChoice{in.ID, in.Name})
	}
	return nil
}

func (c *Console) ledger(fc *fiber.Ctx, rc *reqCtx) error {
	q, f, err := c.ledgerFilter(fc, rc)
	d := ledgerData{Q: q, Query: string(fc.Request().URI().QueryString())}
	if cerr := c.withColleges(fc, rc, &d); cerr != nil {
		return c.fail(fc, rc, cerr)
	}
	if err != nil {
		d.Err = c.formError(err)
		return c.renderStatus(fc, rc, fiber.StatusBadRequest, "ledger", d)
	}
	if n := strings.TrimSpace(q.Number); n != "" {
		ct, err := c.svc.Certificate(fc.UserContext(), rc.actor, strings.ToUpper(n))
		if err == nil {
			d.Certs = []issuer.Certificate{ct}
		} else if !issuer.Is(err, issuer.ErrNotFound) {
			return c.fail(fc, rc, err)
		}
		return c.render(fc, rc, "ledger", d)
	}
	f.Limit = ledgerPage
	certs, err := c.svc.Certificates(fc.UserContext(), rc.actor, f)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d.Certs = certs
	if len(certs) == ledgerPage {
		d.Next = certs[len(certs)-1].Number
	}
	return c.render(fc, rc, "ledger", d)
}

func (c *Console) ledgerExport(fc *fiber.Ctx, rc *reqCtx) error {
	_, f, err := c.ledgerFilter(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var buf bytes.Buffer
	n, err := c.svc.WriteLedger(fc.UserContext(), rc.actor, f, "xlsx", &buf)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	inst := rc.user.InstitutionID
	c.audit(fc, rc, "ledger.export", inst, "xlsx", map[string]any{"rows": n})
	fc.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="ledger-`+c.now().In(issuer.ChinaTime).Format("20060102")+`.xlsx"`)
	return fc.Send(buf.Bytes())
}

type certData struct {
	Cert    issuer.Certificate
	Events  []issuer.AuditEvent
	HasPDF  bool
	Reasons []issuer.RevocationReason
	// Revoke confirmation step and errors.
	Confirm bool
	Reason  string
	Note    string
	Err     *formErr
	Levels  []occupation.Level
	Fix     map[string]string
	// The correction form's choices and its confirmation step.
	DocTypes         []ident.DocType
	ScopeOccupations []collegeChoice
	ScopeSpecialties []string
	Preview          *issuer.ReissuePreview
	// The correction that replaced this certificate, or that this one
	// replaced: when, by whom, why, and what changed.
	CorrectedTo   *correction
	CorrectedFrom *correction
	// The holder's side (issue 14): the public link with the verification
	// code, for a college that mails links; the holder code and whether the
	// holder has claimed the certificate, for operators (not auditors).
	VerifyURL  string
	HolderCode string
	Claimed    bool
	ClaimedAt  string
}

// correction is one reissue as the certificate pages tell it.
type correction struct {
	Old, New string
	At       time.Time
	By       string
	Reason   string
	Changes  string // in Chinese
	event    issuer.AuditEvent
}

// reissueOf finds, among evs, the reissue that made number out of old.
func reissueOf(evs []issuer.AuditEvent, number, old string) *correction {
	for _, ev := range evs {
		if ev.Action != "certificate.reissue" || ev.Subject != number {
			continue
		}
		var d struct {
			Supersedes string         `json:"supersedes"`
			Reason     string         `json:"reason"`
			Changes    map[string]any `json:"changes"`
		}
		if json.Unmarshal([]byte(ev.Detail), &d) != nil || d.Supersedes != old {
			continue
		}
		return &correction{Old: old, New: number, At: ev.At, By: ev.Actor, Reason: d.Reason, Changes: changesText(d.Changes, false), event: ev}
	}
	return nil
}

func (c *Console) cert(fc *fiber.Ctx, rc *reqCtx) (issuer.Certificate, error) {
	n := strings.ToUpper(fc.Params("number"))
	if len(n) > 40 {
		return issuer.Certificate{}, notFound()
	}
	return c.svc.Certificate(fc.UserContext(), rc.actor, n)
}

func (c *Console) certView(fc *fiber.Ctx, rc *reqCtx, page string, status int, ct issuer.Certificate, d certData) error {
	evs, err := c.svc.Audit(fc.UserContext(), rc.actor, issuer.AuditFilter{Subject: ct.Number})
	if err != nil {
		return c.fail(fc, rc, err)
	}
	// The history of a corrected certificate shows the correction: the
	// event is filed under the new number, so it is read from there.
	if ct.Supersedes != "" {
		d.CorrectedFrom = reissueOf(evs, ct.Number, ct.Supersedes)
	}
	if ct.SupersededBy != "" {
		next, err := c.svc.Audit(fc.UserContext(), rc.actor, issuer.AuditFilter{Subject: ct.SupersededBy, Action: "certificate.reissue"})
		if err != nil {
			return c.fail(fc, rc, err)
		}
		if d.CorrectedTo = reissueOf(next, ct.SupersededBy, ct.Number); d.CorrectedTo != nil {
			evs = append(evs, d.CorrectedTo.event)
			slices.SortStableFunc(evs, func(a, b issuer.AuditEvent) int { return cmp.Compare(a.Seq, b.Seq) })
		} else {
			d.CorrectedTo = &correction{New: ct.SupersededBy, Old: ct.Number}
		}
	}
	d.Cert, d.Events, d.HasPDF, d.Reasons = ct, evs, ct.PDFSHA256 != "", issuer.Reasons
	d.VerifyURL = issuer.VerifyURL(c.d.PublicURL, ct)
	if code, hc, err := c.svc.HolderCode(fc.UserContext(), rc.actor, ct.Number); err == nil {
		d.HolderCode, d.Claimed = issuer.FormatHolderCode(code), hc.Claimed()
		if hc.Claimed() {
			d.ClaimedAt = hc.ClaimedAt.In(issuer.ChinaTime).Format("2006-01-02 15:04")
		}
	} else if !issuer.Is(err, issuer.ErrForbidden) {
		return c.fail(fc, rc, err)
	}
	d.Levels = []occupation.Level{5, 4, 3, 2, 1}
	return c.renderStatus(fc, rc, status, page, d)
}

func (c *Console) certificatePage(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return c.certView(fc, rc, "certificate", fiber.StatusOK, ct, certData{})
}

func (c *Console) certificatePDF(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	pdf, err := c.svc.PDF(fc.UserContext(), rc.actor, ct.Number)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fc.Set(fiber.HeaderContentType, "application/pdf")
	fc.Set(fiber.HeaderContentDisposition, `inline; filename="`+ct.Number+`.pdf"`)
	return fc.Send(pdf)
}

func (c *Console) revokeForm(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return c.certView(fc, rc, "revoke", fiber.StatusOK, ct, certData{})
}

// revoke takes two posts: the first shows what will happen and asks again,
// the second (confirm=yes) revokes.
func (c *Console) revoke(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d := certData{Reason: fc.FormValue("reason"), Note: strings.TrimSpace(fc.FormValue("note"))}
	if !issuer.RevocationReason(d.Reason).Valid() {
		d.Err = c.formError(errf(issuer.ErrInvalid, "reason_required", "请选择撤销原因", "choose the reason for revocation"))
		return c.certView(fc, rc, "revoke", fiber.StatusBadRequest, ct, d)
	}
	if utf8.RuneCountInString(d.Note) > 500 {
		d.Err = c.formError(errf(issuer.ErrInvalid, "note_length", "说明不能超过500字", "the note must be at most 500 characters"))
		return c.certView(fc, rc, "revoke", fiber.StatusBadRequest, ct, d)
	}
	if fc.FormValue("confirm") != "yes" {
		d.Confirm = true
		return c.certView(fc, rc, "revoke", fiber.StatusOK, ct, d)
	}
	out, err := c.svc.Revoke(fc.UserContext(), rc.actor, ct.Number, issuer.RevocationReason(d.Reason), d.Note)
	if err != nil {
		d.Err = c.formError(err)
		_, _, status := c.userError(err)
		if out.Number == "" {
			out = ct
		}
		return c.certView(fc, rc, "revoke", status, out, d)
	}
	return c.redirect(fc, "/console/certificates/"+out.Number, "revoked")
}

func (c *Console) reissueForm(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return c.reissueView(fc, rc, fiber.StatusOK, ct, certData{Fix: map[string]string{}})
}

// reissueFields are the fields of the correction form, as posted.
var reissueFields = []string{"name", "doc_type", "doc_number", "student_no", "major", "occupation", "specialty", "level", "assessed_on", "reason"}

// reissueView is the correction form (or its confirmation), with the
// choices the college has: its scope's occupations and 工种.
func (c *Console) reissueView(fc *fiber.Ctx, rc *reqCtx, status int, ct issuer.Certificate, d certData) error {
	d.DocTypes = ident.DocTypes
	if in, err := c.svc.Institution(fc.UserContext(), rc.actor, ct.InstitutionID); err == nil {
		names := map[string]string{}
		if occ, err := c.svc.Occupations(fc.UserContext()); err == nil {
			for _, o := range occ {
				names[o.Code] = o.Name
			}
		}
		seen, seenSpec := map[string]bool{}, map[string]bool{}
		for _, e := range in.Scope {
			if !seen[e.Occupation] {
				seen[e.Occupation] = true
				d.ScopeOccupations = append(d.ScopeOccupations, collegeChoice{e.Occupation, names[e.Occupation]})
			}
			if e.Specialty != "" && !seenSpec[e.Specialty] {
				seenSpec[e.Specialty] = true
				d.ScopeSpecialties = append(d.ScopeSpecialties, e.Specialty)
			}
		}
	}
	return c.certView(fc, rc, "reissue", status, ct, d)
}

// reissue takes two posts, as revoking does: the first checks the
// correction as the service would and shows what it changes and what
// follows (the preview); the second (confirm=yes) reissues. Going back
// (op=edit) shows the form again with what was typed.
func (c *Console) reissue(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fix := map[string]string{}
	for _, k := range reissueFields {
		v := strings.TrimSpace(fc.FormValue(k))
		if utf8.RuneCountInString(v) > 100 && k != "reason" || utf8.RuneCountInString(v) > 500 {
			return c.reissueView(fc, rc, fiber.StatusBadRequest, ct, certData{Fix: fix,
				Err: c.formError(errf(issuer.ErrInvalid, "field_long", "填写的内容过长（每项最多100字，原因最多500字）", "a field is too long (at most 100 characters, the reason 500)"))})
		}
		fix[k] = v
	}
	if fc.FormValue("op") == "edit" {
		return c.reissueView(fc, rc, fiber.StatusOK, ct, certData{Fix: fix})
	}
	if fix["reason"] == "" {
		return c.reissueView(fc, rc, fiber.StatusBadRequest, ct, certData{Fix: fix,
			Err: c.formError(errf(issuer.ErrInvalid, "reason_required", "请填写更正原因", "give the reason for the correction"))})
	}
	corr := issuer.Correction{Name: fix["name"], DocType: fix["doc_type"], DocNumber: fix["doc_number"], StudentNo: fix["student_no"],
		Major: fix["major"], Occupation: fix["occupation"], Level: fix["level"], AssessedOn: fix["assessed_on"], Reason: fix["reason"]}
	if sp := fix["specialty"]; sp != "" {
		// "--" (or 无) clears the 工种; blank keeps it.
		if sp == "--" || sp == "无" {
			sp = ""
		}
		corr.Specialty = &sp
	}
	if fc.FormValue("confirm") != "yes" {
		p, err := c.svc.PreviewReissue(fc.UserContext(), rc.actor, ct.Number, corr)
		if err != nil {
			_, _, status := c.userError(err)
			return c.reissueView(fc, rc, status, ct, certData{Fix: fix, Err: c.formError(err)})
		}
		return c.reissueView(fc, rc, fiber.StatusOK, ct, certData{Fix: fix, Confirm: true, Preview: &p})
	}
	out, err := c.svc.Reissue(fc.UserContext(), rc.actor, ct.Number, corr)
	if err != nil {
		_, _, status := c.userError(err)
		return c.reissueView(fc, rc, status, ct, certData{Fix: fix, Err: c.formError(err)})
	}
	return c.redirect(fc, "/console/certificates/"+out.Number, "reissued")
}

// resetHolderCode makes a new holder code; the old one stops working at
// once. The new code is shown on the certificate page (and on a claim slip
// printed from there).
func (c *Console) resetHolderCode(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	if _, err := c.svc.ResetHolderCode(fc.UserContext(), rc.actor, ct.Number); err != nil {
		return c.fail(fc, rc, err)
	}
	return c.redirect(fc, "/console/certificates/"+ct.Number, "holder_code_reset")
}

// certificateSlip is one certificate's claim slip, with the code in force.
func (c *Console) certificateSlip(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	pdf, err := c.svc.ClaimSlip(fc.UserContext(), rc.actor, ct.Number)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fc.Set(fiber.HeaderContentType, "application/pdf")
	fc.Set(fiber.HeaderContentDisposition, `inline; filename="`+ct.Number+`-slip.pdf"`)
	return fc.Send(pdf)
}

// batchSlips is a batch's claim slips, one page each, for plain paper.
func (c *Console) batchSlips(fc *fiber.Ctx, rc *reqCtx) error {
	b, err := c.batch(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var buf bytes.Buffer
	if err := c.svc.ClaimSlips(fc.UserContext(), rc.actor, b.ID, &buf); err != nil {
		return c.fail(fc, rc, err)
	}
	fc.Set(fiber.HeaderContentType, "application/pdf")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="`+b.ID+`-slips.pdf"`)
	return fc.Send(buf.Bytes())
}
