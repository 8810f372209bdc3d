package web

import (
	"bytes"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/verify"
)

var funcs = template.FuncMap{
	"t": t,
	"icon": func(v verify.Verdict) string {
		switch v {
		case verify.Valid:
			return "✓"
		case verify.Revoked, verify.Invalid:
			return "✗"
		case verify.Superseded:
			return "↻"
		case verify.NotFound:
			return "?"
		case verify.Stale:
			return "…"
		}
		return "!"
	},
	// conclusionIcon is the mark of a conclusion that is not the verdict's
	// own; the verdict's icon otherwise.
	"conclusionIcon": func(c verify.Conclusion) string {
		switch c {
		case verify.ConclusionCodeMismatch, verify.ConclusionNameMismatch, verify.ConclusionIDMismatch:
			return "✗"
		case verify.ConclusionInstSuspended, verify.ConclusionInstWithdrawn:
			return "!"
		case verify.ConclusionHolderNotChecked:
			return "?"
		}
		return ""
	},
	"checkIcon": func(o verify.Outcome) string {
		switch o {
		case verify.Pass:
			return "✓"
		case verify.Fail:
			return "✗"
		}
		return "?"
	},
	"outcome": func(en bool, o verify.Outcome) string {
		switch o {
		case verify.Pass:
			return t(en, "通过", "passed")
		case verify.Fail:
			return t(en, "未通过", "failed")
		}
		return t(en, "无法核验", "could not check")
	},
	"instStatus": func(en bool, s string) string {
		switch s {
		case "active":
			return t(en, "正常", "active")
		case "suspended":
			return t(en, "暂停", "suspended")
		case "withdrawn":
			return t(en, "已撤销备案", "registration withdrawn")
		case "":
			return t(en, "未知", "unknown")
		}
		return s
	},
	// dict passes the language and a receipt to the receiptLinks template.
	"dict": func(en bool, r any) map[string]any { return map[string]any{"En": en, "R": r} },
	"upperFirst": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
}

// t picks the Chinese or English text.
func t(en bool, zh, english string) string {
	if en {
		return english
	}
	return zh
}

// pageData is what every page template gets.
type pageData struct {
	En        bool
	Title     string
	Desc      string
	Base      string
	PageURL   string
	SwitchURL string
	LangQ     string // "?lang=en" or ""
	CSS       template.CSS
	Message   string
	Advice    string // under an error; empty: check the number

	V       *verify.View
	Explain string
	Notice  string
	Match   *verify.Match
	Full    bool       // the viewer sees the full name already
	Limited bool       // the name check was refused (Notice says why)
	Share   *shareBand // a share link's page (share.go)

	// Cred is the verdict on a holder credential or a certificate PDF
	// checked on /bulk; CredKind says which ("credential", "pdf").
	Cred     *verify.TokenResult
	CredKind string
	// CheckedAt is when a presented record was checked (checkedAtText),
	// and Receipt the receipt kept of the check (receipt.go).
	CheckedAt string
	Receipt   *receipt
	// ReceiptView is a receipt looked up (receipt.go); ReceiptForm the
	// verification page's receipt button: what it sends again.
	ReceiptView *receiptView
	ReceiptForm *receiptForm
	// Bulk is a bulk check's results shown on the page (bulk.go).
	Bulk *bulkSummary

	Institutions []instRow
	Inst         *instPage
}

func (h *handlers) pageData(c *fiber.Ctx, path string, en bool, title, desc string) *pageData {
	d := &pageData{En: en, Title: title, Desc: desc, Base: h.base, CSS: h.css}
	// Rebuilt from the parsed parts, never echoed raw, so no header or
	// markup can be smuggled in through the URL.
	q := url.Values{}
	if code, ok := verify.NormalizeCode(c.Query("c")); ok {
		q.Set("c", code)
	}
	d.PageURL = h.base + path
	if len(q) > 0 {
		d.PageURL += "?" + q.Encode()
	}
	// The language in links is explicit once chosen, so that a browser
	// whose first language is English can switch to Chinese and stay.
	switch {
	case en:
		d.LangQ = "?lang=en"
		q.Set("lang", "zh")
	default:
		d.LangQ = "?lang=zh"
		q.Set("lang", "en")
	}
	d.SwitchURL = path
	if s := q.Encode(); s != "" {
		d.SwitchURL += "?" + s
	}
	return d
}

