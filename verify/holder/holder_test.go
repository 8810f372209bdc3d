package holder

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/issuer/store/sqlite"
)

var authority = issuer.Actor{Name: "test:authority", Authority: true}

type world struct {
	Ctx   context.Context
	Iss   *issuer.Service
	Certs []issuer.Certificate
}

// newWorld is a college with two certificates on a SQLite store.
func newWorld(t *testing.T) *world {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	kek, _ := keys.NewKEK(bytes.Repeat([]byte{7}, 32))
	iss := issuer.New(st, kek)
	iss.Log = slog.New(slog.DiscardHandler)
	if _, err := iss.Init(ctx, authority, "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.AddInstitution(ctx, authority, issuer.InstitutionSpec{ID: "jlvtc", Name: "吉林测试职业技术学院", USCC: "12220000MB0123457W",
		Prefix: "Y000022000001", FilingNo: "吉人社认备〔2026〕007号", ValidFrom: "2026-01-01", City: "长春市", Kind: "高职",
		Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}}}); err != nil {
		t.Fatal(err)
	}
	day := issuer.Day(time.Now()).AddDate(0, 0, -3).Format(issuer.DateLayout)
	var b strings.Builder
	b.WriteString("姓名,证件类型,证件号码,职业编码,工种,等级,考生类别,学号,专业,考核日期\n")
	for i, name := range []string{"欧阳娜娜", "张三丰"} {
		fmt.Fprintf(&b, "%s,居民身份证,%s,4-04-05-05,,三级,毕业年度学生,S%05d,软件技术,%s\n", name, ident.CompleteResidentID(fmt.Sprintf("2201022003%02d%02d%03d", 1+i, 1+i, i)), i, day)
	}
	rep, err := iss.Issue(ctx, authority, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: []byte(b.String()), Filename: "r.csv"})
	if err != nil || len(rep.Issued) != 2 {
		t.Fatalf("issue: %v %+v", err, rep)
	}
	return &world{Ctx: ctx, Iss: iss, Certs: rep.Issued}
}

type client struct {
	t      *testing.T
	app    *fiber.App
	cookie string
}

func (c *client) do(method, path string, form url.Values, headers ...string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.app.Test(req, -1)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "certd_wallet" {
			c.cookie = ck.Name + "=" + ck.Value
			if ck.Value == "" {
				c.cookie = ""
			}
		}
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in:\n%.500s", page)
	}
	return m[1]
}

