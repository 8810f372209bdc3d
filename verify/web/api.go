package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/verify"
)

// maxItems bounds one bulk check.
const maxItems = 1000

// maxJSONBody bounds a JSON verify request: 1,000 items of a few hundred
// bytes, or one token.
const maxJSONBody = 1 << 20

// maxTokenBody bounds a signed record sent as text; one is under 4 KB.
const maxTokenBody = 64 << 10

// Longest holder name and ID number accepted in a confirmation, in bytes.
const (
	maxNameLen = 128
	maxIDLen   = 64
)

// apiCertificate serves GET /api/v1/certificates/:number, under the same
// rules as the page: ?c= the QR's verification code; or ?name= (and
// optionally &id_number=) to confirm a match.
func (h *handlers) apiCertificate(c *fiber.Ctx) error {
	number, code, codeGiven, err := certParams(c)
	if err != nil {
		return h.failWith(c, err)
	}
	name, idNumber := c.Query("name"), c.Query("id_number")
	if len(name) > maxNameLen || len(idNumber) > maxIDLen {
		return h.fail(c, verify.ErrInputTooLong)
	}
	confirming := strings.TrimSpace(name) != ""
	if confirming && !h.confirm.allow(h.clientKey(c), 1) {
		return h.limited(c)
	}
	e, err := h.svc.Lookup(c.UserContext(), number)
	if err != nil {
		return h.unavailable(c, err)
	}
	rec := e.Record()
	h.m.verdicts.WithLabelValues(string(rec.Verdict), "api").Inc()
	status := fiber.StatusOK
	if rec.Verdict == verify.NotFound {
		status = fiber.StatusNotFound
	}
	codeOK := codeGiven && rec.CodeMatches(code)
	if !confirming && (!codeGiven || codeOK) {
		slot, cc, access := slotJSON, ccPublic, verify.Public
		if codeOK {
			slot, cc, access = slotJSON+1, ccPrivate, verify.Holder
		}
		b := h.svc.Render(e, slot, func() []byte { return mustJSON(rec.For(access)) })
		c.Status(status)
		return h.sendBlob(c, b, fiber.MIMEApplicationJSONCharsetUTF8, cc)
	}
	access := verify.Public
	if codeOK {
		access = verify.Holder
	}
	var m verify.Match
	if confirming && rec.Found {
		var refused *issuer.Error
		if m, refused, err = h.checkMatch(c.UserContext(), rec, h.clientKey(c), name, idNumber); err != nil {
			return h.unavailable(c, err)
		} else if refused != nil {
			return h.fail(c, refused)
		}
		if m.Name && (m.IDNumber == nil || *m.IDNumber) && access == verify.Public {
			access = verify.Confirmed
		}
	}
	v := rec.ForMatch(access, &m)
	if confirming {
		v.Conclude(codeGiven, codeOK, &m)
	} else {
		v.Conclude(codeGiven, codeOK, nil)
	}
	if codeGiven {
		v.CodeOK = &codeOK
	}
	if confirming {
		v.Match = &m
	}
	c.Set("Cache-Control", "private, no-store")
	return c.Status(status).JSON(v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types, all marshalable
	}
	return b
}

// verifyRequest is the JSON body of POST /api/v1/verify: either items for a
// bulk match, or one signed record.
type verifyRequest struct {
	Items []item `json:"items,omitempty"`
	Token string `json:"token,omitempty"`
	// Receipt asks for a verification receipt of the items' check
	// (receipt.go): the answer then carries its reference.
	Receipt bool `json:"receipt,omitempty"`
}

// item is one certificate to check against a person.
type item struct {
	Number   string `json:"number"`
	Name     string `json:"name"`
	IDNumber string `json:"id_number,omitempty"`
	// Extra are the clerk's own cells of a sheet row (sheet.Extra), echoed
	// into the result sheet; never part of the JSON API.
	Extra []string `json:"-"`
}

