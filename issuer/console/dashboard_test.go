package console

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"certd/issuer"
)

// TestDashboardCollegesAndTrend: the coverage page has a line per college
// with its issued and revoked counts, a 12-month trend, and the days left
// to each 吉人社联〔2026〕9号 deadline. Before, it had none of these.
func TestDashboardCollegesAndTrend(t *testing.T) {
	w := newWorld(t, backends[0].open)
	if _, err := w.svc.Revoke(context.Background(), issuer.Actor{Name: "aop", InstitutionID: "alpha"}, w.certA, issuer.ReasonMisconduct, "替考"); err != nil {
		t.Fatal(err)
	}
	ck, _ := w.session("prov")
	r := w.do("GET", "/console/dashboard", ck, nil, nil)
	flat := regexp.MustCompile(`\s+`).ReplaceAllString(r.body, " ")
	for _, re := range []string{
		// alpha: 3 issued, 1 revoked; beta: 3 valid.
		`吉林alpha职业技术学院</a></th><td>长春市</td><td>高职</td><td><span class="status active">正常</span></td><td>[0-9-]+</td><td>2</td><td>1</td><td>0</td><td>2026-05-10</td>`,
		`吉林beta职业技术学院</a></th><td>长春市</td><td>高职</td><td><span class="status active">正常</span></td><td>[0-9-]+</td><td>3</td><td>0</td><td>0</td>`,
		// This month: 6 issued, 1 revoked; two registrations (valid from 2026-01-01).
		`<th scope="row">2026-05</th><td>0</td><td>6</td><td>1</td>`,
		`<th scope="row">2026-01</th><td>2</td><td>0</td><td>0</td>`,
		// 2026-05-10 to the end of 2026: 235 days.
		`剩余<strong>235</strong> 天`,
		`其中已发证 <strong>2</strong>`,
	} {
		if !regexp.MustCompile(re).MatchString(flat) {
			t.Errorf("the dashboard lacks %s", re)
		}
	}
	if t.Failed() {
		i := strings.Index(flat, "近12个月")
		t.Logf("%.4000s", flat[max(i, 0):])
	}
}
