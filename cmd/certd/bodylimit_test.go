package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"certd/issuer/account"
	"certd/issuer/console"
	"certd/verify/web"
)

// bodyLimitServer is a certd app on a loopback port with an authority
// administrator who can sign in.
func bodyLimitServer(t *testing.T) (e *env, base string, as *account.Service, admin account.User) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base = "http://" + ln.Addr().String()
	cfg := &Config{Data: filepath.Join(dir, "data"), Addr: ln.Addr().String(), PublicURL: base, Demo: true, LogLevel: "error",
		RateLimit: "-1", CacheMB: "16", FontPath: "/nonexistent.ttf"}
	e, err = cfg.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	if _, err := e.svc.Init(ctx, authorityActor(), "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	if as, err = e.accounts(); err != nil {
		t.Fatal(err)
	}
	if admin, _, err = as.Create(ctx, cliUser(), account.NewUser{Name: "root", DisplayName: "省厅管理员", Role: account.AuthorityAdmin, Password: "province-admin-2026"}); err != nil {
		t.Fatal(err)
	}
	e.metrics = prometheus.NewRegistry() // as serve does
	app, err := newApp(e)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		_ = app.ShutdownWithTimeout(5 * time.Second)
	})
	return e, base, as, admin
}

// signIn logs the administrator in through the login form and returns the
// session cookie.
func signIn(t *testing.T, base string) *http.Cookie {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(base + "/console/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the login page")
	}
	resp, err = cl.PostForm(base+"/console/login", url.Values{"name": {"root"}, "password": {"province-admin-2026"}, "_csrf": {string(m[1])}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if c.Name == "certd_session" {
			return c
		}
	}
	t.Fatalf("login answered %d without a session cookie", resp.StatusCode)
	return nil
}

// refusedUnread sends the headers of a POST announcing a body of n bytes,
// and no body, and reports whether the answer is 413. A server that waited
// for the body would answer nothing (read timeout 15 s); the read deadline
// here only keeps a failing test from hanging.
func refusedUnread(t *testing.T, base, path string, n int, headers ...string) bool {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req strings.Builder
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n", path, n)
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&req, "%s: %s\r\n", headers[i], headers[i+1])
	}
	req.WriteString("\r\n")
	if _, err := conn.Write([]byte(req.String())); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Errorf("%s: no answer before the body was sent: %v", path, err)
		return false
	}
	return strings.HasPrefix(status, "HTTP/1.1 413")
}

