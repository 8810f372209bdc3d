package verify

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
)

func decodeSegment(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// The published documents change only with the registry: their ETag is the
// registry fingerprint, so a CDN revalidates cheaply and an institution's
// suspension is visible on the next request.
func (h *handlers) registryDoc(c *fiber.Ctx, pick func(*regState) []byte) error {
	rs := h.svc.reg.Load()
	if rs == nil {
		return h.unavailable(c, ErrUnavailable)
	}
	b := &blob{body: pick(rs), etag: `"` + rs.fp + `"`}
	return h.sendBlob(c, b, fiber.MIMEApplicationJSONCharsetUTF8, ccPublic)
}

func (h *handlers) jwks(c *fiber.Ctx) error {
	return h.registryDoc(c, func(rs *regState) []byte { return rs.jwks })
}

func (h *handlers) trust(c *fiber.Ctx) error {
	return h.registryDoc(c, func(rs *regState) []byte { return rs.bundle })
}

// instRow is one line of the directory.
type instRow struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	USCC       string `json:"uscc"`
	FilingNo   string `json:"filing_no"`
	Prefix     string `json:"prefix"`
	ValidFrom  string `json:"valid_from"`
	ValidUntil string `json:"valid_until"`
	Status     string `json:"status"`
	City       string `json:"city,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Contact    string `json:"contact,omitempty"`
}

type scopeRow struct {
	Code      string `json:"occupation"`
	Name      string `json:"occupation_name"`
	Specialty string `json:"specialty,omitempty"`
	Levels    string `json:"levels"`
}

type feeRow struct {
	Code      string `json:"occupation"`
	Name      string `json:"occupation_name"`
	Level     string `json:"level"`
	AmountFen int64  `json:"amount_fen"`
	Amount    string `json:"amount"`
	Basis     string `json:"basis,omitempty"`
}

type versionRow struct {
	Version     int    `json:"version"`
	EffectiveAt string `json:"effective_at"`
	Status      string `json:"status"`
	ValidFrom   string `json:"valid_from"`
	ValidUntil  string `json:"valid_until"`
}

// instPage is an institution's public directory entry.
type instPage struct {
	instRow
	Scope    []scopeRow   `json:"scope"`
	Fees     []feeRow     `json:"fees"`
	Versions []versionRow `json:"versions"`
}

func rowOf(in issuer.Institution) instRow {
	return instRow{ID: in.ID, Name: in.Name, USCC: in.USCC, FilingNo: in.FilingNo, Prefix: in.Prefix,
		ValidFrom: in.ValidFrom.Format(issuer.DateLayout), ValidUntil: in.ValidUntil.Format(issuer.DateLayout),
		Status: string(in.Status), City: in.City, Kind: in.Kind, Contact: in.Contact}
}

func (rs *regState) page(id string, en bool) (*instPage, bool) {
	in, ok := rs.byID[id]
	if !ok {
		return nil, false
	}
	p := &instPage{instRow: rowOf(in)}
	for _, s := range in.Scope {
		var ls []string
		for _, l := range s.Levels {
			if en {
				ls = append(ls, l.English())
			} else {
				ls = append(ls, l.Chinese())
			}
		}
		p.Scope = append(p.Scope, scopeRow{Code: s.Occupation, Name: rs.occName(s.Occupation), Specialty: s.Specialty, Levels: strings.Join(ls, t(en, "、", ", "))})
	}
	for _, f := range in.Fees {
		amount := t(en, "免费", "free")
		if f.AmountFen > 0 {
			amount = fmt.Sprintf("%d.%02d %s", f.AmountFen/100, f.AmountFen%100, t(en, "元", "yuan"))
		}
		lvl := f.Level.Chinese()
		if en {
			lvl = f.Level.English()
		}
		p.Fees = append(p.Fees, feeRow{Code: f.Occupation, Name: rs.occName(f.Occupation), Level: lvl, AmountFen: f.AmountFen, Amount: amount, Basis: f.Basis})
	}
	for _, v := range rs.versions[id] {
		p.Versions = append(p.Versions, versionRow{Version: v.Version, EffectiveAt: v.EffectiveAt.In(issuer.ChinaTime).Format("2006-01-02 15:04"),
			Status: string(v.Status), ValidFrom: v.ValidFrom.Format(issuer.DateLayout), ValidUntil: v.ValidUntil.Format(issuer.DateLayout)})
	}
	if p.Scope == nil {
		p.Scope = []scopeRow{}
	}
	if p.Fees == nil {
		p.Fees = []feeRow{}
	}
	return p, true
}

func (rs *regState) occName(code string) string {
	if o, ok := rs.occupations[code]; ok {
		return o
	}
	return code
}

func (h *handlers) institutions(c *fiber.Ctx) error {
	rs := h.svc.reg.Load()
	if rs == nil {
		return h.unavailable(c, ErrUnavailable)
	}
	en := wantsEnglish(c)
	d := h.pageData(c, "/institutions", en, t(en, "职业技能等级认定机构目录", "Registered certification institutions"),
		t(en, "经吉林省人力资源和社会保障厅备案的职业技能等级认定机构", "Skill certification institutions registered with the Jilin HRSS department"))
	for _, in := range rs.institutions {
		d.Institutions = append(d.Institutions, rowOf(in))
	}
	c.Set("Cache-Control", ccPublic)
	return h.renderPage(c, fiber.StatusOK, "institutions", d)
}

func (h *handlers) institution(c *fiber.Ctx) error {
	rs := h.svc.reg.Load()
	if rs == nil {
		return h.unavailable(c, ErrUnavailable)
	}
	en := wantsEnglish(c)
	id := c.Params("id")
	p, ok := rs.page(id, en)
	if !ok {
		return h.fail(c, fiber.StatusNotFound, "没有该认定机构", "no such institution")
	}
	d := h.pageData(c, "/institutions/"+p.ID, en, p.Name, t(en, "备案编号 ", "Filing no. ")+p.FilingNo)
	d.Inst = p
	c.Set("Cache-Control", ccPublic)
	return h.renderPage(c, fiber.StatusOK, "institution", d)
}

func (h *handlers) apiInstitutions(c *fiber.Ctx) error {
	rs := h.svc.reg.Load()
	if rs == nil {
		return h.unavailable(c, ErrUnavailable)
	}
	rows := []instRow{}
	for _, in := range rs.institutions {
		rows = append(rows, rowOf(in))
	}
	c.Set("Cache-Control", ccPublic)
	return c.JSON(fiber.Map{"institutions": rows})
}

func (h *handlers) apiInstitution(c *fiber.Ctx) error {
	rs := h.svc.reg.Load()
	if rs == nil {
		return h.unavailable(c, ErrUnavailable)
	}
	p, ok := rs.page(c.Params("id"), c.Query("lang") == "en")
	if !ok {
		return h.fail(c, fiber.StatusNotFound, "没有该认定机构", "no such institution")
	}
	c.Set("Cache-Control", ccPublic)
	return c.JSON(p)
}
