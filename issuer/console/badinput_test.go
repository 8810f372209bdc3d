package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/xuri/excelize/v2"

	"certd/issuer"
)

func TestLogin(t *testing.T) {
	w := newWorld(t, backends[0].open)
	// A login form first, for its pre-session cookie and CSRF token.
	form := func() (*http.Cookie, string) { return loginForm(t, w) }
	tests := []struct {
		name, user, pw string
		csrf           func(string) string
		status         int
		text           string
	}{
		{"wrong password", "aop", "wrong", nil, http.StatusUnauthorized, "用户名或密码错误"},
		{"unknown user", "nobody", "wrong", nil, http.StatusUnauthorized, "用户名或密码错误"},
		{"missing CSRF", "aop", testPassword, func(string) string { return "" }, http.StatusForbidden, "登录页面已过期"},
		{"wrong CSRF", "aop", testPassword, func(s string) string { return s[:10] + "x" }, http.StatusForbidden, "登录页面已过期"},
		{"over-long name", strings.Repeat("a", 5000), "x", nil, http.StatusUnauthorized, "用户名或密码错误"},
		{"right password", "aop", testPassword, nil, http.StatusSeeOther, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pre, csrf := form()
			if tc.csrf != nil {
				csrf = tc.csrf(csrf)
			}
			r := w.do("POST", "/console/login", pre, url.Values{"_csrf": {csrf}, "name": {tc.user}, "password": {tc.pw}}, nil)
			if r.status != tc.status || !strings.Contains(r.body, tc.text) {
				t.Fatalf("status %d, want %d with %q; body: %.300s", r.status, tc.status, tc.text, r.body)
			}
			if strings.Contains(r.body, "goroutine") || strings.Contains(r.body, ".go:") {
				t.Fatal("the page shows a stack trace")
			}
		})
	}
	evs, _ := w.st.Audit(context.Background(), issuer.AuditFilter{Action: "account.login_failed"})
	if len(evs) != 1 {
		t.Fatalf("login_failed events = %d, want 1 (the wrong password)", len(evs))
	}
}

