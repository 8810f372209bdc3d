package web

import (
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/verify/cache"
)

// withDirectory serves a route from the current directory, or answers
// "unavailable" while none could be loaded.
func (h *handlers) withDirectory(serve func(*fiber.Ctx, *cache.Directory) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d := h.svc.Directory()
		if d == nil {
			return h.unavailable(c, cache.ErrUnavailable)
		}
		return serve(c, d)
	}
}

// The published documents change only with the registry: their ETag names
// their content, so a CDN revalidates cheaply and an institution's
// suspension is visible on the next request.

func (h *handlers) jwks(c *fiber.Ctx, d *cache.Directory) error {
	return h.sendBlob(c, d.JWKS, fiber.MIMEApplicationJSONCharsetUTF8, ccPublic)
}

func (h *handlers) trust(c *fiber.Ctx, d *cache.Directory) error {
	return h.sendBlob(c, d.TrustBundle, fiber.MIMEApplicationJSONCharsetUTF8, ccPublic)
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

// institutionPage is institution id's directory entry, in the language
// asked for.
func institutionPage(d *cache.Directory, id string, en bool) (*instPage, bool) {
	in, ok := d.Institution(id)
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
		p.Scope = append(p.Scope, scopeRow{Code: s.Occupation, Name: d.OccupationName(s.Occupation), Specialty: s.Specialty, Levels: strings.Join(ls, t(en, "、", ", "))})
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
		p.Fees = append(p.Fees, feeRow{Code: f.Occupation, Name: d.OccupationName(f.Occupation), Level: lvl, AmountFen: f.AmountFen, Amount: amount, Basis: f.Basis})
	}
	for _, v := range d.Versions(id) {
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

func (h *handlers) institutions(c *fiber.Ctx, dir *cache.Directory) error {
	en := wantsEnglish(c)
	d := h.pageData(c, "/institutions", en, t(en, "职业技能等级认定机构目录", "Registered certification institutions"),
		t(en, "经吉林省人力资源和社会保障厅备案的职业技能等级认定机构", "Skill certification institutions registered with the Jilin HRSS department"))
	for _, in := range dir.Institutions {
		d.Institutions = append(d.Institutions, rowOf(in))
	}
	c.Set("Cache-Control", ccPublic)
	return h.renderPage(c, fiber.StatusOK, "institutions", d)
}

func (h *handlers) institution(c *fiber.Ctx, dir *cache.Directory) error {
	en := wantsEnglish(c)
	p, ok := institutionPage(dir, c.Params("id"), en)
	if !ok {
		return h.fail(c, errNoInstitution)
	}
	d := h.pageData(c, "/institutions/"+p.ID, en, p.Name, t(en, "备案编号 ", "Filing no. ")+p.FilingNo)
	d.Inst = p
	c.Set("Cache-Control", ccPublic)
	return h.renderPage(c, fiber.StatusOK, "institution", d)
}

func (h *handlers) apiInstitutions(c *fiber.Ctx, dir *cache.Directory) error {
	rows := []instRow{}
	for _, in := range dir.Institutions {
		rows = append(rows, rowOf(in))
	}
	c.Set("Cache-Control", ccPublic)
	return c.JSON(fiber.Map{"institutions": rows})
}

func (h *handlers) apiInstitution(c *fiber.Ctx, dir *cache.Directory) error {
	p, ok := institutionPage(dir, c.Params("id"), wantsEnglish(c))
	if !ok {
		return h.fail(c, errNoInstitution)
	}
	c.Set("Cache-Control", ccPublic)
	return c.JSON(p)
}
