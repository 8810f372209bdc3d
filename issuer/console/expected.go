package console

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
)

// The colleges the authority expects to register: a list it imports from
// a sheet or keeps one by one, matched to the registrations (by hand, by
// credit code, by name) to give the coverage dashboard its denominators.
// Administrators of the authority change it; the province's auditors read
// it with the dashboard; colleges see nothing of it (it is the
// authority's working paper on other colleges, and says nothing a college
// needs to issue).

// expectedRow is one expected college with what it matched.
type expectedRow struct {
	issuer.ExpectedCollege
	Match   issuer.ExpectedMatch
	InName  string // the matched institution's name
	InState issuer.InstitutionStatus
	// Withdrawn names a registration of this college that was withdrawn:
	// it counts as not registered, and the list says why.
	Withdrawn string
}

// coverageLine is one kind or city: expected, registered, the share.
type coverageLine struct {
	Key, En              string
	Expected, Registered int
	Pct                  int
}

// coverage is what the expected list adds to the dashboard.
type coverage struct {
	Has                  bool
	Expected, Registered int
	Missing, Pct         int
	ByKind, ByCity       []coverageLine
	Rows                 []expectedRow        // the whole list, matched
	Unlisted             []issuer.Institution // registered, in no line of the list
}

func pct(a, b int) int {
	if b == 0 {
		return 0
	}
	return a * 100 / b
}

// matchExpected reads the list and matches it to the registrations.
func (c *Console) matchExpected(ctx context.Context, actor issuer.Actor, all []issuer.Institution) (coverage, error) {
	var cv coverage
	list, err := c.svc.ExpectedColleges(ctx, actor)
	if err != nil {
		return cv, err
	}
	byID := map[string]issuer.Institution{}
	for _, in := range all {
		byID[in.ID] = in
	}
	m := issuer.MatchExpected(list, all)
	used := map[string]bool{}
	for _, e := range list {
		r := expectedRow{ExpectedCollege: e, Match: m[e.ID]}
		if r.Match.InstitutionID != "" {
			in := byID[r.Match.InstitutionID]
			r.InName, r.InState = in.Name, in.Status
			used[in.ID] = true
		} else {
			for _, in := range all {
				if in.Status == issuer.Withdrawn && (in.ID == e.InstitutionID || issuer.CollegeNameKey(in.Name) == issuer.CollegeNameKey(e.Name)) {
					r.Withdrawn = in.Name
				}
			}
		}
		cv.Rows = append(cv.Rows, r)
	}
	for _, in := range all {
		if !used[in.ID] && in.Status != issuer.Withdrawn {
			cv.Unlisted = append(cv.Unlisted, in)
		}
	}
	sort.SliceStable(cv.Rows, func(i, j int) bool {
		a, b := cv.Rows[i], cv.Rows[j]
		if a.City != b.City {
			return cityOrder(a.City) < cityOrder(b.City)
		}
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		return a.Name < b.Name
	})
	cv.Has = len(list) > 0
	kinds, cities := map[string]*coverageLine{}, map[string]*coverageLine{}
	for _, k := range Kinds {
		kinds[k.Zh] = &coverageLine{Key: k.Zh, En: k.En}
	}
	for _, ct := range Cities {
		cities[ct] = &coverageLine{Key: ct}
	}
	for _, r := range cv.Rows {
		cv.Expected++
		k, ct := kinds[r.Kind], cities[r.City]
		if k == nil {
			k = kinds["其他"]
		}
		if ct == nil {
			ct = &coverageLine{Key: r.City}
			cities[r.City] = ct
		}
		k.Expected++
		ct.Expected++
		if r.Match.InstitutionID != "" {
			cv.Registered++
			k.Registered++
			ct.Registered++
		}
	}
	cv.Pct, cv.Missing = pct(cv.Registered, cv.Expected), cv.Expected-cv.Registered
	for _, k := range Kinds {
		if l := kinds[k.Zh]; l.Expected > 0 {
			l.Pct = pct(l.Registered, l.Expected)
			cv.ByKind = append(cv.ByKind, *l)
		}
	}
	for _, ct := range Cities {
		if l := cities[ct]; l.Expected > 0 {
			l.Pct = pct(l.Registered, l.Expected)
			cv.ByCity = append(cv.ByCity, *l)
		}
	}
	return cv, nil
}

