package console

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/occupation"
)

// Cities are Jilin's prefecture-level divisions (市州), for the
// registration form and the coverage dashboard.
var Cities = []string{"长春市", "吉林市", "四平市", "辽源市", "通化市", "白山市", "松原市", "白城市", "延边朝鲜族自治州"}

// Kinds are the institution types the coverage targets are set for, with
// the year by whose end all of each kind should be registered.
var Kinds = []struct {
	Zh, En string
	Year   int
}{{"高职", "higher vocational college", 2026}, {"应用型本科", "applied undergraduate university", 2027}, {"其他", "other", 2028}}

func kindOf(k string) string {
	for _, x := range Kinds[:2] {
		if k == x.Zh {
			return k
		}
	}
	return "其他"
}

type instListData struct {
	Institutions []issuer.Institution
	Today        time.Time
}

func (c *Console) institutionsPage(fc *fiber.Ctx, rc *reqCtx) error {
	all, err := c.svc.Institutions(fc.UserContext(), rc.actor)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return c.render(fc, rc, "institutions", instListData{Institutions: all, Today: issuer.Day(c.now())})
}

// scopeRow is one line of the scope editor: an occupation (or one 工种 of
// it) and the levels the catalogue defines for it.
type scopeRow struct {
	Code, Name, Specialty string
	Levels                []scopeLevel
}

type scopeLevel struct {
	Level   occupation.Level
	Value   string
	Checked bool
}

type instFormData struct {
	Spec     issuer.InstitutionSpec
	Scope    []scopeRow
	Cities   []string
	Kinds    any
	Err      *formErr
	Edit     bool
	In       issuer.Institution
	Versions []issuer.Institution
	Today    string
}

func (c *Console) scopeRows(fc *fiber.Ctx, chosen map[string]bool) ([]scopeRow, error) {
	occ, err := c.svc.Occupations(fc.UserContext())
	if err != nil {
		return nil, err
	}
	var out []scopeRow
	for _, o := range occ {
		add := func(spec string, levels []occupation.Level) {
			r := scopeRow{Code: o.Code, Name: o.Name, Specialty: spec}
			for _, l := range levels {
				v := o.Code + "|" + spec + "|" + l.String()
				r.Levels = append(r.Levels, scopeLevel{Level: l, Value: v, Checked: chosen[v]})
			}
			out = append(out, r)
		}
		add("", o.Levels)
		for _, s := range o.Specialties {
			add(s.Name, s.Levels)
		}
	}
	return out, nil
}

func chosenOf(scope []issuer.ScopeEntry) map[string]bool {
	m := map[string]bool{}
	for _, s := range scope {
		for _, l := range s.Levels {
			m[s.Occupation+"|"+s.Specialty+"|"+l.String()] = true
		}
	}
	return m
}

func (c *Console) instForm(fc *fiber.Ctx, rc *reqCtx, status int, d instFormData, chosen map[string]bool) error {
	rows, err := c.scopeRows(fc, chosen)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d.Scope, d.Cities, d.Kinds, d.Today = rows, Cities, Kinds, c.today()
	page := "institution_new"
	if d.Edit {
		page = "institution"
	}
	return c.renderStatus(fc, rc, status, page, d)
}

func (c *Console) institutionNew(fc *fiber.Ctx, rc *reqCtx) error {
	return c.instForm(fc, rc, fiber.StatusOK, instFormData{}, nil)
}

// specFromForm reads the registration form; scope comes as checkboxes
// "code|工种|level".
func specFromForm(fc *fiber.Ctx) (issuer.InstitutionSpec, map[string]bool, error) {
	spec := issuer.InstitutionSpec{ID: fc.FormValue("id"), Name: fc.FormValue("name"), USCC: fc.FormValue("uscc"), Prefix: fc.FormValue("prefix"),
		FilingNo: fc.FormValue("filing_no"), ValidFrom: fc.FormValue("valid_from"), ValidUntil: fc.FormValue("valid_until"),
		Contact: fc.FormValue("contact"), City: fc.FormValue("city"), Kind: fc.FormValue("kind")}
	for _, v := range []string{spec.ID, spec.Name, spec.USCC, spec.Prefix, spec.FilingNo, spec.ValidFrom, spec.ValidUntil, spec.Contact, spec.City, spec.Kind} {
		if utf8.RuneCountInString(v) > 200 {
			return spec, nil, errf(issuer.ErrInvalid, "field_long", "填写的内容过长（每项最多200字）", "a field is too long (at most 200 characters)")
		}
	}
	chosen := map[string]bool{}
	var values []string
	for _, v := range fc.Context().PostArgs().PeekMulti("scope") {
		values = append(values, string(v))
	}
	if form, err := fc.MultipartForm(); err == nil {
		values = append(values, form.Value["scope"]...)
	}
	if len(values) > 5000 {
		return spec, nil, errf(issuer.ErrInvalid, "scope_long", "认定范围过多", "too many scope lines")
	}
	idx := map[string]int{}
	for _, v := range values {
		parts := strings.Split(v, "|")
		if len(parts) != 3 {
			continue
		}
		chosen[v] = true
		key := parts[0] + "|" + parts[1]
		i, ok := idx[key]
		if !ok {
			i = len(spec.Scope)
			idx[key] = i
			spec.Scope = append(spec.Scope, issuer.ScopeSpec{Occupation: parts[0], Specialty: parts[1]})
		}
		spec.Scope[i].Levels = append(spec.Scope[i].Levels, parts[2])
	}
	return spec, chosen, nil
}

