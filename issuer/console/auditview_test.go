package console

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"certd/issuer"
)

// TestAuditLogReadable: the authority reads the log newest first, in
// sentences, filters it by date, actor and action (offered by name), and
// exports what it filtered. Before: oldest first, the detail as raw JSON,
// no actor or date filter, no export (TestAuditLogReadable failed on every
// check).
func TestAuditLogReadable(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ctx := context.Background()
	// A revocation by alpha's operator, a day after the fixture's events.
	w.svc.Now = func() time.Time { return w.now.Add(24 * time.Hour) }
	if _, err := w.svc.Revoke(ctx, issuer.Actor{Name: "aop", InstitutionID: "alpha"}, w.certA, issuer.ReasonError, "证件号码录入错误"); err != nil {
		t.Fatal(err)
	}
	ck, _ := w.session("auth")
	r := w.do("GET", "/console/audit", ck, nil, nil)
	if r.status != 200 {
		t.Fatalf("audit page: %d", r.status)
	}
	// Newest first: the revocation heads the page, before the issues.
	body := r.body
	iRevoke, iIssue := strings.Index(body, "撤销证书"), strings.Index(body, "<strong>发证</strong>")
	if iRevoke < 0 || iIssue < 0 || iRevoke > iIssue {
		t.Fatalf("not newest first (revoke at %d, issue at %d)", iRevoke, iIssue)
	}
	for _, want := range []string{"<strong>撤销证书</strong> " + w.certA + `<div class="detail">原因：证书信息有误或误发；备注：证件号码录入错误</div>`, "<option value=\"certificate.revoke\">撤销证书</option>", "等级：", "/console/audit/export.xlsx"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Filters: actor, action, date range (days in China time, both ends in).
	day := w.now.Add(24 * time.Hour).In(issuer.ChinaTime).Format(issuer.DateLayout)
	for _, c := range []struct {
		query     string
		has, lack []string
	}{
		{"actor=aop", []string{"撤销证书"}, []string{"<strong>发证</strong>"}},
		{"action=certificate.issue", []string{"<strong>发证</strong>"}, []string{"撤销证书 Y"}},
		{"from=" + day + "&until=" + day, []string{"撤销证书"}, []string{"<strong>发证</strong>"}},
		{"until=" + w.now.In(issuer.ChinaTime).Format(issuer.DateLayout), []string{"<strong>发证</strong>"}, []string{"撤销证书 Y"}},
	} {
		r := w.do("GET", "/console/audit?"+c.query, ck, nil, nil)
		for _, s := range c.has {
			if !strings.Contains(r.body, s) {
				t.Errorf("%s: lacks %q", c.query, s)
			}
		}
		for _, s := range c.lack {
			if strings.Contains(r.body, s) {
				t.Errorf("%s: shows %q", c.query, s)
			}
		}
	}
	if r := w.do("GET", "/console/audit?from=2026-13-01&until=yesterday", ck, nil, nil); r.status != http.StatusBadRequest || !strings.Contains(r.body, "开始日期应为日期") || !strings.Contains(r.body, "the end date must be a date") {
		t.Fatalf("bad dates: %d %.300s", r.status, r.body)
	}
	// A college administrator sees its own college's only, whatever it asks.
	ack, _ := w.session("badm")
	if r := w.do("GET", "/console/audit?institution=alpha", ack, nil, nil); strings.Contains(r.body, w.certA) {
		t.Fatal("beta's administrator reads alpha's audit log")
	}

	// The export: the filtered events, newest first, readable.
	res, err := w.app.Test(func() *http.Request {
		req, _ := http.NewRequest("GET", "/console/audit/export.xlsx?actor=aop", nil)
		req.AddCookie(ck)
		return req
	}(), -1)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("export: %v %v", err, res.StatusCode)
	}
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	x, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows("审计日志")
	if err != nil || len(rows) < 2 {
		t.Fatalf("export rows: %v %d", err, len(rows))
	}
	if !strings.HasPrefix(rows[0][1], "时间") || rows[1][3] != "撤销证书" || !strings.Contains(rows[1][7], "原因：证书信息有误或误发") {
		t.Fatalf("export: header %v, first row %v", rows[0], rows[1])
	}
	for _, row := range rows[1:] {
		if row[2] != "aop" && !strings.HasPrefix(row[2], "aop (token") {
			t.Fatalf("the export has another actor's row: %v", row)
		}
	}
}

// TestProvinceLedgerNamesTheCollege: the authority's ledger says which
// college issued each certificate; a college's own ledger needs no column.
// Before, neither did.
func TestProvinceLedgerNamesTheCollege(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ck, _ := w.session("prov")
	r := w.do("GET", "/console/certificates", ck, nil, nil)
	if !strings.Contains(r.body, "发证院校") || !regexp.MustCompile(`<td><a href="/console/institutions/alpha">吉林alpha职业技术学院</a></td>`).MatchString(r.body) ||
		!strings.Contains(r.body, `<option value="beta">吉林beta职业技术学院</option>`) {
		t.Fatalf("province ledger without the college: %.2000s", r.body)
	}
	ck, _ = w.session("aop")
	if r := w.do("GET", "/console/certificates", ck, nil, nil); strings.Contains(r.body, "发证院校") {
		t.Fatal("a college's own ledger has the college column")
	}
}