func kindOrder(k string) int {
	for i, x := range Kinds {
		if x.Zh == k {
			return i
		}
	}
	return len(Kinds)
}

// addTrends sets each notice target's figures against the list: expected
// and registered now, the share at the end of each month of the trend
// (a college counts from the first day of its registration), and what is
// still needed a month to meet the target by its deadline.
func addTrends(d *dashboard, cv coverage, all []issuer.Institution, months []time.Time, today time.Time) {
	start := map[string]time.Time{}
	for _, in := range all {
		start[in.ID] = in.ValidFrom
	}
	for i := range d.Targets {
		t := &d.Targets[i]
		var regs []time.Time
		for _, r := range cv.Rows {
			if !slices.Contains(t.Kinds, r.Kind) {
				continue
			}
			t.Expected++
			if r.Match.InstitutionID != "" {
				t.Registered++
				regs = append(regs, start[r.Match.InstitutionID])
			}
		}
		t.Pct, t.Missing = pct(t.Registered, t.Expected), t.Expected-t.Registered
		for _, m := range months {
			end := m.AddDate(0, 1, 0)
			n := 0
			for _, s := range regs {
				if s.Before(end) {
					n++
				}
			}
			t.Trend = append(t.Trend, trendPoint{Label: m.Format("2006-01"), Registered: n, Pct: pct(n, t.Expected)})
		}
		deadline := time.Date(t.Year, 12, 31, 0, 0, 0, 0, issuer.ChinaTime)
		now := today.In(issuer.ChinaTime)
		t.MonthsLeft = (deadline.Year()-now.Year())*12 + int(deadline.Month()-now.Month()) + 1
		if left := t.Expected - t.Registered; left > 0 && t.MonthsLeft > 0 {
			t.PerMonth = (left + t.MonthsLeft - 1) / t.MonthsLeft
		}
	}
}

// ---- the list's pages ----

type expectedData struct {
	Cov        coverage
	Err        *formErr
	ImportErr  *formErr
	Spec       issuer.ExpectedSpec // the add form, given back after a refusal
	Cities     []string
	Kinds      []issuer.CollegeKind
	Entry      *expectedRow // the entry page
	Candidates []issuer.Institution
	Imported   string // what the last import did, after its redirect
}

// FieldErr is the problem of one field of the add or edit form.
func (d expectedData) FieldErr(name string) *issuer.FieldProblem { return d.Err.Field(name) }

func (c *Console) expectedView(fc *fiber.Ctx, rc *reqCtx, status int, page string, d expectedData) error {
	all, err := c.svc.Institutions(fc.UserContext(), rc.actor)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	if d.Cov, err = c.matchExpected(fc.UserContext(), rc.actor, all); err != nil {
		return c.fail(fc, rc, err)
	}
	d.Cities, d.Kinds = Cities, Kinds
	if page == "expected_entry" {
		for i := range d.Cov.Rows {
			if d.Cov.Rows[i].ID == fc.Params("id") {
				r := d.Cov.Rows[i]
				d.Entry = &r
			}
		}
		if d.Entry == nil {
			return c.fail(fc, rc, errf(issuer.ErrNotFound, "expected_unknown", "名单中没有这所院校", "no such college in the list"))
		}
		if d.Spec.Name == "" && d.Err == nil {
			d.Spec = issuer.ExpectedSpec{Name: d.Entry.Name, Kind: d.Entry.Kind, City: d.Entry.City, Code: d.Entry.Code}
		}
		d.Candidates = d.Cov.Unlisted
	}
	return c.renderStatus(fc, rc, status, page, d)
}