func TestSessions(t *testing.T) {
	w := newWorld(t, backends[0].open)
	good, csrf := w.session("aop")
	// A token signed by another key, one with alg none, one HS256-signed
	// with the public key (the classic key-confusion forgery).
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	cl := claims{Gen: 1, Auth: w.now.Unix(), RegisteredClaims: jwt.RegisteredClaims{Subject: w.users["aop"].ID, ID: "x", Audience: jwt.ClaimStrings{sessionAud},
		IssuedAt: jwt.NewNumericDate(w.now), ExpiresAt: jwt.NewNumericDate(w.now.Add(time.Hour))}}
	otherKey, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, cl).SignedString(other)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, cl).SignedString(jwt.UnsafeAllowNoneSignatureType)
	confused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString([]byte(w.c.sess.pub))
	forged := func(v string) *http.Cookie { return &http.Cookie{Name: w.c.sessionCookie(), Value: v} }
	tests := []struct {
		name   string
		cookie *http.Cookie
		at     time.Duration
		want   int
	}{
		{"valid", good, 0, http.StatusOK},
		{"other key", forged(otherKey), 0, http.StatusSeeOther},
		{"alg none", forged(none), 0, http.StatusSeeOther},
		{"HS256 with the public key", forged(confused), 0, http.StatusSeeOther},
		{"garbage", forged("not.a.jwt"), 0, http.StatusSeeOther},
		{"huge", forged(strings.Repeat("A", 3000)), 0, http.StatusSeeOther},
		{"expired after idle", good, idleTimeout + time.Second, http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.now = w.now.Add(tc.at)
			defer func() { w.now = w.now.Add(-tc.at) }()
			r := w.do("GET", "/console/certificates", tc.cookie, nil, nil)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d", r.status, tc.want)
			}
			if tc.want == http.StatusSeeOther && !strings.HasPrefix(r.loc, "/console/login") {
				t.Fatalf("redirect to %q, want the login page", r.loc)
			}
		})
	}
	// CSRF: missing, wrong and from another session are refused, audited,
	// and change nothing.
	_, otherCSRF := w.session("aop")
	for _, tok := range []string{"", "wrong", otherCSRF} {
		r := w.do("POST", "/console/certificates/"+w.certA+"/revoke", good, url.Values{"_csrf": {tok}, "reason": {"error"}, "confirm": {"yes"}}, nil)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "页面已过期或来源不明") {
			t.Fatalf("CSRF %q: status %d", tok, r.status)
		}
	}
	if c, _ := w.st.Certificate(context.Background(), w.certA); c.Status != issuer.Valid {
		t.Fatal("a request without a valid CSRF token revoked the certificate")
	}
	if evs, _ := w.st.Audit(context.Background(), issuer.AuditFilter{Action: "console.csrf_rejected"}); len(evs) != 3 {
		t.Fatalf("csrf_rejected events = %d, want 3", len(evs))
	}
	// Logout ends the session: the same cookie no longer works.
	if r := w.do("POST", "/console/logout", good, url.Values{"_csrf": {csrf}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if r := w.do("GET", "/console/certificates", good, nil, nil); r.status != http.StatusSeeOther {
		t.Fatalf("after logout the old cookie gets %d", r.status)
	}
}

func TestBadForms(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ck, csrf := w.session("aadm")
	long := strings.Repeat("长", 65)
	tests := []struct {
		name, method, path string
		form               url.Values
		status             int
		text               string
	}{
		{"ledger filter too long", "GET", "/console/certificates?name=" + url.QueryEscape(long), nil, 400, "查询条件过长"},
		{"ledger level wrong type", "GET", "/console/certificates?level=abc", nil, 400, "等级“abc”无效"},
		{"ledger date wrong type", "GET", "/console/certificates?from=yesterday", nil, 400, "应为YYYY-MM-DD"},
		{"offset wrong type", "POST", "/console/settings/print", url.Values{"layout": {"full"}, "offset_x": {"abc"}}, 400, "打印偏移"},
		{"offset out of range", "POST", "/console/settings/print", url.Values{"layout": {"full"}, "offset_x": {"500"}}, 400, "打印偏移"},
		{"fees invalid", "POST", "/console/settings/fees", url.Values{"form": {"fees"}, "amount:4-04-05-05|3": {"abc"}}, 400, "收费标准第1项无效"},
		{"user name too long", "POST", "/console/users", url.Values{"name": {strings.Repeat("a", 40)}, "display_name": {"x"}, "role": {"college_operator"}}, 400, "登录名应为"},
		{"user role unknown", "POST", "/console/users", url.Values{"name": {"newbie"}, "display_name": {"x"}, "role": {"root"}}, 400, "角色无效"},
		{"revoke without reason", "POST", "/console/certificates/" + w.certA + "/revoke", url.Values{}, 400, "请选择撤销原因"},
		{"revoke note too long", "POST", "/console/certificates/" + w.certA + "/revoke", url.Values{"reason": {"error"}, "note": {strings.Repeat("x", 501)}}, 400, "说明不能超过500字"},
		{"reissue field too long", "POST", "/console/certificates/" + w.certA + "/reissue", url.Values{"name": {strings.Repeat("名", 101)}, "reason": {"x"}}, 400, "填写的内容过长"},
		{"unknown page", "GET", "/console/nowhere", nil, 404, "页面或记录不存在"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.form != nil {
				tc.form.Set("_csrf", csrf)
			}
			r := w.do(tc.method, tc.path, ck, tc.form, nil)
			if r.status != tc.status || !strings.Contains(r.body, tc.text) {
				t.Fatalf("status %d, want %d with %q; body: %.400s", r.status, tc.status, tc.text, r.body)
			}
		})
	}
	if c, _ := w.st.Certificate(context.Background(), w.certA); c.Status != issuer.Valid {
		t.Fatal("a refused form changed the certificate")
	}
	if in, _ := w.st.Institution(context.Background(), "alpha"); in.Version != 1 {
		t.Fatalf("refused settings made version %d", in.Version)
	}
}

func upload(t *testing.T, w *world, ck *http.Cookie, csrf, name string, data []byte) resp {
	return uploadWith(t, w, ck, csrf, name, data, nil)
}