// itemResult is the answer for one item.
type itemResult struct {
	Index     int            `json:"index"`
	Number    string         `json:"number"`
	Verdict   verify.Verdict `json:"verdict,omitempty"`
	VerdictZh string         `json:"verdict_zh,omitempty"`
	VerdictEn string         `json:"verdict_en,omitempty"`
	// Conclusion is the verdict with the name check and the institution's
	// standing now: valid, name_mismatch, id_mismatch,
	// valid_institution_suspended, ... (verify.Conclude). Filter on it.
	Conclusion   verify.Conclusion  `json:"conclusion,omitempty"`
	ConclusionZh string             `json:"conclusion_zh,omitempty"`
	ConclusionEn string             `json:"conclusion_en,omitempty"`
	Match        *verify.Match      `json:"match,omitempty"`
	Confirmed    bool               `json:"confirmed"` // valid, and the name (and ID number, if given) match
	Cert         *certSummary       `json:"certificate,omitempty"`
	Status       *verify.StatusView `json:"status,omitempty"`
	// AsOf is, for a stale verdict, the time of what the service last
	// knew of the register.
	AsOf  string `json:"as_of,omitempty"`
	Error string `json:"error,omitempty"` // Chinese / English
	// HolderNotChecked: the verdict stands, but the name check was
	// refused by the caps on guessing (Error says which).
	HolderNotChecked bool `json:"holder_not_checked,omitempty"`
}

// certSummary is what a bulk result says about a certificate: the facts
// the caller needs to record a credit, never the holder's data.
type certSummary struct {
	OccupationCode string `json:"occupation_code"`
	OccupationName string `json:"occupation_name"`
	Specialty      string `json:"specialty,omitempty"`
	Level          int    `json:"level"`
	LevelZh        string `json:"level_zh"`
	IssuedOn       string `json:"issued_on"`
	IssuerName     string `json:"issuer_name"`
	InstitutionID  string `json:"institution_id,omitempty"`
}

// Errors of a JSON verify request.
var (
	errRequestTooLarge = issuer.Errorf(issuer.ErrInvalid, codeTooLarge, "请求过大", "request too large")
	errRequestJSON     = issuer.Errorf(issuer.ErrInvalid, "request_json", "请求不是有效的JSON", "the request is not valid JSON for this endpoint")
	errRequestTrailing = issuer.Errorf(issuer.ErrInvalid, "request_json", "请求包含多余内容", "trailing data after the JSON object")
	errRequestBoth     = issuer.Errorf(issuer.ErrInvalid, "request_shape", "items 与 token 只能给出一个", "give items or token, not both")
	errRequestNeither  = issuer.Errorf(issuer.ErrInvalid, "request_shape", "请给出 items 或 token", "give items or token")
	errTooManyItems    = issuer.Errorf(issuer.ErrInvalid, "too_many_items", "一次最多核验%d条", "at most %d items per request", maxItems)
)