func (h *handlers) renderPage(c *fiber.Ctx, status int, name string, d *pageData) error {
	b, err := h.renderBytes(name, d)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderVary, varyPage)
	return c.Status(status).Send(b)
}

func (h *handlers) renderBytes(name string, d *pageData) ([]byte, error) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// explain is the sentence under the verdict: the conclusion's own when it
// differs from the verdict (a wrong code, a name that does not match, an
// institution suspended since), else the verdict's.
func explain(en bool, v *verify.View) string {
	if s := v.Conclusion.Explain(en); s != "" {
		return s
	}
	switch v.Verdict {
	case verify.Valid:
		return t(en, "证书由备案机构签发，签名、备案和状态核验全部通过。", "Issued by a registered institution; signature, registration and status checks all passed.")
	case verify.Revoked:
		s := v.Status
		if en {
			return "This certificate was revoked on " + s.RevokedOn + ". Reason: " + s.ReasonEn + ". It is no longer valid."
		}
		return "该证书已于" + s.RevokedOn + "撤销，原因：" + s.ReasonZh + "。证书不再有效。"
	case verify.Superseded:
		return t(en, "该证书信息已更正，原证书作废，以新证书为准：", "This certificate was corrected and replaced; the original is void. The valid one is:")
	case verify.Invalid:
		return t(en, "证书记录未通过核验，可能被伪造或篡改，请勿采信。", "The certificate record failed verification: it may be forged or altered. Do not rely on it.")
	case verify.NotFound:
		return t(en, "未找到编号为 "+v.Number+" 的证书。", "No certificate with number "+v.Number+" was found.")
	case verify.Stale:
		at := v.AsOf
		if ts, err := time.Parse(time.RFC3339, v.AsOf); err == nil {
			at = ts.Format("2006-01-02 15:04:05")
		}
		return t(en, "本服务暂时无法连接证书登记册，无法确认该证书当前的状态（状态截至 "+at+"，北京时间）。这不表示证书无效，请稍后刷新本页。",
			"This service cannot reach the certificate register right now, so it cannot confirm the certificate's current status (status as of "+at+", China time). This does not mean the certificate is invalid; reload this page shortly.")
	}
	return t(en, "部分核验项目暂时无法完成，不能确认证书有效，请稍后再试或联系发证机构。", "Some checks could not be made, so validity cannot be confirmed. Try again later or contact the issuing institution.")
}

// Rendered-form slots of a cached view (cache.Service.Render): the page
// (access × language) and the JSON answer (access).
const (
	slotPage = 0 // +2*holder +lang: 0..3
	slotJSON = 4 // +holder: 4..5
)

