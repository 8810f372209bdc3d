package console

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"certd/issuer/account"
)

// TestTOTPSignIn: an authority administrator without a second factor can
// do nothing but set one up; once set up, a right password alone is no
// session, and the code from the app completes the sign-in. Before TOTP,
// the new administrator reached the institutions page with a password.
func TestTOTPSignIn(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ctx := context.Background()
	const pw = "blue-kettle-river-stamp"
	root := account.User{ID: "setup", Name: "setup", Role: account.AuthorityAdmin}
	u, _, err := w.acc.Create(ctx, root, account.NewUser{Name: "prov2", DisplayName: "省厅二", Role: account.AuthorityAdmin, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	w.users["prov2"] = u
	send := func(method, target string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req := httptest.NewRequest(method, target, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, c := range cookies {
			if c != nil {
				req.AddCookie(c)
			}
		}
		res, err := w.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	cookie := func(res *http.Response, name string) *http.Cookie {
		for _, c := range res.Cookies() {
			if c.Name == name && c.Value != "" {
				return c
			}
		}
		return nil
	}
	csrfOf := func(body string) string {
		m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token in %.300s", body)
		}
		return m[1]
	}

	// 1. Password only: every page leads to the set-up page.
	pre, csrf := loginForm(t, w)
	res, _ := send("POST", "/console/login", url.Values{"_csrf": {csrf}, "name": {"prov2"}, "password": {pw}}, pre)
	sess := cookie(res, w.c.sessionCookie())
	if res.StatusCode != http.StatusSeeOther || sess == nil || res.Header.Get("Location") != "/console/account/totp?must=1" {
		t.Fatalf("first sign-in: %d %q session=%v", res.StatusCode, res.Header.Get("Location"), sess != nil)
	}
	for _, p := range []string{"/console/institutions", "/console/audit", "/console/users", "/console/account"} {
		if res, _ := send("GET", p, nil, sess); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/account/totp?must=1" {
			t.Errorf("%s without a second factor: %d %q", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	_, secret, err := w.acc.CreateToken(ctx, w.users["prov2"], "x", account.Scopes, 0)
	if err == nil {
		req := httptest.NewRequest("GET", "/api/console/v1/audit", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		if r, _ := w.app.Test(req, -1); r.StatusCode != http.StatusForbidden {
			t.Errorf("API token of an administrator without a second factor: %d", r.StatusCode)
		}
	}

	// 2. The set-up page shows the QR code and key; a wrong code is refused.
	res, body := send("GET", "/console/account/totp", nil, sess)
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`).FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil || !strings.Contains(body, `src="data:image/png;base64,`) || !strings.Contains(body, "必须启用两步验证") {
		t.Fatalf("set-up page: %d %.600s", res.StatusCode, body)
	}
	key := m[1]
	if res, body := send("POST", "/console/account/totp", url.Values{"_csrf": {csrfOf(body)}, "code": {"000000"}}, sess); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "动态验证码不正确") {
		t.Fatalf("wrong code at set-up: %d %.300s", res.StatusCode, body)
	}
	code, _ := account.TOTPCode(key, w.now)
	res, _ = send("POST", "/console/account/totp", url.Values{"_csrf": {csrfOf(body)}, "code": {code}}, sess)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/account") {
		t.Fatalf("confirm: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := send("GET", "/console/institutions", nil, sess); res.StatusCode != 200 {
		t.Fatalf("after set-up the institutions page answers %d", res.StatusCode)
	}

	// 3. Now the right password earns no session, only the code form.
	w.now = w.now.Add(time.Minute)
	pre, csrf = loginForm(t, w)
	res, body = send("POST", "/console/login", url.Values{"_csrf": {csrf}, "name": {"prov2"}, "password": {pw}}, pre)
	pending := cookie(res, w.c.pendingCookie())
	if res.StatusCode != 200 || cookie(res, w.c.sessionCookie()) != nil || pending == nil || !strings.Contains(body, `action="/console/login/totp"`) {
		t.Fatalf("password step: %d session=%v pending=%v %.300s", res.StatusCode, cookie(res, w.c.sessionCookie()) != nil, pending != nil, body)
	}
	// The pending token is no session.
	if res, _ := send("GET", "/console/institutions", nil, &http.Cookie{Name: w.c.sessionCookie(), Value: pending.Value}); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/login") {
		t.Fatalf("the pending token opened a page: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	tc := csrfOf(body)
	if res, body := send("POST", "/console/login/totp", url.Values{"_csrf": {tc}, "code": {"123456"}}, pending); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "动态验证码不正确") {
		t.Fatalf("wrong code: %d %.300s", res.StatusCode, body)
	}
	code, _ = account.TOTPCode(key, w.now)
	res, _ = send("POST", "/console/login/totp", url.Values{"_csrf": {tc}, "code": {code}, "next": {"/console/institutions"}}, pending)
	if res.StatusCode != http.StatusSeeOther || cookie(res, w.c.sessionCookie()) == nil || res.Header.Get("Location") != "/console/institutions" {
		t.Fatalf("code step: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// The same code again is refused.
	if res, _ := send("POST", "/console/login/totp", url.Values{"_csrf": {tc}, "code": {code}}, pending); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed code: %d", res.StatusCode)
	}
	// 4. The pending token expires after 5 minutes.
	w.now = w.now.Add(6 * time.Minute)
	code, _ = account.TOTPCode(key, w.now)
	if res, body := send("POST", "/console/login/totp", url.Values{"_csrf": {tc}, "code": {code}}, pending); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "已过期") {
		t.Fatalf("expired password step: %d %.300s", res.StatusCode, body)
	}
}

// TestGeneratedPasswordThenTOTP: the demo's path. An authority
// administrator with a generated password changes it first, and is then
// sent to set up the second factor, not into the console.
func TestGeneratedPasswordThenTOTP(t *testing.T) {
	w := newWorld(t, backends[0].open)
	root := account.User{ID: "setup", Name: "setup", Role: account.AuthorityAdmin}
	u, pw, err := w.acc.Create(context.Background(), root, account.NewUser{Name: "admin2", DisplayName: "主管", Role: account.AuthorityAdmin})
	if err != nil || pw == "" {
		t.Fatal(err)
	}
	w.users["admin2"] = u
	ck, csrf := w.session("admin2")
	if r := w.do("GET", "/console/institutions", ck, nil, nil); r.loc != "/console/account?must=1" {
		t.Fatalf("with a generated password: %d %q", r.status, r.loc)
	}
	req := httptest.NewRequest("POST", "/console/account/password", strings.NewReader(url.Values{"_csrf": {csrf}, "current": {pw}, "new": {"blue-kettle-river-stamp"}, "repeat": {"blue-kettle-river-stamp"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(ck)
	res, err := w.app.Test(req, -1)
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change: %v %d", err, res.StatusCode)
	}
	var sess *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == w.c.sessionCookie() && c.Value != "" {
			sess = c
		}
	}
	if sess == nil {
		t.Fatal("no new session after the password change")
	}
	if r := w.do("GET", res.Header.Get("Location"), sess, nil, nil); r.status != http.StatusSeeOther || r.loc != "/console/account/totp?must=1" {
		t.Fatalf("after the password change: %d %q", r.status, r.loc)
	}
	if r := w.do("GET", "/console/account/totp?must=1", sess, nil, nil); r.status != 200 || !strings.Contains(r.body, "totp-secret") {
		t.Fatalf("set-up page: %d", r.status)
	}
}