// parseVerifyRequest decodes and bounds a JSON verify request.
func parseVerifyRequest(body []byte) (*verifyRequest, error) {
	if len(body) > maxJSONBody {
		return nil, errRequestTooLarge
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r verifyRequest
	if err := dec.Decode(&r); err != nil {
		return nil, errRequestJSON
	}
	if dec.More() {
		return nil, errRequestTrailing
	}
	switch {
	case len(r.Items) > 0 && r.Token != "":
		return nil, errRequestBoth
	case len(r.Items) > maxItems:
		return nil, errTooManyItems
	case len(r.Items) == 0 && strings.TrimSpace(r.Token) == "":
		return nil, errRequestNeither
	case len(r.Token) > maxTokenBody:
		// The same bound as a record sent as text: one is under 4 KB.
		return nil, errTokenTooLarge
	}
	return &r, nil
}

// apiVerify serves POST /api/v1/verify: a JSON list of items, a JSON or
// plain-text JWS, or a PDF (raw or as the multipart field "file").
func (h *handlers) apiVerify(c *fiber.Ctx) error {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	c.Set("Cache-Control", "private, no-store")
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationJSON):
		req, err := parseVerifyRequest(c.Body())
		if err != nil {
			return h.failWith(c, err)
		}
		if req.Token != "" {
			return h.sendToken(c, h.verifyToken(c.UserContext(), req.Token, nil, "token"))
		}
		if !h.confirm.allow(h.clientKey(c), int64(len(req.Items))) {
			return h.limited(c)
		}
		res, err := h.checkItems(c.UserContext(), h.clientKey(c), req.Items)
		if err != nil {
			return h.failWith(c, err)
		}
		sum := map[string]int{}
		for _, r := range res {
			if r.Verdict != "" {
				sum[string(r.Verdict)]++
			} else {
				sum["error"]++
			}
		}
		out := fiber.Map{"results": res, "summary": sum}
		if req.Receipt {
			r, problem := h.keep(c, &receiptRecord{Kind: "batch", CheckedAt: time.Now(), Rows: batchRows(res)})
			if problem != nil {
				out["receipt_error"] = problem.Error()
			} else {
				out["receipt"] = fiber.Map{"reference": r.Ref, "url": r.URL, "pdf": r.PDF}
			}
		}
		return c.JSON(out)
	case strings.HasPrefix(ct, "application/jose"), strings.HasPrefix(ct, "application/jwt"), strings.HasPrefix(ct, "text/plain"),
		strings.HasPrefix(ct, issuer.CredentialContentType), strings.HasPrefix(ct, "application/sd-jwt"):
		if len(c.Body()) > maxTokenBody {
			return h.fail(c, errTokenTooLarge)
		}
		return h.sendToken(c, h.verifyToken(c.UserContext(), string(c.Body()), nil, "token"))
	case strings.HasPrefix(ct, "application/pdf"):
		return h.verifyPDF(c, c.Body())
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		fh, err := c.FormFile("file")
		if err != nil {
			return h.fail(c, errNoPDFField)
		}
		b, err := readUpload(fh, verify.MaxPDFSize)
		if err != nil {
			return h.fail(c, verify.ErrPDFTooLarge)
		}
		return h.verifyPDF(c, b)
	}
	return h.fail(c, errMediaType)
}