// TestBodyLimitByPath: a request's body limit is decided from its headers,
// before the body is read, on the path as routed and only when that path
// is clean; only a signed-in operator's upload routes (and the API roster
// upload with a valid token) may be large. Each refusal comes without the
// body having been sent.
func TestBodyLimitByPath(t *testing.T) {
	ctx := context.Background()
	_, base, as, admin := bodyLimitServer(t)
	session := signIn(t, base)
	_, token, err := as.CreateToken(ctx, admin, "测试", []account.Scope{account.ScopeIssue}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cookie := session.Name + "=" + session.Value
	const big = 10 << 20
	for _, tc := range []struct {
		path    string
		headers []string
		why     string
	}{
		{"/nonexistent", nil, "public path"},
		{"/healthz", nil, "public GET-only route"},
		{"/v/..%2Fconsole", nil, "encoded dot-dot into the console"},
		{"/v/..%2Fconsole%2Fissue", []string{"Cookie", cookie}, "encoded dot-dot into an upload route, signed in"},
		{"/console/../console/issue", []string{"Cookie", cookie}, "dot segments, signed in"},
		{"//console/issue", []string{"Cookie", cookie}, "doubled slash, signed in"},
		{"/console/login", nil, "the login page, before any sign-in"},
		{"/console/login", []string{"Cookie", cookie}, "a console form, signed in"},
		{"/console/issue", nil, "an upload route without a session"},
		{"/CONSOLE/ISSUE/", nil, "an upload route as routed, without a session"},
		{"/console/issue", []string{"Cookie", "certd_session=eyJhbGciOiJFZERTQSJ9.e30.AAAA"}, "an upload route with a forged session"},
		{"/api/console/v1/rosters", nil, "the API upload without a token"},
		{"/api/console/v1/rosters", []string{"Authorization", "Bearer certd_notatoken"}, "the API upload with a wrong token"},
		{"/api/console/v1/certificates/Y000022000001263000001/revoke", []string{"Authorization", "Bearer " + token}, "another API route"},
		{"/api/v1/verify", nil, "the PDF check, over its limit"},
		{"/bulk", nil, "the bulk check, over its limit"},
		{"/v/Y000022000001263000001", nil, "the confirmation form"},
	} {
		if !refusedUnread(t, base, tc.path, big, tc.headers...) {
			t.Errorf("%s (%s): a %d MB body is not refused before it is read", tc.why, tc.path, big>>20)
		}
	}
	for _, tc := range []struct {
		path    string
		n       int
		headers []string
		why     string
	}{
		{"/console/issue", big, []string{"Cookie", cookie}, "an upload route, signed in"},
		{"/CONSOLE/ISSUE/", big, []string{"Cookie", cookie}, "an upload route as routed, signed in"},
		{"/api/console/v1/rosters", big, []string{"Authorization", "Bearer " + token}, "the API upload with a token"},
		{"/api/v1/verify", web.MaxBody, nil, "a PDF of the largest size"},
		{"/bulk", web.MaxBulkBody, nil, "a bulk sheet of the largest size"},
		{"/console/settings/print", 512 << 10, []string{"Cookie", cookie}, "a large console form, signed in"},
		{"/console/login", 16 << 10, nil, "a login form"},
	} {
		req, _ := http.NewRequest("POST", base+tc.path, bytes.NewReader(make([]byte, tc.n)))
		req.Header.Set("Content-Type", "application/octet-stream")
		for i := 0; i+1 < len(tc.headers); i += 2 {
			req.Header.Set(tc.headers[i], tc.headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.why, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusRequestEntityTooLarge {
			t.Errorf("%s (%s, %d bytes): 413", tc.why, tc.path, tc.n)
		}
	}
	if console.MaxUpload < big {
		t.Fatalf("console.MaxUpload is %d: the test's upload size must be under it", console.MaxUpload)
	}
}

// TestBodyLimitDecision tables the decision itself, without a server,
// for paths a client cannot easily send over net/http.
func TestBodyLimitDecision(t *testing.T) {
	b := &bodyLimits{session: func(func(string) []byte) bool { return true }, token: func(string) bool { return false }}
	for _, tc := range []struct {
		method, uri string
		want        int
	}{
		{"POST", "/console/issue", uploadBody["/console/issue"]},
		{"POST", "/console/issue?x=1", uploadBody["/console/issue"]},
		{"POST", "/Console/Settings/Seal", uploadBody["/console/settings/seal"]},
		{"POST", "/console/users", consoleForm},
		{"GET", "/console/issue", smallBody},
		{"PUT", "/console/issue", smallBody},
		{"POST", "/console/%69ssue", smallBody},
		{"POST", "/console/./issue", smallBody},
		{"POST", "/bulk/../console/issue", smallBody},
		{"POST", "/v/..%2F..%2Fconsole%2Fissue", smallBody},
		{"POST", "/api/v1/verify", web.MaxBody},
		{"POST", "/api/v1/verify/", web.MaxBody},
		{"POST", "/api/v1/verify/..%2F..%2F..%2Fconsole%2Fissue", smallBody},
		{"POST", "/bulk", web.MaxBulkBody},
		{"POST", "http://evil.example/console/issue", uploadBody["/console/issue"]},
		{"POST", "/", smallBody},
	} {
		var h fasthttp.RequestHeader
		h.SetMethod(tc.method)
		h.SetRequestURI(tc.uri)
		if got := b.limit(&h); got != tc.want {
			t.Errorf("%s %s: limit %d, want %d", tc.method, tc.uri, got, tc.want)
		}
	}
}

// TestMetricsOnAPrivateAddress: the public port serves no /metrics; the
// metrics, console login failures among them, are served on the address of
// --metrics-addr, and on none when it is empty.
func TestMetricsOnAPrivateAddress(t *testing.T) {
	e, base, _, _ := bodyLimitServer(t)
	resp, err := http.PostForm(base+"/console/login", url.Values{"name": {"root"}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err = http.Get(base + "/metrics"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the public port: %d", resp.StatusCode)
	}
	ms, err := serveMetrics("127.0.0.1:0", e.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if resp, err = http.Get("http://" + ms.Addr() + "/metrics"); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `route="/console/login"`) || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("metrics address: %d %.300s", resp.StatusCode, body)
	}
	if ms, err := serveMetrics("", e.metrics); ms != nil || err != nil {
		t.Errorf("an empty --metrics-addr serves metrics: %v %v", ms, err)
	}
	for _, st := range settings {
		if st.name == "metrics-addr" && st.def != "127.0.0.1:9090" {
			t.Errorf("--metrics-addr defaults to %q, not loopback", st.def)
		}
	}
}

// FuzzBodyLimit: whatever the method, request URI, session and token, a
// limit above smallBody goes only to a POST whose path is already clean
// (what is routed is what was judged) and names a route that takes a
// large body; the console's only with a session, the API upload's only
// with a token.
func FuzzBodyLimit(f *testing.F) {
	for _, s := range []string{"/console/issue", "/v/..%2Fconsole", "/CONSOLE/ISSUE/", "/api/v1/verify", "/bulk", "//console/issue",
		"/console/./issue", "http://x/console/issue", "/api/console/v1/rosters", "/console/login?next=/console/issue", "/%2e%2e/console/issue"} {
		f.Add("POST", s, true, false)
	}
	f.Add("GET", "/console/issue", true, true)
	f.Fuzz(func(t *testing.T, method, uri string, session, token bool) {
		b := &bodyLimits{session: func(func(string) []byte) bool { return session }, token: func(string) bool { return token }}
		var h fasthttp.RequestHeader
		h.SetMethod(method)
		h.SetRequestURI(uri)
		if token {
			h.Set("Authorization", "Bearer "+account.TokenPrefix+"x")
		}
		got := b.limit(&h)
		if got == smallBody {
			return
		}
		if !h.IsPost() {
			t.Fatalf("%s %q: %d for a method other than POST", method, uri, got)
		}
		u := fasthttp.AcquireURI()
		defer fasthttp.ReleaseURI(u)
		if u.Parse(nil, h.RequestURI()) != nil || !bytes.Equal(u.Path(), u.PathOriginal()) {
			t.Fatalf("%q: %d for a path that is not clean", uri, got)
		}
		p := strings.ToLower(strings.TrimSuffix(string(u.Path()), "/"))
		want := map[string]int{"/api/v1/verify": web.MaxBody, "/bulk": web.MaxBulkBody}
		if session && (p == "/console" || strings.HasPrefix(p, "/console/")) {
			want[p] = consoleForm
			if n, ok := uploadBody[p]; ok {
				want[p] = n
			}
		}
		if token {
			want["/api/console/v1/rosters"] = apiRosterBody
		}
		if want[p] != got {
			t.Fatalf("%s %q (session %v, token %v): limit %d, want %d", method, uri, session, token, got, want[p])
		}
	})
}
