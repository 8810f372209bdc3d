package holder

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	"certd/verify"
)

// TestHolderPicksDisclosures: a signed-in holder downloads the whole
// credential for their wallet, or a presentation with only the claims they
// ticked, which verifies with every check and shows nothing else.
func TestHolderPicksDisclosures(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := keys.NewKEK(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc := issuer.New(st, kek)
	svc.Log = slog.New(slog.DiscardHandler)
	authority := issuer.Actor{Name: "test:authority", Authority: true}
	if _, err := svc.Init(ctx, authority, "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddInstitution(ctx, authority, issuer.InstitutionSpec{
		ID: "jlvtc", Name: "吉林测试职业技术学院", USCC: "12220000MB0123457W", Prefix: "Y000022000001",
		FilingNo: "吉人社认备〔2026〕007号", ValidFrom: "2026-01-01",
		Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}},
	}); err != nil {
		t.Fatal(err)
	}
	id := ident.CompleteResidentID("22010220030101001")
	day := issuer.Day(time.Now()).AddDate(0, 0, -3).Format(issuer.DateLayout)
	roster := "姓名,证件类型,证件号码,职业编码,工种,等级,考生类别,学号,专业,考核日期\n" +
		fmt.Sprintf("欧阳娜娜,居民身份证,%s,4-04-05-05,,三级,毕业年度学生,S00001,人工智能技术应用,%s\n", id, day)
	rep, err := svc.Issue(ctx, authority, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: []byte(roster), Filename: "r.csv"})
	if err != nil || len(rep.Issued) != 1 {
		t.Fatalf("issue: %v %+v", err, rep)
	}
	c := rep.Issued[0]
	code, _, err := svc.HolderCode(ctx, authority, c.Number)
	if err != nil {
		t.Fatal(err)
	}

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := Mount(app, Deps{Service: svc, PublicURL: "http://verify.test"}); err != nil {
		t.Fatal(err)
	}
	cookies := map[string]*http.Cookie{}
	do := func(method, target string, body io.Reader, ctype string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://verify.test"+target, body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		resp, err := app.Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		for _, ck := range resp.Cookies() {
			cookies[ck.Name] = ck // the latest wallet, as a browser keeps it
		}
		return resp, string(b)
	}
	_, page := do("GET", "/me", nil, "")
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on /me: %.500s", page)
	}
	form := url.Values{"_csrf": {m[1]}, "number": {c.Number}, "code": {code}, "name": {c.Holder.Name}}
	if resp, body := do("POST", "/me/sign-in", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"); resp.StatusCode != 303 {
		t.Fatalf("sign-in: %d %.500s", resp.StatusCode, body)
	}
	resp, page := do("GET", "/me/c/"+c.Number, nil, "")
	if resp.StatusCode != 200 || !strings.Contains(page, `name="d" value="birthDate"`) || !strings.Contains(page, "下载出示用凭证") {
		t.Fatalf("no disclosure choice on the certificate page: %.3000s", page)
	}

	tb, err := svc.TrustBundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := verify.NewRegistry(&tb)
	if err != nil {
		t.Fatal(err)
	}
	v := &verify.Verifier{Registry: reg, Status: verify.StoreStatus{Store: st}}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"birthDate", "documentHash", "documentType", "name"}},
		{"?pick=1", []string{}},
		{"?pick=1&d=birthDate", []string{"birthDate"}},
		{"?pick=1&d=name&d=photoDigest", []string{"name"}}, // no photo: nothing to hide
	} {
		resp, body := do("GET", "/me/c/"+c.Number+"/credential"+tc.query, nil, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != issuer.CredentialContentType ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), c.Number+".sd-jwt") {
			t.Fatalf("%q: %d %v %.300s", tc.query, resp.StatusCode, resp.Header, body)
		}
		res := v.VerifyCredential(ctx, body)
		if res.Verdict != verify.Valid || fmt.Sprint(res.Disclosed.Claims) != fmt.Sprint(tc.want) {
			t.Errorf("%q: %s, disclosed %v, want %v", tc.query, res.Verdict, res.Disclosed, tc.want)
		}
	}
	// Signed out (another browser), nothing is served.
	clear(cookies)
	if resp, body := do("GET", "/me/c/"+c.Number+"/credential?pick=1&d=name", nil, ""); resp.StatusCode == 200 && strings.Contains(body, "~") {
		t.Fatal("a credential without a sign-in")
	}
}