func readUpload(fh *multipart.FileHeader, limit int64) ([]byte, error) {
	if fh.Size > limit {
		return nil, errors.New("too large")
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil || int64(len(b)) > limit {
		return nil, errors.New("too large")
	}
	return b, nil
}

// checkItems answers items with a few workers: the first lookups of a
// cold list go to the database, and ID checks cost a slow hash each. When
// ctx ends first the workers stop and the whole check fails with
// verify.ErrDeadline: a result sheet with holes would read as an answer.
func (h *handlers) checkItems(ctx context.Context, client string, items []item) ([]itemResult, error) {
	h.prefetch(items)
	out := make([]itemResult, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				out[i] = h.checkItem(ctx, client, i, items[i])
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, verify.ErrDeadline
	}
	return out, nil
}

// prefetch loads every distinct number of a list that is not cached, all
// queued at once, so that the loaders read a cold list in batches (a list
// of 1,000 in about 16 queries) instead of a few numbers at a time.
func (h *handlers) prefetch(items []item) {
	seen := make(map[string]bool, len(items))
	numbers := make([]string, 0, len(items))
	for _, it := range items {
		if n, problem := it.check(); problem == nil && !seen[n] {
			seen[n] = true
			numbers = append(numbers, n)
		}
	}
	h.svc.Prefetch(numbers)
}

// Errors of a bulk row, written into its result: shorter than the page's,
// for a cell of a result sheet.
var (
	errItemNoName      = issuer.Errorf(issuer.ErrInvalid, "name_missing", "缺少姓名", "name is missing")
	errItemUnavailable = issuer.Errorf(issuer.ErrUnavailable, "verify_unavailable", "暂时无法验证", "temporarily unavailable")
)

// check normalises an item's number, or says what is wrong with the item
// (checked before any lookup, so prefetch and checkItem agree on it).
// The problem is bilingual, an issuer.Error.
func (it item) check() (number string, problem error) {
	if len(it.Name) > maxNameLen || len(it.IDNumber) > maxIDLen {
		return "", verify.ErrInputTooLong
	}
	number, err := verify.NormalizeNumber(it.Number)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(it.Name) == "" {
		return "", errItemNoName
	}
	return number, nil
}

func (h *handlers) checkItem(ctx context.Context, client string, i int, it item) itemResult {
	r := itemResult{Index: i, Number: it.Number}
	if len(r.Number) > verify.MaxNumberInput {
		r.Number = r.Number[:verify.MaxNumberInput]
	}
	number, problem := it.check()
	if problem != nil {
		r.Error = problem.Error()
		return r
	}
	e, err := h.svc.Lookup(ctx, number)
	if err != nil {
		r.Error = errItemUnavailable.Error()
		return r
	}
	rec := e.Record()
	h.m.verdicts.WithLabelValues(string(rec.Verdict), "bulk").Inc()
	r.Number = number
	r.Verdict, r.VerdictZh, r.VerdictEn = rec.Verdict, rec.Verdict.Chinese(), rec.Verdict.English()
	r.conclude(rec, nil)
	if rec.Verdict == verify.Stale {
		r.AsOf = rec.For(verify.Public).AsOf
	}
	if !rec.Found {
		return r
	}
	m, refused, err := h.checkMatch(ctx, rec, client, it.Name, it.IDNumber)
	if err != nil {
		r.Error = errItemUnavailable.Error()
		return r
	}
	if refused != nil {
		// The verdict stands; only the name was not checked.
		r.Error = refused.Error()
		r.HolderNotChecked = true
		r.Conclusion = verify.HolderNotChecked(rec.Verdict)
		r.ConclusionZh, r.ConclusionEn = r.Conclusion.Chinese(), r.Conclusion.English()
		r.Status = rec.For(verify.Public).Status
		return r
	}
	r.Match = &m
	r.conclude(rec, &m)
	r.Confirmed = rec.Verdict == verify.Valid && m.Name && (m.IDNumber == nil || *m.IDNumber) && !m.IDNotChecked
	v := rec.For(verify.Public)
	r.Status = v.Status
	if f := rec.Facts; f != nil {
		r.Cert = &certSummary{OccupationCode: f.OccupationCode, OccupationName: f.OccupationName, Specialty: f.Specialty,
			Level: f.Level, LevelZh: f.LevelZh, IssuedOn: f.IssuedOn, IssuerName: f.IssuerName}
		if rec.Institution != nil {
			r.Cert.InstitutionID = rec.Institution.ID
		}
	}
	return r
}

// conclude sets a row's conclusion from its record and name check.
func (r *itemResult) conclude(rec *verify.Record, m *verify.Match) {
	cur := ""
	if rec.Institution != nil {
		cur = rec.Institution.Current
	}
	r.Conclusion = verify.Conclude(rec.Verdict, false, false, m, cur)
	r.ConclusionZh, r.ConclusionEn = r.Conclusion.Chinese(), r.Conclusion.English()
}

// verifyToken verifies a presented record against the registry and the
// cached views. An extra check (the PDF's) may be added before the verdict
// is summed up.
func (h *handlers) verifyToken(ctx context.Context, token string, extra *verify.Check, channel string) verify.TokenResult {
	var reg *verify.Registry
	if d := h.svc.Directory(); d != nil {
		reg = d.Registry
	}
	v := &verify.Verifier{Registry: reg, Status: h.svc}
	res := v.VerifyPresented(ctx, token)
	if res.Disclosed != nil {
		channel = "credential"
	}
	if extra != nil {
		res = res.With(*extra)
	}
	h.m.verdicts.WithLabelValues(string(res.Verdict), channel).Inc()
	return verify.NewTokenResult(res, reg)
}

// verifyPDF checks the record embedded in an uploaded certificate PDF and
// whether the file is byte-identical to the one issued.
func (h *handlers) verifyPDF(c *fiber.Ctx, pdf []byte) error {
	ctx := c.UserContext()
	tok, err := verify.TokenFromPDFContext(ctx, pdf)
	if err != nil {
		return h.failWith(c, err)
	}
	chk := verify.PDFCheck(ctx, tok, pdf, h.svc.Fresh)
	return h.sendToken(c, h.verifyToken(ctx, tok, &chk, "pdf"))
}

// sendToken answers the verification of a presented record, unless the
// request's deadline passed while it was checked: a lookup cut short
// reads as "could not check", which must not pass for an answer.
func (h *handlers) sendToken(c *fiber.Ctx, res verify.TokenResult) error {
	if c.UserContext().Err() != nil {
		return h.fail(c, verify.ErrDeadline)
	}
	return c.JSON(res)
}