func (c *Console) expectedPage(fc *fiber.Ctx, rc *reqCtx) error {
	d := expectedData{}
	if fc.Query("msg") == "expected_imported" {
		a, u := fc.QueryInt("added"), fc.QueryInt("updated")
		d.Imported = fmt.Sprintf("新增%d所，更新%d所。 / %d added, %d updated.", a, u, a, u)
	}
	return c.expectedView(fc, rc, fiber.StatusOK, "expected", d)
}

func (c *Console) expectedEntryPage(fc *fiber.Ctx, rc *reqCtx) error {
	return c.expectedView(fc, rc, fiber.StatusOK, "expected_entry", expectedData{})
}

func specFromExpectedForm(fc *fiber.Ctx) issuer.ExpectedSpec {
	cut := func(s string) string {
		if r := []rune(s); len(r) > 200 {
			return string(r[:200])
		}
		return s
	}
	return issuer.ExpectedSpec{Name: cut(fc.FormValue("name")), Kind: cut(fc.FormValue("kind")), City: cut(fc.FormValue("city")), Code: cut(fc.FormValue("code"))}
}

// dashChanged drops the cached dashboard after a change of the list.
func (c *Console) dashChanged() {
	c.dashMu.Lock()
	c.dashData = nil
	c.dashMu.Unlock()
}

func (c *Console) expectedAdd(fc *fiber.Ctx, rc *reqCtx) error {
	sp := specFromExpectedForm(fc)
	if _, err := c.svc.SaveExpected(fc.UserContext(), rc.actor, "", sp); err != nil {
		_, _, status := c.userError(err)
		return c.expectedView(fc, rc, status, "expected", expectedData{Err: c.formError(err), Spec: sp})
	}
	c.dashChanged()
	return c.redirect(fc, "/console/expected", "expected_added")
}

func (c *Console) expectedUpdate(fc *fiber.Ctx, rc *reqCtx) error {
	sp := specFromExpectedForm(fc)
	if _, err := c.svc.SaveExpected(fc.UserContext(), rc.actor, fc.Params("id"), sp); err != nil {
		if issuer.Is(err, issuer.ErrNotFound) {
			return c.fail(fc, rc, err)
		}
		_, _, status := c.userError(err)
		return c.expectedView(fc, rc, status, "expected_entry", expectedData{Err: c.formError(err), Spec: sp})
	}
	c.dashChanged()
	return c.redirect(fc, "/console/expected", "expected_saved")
}

func (c *Console) expectedDelete(fc *fiber.Ctx, rc *reqCtx) error {
	if err := c.svc.DeleteExpected(fc.UserContext(), rc.actor, fc.Params("id")); err != nil {
		return c.fail(fc, rc, err)
	}
	c.dashChanged()
	return c.redirect(fc, "/console/expected", "expected_deleted")
}

func (c *Console) expectedLink(fc *fiber.Ctx, rc *reqCtx) error {
	if err := c.svc.LinkExpected(fc.UserContext(), rc.actor, fc.Params("id"), strings.TrimSpace(fc.FormValue("institution"))); err != nil {
		if issuer.Is(err, issuer.ErrNotFound) && fc.FormValue("institution") == "" {
			return c.fail(fc, rc, err)
		}
		_, _, status := c.userError(err)
		return c.expectedView(fc, rc, status, "expected_entry", expectedData{Err: c.formError(err)})
	}
	c.dashChanged()
	return c.redirect(fc, "/console/expected", "expected_linked")
}

var expectedHeader = []string{"院校名称 Name", "类型 Kind（高职/应用型本科/本科/中职/技师学院/其他）", "市州 City", "官方代码 Code（可空：学校标识码或统一社会信用代码）"}

