package console

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"certd/issuer"
)

// TestReissueConfirmation: correcting a certificate takes two steps. The
// first checks the correction as the service would and shows old against
// new values and what follows (superseded, marked PDFs, the public page
// pointing on), changing nothing; going back keeps what was typed; the
// second, with the form's CSRF token, reissues. The old certificate's page
// then tells when, by whom and why it was corrected, with a link to the new
// one, which links back. Another college can do none of it. Before, the
// first post reissued at once and the old page told nothing.
func TestReissueConfirmation(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.open)
			ctx := context.Background()
			ck, csrf := w.session("aop")
			path := "/console/certificates/" + w.certA + "/reissue"
			old, _ := w.st.Certificate(ctx, w.certA)
			count := func() int {
				all, _ := w.st.Certificates(ctx, issuer.CertificateFilter{InstitutionID: "alpha"})
				return len(all)
			}
			before := count()
			form := url.Values{"_csrf": {csrf}, "name": {"欧阳娜"}, "reason": {"姓名录入错误"}}

			// The form offers what can be corrected.
			page := w.do("GET", path, ck, nil, nil)
			for _, want := range []string{`name="doc_type"`, `name="occupation"`, `name="specialty"`, `<option value="4-04-05-05"`, "下一步：核对更正内容"} {
				if !strings.Contains(page.body, want) {
					t.Errorf("form lacks %q", want)
				}
			}
			// Step one: the preview, nothing changed.
			r := w.do("POST", path, ck, form, nil)
			for _, want := range []string{"<del>" + old.Holder.Name + "</del>", "<ins>欧阳娜</ins>", "已更正 SUPERSEDED", "指向新证书", `name="confirm" value="yes"`, `name="_csrf"`, `name="op" value="edit"`} {
				if !strings.Contains(r.body, want) {
					t.Errorf("preview (%d) lacks %q", r.status, want)
				}
			}
			if c, _ := w.st.Certificate(ctx, w.certA); r.status != 200 || c.Status != issuer.Valid || count() != before {
				t.Fatalf("the preview changed something: %d %s", r.status, c.Status)
			}
			// Back to the form, with what was typed.
			edit := w.do("POST", path, ck, url.Values{"_csrf": {csrf}, "name": {"欧阳娜"}, "reason": {"姓名录入错误"}, "op": {"edit"}}, nil)
			if !strings.Contains(edit.body, `value="欧阳娜"`) || strings.Contains(edit.body, "<ins>") {
				t.Errorf("back to edit: %.400s", edit.body)
			}
			// The level and the 工种 from the form: a level of the scope is
			// previewed; "--" for a certificate without 工种 changes nothing.
			if r := w.do("POST", path, ck, url.Values{"_csrf": {csrf}, "level": {"4"}, "reason": {"等级有误"}}, nil); r.status != 200 || !strings.Contains(r.body, "<ins>四级/中级工</ins>") {
				t.Errorf("level preview: %d", r.status)
			}
			if r := w.do("POST", path, ck, url.Values{"_csrf": {csrf}, "specialty": {"--"}, "reason": {"x"}}, nil); r.status != 400 || !strings.Contains(r.body, "没有需要更正") {
				t.Errorf("工种 -- on a certificate without one: %d", r.status)
			}
			// Refusals come at step one: out of scope, nothing changed.
			for _, tc := range []struct {
				fix  url.Values
				want string
			}{
				{url.Values{"occupation": {"3-01-02-06"}}, "认定范围"},
				{url.Values{"name": {old.Holder.Name}}, "没有需要更正"},
			} {
				f := url.Values{"_csrf": {csrf}, "reason": {"x"}}
				for k, v := range tc.fix {
					f[k] = v
				}
				if r := w.do("POST", path, ck, f, nil); r.status != 400 || !strings.Contains(r.body, tc.want) {
					t.Errorf("%v: %d, want 400 with %q", tc.fix, r.status, tc.want)
				}
			}
			// Without the CSRF token, and from another college, nothing.
			noCSRF := url.Values{"name": {"欧阳娜"}, "reason": {"x"}, "confirm": {"yes"}}
			if r := w.do("POST", path, ck, noCSRF, nil); r.status != 403 {
				t.Errorf("confirm without CSRF: %d", r.status)
			}
			bck, bcsrf := w.session("bop")
			if r := w.do("POST", path, bck, url.Values{"_csrf": {bcsrf}, "name": {"欧阳娜"}, "reason": {"x"}, "confirm": {"yes"}}, nil); r.status != 404 {
				t.Errorf("beta confirming alpha's correction: %d", r.status)
			}
			if r := w.do("POST", path, bck, url.Values{"_csrf": {bcsrf}, "name": {"欧阳娜"}, "reason": {"x"}}, nil); r.status != 404 || strings.Contains(r.body, old.Holder.Name) {
				t.Errorf("beta previewing alpha's correction: %d", r.status)
			}
			if c, _ := w.st.Certificate(ctx, w.certA); c.Status != issuer.Valid || count() != before {
				t.Fatalf("a refused confirmation changed something: %s", c.Status)
			}

			// Step two.
			form.Set("confirm", "yes")
			r = w.do("POST", path, ck, form, nil)
			if r.status != 303 || !strings.Contains(r.loc, "msg=reissued") {
				t.Fatalf("confirm: %d %q %.300s", r.status, r.loc, r.body)
			}
			now, _ := w.st.Certificate(ctx, w.certA)
			if now.Status != issuer.Superseded || now.SupersededBy == "" || count() != before+1 {
				t.Fatalf("after confirming: %s %q", now.Status, now.SupersededBy)
			}
			// The history, both ways.
			oldPage := w.do("GET", "/console/certificates/"+w.certA, ck, nil, nil)
			for _, want := range []string{"已更正为", `href="/console/certificates/` + now.SupersededBy + `"`, "姓名录入错误", "经办人 aop", "姓名 " + old.Holder.Name + "→欧阳娜", "<strong>更正补发</strong> " + now.SupersededBy} {
				if !strings.Contains(oldPage.body, want) {
					t.Errorf("the old certificate's page lacks %q", want)
				}
			}
			newPage := w.do("GET", "/console/certificates/"+now.SupersededBy, ck, nil, nil)
			for _, want := range []string{"更正自", `href="/console/certificates/` + w.certA + `"`, "姓名录入错误"} {
				if !strings.Contains(newPage.body, want) {
					t.Errorf("the new certificate's page lacks %q", want)
				}
			}
		})
	}
}
