package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
)

// MaxItems bounds one bulk check.
const MaxItems = 1000

// maxJSONBody bounds a JSON verify request: 1,000 items of a few hundred
// bytes, or one token.
const maxJSONBody = 1 << 20

// Longest holder name and ID number accepted in a confirmation, in bytes.
const (
	maxNameLen = 128
	maxIDLen   = 64
)

// apiCertificate serves GET /api/v1/certificates/:number, under the same
// rules as the page: ?c= the QR's verification code; or ?name= (and
// optionally &id_number=) to confirm a match.
func (h *handlers) apiCertificate(c *fiber.Ctx) error {
	number, err := NormalizeNumber(c.Params("number"))
	if err != nil {
		return h.badNumber(c, err)
	}
	code, codeGiven, ok := codeParam(c)
	if !ok {
		return h.fail(c, fiber.StatusBadRequest, "验证码格式不正确（应为16位字母或数字）", "malformed verification code (16 letters or digits)")
	}
	name, idNumber := c.Query("name"), c.Query("id_number")
	if len(name) > maxNameLen || len(idNumber) > maxIDLen {
		return h.fail(c, fiber.StatusBadRequest, "输入过长", "input too long")
	}
	confirming := strings.TrimSpace(name) != ""
	if confirming && !h.confirm.allow(h.clientKey(c), 1) {
		return h.limited(c)
	}
	e, err := h.svc.Lookup(c.UserContext(), number)
	if err != nil {
		return h.unavailable(c, err)
	}
	rec := e.rec
	h.svc.m.verdicts.WithLabelValues(string(rec.Verdict), "api").Inc()
	status := fiber.StatusOK
	if !rec.Found {
		status = fiber.StatusNotFound
	}
	codeOK := codeGiven && rec.CodeMatches(code)
	if !confirming && (!codeGiven || codeOK) {
		slot, cc, access := slotJSON, ccPublic, Public
		if codeOK {
			slot, cc, access = slotJSON+1, ccPrivate, Holder
		}
		b := h.svc.render(e, slot, func() []byte { return mustJSON(rec.For(access)) })
		c.Status(status)
		return h.sendBlob(c, b, fiber.MIMEApplicationJSONCharsetUTF8, cc)
	}
	access := Public
	if codeOK {
		access = Holder
	}
	var m Match
	if confirming && rec.Found {
		var ok bool
		if m, ok = h.checkMatch(rec, name, idNumber); !ok {
			return h.fail(c, fiber.StatusTooManyRequests, confirmLimitedZh, confirmLimitedEn)
		}
		if m.Name && (m.IDNumber == nil || *m.IDNumber) && access == Public {
			access = Confirmed
		}
	}
	v := rec.ForMatch(access, &m)
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

// VerifyRequest is the JSON body of POST /api/v1/verify: either items for a
// bulk match, or one signed record.
type VerifyRequest struct {
	Items []Item `json:"items,omitempty"`
	Token string `json:"token,omitempty"`
}

// Item is one certificate to check against a person.
type Item struct {
	Number   string `json:"number"`
	Name     string `json:"name"`
	IDNumber string `json:"id_number,omitempty"`
}

// ItemResult is the answer for one item.
type ItemResult struct {
	Index     int          `json:"index"`
	Number    string       `json:"number"`
	Verdict   Verdict      `json:"verdict,omitempty"`
	VerdictZh string       `json:"verdict_zh,omitempty"`
	VerdictEn string       `json:"verdict_en,omitempty"`
	Match     *Match       `json:"match,omitempty"`
	Confirmed bool         `json:"confirmed"` // valid, and the name (and ID number, if given) match
	Cert      *CertSummary `json:"certificate,omitempty"`
	Status    *StatusView  `json:"status,omitempty"`
	Error     string       `json:"error,omitempty"`
}

// CertSummary is what a bulk result says about a certificate: the facts
// the caller needs to record a credit, never the holder's data.
type CertSummary struct {
	OccupationCode string `json:"occupation_code"`
	OccupationName string `json:"occupation_name"`
	Specialty      string `json:"specialty,omitempty"`
	Level          int    `json:"level"`
	LevelZh        string `json:"level_zh"`
	IssuedOn       string `json:"issued_on"`
	IssuerName     string `json:"issuer_name"`
	InstitutionID  string `json:"institution_id,omitempty"`
}

// ParseVerifyRequest decodes and bounds a JSON verify request.
func ParseVerifyRequest(body []byte) (*VerifyRequest, error) {
	if len(body) > maxJSONBody {
		return nil, errors.New("请求过大 / request too large")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var r VerifyRequest
	if err := dec.Decode(&r); err != nil {
		return nil, errors.New("请求不是有效的JSON / the request is not valid JSON for this endpoint")
	}
	if dec.More() {
		return nil, errors.New("请求包含多余内容 / trailing data after the JSON object")
	}
	switch {
	case len(r.Items) > 0 && r.Token != "":
		return nil, errors.New("items 与 token 只能给出一个 / give items or token, not both")
	case len(r.Items) > MaxItems:
		return nil, errors.New("一次最多核验1000条 / at most 1,000 items per request")
	case len(r.Items) == 0 && strings.TrimSpace(r.Token) == "":
		return nil, errors.New("请给出 items 或 token / give items or token")
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
		req, err := ParseVerifyRequest(c.Body())
		if err != nil {
			zh, en, _ := strings.Cut(err.Error(), " / ")
			status := fiber.StatusBadRequest
			if len(c.Body()) > maxJSONBody {
				status = fiber.StatusRequestEntityTooLarge
			}
			return h.fail(c, status, zh, en)
		}
		if req.Token != "" {
			return c.JSON(h.verifyToken(c.UserContext(), req.Token, nil, "token"))
		}
		if !h.confirm.allow(h.clientKey(c), int64(len(req.Items))) {
			return h.limited(c)
		}
		res := h.checkItems(c.UserContext(), req.Items)
		sum := map[string]int{}
		for _, r := range res {
			if r.Verdict != "" {
				sum[string(r.Verdict)]++
			} else {
				sum["error"]++
			}
		}
		return c.JSON(fiber.Map{"results": res, "summary": sum})
	case strings.HasPrefix(ct, "application/jose"), strings.HasPrefix(ct, "application/jwt"), strings.HasPrefix(ct, "text/plain"):
		if len(c.Body()) > 64<<10 {
			return h.fail(c, fiber.StatusRequestEntityTooLarge, "签名记录过大", "token too large")
		}
		return c.JSON(h.verifyToken(c.UserContext(), string(c.Body()), nil, "token"))
	case strings.HasPrefix(ct, "application/pdf"):
		return h.verifyPDF(c, c.Body())
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		fh, err := c.FormFile("file")
		if err != nil {
			return h.fail(c, fiber.StatusBadRequest, "请以 file 字段上传PDF文件", "upload the PDF as the multipart field \"file\"")
		}
		b, err := readUpload(fh, MaxPDFSize)
		if err != nil {
			return h.fail(c, fiber.StatusRequestEntityTooLarge, "PDF文件过大", "the PDF is too large")
		}
		return h.verifyPDF(c, b)
	}
	return h.fail(c, fiber.StatusUnsupportedMediaType, "不支持的内容类型：请发送 JSON、JWS 文本或 PDF", "unsupported content type: send JSON, a JWS as text, or a PDF")
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
// cold list go to the database, and ID checks cost a slow hash each.
func (h *handlers) checkItems(ctx context.Context, items []Item) []ItemResult {
	h.prefetch(items)
	out := make([]ItemResult, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = h.checkItem(ctx, i, items[i])
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// prefetch loads every distinct number of a list that is not cached, all
// queued at once, so that the loaders read a cold list in batches (a list
// of 1,000 in about 16 queries) instead of a few numbers at a time.
func (h *handlers) prefetch(items []Item) {
	seen := make(map[string]bool, len(items))
	numbers := make([]string, 0, len(items))
	for _, it := range items {
		if n, problem := it.check(); problem == "" && !seen[n] {
			seen[n] = true
			numbers = append(numbers, n)
		}
	}
	h.svc.Prefetch(numbers)
}

// check normalises an item's number, or says what is wrong with the item
// (checked before any lookup, so prefetch and checkItem agree on it).
func (it Item) check() (number, problem string) {
	if len(it.Name) > maxNameLen || len(it.IDNumber) > maxIDLen {
		return "", "输入过长 / input too long"
	}
	number, err := NormalizeNumber(it.Number)
	if err != nil {
		return "", err.Error()
	}
	if strings.TrimSpace(it.Name) == "" {
		return "", "缺少姓名 / name is missing"
	}
	return number, ""
}

func (h *handlers) checkItem(ctx context.Context, i int, it Item) ItemResult {
	r := ItemResult{Index: i, Number: it.Number}
	if len(r.Number) > 64 {
		r.Number = r.Number[:64]
	}
	number, problem := it.check()
	if problem != "" {
		r.Error = problem
		return r
	}
	e, err := h.svc.Lookup(ctx, number)
	if err != nil {
		r.Error = "暂时无法验证 / temporarily unavailable"
		return r
	}
	rec := e.rec
	h.svc.m.verdicts.WithLabelValues(string(rec.Verdict), "bulk").Inc()
	r.Number = number
	r.Verdict, r.VerdictZh, r.VerdictEn = rec.Verdict, rec.Verdict.Chinese(), rec.Verdict.English()
	if !rec.Found {
		return r
	}
	m, ok := h.checkMatch(rec, it.Name, it.IDNumber)
	if !ok {
		r.Error = confirmLimitedZh + " / " + confirmLimitedEn
		return r
	}
	r.Match = &m
	r.Confirmed = rec.Verdict == Valid && m.Name && (m.IDNumber == nil || *m.IDNumber)
	v := rec.For(Public)
	r.Status = v.Status
	if f := rec.Facts; f != nil {
		r.Cert = &CertSummary{OccupationCode: f.OccupationCode, OccupationName: f.OccupationName, Specialty: f.Specialty,
			Level: f.Level, LevelZh: f.LevelZh, IssuedOn: f.IssuedOn, IssuerName: f.IssuerName}
		if rec.Institution != nil {
			r.Cert.InstitutionID = rec.Institution.ID
		}
	}
	return r
}

// TokenResult answers a presented signed record (or PDF).
type TokenResult struct {
	Verdict     Verdict          `json:"verdict"`
	VerdictZh   string           `json:"verdict_zh"`
	VerdictEn   string           `json:"verdict_en"`
	Checks      []Check          `json:"checks"`
	Number      string           `json:"number,omitempty"`
	Certificate *CertView        `json:"certificate,omitempty"`
	Status      *StatusView      `json:"status,omitempty"`
	Institution *InstitutionView `json:"institution,omitempty"`
}

// cachedStatus answers status checks from the verification cache.
type cachedStatus struct{ svc *Service }

func (s cachedStatus) Status(ctx context.Context, number string) (StatusInfo, error) {
	e, err := s.svc.Lookup(ctx, number)
	if err != nil {
		return StatusInfo{}, err
	}
	r := e.rec
	if !r.Found {
		return StatusInfo{}, nil
	}
	st := StatusInfo{Found: true, Status: r.Status, Reason: r.ReasonEn, ReasonZh: r.ReasonZh, SupersededBy: r.SupersededBy, Token: r.Token}
	if r.RevokedAt != 0 {
		st.RevokedAt = time.Unix(r.RevokedAt, 0)
	}
	return st, nil
}

// verifyToken verifies a presented record. The caller holds the record, so
// the facts in it (the name included) are returned once it verifies. An
// extra check (the PDF's) may be appended before the verdict is summed up.
func (h *handlers) verifyToken(ctx context.Context, token string, extra *Check, channel string) TokenResult {
	rs := h.svc.reg.Load()
	if rs == nil {
		res := Result{}
		var b builder
		b.set(CheckFormat, Unknown, "暂时无法加载备案目录", "the institution register could not be loaded")
		b.skipRest(CheckFormat)
		res = finish(res, b)
		return TokenResult{Verdict: res.Verdict, VerdictZh: res.Verdict.Chinese(), VerdictEn: res.Verdict.English(), Checks: res.Checks}
	}
	v := &Verifier{Registry: rs.registry, Status: cachedStatus{h.svc}}
	res := v.VerifyToken(ctx, token)
	if extra != nil {
		res.Checks = append(res.Checks, *extra)
		res = finish(res, builder{checks: res.Checks})
	}
	h.svc.m.verdicts.WithLabelValues(string(res.Verdict), channel).Inc()
	out := TokenResult{Verdict: res.Verdict, VerdictZh: res.Verdict.Chinese(), VerdictEn: res.Verdict.English(), Checks: res.Checks}
	if cl := res.Claims; cl != nil {
		a := cl.CredentialSubject.Achievement
		rec := Record{Found: true, Number: a.Number, Token: token}
		rec.Facts = &Facts{Name: cl.CredentialSubject.Name, DocType: cl.CredentialSubject.DocType, OccupationCode: a.OccupationCode,
			OccupationName: a.OccupationName, Specialty: strings.TrimPrefix(a.Specialty, "--"), Level: a.Level, LevelZh: a.LevelName,
			LevelEn: levelEn(a.Level), IssuedOn: a.IssuedOn, IssuerName: cl.Issuer.Name}
		cv := rec.For(Confirmed).Certificate
		cv.DocMasked = "" // the record holds only a hash of it
		out.Number, out.Certificate = a.Number, cv
	}
	if st := res.Status; st != nil {
		out.Status = &StatusView{Status: st.Status, ReasonZh: st.ReasonZh, ReasonEn: st.Reason, SupersededBy: st.SupersededBy}
		if !st.RevokedAt.IsZero() {
			out.Status.RevokedOn = st.RevokedAt.In(issuer.ChinaTime).Format(issuer.DateLayout)
		}
	}
	out.Institution = institutionView(res, rs.registry)
	return out
}

// verifyPDF checks the record embedded in an uploaded certificate PDF and
// whether the file is byte-identical to the one issued.
func (h *handlers) verifyPDF(c *fiber.Ctx, pdf []byte) error {
	if len(pdf) > MaxPDFSize {
		return h.fail(c, fiber.StatusRequestEntityTooLarge, "PDF文件过大", "the PDF is too large")
	}
	tok, err := TokenFromPDF(pdf)
	if err != nil {
		zh, en, _ := strings.Cut(err.Error(), " / ")
		return h.fail(c, fiber.StatusBadRequest, zh, en)
	}
	chk := h.pdfCheck(c.UserContext(), tok, pdf)
	return c.JSON(h.verifyToken(c.UserContext(), tok, &chk, "pdf"))
}

// pdfCheck compares the file's SHA-256 with the stored one. The hash is
// read from the store, not the cache: it is set after issuance without an
// audit event.
func (h *handlers) pdfCheck(ctx context.Context, token string, pdf []byte) Check {
	l := checkLabels[CheckPDF]
	chk := Check{ID: CheckPDF, Outcome: Unknown, Zh: l[0], En: l[1]}
	number := numberOf(token)
	if number == "" {
		chk.DetailZh, chk.DetailEn = "无法从记录中读出证书编号", "no certificate number in the record"
		return chk
	}
	c, err := h.svc.Fresh(ctx, number)
	switch {
	case issuer.Is(err, issuer.ErrNotFound):
		chk.DetailZh, chk.DetailEn = "登记册中没有此证书", "the certificate is not in the register"
	case err != nil:
		chk.DetailZh, chk.DetailEn = "暂时无法查询登记册", "the register could not be reached"
	case c.PDFSHA256 == "":
		chk.DetailZh, chk.DetailEn = "发证机构未登记该证书PDF的摘要", "no digest of the issued PDF is on record"
	default:
		sum := sha256.Sum256(pdf)
		if strings.EqualFold(hex.EncodeToString(sum[:]), c.PDFSHA256) {
			chk.Outcome = Pass
		} else {
			chk.Outcome = Fail
			chk.DetailZh, chk.DetailEn = "文件与签发的PDF不一致：页面内容可能被修改", "the file differs from the issued PDF: its pages may have been edited"
		}
	}
	return chk
}

func numberOf(token string) string {
	var cl struct {
		CS struct {
			A struct {
				Number string `json:"certificateNumber"`
			} `json:"achievement"`
		} `json:"credentialSubject"`
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := decodeSegment(parts[1])
	if err != nil || json.Unmarshal(raw, &cl) != nil {
		return ""
	}
	n, err := NormalizeNumber(cl.CS.A.Number)
	if err != nil {
		return ""
	}
	return n
}
