package console

import (
	"bytes"
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"certd/issuer"
)

// xlsxOf writes rows (the first the header) as a workbook.
func xlsxOf(t *testing.T, rows [][]any) []byte {
	t.Helper()
	x := excelize.NewFile()
	for i, r := range rows {
		c, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := x.SetSheetRow("Sheet1", c, &r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := x.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var flatSpace = regexp.MustCompile(`\s+`)

// TestExpectedCollegesCoverage: the authority loads the colleges expected
// to register (a sheet, all or nothing, every bad cell named by row and
// column; single add, edit, link and removal), and the dashboard counts
// registrations against it: overall, per kind and per city, each notice
// target's share and its month-end trend, and who has not registered yet,
// filtered and exported. Colleges can neither read nor change the list.
// Before, the dashboard had no denominators and there was no list.
func TestExpectedCollegesCoverage(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.open)
			ctx := context.Background()
			ck, csrf := w.session("auth")
			r := w.do("GET", "/console/dashboard", ck, nil, nil)
			if !strings.Contains(r.body, "尚未载入应备案院校名单") || !strings.Contains(r.body, "吉人社联〔2026〕9号") || !strings.Contains(r.body, "2026年底前，实现省内高等职业学校职业技能等级认定工作全覆盖") {
				t.Fatalf("the dashboard without a list: %.3000s", r.body)
			}
			hdr := []any{"院校名称 Name", "类型 Kind", "市州 City", "官方代码 Code"}
			// A sheet with a problem in several rows (two in one row):
			// nothing of it is imported, every problem is named.
			bad := xlsxOf(t, [][]any{hdr,
				{"吉林交通职业技术学院", "高职", "吉林市", ""},
				{"长春某学院", "大学", "沈阳市", ""},                   // kind and city, one row
				{"吉林 交通职业技术学院", "高职", "吉林市", ""},             // the same college as row 2
				{"四平职业大学", "高职", "四平", "12220000MB0123457X"}, // code fails its check
				{"", "中职", "长春市", ""},
			})
			r = postFile(t, w, ck, csrf, "/console/expected/import", "list", "list.xlsx", bad)
			flat := flatSpace.ReplaceAllString(r.body, " ")
			for _, want := range []string{
				"表格有5处错误，未导入任何一行",
				"第3行“类型”列：“大学”不可用；类型应为 高职、应用型本科、本科、中职、技师学院 或 其他 之一", "row 3, column kind: &#34;大学&#34; is not accepted",
				"第3行“市州”列：", "row 3, column city",
				"第4行“院校名称”列：与第2行是同一所院校",
				"第5行“官方代码”列：统一社会信用代码校验不通过", "row 5, column code",
				"第6行“院校名称”列：请填写院校名称",
			} {
				if !strings.Contains(flat, want) {
					t.Errorf("the import's errors lack %q", want)
				}
			}
			if r.status != 400 || t.Failed() {
				t.Fatalf("bad sheet: %d %.4000s", r.status, flat[strings.Index(flat, "<main"):])
			}
			if l, _ := w.svc.ExpectedColleges(ctx, issuer.Actor{Name: "t", Authority: true}); len(l) != 0 {
				t.Fatalf("a refused sheet imported %d rows", len(l))
			}
			// The good sheet; alpha matches by name, beta by name written
			// with a space and full-width letters, the rest are missing.
			good := xlsxOf(t, [][]any{hdr,
				{"吉林alpha职业技术学院", "高职", "长春市", ""},
				{"吉林ｂｅｔａ 职业技术学院", "高职院校", "长春", ""},
				{"吉林交通职业技术学院", "高职", "吉林市", "4122010183"},
				{"四平职业大学", "高职", "四平市", ""},
				{"吉林工程技术师范学院", "应用型本科", "长春市", ""},
				{"长春技师学院", "技师学院", "长春市", ""},
			})
			r = postFile(t, w, ck, csrf, "/console/expected/import", "list", "list.xlsx", good)
			if r.status != 303 || !strings.Contains(r.loc, "added=6") {
				t.Fatalf("good sheet: %d %q %.2000s", r.status, r.loc, r.body)
			}
			// The coverage: 2 of 6; 高职 2 of 4; 长春市 2 of 4 (吉林ｂｅｔａ
			// is 长春市 written short); the 2026 target at 50%.
			r = w.do("GET", "/console/dashboard", ck, nil, nil)
			flat = flatSpace.ReplaceAllString(r.body, " ")
			for _, re := range []string{
				`<strong>2 / 6（33%）</strong> · 尚未备案 <strong>4</strong>`,
				`<th scope="row">高职</th><td>4</td><td>2</td><td><svg class="meter" width="100%" height="10" role="img" aria-label="50%"><rect width="100%" height="10" rx="4" fill="#d6dbe3"></rect><rect width="50%" height="10" rx="4" fill="#0b5cad"></rect></svg> 50%</td>`,
				`<th scope="row">应用型本科</th><td>1</td><td>0</td>`,
				`<th scope="row">长春市</th><td>4</td><td>2</td>`,
				`<th scope="row">四平市</th><td>1</td><td>0</td>`,
				`<h2>高职 <span class="muted">2026年底</span></h2> <p class="big">50%</p> <p>应备案 <strong>4</strong> · 已备案 <strong>2</strong> · 尚缺 <strong>2</strong></p>`,
				// Both registered from 2026-01-01: 0 of 4 in 2025-12, 2 of 4 since.
				`<th scope="row">2025-06</th><td>0/4 <span class="muted">0%</span></td><td>0/1 <span class="muted">0%</span></td><td>0/5`,
				`<th scope="row">2026-01</th><td>2/4 <span class="muted">50%</span></td><td>0/1 <span class="muted">0%</span></td><td>2/5 <span class="muted">40%</span></td>`,
				// 2 missing, 8 months to the end of 2026 (May to December).
				`需每月新增约 <strong>1</strong> 所`,
				`吉林交通职业技术学院</a></th><td>高职</td><td>吉林市</td><td><code>4122010183</code></td>`,
				`长春技师学院</a></th><td>技师学院</td>`,
				// The city-by-kind table has a column per kind.
				`<thead><tr><th scope="col">市州</th><th scope="col">高职</th><th scope="col">应用型本科</th><th scope="col">本科</th><th scope="col">中职</th><th scope="col">技师学院</th><th scope="col">其他</th><th scope="col">合计</th></tr></thead>`,
			} {
				if !strings.Contains(flat, re) {
					t.Errorf("the dashboard lacks %s", re)
				}
			}
			if t.Failed() {
				i := strings.Index(flat, `class="targets"`)
				t.Fatalf("%.9000s", flat[max(i, 0):])
			}
			// Filters and the export.
			r = w.do("GET", "/console/dashboard?city="+url.QueryEscape("四平市"), ck, nil, nil)
			if !strings.Contains(r.body, "四平职业大学</a>") || strings.Contains(r.body, "吉林交通职业技术学院</a>") {
				t.Error("the city filter does not filter")
			}
			r = w.do("GET", "/console/dashboard?kind="+url.QueryEscape("应用型本科"), ck, nil, nil)
			if !strings.Contains(r.body, "吉林工程技术师范学院</a>") || strings.Contains(r.body, "四平职业大学</a>") {
				t.Error("the kind filter does not filter")
			}
			x := getXLSX(t, w, ck, "/console/expected/unregistered.xlsx?kind="+url.QueryEscape("高职"))
			rows, _ := x.GetRows("尚未备案")
			if len(rows) != 3 || rows[1][0] != "吉林交通职业技术学院" || rows[2][0] != "四平职业大学" {
				t.Errorf("the export of unregistered 高职: %v", rows)
			}
			// The template lists the list so far, to correct and upload back.
			x = getXLSX(t, w, ck, "/console/expected/template.xlsx")
			if rows, _ := x.GetRows("应备案院校"); len(rows) != 7 || !strings.HasPrefix(rows[0][0], "院校名称") {
				t.Errorf("the template: %v", rows)
			}
			// A renamed college registered under another name: linked by hand.
			list, _ := w.svc.ExpectedColleges(ctx, issuer.Actor{Name: "t", Authority: true})
			var jt, sp issuer.ExpectedCollege
			for _, e := range list {
				switch e.Name {
				case "吉林交通职业技术学院":
					jt = e
				case "四平职业大学":
					sp = e
				}
			}
			if _, err := w.svc.AddInstitution(ctx, issuer.Actor{Name: "setup", Authority: true}, issuer.InstitutionSpec{ID: "jljt", Name: "吉林省交通职业学院", USCC: "12220000MB0123457W",
				Prefix: "Y000022000009", FilingNo: "9", City: "吉林市", Kind: "高职", ValidFrom: "2026-04-01", Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}}}); err != nil {
				t.Fatal(err)
			}
			w.now = w.now.Add(2 * 60e9) // past the dashboard's minute
			r = w.do("GET", "/console/expected/"+jt.ID, ck, nil, nil)
			if !strings.Contains(r.body, `<option value="jljt">吉林省交通职业学院（吉林市）</option>`) {
				t.Fatalf("the link form: %.3000s", r.body)
			}
			r = w.do("POST", "/console/expected/"+jt.ID+"/link", ck, url.Values{"_csrf": {csrf}, "institution": {"jljt"}}, nil)
			if r.status != 303 {
				t.Fatalf("link: %d %.2000s", r.status, r.body)
			}
			// One form with two problems at once: both beside their fields.
			r = w.do("POST", "/console/expected/"+sp.ID, ck, url.Values{"_csrf": {csrf}, "name": {""}, "kind": {"高职"}, "city": {"四平市"}, "code": {"12345"}}, nil)
			if r.status != 400 || !strings.Contains(r.body, `id="e-name"`) || !strings.Contains(r.body, `id="e-code"`) || !strings.Contains(r.body, `value="12345"`) {
				t.Fatalf("edit with two problems: %d %.3000s", r.status, r.body)
			}
			r = w.do("POST", "/console/expected/"+sp.ID, ck, url.Values{"_csrf": {csrf}, "name": {"四平职业大学"}, "kind": {"高职"}, "city": {"四平市"}, "code": {"4122010999"}}, nil)
			if r.status != 303 {
				t.Fatalf("edit: %d", r.status)
			}
			r = w.do("POST", "/console/expected", ck, url.Values{"_csrf": {csrf}, "name": {"白城职业技术学院"}, "kind": {"高职"}, "city": {"白城市"}}, nil)
			if r.status != 303 {
				t.Fatalf("add: %d %.2000s", r.status, r.body)
			}
			r = w.do("POST", "/console/expected/"+list[0].ID+"/delete", ck, url.Values{"_csrf": {csrf}}, nil)
			if r.status != 303 {
				t.Fatalf("delete: %d", r.status)
			}
			list2, _ := w.svc.ExpectedColleges(ctx, issuer.Actor{Name: "t", Authority: true})
			if len(list2) != 6 {
				t.Fatalf("after add and delete: %d entries", len(list2))
			}
			// The audit log says it in words.
			r = w.do("GET", "/console/audit", ck, nil, nil)
			for _, want := range []string{"导入应备案院校名单", "list.xlsx", "新增：6", "应备案院校关联备案机构", "备案机构：jljt", "修改应备案院校", "添加应备案院校", "移出应备案院校名单"} {
				if !strings.Contains(r.body, want) {
					t.Errorf("the audit view lacks %q", want)
				}
			}
			// Colleges: the service refuses them too, not only the routes.
			college := issuer.Actor{Name: "aadm", InstitutionID: "alpha"}
			if _, err := w.svc.ExpectedColleges(ctx, college); !issuer.Is(err, issuer.ErrForbidden) {
				t.Errorf("a college read the list: %v", err)
			}
			if _, err := w.svc.SaveExpected(ctx, college, "", issuer.ExpectedSpec{Name: "x", Kind: "高职", City: "长春市"}); !issuer.Is(err, issuer.ErrForbidden) {
				t.Errorf("a college added to the list: %v", err)
			}
			if _, err := w.svc.SaveExpected(ctx, issuer.Actor{Name: "prov", Authority: true, ReadOnly: true}, "", issuer.ExpectedSpec{Name: "x", Kind: "高职", City: "长春市"}); !issuer.Is(err, issuer.ErrForbidden) {
				t.Errorf("an auditor added to the list: %v", err)
			}
		})
	}
}