// page serves /v/:number: GET for the QR link, POST for the holder
// confirmation form.
func (h *handlers) page(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	number, code, codeGiven, err := certParams(c)
	if err != nil {
		return h.failWith(c, err)
	}
	var name, idNumber string
	confirming := c.Method() == fiber.MethodPost
	if confirming {
		name, idNumber = c.FormValue("name"), c.FormValue("id_number")
		if len(name) > maxNameLen || len(idNumber) > maxIDLen {
			return h.fail(c, verify.ErrInputTooLong)
		}
		if strings.TrimSpace(name) == "" {
			return h.fail(c, errNoName)
		}
		if !h.confirm.allow(h.clientKey(c), 1) {
			return h.limited(c)
		}
	}
	e, err := h.svc.Lookup(c.UserContext(), number)
	if err != nil {
		return h.unavailable(c, err)
	}
	rec := e.Record()
	access := verify.Public
	codeOK := codeGiven && rec.CodeMatches(code)
	if codeOK {
		access = verify.Holder
	}
	var match *verify.Match
	// refused: the name check was not made (the caps on guessing); the
	// page still shows the verdict, and says what is limited and why.
	var refused *issuer.Error
	if confirming && rec.Found {
		m, r, err := h.checkMatch(c.UserContext(), rec, h.clientKey(c), name, idNumber)
		if err != nil {
			return h.unavailable(c, err)
		}
		if refused = r; r == nil {
			match = &m
			if m.Name && (m.IDNumber == nil || *m.IDNumber) && access == verify.Public {
				access = verify.Confirmed
			}
		}
	}
	if confirming && rec.Found && c.FormValue("receipt") == "1" {
		// The confirmation with its receipt: the check just made is
		// what the receipt records.
		rc := certRecord(rec, codeGiven, codeOK, match, holderOf(match, refused != nil))
		r, problem := h.keep(c, &receiptRecord{Kind: "certificate", CheckedAt: time.Now(), Cert: rc})
		if problem != nil {
			return h.fail(c, problem)
		}
		c.Set("Cache-Control", "no-store")
		return c.Redirect("/receipt/"+r.Ref+langQuery(c), fiber.StatusSeeOther)
	}
	h.m.verdicts.WithLabelValues(string(rec.Verdict), "page").Inc()
	status := fiber.StatusOK
	if rec.Verdict == verify.NotFound {
		status = fiber.StatusNotFound
	}
	if refused != nil {
		status = statusOf(refused)
	}
	cc := ccPublic
	if access != verify.Public {
		cc = ccPrivate
	}
	build := func() []byte {
		v := rec.ForMatch(access, match)
		v.Conclude(codeGiven, codeOK, match)
		v.Checks = failuresFirst(v.Checks)
		d := h.pageData(c, "/v/"+number, en, pageTitle(en, v), shareDesc(en, v))
		d.V, d.Explain, d.Match, d.Full = v, explain(en, v), match, access != verify.Public
		if rec.Found {
			d.ReceiptForm = &receiptForm{}
			if codeGiven {
				d.ReceiptForm.Code = code
			}
			// Only the name goes back into the form: no answer carries
			// a full ID number. A receipt of the ID check is asked for
			// with the confirmation itself (the form's receipt box).
			if match != nil {
				d.ReceiptForm.Name = name
				d.ReceiptForm.IDAsked = idNumber != ""
			}
		}
		if refused != nil {
			// The name asked about was not checked: the answer to act on
			// is "holder not checked", not the certificate's green.
			d.Notice, d.Limited = t(en, refused.Zh, refused.En), true
			v.Conclusion = verify.HolderNotChecked(v.Verdict)
			v.ConclusionZh, v.ConclusionEn = v.Conclusion.Chinese(), v.Conclusion.English()
			d.Explain, d.Title = explain(en, v), pageTitle(en, v)
		}
		b, err := h.renderBytes("verify", d)
		if err != nil {
			h.log.Error("render verify page", "error", err)
			return nil
		}
		return b
	}
	// Only the two views every QR scan asks for are worth keeping
	// rendered; mismatched codes and confirmations are rare.
	if !confirming && (!codeGiven || codeOK) {
		slot := slotPage + boolInt(en)
		if codeOK {
			slot += 2
		}
		b := h.svc.Render(e, slot, build)
		if b == nil {
			return fiber.ErrInternalServerError
		}
		c.Status(status)
		return h.sendBlob(c, b, fiber.MIMETextHTMLCharsetUTF8, cc)
	}
	body := build()
	if body == nil {
		return fiber.ErrInternalServerError
	}
	c.Set("Cache-Control", "private, no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(body)
}

// failuresFirst orders checks for a person reading a phone: what failed or
// could not be checked comes first, above the fold, right under a verdict
// that is not "valid".
func failuresFirst(cs []verify.Check) []verify.Check {
	out := make([]verify.Check, 0, len(cs))
	for _, o := range []verify.Outcome{verify.Fail, verify.Unknown, verify.Pass} {
		for _, c := range cs {
			if c.Outcome == o {
				out = append(out, c)
			}
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pageTitle(en bool, v *verify.View) string {
	if en {
		return "Certificate " + v.Number + ": " + v.ConclusionEn
	}
	return "证书" + v.Number + "：" + v.ConclusionZh
}

// shareDesc is the link preview text. It never names the holder: a
// forwarded link should not put the name in every chat preview.
func shareDesc(en bool, v *verify.View) string {
	if cv := v.Certificate; cv != nil {
		if en {
			return "Skill level certificate, " + cv.OccupationName + " " + cv.LevelEn + ", issued by " + cv.IssuerName + " on " + cv.IssuedOn + ": " + v.VerdictEn + "."
		}
		return "职业技能等级证书 · " + cv.OccupationName + " " + cv.LevelZh + " · " + cv.IssuerName + " · " + cv.IssuedOn + " 颁发 · 核验结论：" + v.VerdictZh
	}
	return t(en, "职业技能等级证书核验结论：", "Skill level certificate check: ") + t(en, v.VerdictZh, v.VerdictEn)
}