// expectedFromSheet reads the rows of an uploaded list; empty rows are
// skipped, each row keeps its number in the sheet for the messages.
func expectedFromSheet(ctx context.Context, name string, data []byte) ([]issuer.ExpectedSpec, error) {
	rows, err := sheetRows(ctx, name, data)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || !strings.Contains(strings.Join(rows[0], ""), "名称") {
		return nil, errf(issuer.ErrInvalid, "expected_header", "第1行应为表头（院校名称、类型、市州、官方代码），请使用下载的模板",
			"row 1 must be the header (name, kind, city, official code); use the template")
	}
	col := columns(rows[0], [][]string{{"院校名称", "学校名称", "名称"}, {"类型", "办学类型"}, {"市州", "所在市", "城市", "地区"}, {"官方代码", "代码", "学校标识码", "统一社会信用代码"}})
	var out []issuer.ExpectedSpec
	for i, r := range rows[1:] {
		sp := issuer.ExpectedSpec{Row: i + 2, Name: cell(r, col[0]), Kind: cell(r, col[1]), City: cell(r, col[2]), Code: cell(r, col[3])}
		if sp.Name == "" && sp.Kind == "" && sp.City == "" && sp.Code == "" {
			continue
		}
		out = append(out, sp)
	}
	return out, nil
}

func (c *Console) expectedImport(fc *fiber.Ctx, rc *reqCtx) error {
	fh, err := fc.FormFile("list")
	var added, updated int
	if err != nil {
		err = errf(issuer.ErrInvalid, "expected_missing", "请选择院校名单表格（.xlsx 或 .csv，按模板填写）", "choose the list of colleges (.xlsx or .csv, as the template)")
	} else if ext := strings.ToLower(filepath.Ext(fh.Filename)); ext != ".xlsx" && ext != ".csv" {
		err = errf(issuer.ErrInvalid, "expected_format", "请上传 .xlsx 或 .csv 文件（按模板填写）", "upload an .xlsx or .csv file (as the template)")
	} else {
		var b []byte
		if b, err = readUpload(fh, 1<<20); err == nil { // the body limit of console forms
			var rows []issuer.ExpectedSpec
			if rows, err = expectedFromSheet(fc.UserContext(), fh.Filename, b); err == nil {
				added, updated, err = c.svc.ImportExpected(fc.UserContext(), rc.actor, filepath.Base(fh.Filename), rows)
			}
		}
	}
	if err != nil {
		_, _, status := c.userError(err)
		return c.expectedView(fc, rc, status, "expected", expectedData{ImportErr: c.formError(err)})
	}
	c.dashChanged()
	return c.redirect(fc, fmt.Sprintf("/console/expected?added=%d&updated=%d", added, updated), "expected_imported")
}

func (c *Console) expectedTemplate(fc *fiber.Ctx, rc *reqCtx) error {
	list, err := c.svc.ExpectedColleges(fc.UserContext(), rc.actor)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var rows [][]any
	for _, e := range list {
		rows = append(rows, []any{e.Name, e.Kind, e.City, e.Code})
	}
	b, err := writeSheet("应备案院校", expectedHeader, []float64{36, 40, 20, 40}, rows)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return sendSheet(fc, "expected-colleges-template.xlsx", b)
}

// unregistered is the list's colleges without a registration, filtered by
// city and kind as the dashboard's form asks.
func unregistered(cv coverage, city, kind string) []expectedRow {
	var out []expectedRow
	for _, r := range cv.Rows {
		if r.Match.InstitutionID == "" && (city == "" || r.City == city) && (kind == "" || r.Kind == kind) {
			out = append(out, r)
		}
	}
	return out
}

func (c *Console) unregisteredSheet(fc *fiber.Ctx, rc *reqCtx) error {
	d, err := c.dashboardData(fc.UserContext(), rc.actor)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var rows [][]any
	for _, r := range unregistered(d.Cov, fc.Query("city"), fc.Query("kind")) {
		note := ""
		if r.Withdrawn != "" {
			note = "曾备案，已撤销备案 / registration withdrawn"
		}
		rows = append(rows, []any{r.Name, r.Kind, r.City, r.Code, note})
	}
	b, err := writeSheet("尚未备案", []string{"院校名称 Name", "类型 Kind", "市州 City", "官方代码 Code", "说明 Note"}, []float64{36, 14, 20, 24, 36}, rows)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return sendSheet(fc, "unregistered-colleges-"+issuer.Day(c.now()).Format("20060102")+".xlsx", b)
}