// Bad input and forged requests on the holder pages: another site's form,
// a missing or stale CSRF token, an altered wallet cookie, a certificate
// not in the wallet, out-of-range link options and unknown link ids each
// get a clear answer and change nothing.
func TestHolderPagesBadInput(t *testing.T) {
	w := newWorld(t)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := Mount(app, Deps{Service: w.Iss, PublicURL: "http://holder.test", Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	c, other := w.Certs[0], w.Certs[1]
	code, _, err := w.Iss.HolderCode(w.Ctx, authority, c.Number)
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, app: app}
	_, page := cl.do("GET", "/me?lang=zh&n="+c.Number, nil)
	tok := csrfOf(t, page)
	if !strings.Contains(page, `value="`+c.Number+`"`) {
		t.Fatal("the number from the claim slip's link is not filled in")
	}
	signIn := url.Values{"_csrf": {tok}, "number": {c.Number}, "code": {code}, "name": {c.Holder.Name}}
	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
		status  int
		want    string
	}{
		{"another site's form", signIn, []string{"Origin", "https://evil.example"}, 403, "表单已过期或来自其他网站"},
		{"cross-site fetch", signIn, []string{"Sec-Fetch-Site", "cross-site"}, 403, "来自其他网站"},
		{"no token", url.Values{"number": {c.Number}, "code": {code}, "name": {c.Holder.Name}}, nil, 403, "表单已过期"},
		{"bad number", url.Values{"_csrf": {tok}, "number": {"X123"}, "code": {code}, "name": {"x"}}, nil, 400, "证书编号"},
		{"huge name", url.Values{"_csrf": {tok}, "number": {c.Number}, "code": {code}, "name": {strings.Repeat("名", 200)}}, nil, 400, "输入过长"},
		{"another's name", url.Values{"_csrf": {tok}, "number": {c.Number}, "code": {code}, "name": {other.Holder.Name}}, nil, 400, "证书编号、领取码或姓名不正确"},
	} {
		res, body := cl.do("POST", "/me/sign-in?lang=zh", tc.form, tc.headers...)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.want) || strings.Contains(body, "panic") {
			t.Fatalf("%s: %d\n%.600s", tc.name, res.StatusCode, body)
		}
	}
	res, _ := cl.do("POST", "/me/sign-in?lang=zh", signIn, "Origin", "http://holder.test")
	if res.StatusCode != 303 || res.Header.Get("Location") != "/me/c/"+c.Number+"?lang=zh" {
		t.Fatalf("sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, page = cl.do("GET", "/me/c/"+c.Number+"?lang=zh", nil)
	if res.StatusCode != 200 || !strings.Contains(page, c.Holder.Name) || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("certificate page: %d %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	tok = csrfOf(t, page)
	if tok == signIn.Get("_csrf") {
		t.Fatal("the CSRF token did not change at sign-in")
	}
	// A certificate not in this wallet goes to the sign-in form.
	if res, _ := cl.do("GET", "/me/c/"+other.Number, nil); res.StatusCode != 303 || !strings.Contains(res.Header.Get("Location"), "n="+other.Number) {
		t.Fatalf("another certificate: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	// Out-of-range options make no link.
	for _, f := range []url.Values{
		{"_csrf": {tok}, "days": {"6"}, "reveal": {"hidden"}},
		{"_csrf": {tok}, "days": {"abc"}, "reveal": {"hidden"}},
		{"_csrf": {tok}, "days": {"30"}, "reveal": {"full"}},
		{"_csrf": {tok}, "days": {"30"}, "reveal": {"hidden"}, "label": {strings.Repeat("长", 41)}},
		{"_csrf": {"stale"}, "days": {"30"}, "reveal": {"hidden"}},
	} {
		res, body := cl.do("POST", "/me/c/"+c.Number+"/links?lang=zh", f)
		if res.StatusCode < 400 || res.StatusCode >= 500 || !strings.Contains(body, `class="notice"`) {
			t.Fatalf("%v: %d\n%.500s", f, res.StatusCode, body)
		}
	}
	if links, _ := w.Iss.HolderShareLinks(w.Ctx, issuer.HolderActor(c.Number), c.Number); len(links) != 0 {
		t.Fatalf("bad input made links: %+v", links)
	}
	res, body := cl.do("POST", "/me/c/"+c.Number+"/links?lang=zh", url.Values{"_csrf": {tok}, "days": {"7"}, "reveal": {"hidden"}, "label": {"某公司"}})
	if res.StatusCode != 200 || !strings.Contains(body, "http://holder.test/s/") || !strings.Contains(body, "linkedin.com/profile/add?") {
		t.Fatalf("make link: %d\n%.800s", res.StatusCode, body)
	}
	for _, id := range []string{"nothex", strings.Repeat("0", 64)} {
		res, _ := cl.do("POST", "/me/c/"+c.Number+"/links/"+id+"/end", url.Values{"_csrf": {tok}})
		if res.StatusCode != 404 {
			t.Fatalf("end %s: %d", id, res.StatusCode)
		}
	}
	// An altered cookie is no wallet at all.
	good := cl.cookie
	cl.cookie = good[:len(good)-3] + "AAA"
	if res, _ := cl.do("GET", "/me/c/"+c.Number, nil); res.StatusCode != 303 {
		t.Fatalf("altered cookie: %d", res.StatusCode)
	}
	cl.cookie = good
	// No PDF was rendered in this world: the holder is told so, not 500.
	if res, body := cl.do("GET", "/me/c/"+c.Number+"/pdf?lang=zh", nil); res.StatusCode != 503 || !strings.Contains(body, "PDF") {
		t.Fatalf("missing PDF: %d\n%.400s", res.StatusCode, body)
	}
	if res, body := cl.do("GET", "/me/c/"+c.Number+"/credential", nil); res.StatusCode != 200 || strings.Count(body, "~") < 2 {
		t.Fatalf("credential: %d %.200s", res.StatusCode, body)
	}
	// Sign-out forgets the wallet.
	if res, _ := cl.do("POST", "/me/sign-out", url.Values{"_csrf": {tok}}); res.StatusCode != 303 || cl.cookie != "" {
		t.Fatalf("sign-out: %d cookie %q", res.StatusCode, cl.cookie)
	}
}
