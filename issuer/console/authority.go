package console

import (
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/occupation"
)

// Cities are Jilin's prefecture-level divisions (市州) and the two areas
// the provincial notice addresses beside them, for the registration form,
// the expected list and the coverage dashboard.
var Cities = issuer.Cities

// Kinds are the types of college (高职, 应用型本科, ...), in display order.
var Kinds = issuer.CollegeKinds

// kindOf is the kind a registration counts under: one of Kinds, or 其他.
func kindOf(k string) string {
	if z, ok := issuer.CollegeKindOf(k); ok {
		return z
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
	Scope    scopeForm
	Cities   []string
	Kinds    any
	Err      *formErr
	Edit     bool
	In       issuer.Institution
	Versions []issuer.Institution
	Today    string
}

// FieldErr is the problem of one field of the form, nil when it has none.
func (d instFormData) FieldErr(name string) *issuer.FieldProblem { return d.Err.Field(name) }

func chosenOf(scope []issuer.ScopeEntry) map[string]bool {
	m := map[string]bool{}
	for _, s := range scope {
		for _, l := range s.Levels {
			m[scopeKey(s.Occupation, s.Specialty, l)] = true
		}
	}
	return m
}

// searchQuery is the scope editor's search, from the form or the address.
func searchQuery(fc *fiber.Ctx) string {
	q := fc.FormValue("q")
	if fc.FormValue("op") == "showall" {
		return ""
	}
	if fc.Method() == fiber.MethodGet {
		q = fc.Query("q")
	}
	q = strings.TrimSpace(q)
	if utf8.RuneCountInString(q) > 50 {
		q = string([]rune(q)[:50])
	}
	return q
}

func (c *Console) instForm(fc *fiber.Ctx, rc *reqCtx, status int, d instFormData, chosen map[string]bool) error {
	occ, err := c.svc.Occupations(fc.UserContext())
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d.Scope, d.Cities, d.Kinds, d.Today = buildScopeForm(occ, chosen, searchQuery(fc)), Cities, Kinds, c.today()
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
// "code|工种|level", and the editor's whole-level shortcuts add or remove
// lines of the catalogue.
func (c *Console) specFromForm(fc *fiber.Ctx) (issuer.InstitutionSpec, map[string]bool, error) {
	spec := issuer.InstitutionSpec{ID: fc.FormValue("id"), Name: fc.FormValue("name"), USCC: fc.FormValue("uscc"), Prefix: fc.FormValue("prefix"),
		FilingNo: fc.FormValue("filing_no"), ValidFrom: fc.FormValue("valid_from"), ValidUntil: fc.FormValue("valid_until"),
		Contact: fc.FormValue("contact"), City: fc.FormValue("city"), Kind: fc.FormValue("kind")}
	// Each field's bound is checked by the service with the other
	// problems, so that one submission reports them all.
	values := formValues(fc, "scope")
	if len(values) > 5000 {
		return spec, nil, errf(issuer.ErrInvalid, "scope_long", "认定范围过多", "too many scope lines")
	}
	chosen := map[string]bool{}
	for _, v := range values {
		if len(strings.Split(v, "|")) == 3 {
			chosen[v] = true
		}
	}
	occ, err := c.svc.Occupations(fc.UserContext())
	if err != nil {
		return spec, chosen, err
	}
	// Shortcuts act on the lines the page listed; a new search lists
	// others, so it applies none.
	if op := fc.FormValue("op"); op != "search" && op != "showall" {
		applyShortcuts(fc, occ, chosen, searchQuery(fc))
	}
	spec.Scope = scopeSpecs(occ, chosen)
	return spec, chosen, nil
}

// scopeConfirmData is the page between the scope editor and the save.
type scopeConfirmData struct {
	Edit             bool
	In               issuer.Institution
	Spec             issuer.InstitutionSpec
	Values           []string // the chosen lines, replayed
	Added, Removed   []scopeChange
	Fields           []fieldChange
	Action           string
	AddedN, RemovedN int
}

type fieldChange struct{ Zh, En, From, To string }

func countLevels(cs []scopeChange) int {
	n := 0
	for _, c := range cs {
		n += len(c.Levels)
	}
	return n
}

// review shows what a registration or an edit will change and asks for a
// confirmation; op=search re-renders the editor with the choices so far.
func (c *Console) review(fc *fiber.Ctx, rc *reqCtx, edit bool, spec issuer.InstitutionSpec, chosen map[string]bool) error {
	var cur issuer.Institution
	var next issuer.Institution
	var err error
	occ, err := c.svc.Occupations(fc.UserContext())
	if err != nil {
		return c.fail(fc, rc, err)
	}
	if edit {
		cur, next, err = c.svc.PreviewUpdate(fc.UserContext(), rc.actor, spec)
	} else {
		next, err = c.svc.PreviewRegistration(fc.UserContext(), rc.actor, spec)
	}
	if err != nil {
		_, _, status := c.userError(err)
		if edit {
			return c.institutionView(fc, rc, status, err, &spec, chosen)
		}
		return c.instForm(fc, rc, status, instFormData{Spec: spec, Err: c.formError(err)}, chosen)
	}
	d := scopeConfirmData{Edit: edit, In: cur, Spec: spec}
	d.Added, d.Removed = scopeDiff(occ, cur.Scope, next.Scope)
	d.AddedN, d.RemovedN = countLevels(d.Added), countLevels(d.Removed)
	for k := range chosen {
		d.Values = append(d.Values, k)
	}
	slices.Sort(d.Values)
	if edit {
		old := specOf(cur)
		for _, f := range []struct{ zh, en, a, b string }{
			{"机构名称", "name", old.Name, next.Name}, {"统一社会信用代码", "credit code", old.USCC, next.USCC}, {"备案编号", "filing number", old.FilingNo, next.FilingNo},
			{"备案有效期起", "valid from", old.ValidFrom, next.ValidFrom.Format(issuer.DateLayout)}, {"备案有效期至", "valid until", old.ValidUntil, next.ValidUntil.Format(issuer.DateLayout)},
			{"市州", "city", old.City, next.City}, {"类型", "kind", old.Kind, next.Kind}, {"联系方式", "contact", old.Contact, next.Contact},
		} {
			if f.a != f.b {
				d.Fields = append(d.Fields, fieldChange{f.zh, f.en, f.a, f.b})
			}
		}
		d.Action = "/console/institutions/" + cur.ID
		if len(d.Fields) == 0 && d.AddedN == 0 && d.RemovedN == 0 {
			return c.redirect(fc, "/console/institutions/"+cur.ID, "unchanged")
		}
	} else {
		d.Action = "/console/institutions"
	}
	return c.render(fc, rc, "scope_confirm", d)
}

func (c *Console) institutionCreate(fc *fiber.Ctx, rc *reqCtx) error {
	spec, chosen, err := c.specFromForm(fc)
	if err == nil {
		switch fc.FormValue("op") {
		case "search", "showall":
			return c.instForm(fc, rc, fiber.StatusOK, instFormData{Spec: spec}, chosen)
		case "confirm":
			_, err = c.svc.AddInstitution(fc.UserContext(), rc.actor, spec)
		default:
			return c.review(fc, rc, false, spec, chosen)
		}
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
	spec, chosen, err := c.specFromForm(fc)
	spec.ID = fc.Params("id")
	msg := "updated"
	if op := fc.FormValue("op"); err == nil && (op == "search" || op == "showall") {
		return c.institutionView(fc, rc, fiber.StatusOK, nil, &spec, chosen)
	}
	if err == nil && fc.FormValue("op") != "confirm" {
		// "review", or an implicit submission: never a save.
		return c.review(fc, rc, true, spec, chosen)
	}
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

type statusConfirmData struct {
	In     issuer.Institution
	Status issuer.InstitutionStatus
	Note   string
	// Valid is how many of its certificates are valid (from the coverage
	// figures, at most a minute old); -1 when they could not be read.
	Valid int
}

// institutionStatus changes a college's status after a page that states
// what the change does (confirm=1 on that page's form).
func (c *Console) institutionStatus(fc *fiber.Ctx, rc *reqCtx) error {
	note := strings.TrimSpace(fc.FormValue("note"))
	if note == "" || utf8.RuneCountInString(note) > 500 {
		return c.institutionDone(fc, rc, errf(issuer.ErrInvalid, "note_required", "请填写原因（不超过500字）", "give the reason (at most 500 characters)"), "")
	}
	st := issuer.InstitutionStatus(fc.FormValue("status"))
	if fc.FormValue("confirm") != "1" {
		in, err := c.svc.Institution(fc.UserContext(), rc.actor, fc.Params("id"))
		if err != nil {
			return c.fail(fc, rc, err)
		}
		switch {
		case st != issuer.Active && st != issuer.Suspended && st != issuer.Withdrawn:
			err = errf(issuer.ErrInvalid, "status_unknown", "请选择新状态", "choose the new status")
		case in.Status == st:
			err = &issuer.Error{Kind: issuer.ErrConflict, Code: "status_same", Zh: "机构状态已是“" + st.Chinese() + "”", En: "the institution is already " + string(st)}
		case in.Status == issuer.Withdrawn:
			err = errf(issuer.ErrConflict, "withdrawn", "已撤销备案的机构不能恢复，请重新备案", "a withdrawn registration cannot be reinstated; register again")
		}
		if err != nil {
			return c.institutionDone(fc, rc, err, "")
		}
		d := statusConfirmData{In: in, Status: st, Note: note, Valid: -1}
		if dash, err := c.dashboardData(fc.UserContext(), rc.actor); err == nil {
			for _, dc := range dash.Colleges {
				if dc.ID == in.ID {
					d.Valid = dc.Valid
				}
			}
		}
		return c.render(fc, rc, "status_confirm", d)
	}
	_, err := c.svc.SetStatus(fc.UserContext(), rc.actor, fc.Params("id"), st, note)
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
	// The single-entry form, given back after a refusal.
	Entry occupation.Occupation
	Specs string
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
		err = errf(issuer.ErrInvalid, "catalogue_missing", "请选择职业目录表格（.xlsx，按模板填写）或JSON文件", "choose the catalogue sheet (.xlsx, as the template) or a JSON file")
	} else {
		var b []byte
		if b, err = readUpload(fh, 8<<20); err == nil {
			// A spreadsheet (the template's columns) or the JSON file.
			if ext := strings.ToLower(filepath.Ext(fh.Filename)); ext == ".xlsx" || ext == ".csv" {
				b, _, err = catalogueFromSheet(fc.UserContext(), fh.Filename, b)
			}
			if err == nil {
				_, err = c.svc.ImportCatalogue(fc.UserContext(), rc.actor, b)
			}
		}
	}
	if err != nil {
		occ, _ := c.svc.Occupations(fc.UserContext())
		_, _, status := c.userError(err)
		return c.renderStatus(fc, rc, status, "catalogue", catalogueData{Occupations: occ, Err: c.formError(err)})
	}
	return c.redirect(fc, "/console/catalogue", "imported")
}
