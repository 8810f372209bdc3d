package console

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/clientip"
)

// loginForm opens the login page for its pre-session cookie and CSRF token.
func loginForm(t *testing.T, w *world) (*http.Cookie, string) {
	t.Helper()
	res, err := w.app.Test(httptest.NewRequest("GET", "/console/login", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	var pre *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == w.c.preCookie() {
			pre = c
		}
	}
	i := strings.Index(string(b), `name="_csrf" value="`)
	if pre == nil || i < 0 {
		t.Fatal("login form without pre-session cookie or CSRF token")
	}
	rest := string(b)[i+len(`name="_csrf" value="`):]
	return pre, rest[:strings.IndexByte(rest, '"')]
}

// While an account is locked or disabled, the sign-in page answers the
// right password byte for byte as it answers a wrong one.
func TestLockedLoginLooksLikeWrongPassword(t *testing.T) {
	w := newWorld(t, backends[0].open)
	pre, csrf := loginForm(t, w)
	try := func(name, pw string) resp {
		return w.do("POST", "/console/login", pre, url.Values{"_csrf": {csrf}, "name": {name}, "password": {pw}}, nil)
	}
	for range 5 {
		try("victim", "wrong")
	}
	wrong := try("victim", "wrong")
	right := try("victim", testPassword)
	if wrong.status != http.StatusUnauthorized || right.status != wrong.status || right.body != wrong.body {
		t.Fatalf("locked account: wrong password %d, right password %d; the pages differ: %v\n%.300s", wrong.status, right.status, right.body != wrong.body, right.body)
	}
	// Disabled (after the lock ended): the same.
	w.now = w.now.Add(31 * time.Minute)
	if _, err := w.acc.SetDisabled(context.Background(), w.users["auth"], w.users["aaud"].ID, true); err != nil {
		t.Fatal(err)
	}
	wrong, right = try("aaud", "wrong"), try("aaud", testPassword)
	if wrong.status != http.StatusUnauthorized || right.status != wrong.status || strings.ReplaceAll(right.body, "aaud", "") != strings.ReplaceAll(wrong.body, "aaud", "") {
		t.Fatalf("disabled account: wrong password %d, right password %d: %.300s", wrong.status, right.status, right.body)
	}
}

// The sign-in throttle counts an IPv6 /64 as one client: a subscriber
// holding a /64 does not get 2^64 budgets by rotating source addresses.
func TestLoginThrottleIPv6Prefix(t *testing.T) {
	w := newWorld(t, backends[0].open)
	trusted, err := clientip.ParseTrustedProxies([]string{"0.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	w.c.trusted = trusted // the test connection's peer is 0.0.0.0: believe its X-Forwarded-For
	pre, csrf := loginForm(t, w)
	try := func(addr string) int {
		return w.do("POST", "/console/login", pre, url.Values{"_csrf": {csrf}, "name": {"nobody"}, "password": {"x"}}, map[string]string{"X-Forwarded-For": addr}).status
	}
	for i := range 30 {
		if s := try(fmt.Sprintf("2001:db8:1:2::%x", i+1)); s != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, s)
		}
	}
	if s := try("2001:db8:1:2:ffff::1"); s != http.StatusTooManyRequests {
		t.Fatalf("31st attempt from the same /64: status %d, want 429", s)
	}
	if s := try("2001:db8:1:3::1"); s != http.StatusUnauthorized {
		t.Fatalf("another /64: status %d, want 401", s)
	}
	// The audit log keeps the full address: the /64 is only what is counted.
	evs, _ := w.st.Audit(context.Background(), issuer.AuditFilter{Action: "account.login_unknown"})
	if len(evs) == 0 || !strings.Contains(evs[0].Detail, "2001:db8:1:2::1") {
		t.Fatalf("audit of a failed sign-in does not name the address: %+v", evs)
	}
}

// The current-password field of the change-password form is throttled
// like a sign-in, counts towards the lockout and is audited.
func TestChangePasswordThrottled(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ck, csrf := w.session("aop")
	try := func(current string) resp {
		return w.do("POST", "/console/account/password", ck, url.Values{"_csrf": {csrf}, "current": {current}, "new": {"a-much-better-one"}, "repeat": {"a-much-better-one"}}, nil)
	}
	for i := range 30 {
		if r := try(fmt.Sprintf("guess-%d", i)); r.status != http.StatusBadRequest || !strings.Contains(r.body, "当前密码不正确") {
			t.Fatalf("guess %d: status %d: %.300s", i, r.status, r.body)
		}
	}
	if r := try(testPassword); r.status != http.StatusTooManyRequests {
		t.Fatalf("31st attempt: status %d, want 429", r.status)
	}
	u, _ := w.st.User(context.Background(), w.users["aop"].ID)
	if !u.Locked(w.now) {
		t.Fatal("wrong current passwords did not lock the account")
	}
	if evs, _ := w.st.Audit(context.Background(), issuer.AuditFilter{Subject: "aop", Action: "account.password_change_failed"}); len(evs) != 30 {
		t.Fatalf("password_change_failed events = %d, want 30", len(evs))
	}
}

// The users page lists the tokens of the accounts the administrator
// manages, and revokes them; another college's are neither listed nor
// revocable.
func TestUsersPageTokens(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ctx := context.Background()
	aTok, aSecret, err := w.acc.CreateToken(ctx, w.users["aop"], "alpha-教务系统", []account.Scope{account.ScopeLedgerRead}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bTok, _, err := w.acc.CreateToken(ctx, w.users["bop"], "beta-教务系统", []account.Scope{account.ScopeLedgerRead}, 0)
	if err != nil {
		t.Fatal(err)
	}
	ck, csrf := w.session("aadm")
	page := w.do("GET", "/console/users", ck, nil, nil)
	if page.status != 200 || !strings.Contains(page.body, "alpha-教务系统") || strings.Contains(page.body, "beta-教务系统") {
		t.Fatalf("alpha's users page: %d, lists alpha's token %v, beta's %v", page.status, strings.Contains(page.body, "alpha-教务系统"), strings.Contains(page.body, "beta-教务系统"))
	}
	if r := w.do("POST", "/console/users/tokens/"+bTok.ID+"/revoke", ck, url.Values{"_csrf": {csrf}}, nil); r.status != http.StatusNotFound {
		t.Fatalf("revoking beta's token as alpha's administrator: %d", r.status)
	}
	if r := w.do("POST", "/console/users/tokens/"+aTok.ID+"/revoke", ck, url.Values{"_csrf": {csrf}}, nil); r.status != http.StatusSeeOther || r.loc != "/console/users?msg=token_revoked" {
		t.Fatalf("revoking alpha's token: %d %q", r.status, r.loc)
	}
	r := w.do("GET", "/api/console/v1/certificates", nil, nil, map[string]string{"Authorization": "Bearer " + aSecret})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("the revoked token still works: %d", r.status)
	}
	if tok, _ := w.st.Token(ctx, bTok.ID); !tok.RevokedAt.IsZero() {
		t.Fatal("beta's token was revoked")
	}
	// A password reset from the users page ends the holder's tokens.
	_, secret, _ := w.acc.CreateToken(ctx, w.users["aop"], "second", []account.Scope{account.ScopeLedgerRead}, 0)
	if r := w.do("POST", "/console/users/"+w.users["aop"].ID+"/reset", ck, url.Values{"_csrf": {csrf}}, nil); r.status != 200 {
		t.Fatalf("reset: %d", r.status)
	}
	if _, _, err := w.acc.Authenticate(ctx, secret); err == nil {
		t.Fatal("a token works after the administrator reset its holder's password")
	}
}

// A request that arrives without the session cookie (as every cross-site
// navigation does under SameSite=Strict) must not delete it: the browser
// still holds a good one. Only a cookie that was sent and is invalid is
// deleted.
func TestSessionCookieDeletedOnlyWhenSentAndInvalid(t *testing.T) {
	w := newWorld(t, backends[0].open)
	deletes := func(cookie *http.Cookie, method string) (int, bool) {
		target := map[string]string{"GET": "/console/certificates", "POST": "/console/account/password"}[method]
		req := httptest.NewRequest(method, target, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := w.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Cookies() {
			if c.Name == w.c.sessionCookie() && (c.MaxAge < 0 || c.Value == "") {
				return res.StatusCode, true
			}
		}
		return res.StatusCode, false
	}
	for _, method := range []string{"GET", "POST"} {
		if status, del := deletes(nil, method); del || (status != http.StatusSeeOther && status != http.StatusUnauthorized) {
			t.Errorf("%s without the cookie: status %d, cookie deleted %v; want sign-in and no deletion", method, status, del)
		}
		if status, del := deletes(&http.Cookie{Name: w.c.sessionCookie(), Value: "not.a.session"}, method); !del || (status != http.StatusSeeOther && status != http.StatusUnauthorized) {
			t.Errorf("%s with an invalid cookie: status %d, cookie deleted %v; want it deleted", method, status, del)
		}
	}
	good, _ := w.session("aop")
	if status, del := deletes(good, "GET"); del || status != http.StatusOK {
		t.Errorf("a good session: status %d, deleted %v", status, del)
	}
}

// Saving the settings page unchanged makes no new registration version
// (each one is a signed entry of the public trust bundle), and a college's
// real changes are rate limited with a clear message.
func TestSettingsSavesDoNotGrowTheTrustBundle(t *testing.T) {
	w := newWorld(t, backends[0].open)
	w.svc.Now = func() time.Time { return w.now }
	w.now = w.now.Add(2 * time.Hour) // the registration is out of the hour
	ck, csrf := w.session("aadm")
	ctx := context.Background()
	versions := func() int {
		vs, err := w.svc.InstitutionVersions(ctx, w.users["auth"].Actor(), "alpha")
		if err != nil {
			t.Fatal(err)
		}
		return len(vs)
	}
	save := func(x string) resp {
		return w.do("POST", "/console/settings/print", ck, url.Values{"_csrf": {csrf}, "layout": {"full"}, "offset_x": {x}, "offset_y": {"0"}}, nil)
	}
	if r := save("1"); r.status != http.StatusSeeOther || !strings.Contains(r.loc, "msg=saved") {
		t.Fatalf("first save: %d %q", r.status, r.loc)
	}
	n := versions()
	for range 30 {
		if r := save("1"); r.status != http.StatusSeeOther || !strings.Contains(r.loc, "msg=unchanged") {
			t.Fatalf("unchanged save: %d %q", r.status, r.loc)
		}
		if r := w.do("POST", "/console/settings/fees", ck, url.Values{"_csrf": {csrf}, "fees": {""}}, nil); r.status != http.StatusSeeOther || !strings.Contains(r.loc, "msg=unchanged") {
			t.Fatalf("unchanged fees: %d %q", r.status, r.loc)
		}
	}
	if got := versions(); got != n {
		t.Fatalf("30 unchanged saves made %d versions", got-n)
	}
	for i := 2; i <= 10; i++ {
		if r := save(fmt.Sprint(i)); r.status != http.StatusSeeOther {
			t.Fatalf("change %d: %d %.300s", i, r.status, r.body)
		}
	}
	if r := save("11"); r.status != http.StatusConflict || !strings.Contains(r.body, "一小时内最多修改10次") {
		t.Fatalf("the 11th change within the hour: %d %.300s", r.status, r.body)
	}
}

// uploadWith posts a roster and, when photos is not nil, a photo ZIP.
func uploadWith(t *testing.T, w *world, ck *http.Cookie, csrf, name string, rosterCSV []byte, photos []byte) resp {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("_csrf", csrf)
	fw, _ := mw.CreateFormFile("roster", name)
	fw.Write(rosterCSV)
	if photos != nil {
		fw, _ = mw.CreateFormFile("photos", "photos.zip")
		fw.Write(photos)
	}
	mw.Close()
	req := httptest.NewRequest("POST", "/console/issue", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(ck)
	res, err := w.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header.Get("Location"), string(b)}
}

func zipFiles(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range files {
		fw, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A roster job costs disk, not memory: a 200 KB photo ZIP that expands to
// 200 MiB and a roster with one 8 MiB cell leave under 8 MiB of memory held
// by the job (its page is bounded by previewBudget), the huge cell is a row
// problem, and the preview page stays small.
func TestUploadJobMemoryIsBounded(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ck, csrf := w.session("aop")
	var csvb strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(rosterCSV(5, 60, -1)), "\n") {
		switch {
		case i == 0:
			line += ",备注"
		case i == 3:
			line += "," + strings.Repeat("备", 8<<20/3)
		default:
			line += ",按时参加"
		}
		csvb.WriteString(line + "\n")
	}
	photos := map[string][]byte{}
	for i := range 100 {
		photos[fmt.Sprintf("unmatched-%03d.jpg", i)] = make([]byte, 2<<20)
	}
	zipData := zipFiles(t, photos)
	if len(zipData) > 400<<10 {
		t.Fatalf("the test ZIP is %d KB", len(zipData)>>10)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := uploadWith(t, w, ck, csrf, "r.csv", []byte(csvb.String()), zipData)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %.500s", r.status, r.body)
	}
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("upload allocated %d MiB, holds %d KiB", (after.TotalAlloc-before.TotalAlloc)>>20, held>>10)
	if held > 8<<20 {
		t.Errorf("the job holds %d MiB of memory, want under 8 MiB", held>>20)
	}
	page := w.do("GET", r.loc, ck, nil, nil)
	if page.status != 200 || len(page.body) > 2*previewBudget || !strings.Contains(page.body, "单元格内容过长") {
		t.Fatalf("job page: %d, %d bytes, names the huge cell: %v", page.status, len(page.body), strings.Contains(page.body, "单元格内容过长"))
	}
	// The job's files are on disk, in a private directory.
	fi, err := os.Stat(w.c.jobs.root)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("upload directory: %v %v", fi.Mode(), err)
	}
	dirs, _ := filepath.Glob(filepath.Join(w.c.jobs.root, "job-*", photosFile))
	if len(dirs) != 1 {
		t.Fatalf("photo archives on disk: %v", dirs)
	}
}

// A photo that is a few bytes on the wire but claims 50,000×50,000 pixels
// is refused at upload, before anything decodes it, and leaves nothing.
func TestUploadRefusesPhotoBomb(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ck, csrf := w.session("aop")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 50000)
	binary.BigEndian.PutUint32(ihdr[4:], 50000)
	ihdr[8], ihdr[9] = 8, 6
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	bomb := append(append([]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", ihdr)...), chunk("IEND", nil)...)
	r := uploadWith(t, w, ck, csrf, "r.csv", []byte(rosterCSV(2, 70, -1)), zipFiles(t, map[string][]byte{"photo.png": bomb}))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "尺寸过大") {
		t.Fatalf("photo bomb: %d %.300s", r.status, r.body)
	}
	if left, _ := filepath.Glob(filepath.Join(w.c.jobs.root, "job-*")); len(left) != 0 {
		t.Fatalf("a refused upload left %v", left)
	}
}

// A job expires jobTTL after its last change, and its files go with it.
func TestUploadJobsExpire(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ck, csrf := w.session("aop")
	r := uploadWith(t, w, ck, csrf, "r.csv", []byte(rosterCSV(2, 80, 1)), nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d", r.status)
	}
	dirs, _ := filepath.Glob(filepath.Join(w.c.jobs.root, "job-*"))
	if len(dirs) != 1 {
		t.Fatalf("job directories: %v", dirs)
	}
	w.now = w.now.Add(jobTTL - time.Minute)
	ck, _ = w.session("aop") // a fresh session: the first one idled out
	if page := w.do("GET", r.loc, ck, nil, nil); page.status != 200 {
		t.Fatalf("before expiry: %d", page.status)
	}
	w.now = w.now.Add(2 * time.Minute)
	ck, csrf = w.session("aop")
	if page := w.do("GET", r.loc, ck, nil, nil); page.status != http.StatusNotFound {
		t.Fatalf("after expiry: %d", page.status)
	}
	if _, err := os.Stat(dirs[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the expired job's files are still there: %v", err)
	}
	// A college has at most maxJobsPerOrg jobs at once.
	for i := range maxJobsPerOrg {
		if r := uploadWith(t, w, ck, csrf, "r.csv", []byte(rosterCSV(2, 90+i, 1)), nil); r.status != http.StatusSeeOther {
			t.Fatalf("upload %d: %d", i, r.status)
		}
	}
	if r := uploadWith(t, w, ck, csrf, "r.csv", []byte(rosterCSV(2, 99, 1)), nil); r.status != http.StatusConflict || !strings.Contains(r.body, "待处理的名单过多") {
		t.Fatalf("one job too many: %d", r.status)
	}
}