func (c *Console) institutionCreate(fc *fiber.Ctx, rc *reqCtx) error {
	spec, chosen, err := specFromForm(fc)
	if err == nil {
		_, err = c.svc.AddInstitution(fc.UserContext(), rc.actor, spec)
	}
	if err != nil {
		_, _, status := c.userError(err)
		return c.instForm(fc, rc, status, instFormData{Spec: spec, Err: c.formError(err)}, chosen)
	}
	return c.redirect(fc, "/console/institutions/"+strings.TrimSpace(spec.ID), "registered")
}

func specOf(in issuer.Institution) issuer.InstitutionSpec {
	return issuer.InstitutionSpec{ID: in.ID, Name: in.Name, USCC: in.USCC, Prefix: in.Prefix, FilingNo: in.FilingNo,
		ValidFrom: in.ValidFrom.Format(issuer.DateLayout), ValidUntil: in.ValidUntil.Format(issuer.DateLayout), Contact: in.Contact, City: in.City, Kind: in.Kind}
}

func (c *Console) institutionView(fc *fiber.Ctx, rc *reqCtx, status int, ferr error, spec *issuer.InstitutionSpec, chosen map[string]bool) error {
	vs, err := c.svc.InstitutionVersions(fc.UserContext(), rc.actor, fc.Params("id"))
	if err != nil {
		return c.fail(fc, rc, err)
	}
	slices.Reverse(vs)
	in := vs[0]
	d := instFormData{Edit: true, In: in, Versions: vs, Spec: specOf(in)}
	if spec != nil {
		d.Spec = *spec
	}
	if chosen == nil {
		chosen = chosenOf(in.Scope)
	}
	if ferr != nil {
		d.Err = c.formError(ferr)
	}
	return c.instForm(fc, rc, status, d, chosen)
}

func (c *Console) institutionPage(fc *fiber.Ctx, rc *reqCtx) error {
	return c.institutionView(fc, rc, fiber.StatusOK, nil, nil, nil)
}

func (c *Console) institutionDone(fc *fiber.Ctx, rc *reqCtx, err error, msg string) error {
	if err != nil {
		_, _, status := c.userError(err)
		return c.institutionView(fc, rc, status, err, nil, nil)
	}
	return c.redirect(fc, "/console/institutions/"+fc.Params("id"), msg)
}

func (c *Console) institutionUpdate(fc *fiber.Ctx, rc *reqCtx) error {
	spec, chosen, err := specFromForm(fc)
	spec.ID = fc.Params("id")
	msg := "updated"
	if err == nil {
		var before, next issuer.Institution
		if before, err = c.svc.Institution(fc.UserContext(), rc.actor, spec.ID); err == nil {
			// The form has no fees (they are the college's to publish), so
			// the service keeps them as they are.
			next, err = c.svc.UpdateInstitution(fc.UserContext(), rc.actor, spec)
		}
		if err == nil && next.Version == before.Version {
			msg = "unchanged"
		}
	}
	if err != nil {
		_, _, status := c.userError(err)
		return c.institutionView(fc, rc, status, err, &spec, chosen)
	}
	return c.redirect(fc, "/console/institutions/"+spec.ID, msg)
}

func (c *Console) institutionStatus(fc *fiber.Ctx, rc *reqCtx) error {
	note := strings.TrimSpace(fc.FormValue("note"))
	if note == "" || utf8.RuneCountInString(note) > 500 {
		return c.institutionDone(fc, rc, errf(issuer.ErrInvalid, "note_required", "请填写原因（不超过500字）", "give the reason (at most 500 characters)"), "")
	}
	_, err := c.svc.SetStatus(fc.UserContext(), rc.actor, fc.Params("id"), issuer.InstitutionStatus(fc.FormValue("status")), note)
	return c.institutionDone(fc, rc, err, "status")
}

func (c *Console) institutionRenew(fc *fiber.Ctx, rc *reqCtx) error {
	_, err := c.svc.Renew(fc.UserContext(), rc.actor, fc.Params("id"), strings.TrimSpace(fc.FormValue("until")))
	return c.institutionDone(fc, rc, err, "renewed")
}

func (c *Console) institutionRotate(fc *fiber.Ctx, rc *reqCtx) error {
	_, err := c.svc.RotateKey(fc.UserContext(), rc.actor, fc.Params("id"))
	return c.institutionDone(fc, rc, err, "rotated")
}

type catalogueData struct {
	Occupations []occupation.Occupation
	Err         *formErr
}

func (c *Console) cataloguePage(fc *fiber.Ctx, rc *reqCtx) error {
	occ, err := c.svc.Occupations(fc.UserContext())
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return c.render(fc, rc, "catalogue", catalogueData{Occupations: occ})
}

func (c *Console) catalogueImport(fc *fiber.Ctx, rc *reqCtx) error {
	fh, err := fc.FormFile("catalogue")
	if err != nil {
		err = errf(issuer.ErrInvalid, "catalogue_missing", "请选择职业目录文件（JSON）", "choose the catalogue file (JSON)")
	} else {
		var b []byte
		if b, err = readUpload(fh, 8<<20); err == nil {
			_, err = c.svc.ImportCatalogue(fc.UserContext(), rc.actor, b)
		}
	}
	if err != nil {
		occ, _ := c.svc.Occupations(fc.UserContext())
		_, _, status := c.userError(err)
		return c.renderStatus(fc, rc, status, "catalogue", catalogueData{Occupations: occ, Err: c.formError(err)})
	}
	return c.redirect(fc, "/console/catalogue", "imported")
}
