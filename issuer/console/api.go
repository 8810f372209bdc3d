package console

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/roster"
)

// The API answers JSON to a bearer token; it never reads cookies, so a
// browser session cannot be ridden through it and no CSRF token is needed.

type apiCert struct {
	Number        string `json:"number"`
	Status        string `json:"status"`
	Institution   string `json:"institution"`
	Batch         string `json:"batch"`
	Name          string `json:"name"`
	DocType       string `json:"doc_type"`
	DocNumber     string `json:"doc_number"`
	Occupation    string `json:"occupation"`
	OccupationZh  string `json:"occupation_name"`
	Specialty     string `json:"specialty,omitempty"`
	Level         int    `json:"level"`
	IssuedOn      string `json:"issued_on"`
	SupersededBy  string `json:"superseded_by,omitempty"`
	Supersedes    string `json:"supersedes,omitempty"`
	RevokedReason string `json:"revoked_reason,omitempty"`
}

func toAPI(c issuer.Certificate) apiCert {
	a := apiCert{Number: c.Number, Status: string(c.Status), Institution: c.InstitutionID, Batch: c.BatchID, Name: c.Holder.Name,
		DocType: string(c.Holder.DocType), DocNumber: c.Holder.DocNumber, Occupation: c.Occupation, OccupationZh: c.OccupationName,
		Specialty: c.Specialty, Level: int(c.Level), IssuedOn: c.IssuedOn.Format(issuer.DateLayout), SupersededBy: c.SupersededBy, Supersedes: c.Supersedes}
	if c.Revocation != nil {
		a.RevokedReason = string(c.Revocation.Reason)
	}
	return a
}

func (c *Console) apiCertificates(fc *fiber.Ctx, rc *reqCtx) error {
	_, f, err := c.ledgerFilter(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	f.Limit = 500
	if n, err := strconv.Atoi(fc.Query("limit")); err == nil && n > 0 && n < 500 {
		f.Limit = n
	}
	certs, err := c.svc.Certificates(fc.UserContext(), rc.actor, f)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	out := make([]apiCert, len(certs))
	for i, ct := range certs {
		out[i] = toAPI(ct)
	}
	next := ""
	if len(certs) == f.Limit {
		next = certs[len(certs)-1].Number
	}
	return fc.JSON(fiber.Map{"certificates": out, "next": next})
}

func (c *Console) apiCertificate(fc *fiber.Ctx, rc *reqCtx) error {
	ct, err := c.cert(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return fc.JSON(toAPI(ct))
}

func (c *Console) apiRevoke(fc *fiber.Ctx, rc *reqCtx) error {
	// Look the certificate up first: another college's number is "not
	// found" whatever the body says.
	if _, err := c.cert(fc, rc); err != nil {
		return c.fail(fc, rc, err)
	}
	var req struct {
		Reason string `json:"reason"`
		Note   string `json:"note"`
	}
	if len(fc.Body()) > 8<<10 || json.Unmarshal(fc.Body(), &req) != nil {
		return c.fail(fc, rc, errf(issuer.ErrInvalid, "body", "请求体应为JSON：{\"reason\":…, \"note\":…}", `the body must be JSON: {"reason":…, "note":…}`))
	}
	if utf8.RuneCountInString(req.Note) > 500 {
		return c.fail(fc, rc, errf(issuer.ErrInvalid, "note_length", "说明不能超过500字", "the note must be at most 500 characters"))
	}
	ct, err := c.svc.Revoke(fc.UserContext(), rc.actor, strings.ToUpper(fc.Params("number")), issuer.RevocationReason(req.Reason), req.Note)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return fc.JSON(toAPI(ct))
}

// apiIssue takes the roster file as the request body; ?dry_run=1 checks
// it only. Problems come back row by row, as in the page.
func (c *Console) apiIssue(fc *fiber.Ctx, rc *reqCtx) error {
	body := fc.Body()
	if len(body) > roster.MaxFileBytes {
		return c.fail(fc, rc, errf(issuer.ErrInvalid, "file_too_large", "名单文件过大", "the roster file is too large"))
	}
	name := fc.Query("filename", "roster.xlsx")
	if len(name) > 100 {
		name = name[:100]
	}
	rep, err := c.svc.Issue(fc.UserContext(), rc.actor, issuer.IssueRequest{InstitutionID: rc.user.InstitutionID, Roster: append([]byte(nil), body...), Filename: name, DryRun: fc.Query("dry_run") == "1"})
	if err != nil {
		return c.fail(fc, rc, err)
	}
	status := fiber.StatusOK
	if len(rep.Problems) > 0 {
		status = fiber.StatusUnprocessableEntity
	}
	return fc.Status(status).JSON(rep)
}

func (c *Console) apiAudit(fc *fiber.Ctx, rc *reqCtx) error {
	after, _ := strconv.ParseInt(fc.Query("after"), 10, 64)
	f := issuer.AuditFilter{InstitutionID: fc.Query("institution"), Subject: fc.Query("subject"), Action: fc.Query("action"), AfterSeq: after, Limit: 1000}
	evs, err := c.svc.Audit(fc.UserContext(), rc.actor, f)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return fc.JSON(fiber.Map{"events": evs})
}
