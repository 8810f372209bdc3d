package console

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestRegistrationFormEveryProblemAtOnce: the new-college form reports
// every problem of one submission at once, each beside its field (zh and
// en), with what was typed kept; an id or prefix another college has is in
// the same list, not found only after the rest is fixed. The form does not
// let the browser stop at the first field either (novalidate). Before, the
// page showed one paragraph above the form, a field too long refused the
// whole form on its own, the taken id came only once everything else was
// right, and the browser's own check stopped at the first empty field.
func TestRegistrationFormEveryProblemAtOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.open)
			ck, csrf := w.session("auth")
			r := w.do("GET", "/console/institutions/new", ck, nil, nil)
			if !strings.Contains(r.body, `class="card" novalidate`) {
				t.Fatal("the form lets the browser stop at the first field")
			}
			form := url.Values{"_csrf": {csrf}, "op": {"review"},
				"id":         {"alpha"},              // taken by alpha
				"prefix":     {"Y000022000001"},      // alpha's prefix
				"name":       {""},                   // missing
				"uscc":       {"12220000MB0123457X"}, // fails its check
				"filing_no":  {"吉人社认备〔2026〕099号"},    // fine, and kept
				"valid_from": {"2026-02-30"},         // no such day
				"contact":    {"0431-8888" + strings.Repeat("9", 120)},
				"city":       {"四平市"}, "kind": {"应用型本科"},
			}
			r = w.do("POST", "/console/institutions", ck, form, nil)
			if r.status != 400 {
				t.Fatalf("status %d", r.status)
			}
			flat := regexp.MustCompile(`\s+`).ReplaceAllString(r.body, " ")
			for _, f := range []string{"id", "prefix", "name", "uscc", "valid_from", "contact", "scope"} {
				if !strings.Contains(flat, `id="e-`+f+`"`) {
					t.Errorf("no problem beside %s", f)
				}
				if f != "scope" && !strings.Contains(flat, `id="f-`+f+`" aria-invalid="true" aria-describedby="e-`+f+`"`) {
					t.Errorf("%s is not marked invalid", f)
				}
			}
			for _, f := range []string{"filing_no", "city", "kind", "valid_until"} {
				if strings.Contains(flat, `id="e-`+f+`"`) {
					t.Errorf("a problem is shown beside %s, which is right", f)
				}
			}
			for _, want := range []string{
				"表单有7处需要修改", "The form has 7 problem(s)",
				"已由“吉林alpha职业技术学院”使用", "already used by 吉林alpha职业技术学院",
				"请填写机构名称", "enter the registered name",
				"请与营业执照或登记证书原件逐位核对", "compare it with the original",
				"请至少选择一个职业", "联系方式最多100字",
				`value="吉人社认备〔2026〕099号"`, `value="alpha"`, `value="2026-02-30"`, `<option selected>四平市</option>`, `value="应用型本科" selected`,
			} {
				if !strings.Contains(flat, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if strings.Contains(flat, "应为X") || strings.Contains(flat, "（应为") {
				t.Error("a message names a check character, inviting the wrong fix")
			}
			if strings.Contains(flat, "工种--") || strings.Contains(flat, `“--”`) {
				t.Error("a placeholder reached the page")
			}
			if t.Failed() {
				i := strings.Index(flat, `id="problems"`)
				t.Logf("%.5000s", flat[max(i, 0):])
			}
			// Only clashes left: still every one at once, and a conflict.
			form = url.Values{"_csrf": {csrf}, "op": {"review"}, "id": {"beta"}, "prefix": {"Y000022000002"}, "name": {"新学院"}, "uscc": {"12220000MB0123457W"},
				"filing_no": {"1"}, "city": {"长春市"}, "kind": {"高职"}, "scope": {"4-04-05-05||3"}}
			r = w.do("POST", "/console/institutions", ck, form, nil)
			if r.status != 409 || !strings.Contains(r.body, `id="e-id"`) || !strings.Contains(r.body, `id="e-prefix"`) || !strings.Contains(r.body, "表单有2处") {
				t.Fatalf("taken id and prefix: %d %.2000s", r.status, r.body)
			}
		})
	}
}