func TestRosterWorkflow(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, b.open)
			ck, csrf := w.session("aop")
			// A roster with one bad row: previewed with the cell marked,
			// confirming issues nothing.
			r := upload(t, w, ck, csrf, "bad.csv", []byte(rosterCSV(5, 40, 2)))
			if r.status != http.StatusSeeOther {
				t.Fatalf("upload: %d %.300s", r.status, r.body)
			}
			page := w.do("GET", r.loc, ck, nil, nil)
			if !strings.Contains(page.body, `class="badcell"`) || !strings.Contains(page.body, "1</strong> 行有问题") {
				t.Fatalf("preview does not mark the bad row: %.2000s", page.body)
			}
			if m := w.do("GET", r.loc+"/marked.xlsx", ck, nil, nil); m.status != 200 || !strings.HasPrefix(m.body, "PK") {
				t.Fatalf("marked workbook: %d", m.status)
			}
			w.do("POST", r.loc+"/confirm", ck, url.Values{"_csrf": {csrf}}, nil)
			if cs, _ := w.svc.Certificates(context.Background(), w.users["aop"].Actor(), issuer.CertificateFilter{}); len(cs) != 3 {
				t.Fatalf("a roster with a bad row issued something: %d certificates", len(cs))
			}
			// An unreadable file is refused on the upload page.
			if r := upload(t, w, ck, csrf, "x.xlsx", []byte("not a workbook")); r.status != 400 || !strings.Contains(r.body, "xlsx") {
				t.Fatalf("bad file: %d %.300s", r.status, r.body)
			}
			// The fixed roster issues in the background; the page polls.
			r = upload(t, w, ck, csrf, "good.csv", []byte(rosterCSV(5, 40, -1)))
			w.do("POST", r.loc+"/confirm", ck, url.Values{"_csrf": {csrf}}, nil)
			w.do("POST", r.loc+"/confirm", ck, url.Values{"_csrf": {csrf}}, nil) // a double click starts nothing more
			deadline := time.Now().Add(20 * time.Second)
			for {
				page = w.do("GET", r.loc, ck, nil, nil)
				if strings.Contains(page.body, "发证完成") || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(page.body, "发证完成") {
				t.Fatalf("issuing did not finish: %.1500s", page.body)
			}
			if cs, _ := w.svc.Certificates(context.Background(), w.users["aop"].Actor(), issuer.CertificateFilter{}); len(cs) != 8 {
				t.Fatalf("after issuing: %d certificates, want 8", len(cs))
			}
			// The done page lists the new numbers, each linked to its
			// certificate, with 学号, name and level; the list downloads.
			issued, _ := w.svc.Certificates(context.Background(), w.users["aop"].Actor(), issuer.CertificateFilter{Name: personName(0)})
			var batch string
			for _, c := range issued {
				if c.BatchID != w.batchA {
					batch = c.BatchID
				}
			}
			fresh, _ := w.svc.Certificates(context.Background(), w.users["aop"].Actor(), issuer.CertificateFilter{BatchID: batch})
			if len(fresh) != 5 {
				t.Fatalf("new batch %q has %d certificates", batch, len(fresh))
			}
			for _, c := range fresh {
				for _, want := range []string{`href="/console/certificates/` + c.Number + `"`, c.Holder.StudentNo, c.Holder.Name} {
					if !strings.Contains(page.body, want) {
						t.Errorf("done page lacks %q", want)
					}
				}
			}
			x := w.do("GET", "/console/batches/"+batch+"/numbers.xlsx", ck, nil, nil)
			f, err := excelize.OpenReader(strings.NewReader(x.body))
			if x.status != 200 || err != nil {
				t.Fatalf("numbers.xlsx: %d %v", x.status, err)
			}
			rows, _ := f.GetRows(f.GetSheetList()[0])
			if len(rows) != 6 || rows[1][0] != fresh[0].Number || rows[1][1] != fresh[0].Holder.StudentNo || rows[1][2] != fresh[0].Holder.Name || rows[1][6] != "三级/高级工" {
				t.Errorf("numbers.xlsx rows %v", rows)
			}
			csv := w.do("GET", "/console/batches/"+batch+"/numbers.csv", ck, nil, nil)
			if csv.status != 200 || !strings.HasPrefix(csv.body, "\ufeff证书编号") || strings.Count(csv.body, "\n") != 6 || !strings.Contains(csv.body, fresh[4].Number+","+fresh[4].Holder.StudentNo+","+fresh[4].Holder.Name) {
				t.Errorf("numbers.csv: %d %q", csv.status, csv.body)
			}
			// Another college learns nothing of the list.
			bck, _ := w.session("bop")
			if r := w.do("GET", "/console/batches/"+batch+"/numbers.csv", bck, nil, nil); r.status != 404 || strings.Contains(r.body, fresh[0].Number) {
				t.Errorf("beta reading alpha's list: %d", r.status)
			}
		})
	}
}

func TestConcurrentRevoke(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, b.open)
			ck1, csrf1 := w.session("aop")
			ck2, csrf2 := w.session("aadm")
			var wg sync.WaitGroup
			res := make([]resp, 2)
			for i, s := range []struct {
				ck   *http.Cookie
				csrf string
			}{{ck1, csrf1}, {ck2, csrf2}} {
				wg.Go(func() {
					res[i] = w.do("POST", "/console/certificates/"+w.certA+"/revoke", s.ck, url.Values{"_csrf": {s.csrf}, "reason": {"error"}, "note": {"x"}, "confirm": {"yes"}}, nil)
				})
			}
			wg.Wait()
			ok, conflict := 0, 0
			for _, r := range res {
				switch {
				case r.status == http.StatusSeeOther:
					ok++
				case r.status == http.StatusConflict && strings.Contains(r.body, "当前状态为已撤销，不能撤销"):
					conflict++
				default:
					t.Errorf("unexpected answer %d: %.300s", r.status, r.body)
				}
			}
			if ok != 1 || conflict != 1 {
				t.Fatalf("%d succeeded and %d were told it was already revoked; want 1 and 1", ok, conflict)
			}
			evs, _ := w.st.Audit(context.Background(), issuer.AuditFilter{Subject: w.certA, Action: "certificate.revoke"})
			if len(evs) != 1 {
				t.Fatalf("certificate.revoke events = %d, want 1", len(evs))
			}
		})
	}
}
