package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"certd/issuer"
	"certd/issuer/account"
)

const chromiumPath = "/usr/bin/chromium"

// TestConsoleEndToEnd drives headless Chromium through the console of a
// real certd (the same app `certd serve` runs, public verification
// included): the authority registers a college and creates its operator;
// the operator signs in, uploads a roster with one bad row, sees it
// marked, fixes it, issues 50 certificates, downloads the batch print PDF
// and revokes one; the public page shows it revoked; and another
// college's operator is refused every page of the first college.
//
// Set CERTD_SCREENSHOTS=DIR to keep PNGs of the main pages at desktop and
// phone widths.
func TestConsoleEndToEnd(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed at %s; CI requires it (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("chromium is not installed at %s (apt-get install chromium); skipping the browser test", chromiumPath)
	}
	start := time.Now()
	ctx := context.Background()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := &Config{Data: filepath.Join(dir, "data"), Addr: ln.Addr().String(), PublicURL: base, Demo: true, LogLevel: "error",
		RateLimit: "-1", CacheMB: "64", FontPath: "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf"}
	e, err := cfg.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	if _, err := e.svc.Init(ctx, authorityActor(), "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	as, err := e.accounts()
	if err != nil {
		t.Fatal(err)
	}
	const rootPW = "province-admin-2026"
	if _, _, err := as.Create(ctx, cliUser(), account.NewUser{Name: "root", DisplayName: "省厅管理员", Role: account.AuthorityAdmin, Password: rootPW}); err != nil {
		t.Fatal(err)
	}
	// The second college and its operator, made outside the browser.
	other := issuer.InstitutionSpec{ID: "other", Name: "吉林另一职业学院", USCC: "12220000MB0123457W", Prefix: "Y000022000009", FilingNo: "吉人社认备〔2026〕009号",
		City: "吉林市", Kind: "高职", Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}}}
	if _, err := e.svc.AddInstitution(ctx, authorityActor(), other); err != nil {
		t.Fatal(err)
	}
	const otherPW = "second-college-op-2026"
	if _, _, err := as.Create(ctx, cliUser(), account.NewUser{Name: "other.op", DisplayName: "他校经办", Role: account.CollegeOperator, InstitutionID: "other", Password: otherPW}); err != nil {
		t.Fatal(err)
	}
	const otherAdminPW = "birch-lantern-campus-26"
	if _, _, err := as.Create(ctx, cliUser(), account.NewUser{Name: "other.head", DisplayName: "他校管理员", Role: account.CollegeAdmin, InstitutionID: "other", Password: otherAdminPW}); err != nil {
		t.Fatal(err)
	}
	app, err := newApp(e)
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	defer app.ShutdownWithTimeout(5 * time.Second)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	bctx, cancelTimeout := context.WithTimeout(bctx, 90*time.Second)
	defer cancelTimeout()

	shots := os.Getenv("CERTD_SCREENSHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		for _, sz := range []struct {
			tag  string
			w, h int64
		}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
			if err := chromedp.Do(bctx, chromedp.EmulateViewport(sz.w, sz.h)); err != nil {
				t.Fatalf("viewport: %v", err)
			}
			png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot %s: %v", name, err)
			}
			_ = os.MkdirAll(shots, 0o755)
			if err := os.WriteFile(filepath.Join(shots, name+"-"+sz.tag+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_ = chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800))
	}
	// wideShot keeps one desktop picture at 1366×900, the console's
	// reference width, of a page a story step checks.
	wideShot := func(name string) {
		if shots == "" {
			return
		}
		_ = chromedp.Do(bctx, chromedp.EmulateViewport(1366, 900))
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		_ = os.MkdirAll(shots, 0o755)
		if err := os.WriteFile(filepath.Join(shots, name+"-1366.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800))
	}
	// authShot keeps 1366x900 desktop views of the console (the top of the
	// page, and the whole page beside it) in CERTD_WIDE_SHOTS.
	wideDir := os.Getenv("CERTD_WIDE_SHOTS")
	authShot := func(name, sel string, full bool) {
		if wideDir == "" {
			return
		}
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(1366, 900)); err != nil {
			t.Fatalf("viewport: %v", err)
		}
		var png []byte
		var err error
		switch {
		case full:
			png, err = chromedp.Run(bctx, chromedp.FullScreenshot(100))
		case sel != "":
			if err = chromedp.Do(bctx, chromedp.ScrollIntoView(chromedp.CSS(sel))); err == nil {
				png, err = chromedp.Run(bctx, chromedp.CaptureScreenshot())
			}
		default:
			if _, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0); true`)); err == nil {
				png, err = chromedp.Run(bctx, chromedp.CaptureScreenshot())
			}
		}
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		_ = os.MkdirAll(wideDir, 0o755)
		if err := os.WriteFile(filepath.Join(wideDir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800))
	}
	authWide := func(name string) { authShot(name, "", false); authShot(name+"-full", "", true) }
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if testing.Verbose() {
			t.Logf("%6.2fs %s", time.Since(start).Seconds(), what)
		}
		if err := chromedp.Do(bctx, actions...); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage: %.1500s", what, err, body)
		}
	}
	value := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	text := func() string { return value("read page", chromedp.Text(chromedp.CSS("body"))) }
	totpKeys, totpSteps := map[string]string{}, map[string]int64{}
	login := func(name, pw string) {
		run("sign in as "+name,
			chromedp.Navigate(base+"/console/login"),
			chromedp.WaitVisible(chromedp.CSS("#name")),
			chromedp.SendKeys(chromedp.CSS("#name"), name),
			chromedp.SendKeys(chromedp.CSS("#password"), pw),
			chromedp.Submit(chromedp.CSS("#password")),
			// Only a signed-in page has the sign-out form; the login page
			// itself must not satisfy the wait. An administrator with a
			// second factor is asked for the code instead.
			chromedp.WaitVisible(chromedp.CSS(`form[action="/console/logout"] button, form[action="/console/login/totp"] #code`)),
		)
		has := func(sel string) bool {
			ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelector('`+sel+`') !== null`))
			return err == nil && ok
		}
		code := func() string {
			// A code works once: wait for the next 30-second step if this
			// one was used already.
			now := time.Now()
			if step := now.Unix() / 30; step <= totpSteps[name] {
				time.Sleep(time.Until(time.Unix((totpSteps[name]+1)*30, 0)))
				now = time.Now()
			}
			totpSteps[name] = now.Unix() / 30
			c, err := account.TOTPCode(totpKeys[name], now)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		switch {
		case has(`form[action="/console/login/totp"]`):
			run("two-step code for "+name,
				chromedp.SendKeys(chromedp.CSS("#code"), code()),
				chromedp.Submit(chromedp.CSS("#code")),
				chromedp.WaitVisible(chromedp.CSS(`form[action="/console/logout"] button`)),
			)
		case has(`#totp-secret`):
			// An authority administrator sets up the second factor first.
			totpKeys[name] = value("two-step key", chromedp.Text(chromedp.CSS("#totp-secret")))
			shot("totp-setup")
			run("set up two-step sign-in for "+name,
				chromedp.SendKeys(chromedp.CSS("#code"), code()),
				chromedp.Submit(chromedp.CSS("#code")),
				chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)),
			)
		}
	}
	logout := func() {
		run("sign out", chromedp.Click(chromedp.CSS(`form[action="/console/logout"] button`)), chromedp.WaitVisible(chromedp.CSS("#name")))
	}

	// 1. The authority registers a college with one scope line.
	run("login page", chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.CSS("#name")))
	shot("login")
	login("root", rootPW)
	// A registration with several problems is refused with every one of
	// them beside its field, what was typed kept.
	run("register form with problems", chromedp.Navigate(base+"/console/institutions/new?q=4-04-05"), chromedp.WaitVisible(chromedp.CSS(`input[name="id"]`)))
	run("fill a registration with problems",
		chromedp.SendKeys(chromedp.CSS(`input[name="id"]`), "other"),
		chromedp.SendKeys(chromedp.CSS(`input[name="prefix"]`), "Y000022000009"),
		chromedp.SendKeys(chromedp.CSS(`input[name="uscc"]`), "12220000MB0123457X"),
		chromedp.SendKeys(chromedp.CSS(`input[name="filing_no"]`), "吉人社认备〔2026〕078号"),
		chromedp.Click(chromedp.CSS(`button[value="review"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#problems`)),
	)
	if s := text(); !strings.Contains(s, "表单有5处需要修改") || !strings.Contains(s, "已由“吉林另一职业学院”使用") || !strings.Contains(s, "请填写机构名称") {
		t.Fatalf("registration with problems: %.1500s", s)
	}
	if v := value("kept", chromedp.Value(chromedp.CSS(`input[name="filing_no"]`))); v != "吉人社认备〔2026〕078号" {
		t.Fatalf("the filing number typed was lost: %q", v)
	}
	shot("institution-problems")
	authWide("authority-form-errors")
	// The scope editor lists the catalogue by group; a search narrows it.
	run("register form", chromedp.Navigate(base+"/console/institutions/new?q=4-04-05"), chromedp.WaitVisible(chromedp.CSS(`input[name="id"]`)))
	run("fill registration",
		chromedp.SendKeys(chromedp.CSS(`input[name="id"]`), "jlqc"),
		chromedp.SendKeys(chromedp.CSS(`input[name="prefix"]`), "Y000022000077"),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "吉林汽车工业职业技术学院"),
		chromedp.SendKeys(chromedp.CSS(`input[name="uscc"]`), "12220000MB0123457W"),
		chromedp.SendKeys(chromedp.CSS(`input[name="filing_no"]`), "吉人社认备〔2026〕077号"),
		chromedp.SendKeys(chromedp.CSS(`input[name="contact"]`), "认定中心 0431-00000077"),
		chromedp.Click(chromedp.CSS(`input[value="4-04-05-05||3"]`)),
		chromedp.Click(chromedp.CSS(`input[value="4-04-05-05||4"]`)),
	)
	shot("institution-new")
	run("review registration", chromedp.Click(chromedp.CSS(`button[value="review"]`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	if s := text(); !strings.Contains(s, "新增 2 项") || !strings.Contains(s, "尚未保存") {
		t.Fatalf("registration review: %.800s", s)
	}
	shot("institution-confirm")
	run("register", chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)))
	if s := text(); !strings.Contains(s, "认定机构已备案") || !strings.Contains(s, "吉林汽车工业职业技术学院") {
		t.Fatalf("after registering: %.800s", s)
	}
	// ... and creates its operator, whose password is shown once.
	run("create operator",
		chromedp.Navigate(base+"/console/users"),
		chromedp.WaitVisible(chromedp.CSS("#u-name")),
		chromedp.SendKeys(chromedp.CSS("#u-name"), "qc.op"),
		chromedp.SendKeys(chromedp.CSS("#u-dn"), "赵经办"),
		chromedp.SetValue(chromedp.CSS("#u-role"), "college_operator"),
		chromedp.SetValue(chromedp.CSS("#u-inst"), "jlqc"),
		chromedp.Submit(chromedp.CSS("#u-name")),
		chromedp.WaitVisible(chromedp.CSS("code.secret")),
	)
	opPW := value("password", chromedp.Text(chromedp.CSS("code.secret")))
	shot("users")
	run("dashboard", chromedp.Navigate(base+"/console/dashboard"), chromedp.WaitVisible(chromedp.CSS("footer")))
	if s := text(); !strings.Contains(s, "长春市") {
		t.Fatalf("dashboard: %.500s", s)
	}
	shot("dashboard")
	logout()

	// 2. The operator signs in and must replace the generated password.
	login("qc.op", strings.TrimSpace(opPW))
	const newPW = "qc-operator-own-2026"
	run("change password",
		chromedp.WaitVisible(chromedp.CSS("#current")),
		chromedp.SendKeys(chromedp.CSS("#current"), strings.TrimSpace(opPW)),
		chromedp.SendKeys(chromedp.CSS("#new"), newPW),
		chromedp.SendKeys(chromedp.CSS("#repeat"), newPW),
		chromedp.Submit(chromedp.CSS("#repeat")),
		chromedp.WaitVisible(chromedp.CSS(".notice.ok")),
	)

	// 3. A roster with one bad row (Excel row 7) is marked, nothing issued.
	bad := writeRoster(t, dir, 50, 7)
	good := writeRoster(t, dir, 50, 0)
	upload := func(path string) {
		run("upload "+filepath.Base(path),
			chromedp.Navigate(base+"/console/issue"),
			chromedp.WaitVisible(chromedp.CSS("#roster")),
			chromedp.SetUploadFiles(chromedp.CSS("#roster"), []string{path}),
			chromedp.Submit(chromedp.CSS("#roster")),
			chromedp.WaitVisible(chromedp.CSS("h1")),
			chromedp.WaitNotPresent(chromedp.CSS("#roster")),
		)
	}
	upload(bad)
	run("marked row", chromedp.WaitVisible(chromedp.CSS("td.badcell")))
	badRows, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tr.bad > th")).map(th => th.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(badRows) != 1 || badRows[0] != "7" {
		t.Fatalf("rows marked bad: %v, want [7]", badRows)
	}
	if s := text(); !strings.Contains(s, "1 行有问题") || strings.Contains(s, "确认发证 50") {
		t.Fatalf("preview of the bad roster: %.600s", s)
	}
	jobURL := value("job url", chromedp.Location())
	shot("preview-bad-row")

	// 4. The fixed roster issues 50 certificates.
	upload(good)
	run("confirm", chromedp.WaitVisible(chromedp.CSS(`form[action$="/confirm"] button`)))
	shot("preview-ok")
	run("issue", chromedp.Click(chromedp.CSS(`form[action$="/confirm"] button`)))
	run("wait for issuing", chromedp.WaitVisible(chromedp.CSS(`a[href$="/print.pdf"]`)))
	if s := text(); !strings.Contains(s, "发证完成") || !strings.Contains(s, "50") {
		t.Fatalf("after issuing: %.600s", s)
	}
	shot("issued")
	wideShot("issue-done")
	// The done page lists the 50 new numbers, each linked to its page,
	// with the list to download.
	if n := value("new numbers", chromedp.Evaluate[string](`String(document.querySelectorAll('table.issued tbody a[href^="/console/certificates/"]').length)`)); n != "50" {
		t.Fatalf("the done page links %s new numbers, want 50", n)
	}
	run("numbers list link", chromedp.WaitVisible(chromedp.CSS(`a[href$="/numbers.xlsx"]`)))
	attr, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`a[href$="/print.pdf"]`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	printHref := attr.Value
	batchID := strings.TrimSuffix(strings.TrimPrefix(printHref, "/console/batches/"), "/print.pdf")

	// Download the batch print PDF with the browser's own session cookie.
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, []byte) {
		res0, err := chromedp.Call(bctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base}})
		if err != nil {
			t.Fatal(err)
		}
		cookies := res0.Cookies
		req, _ := http.NewRequest("GET", base+path, nil)
		for _, c := range cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	status, pdf := get(printHref)
	if status != 200 || !strings.HasPrefix(string(pdf), "%PDF") {
		t.Fatalf("batch print PDF: status %d, %d bytes", status, len(pdf))
	}
	if n := len(regexp.MustCompile(`/Type\s*/Page[^s]`).FindAll(pdf, -1)); n != 50 {
		t.Fatalf("the batch print PDF has %d pages, want 50", n)
	}

	// 5. Revoke one, with the confirmation step.
	run("batch page", chromedp.Navigate(base+"/console/batches/"+batchID), chromedp.WaitVisible(chromedp.CSS("table.ledger")))
	number := value("first number", chromedp.Text(chromedp.CSS("table.ledger tbody tr:first-child code")))
	second := value("second number", chromedp.Text(chromedp.CSS("table.ledger tbody tr:nth-child(2) code")))
	run("ledger", chromedp.Navigate(base+"/console/certificates"), chromedp.WaitVisible(chromedp.CSS("table.ledger")))
	shot("ledger")
	run("certificate", chromedp.Navigate(base+"/console/certificates/"+number), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
	shot("certificate")
	run("revoke form",
		chromedp.Navigate(base+"/console/certificates/"+number+"/revoke"),
		chromedp.WaitVisible(chromedp.CSS(`input[value="error"]`)),
		chromedp.Click(chromedp.CSS(`input[value="error"]`)),
		chromedp.SendKeys(chromedp.CSS("#note"), "证件号码录入错误"),
		chromedp.Submit(chromedp.CSS("#note")),
		chromedp.WaitVisible(chromedp.CSS(`button.danger.primary`)),
	)
	shot("revoke-confirm")
	run("confirm revoke", chromedp.Click(chromedp.CSS(`button.danger.primary`)), chromedp.WaitVisible(chromedp.CSS(".notice.ok")))
	if s := text(); !strings.Contains(s, "证书已撤销") || !strings.Contains(s, "已撤销") {
		t.Fatalf("after revoking: %.600s", s)
	}
	if c, err := e.store.Certificate(ctx, number); err != nil || c.Status != issuer.Revoked {
		t.Fatalf("stored status %v, %v", c.Status, err)
	}
	// The console warns before a revoked certificate's PDF is opened, and
	// the PDF says void.
	run("revoked certificate", chromedp.Navigate(base+"/console/certificates/"+number), chromedp.WaitVisible(chromedp.CSS(".notice.warn")))
	if s := text(); !strings.Contains(s, "作废 REVOKED") || !strings.Contains(s, "查看作废标记的PDF") {
		t.Fatalf("the revoked certificate's page does not warn: %.600s", s)
	}
	shot("certificate-revoked")
	if status, pdf := get("/console/certificates/" + number + "/pdf"); status != 200 || !strings.Contains(pdfToText(t, pdf), "作废 REVOKED") {
		t.Fatalf("the revoked certificate's PDF (status %d) has no void mark", status)
	}

	// 5b. Correct another one: the form, then old against new and what
	// follows, then the new certificate; the old one's page tells of it.
	run("batch page again", chromedp.Navigate(base+"/console/batches/"+batchID), chromedp.WaitVisible(chromedp.CSS("table.ledger")))
	third := value("third number", chromedp.Text(chromedp.CSS("table.ledger tbody tr:nth-child(3) code")))
	run("reissue form",
		chromedp.Navigate(base+"/console/certificates/"+third+"/reissue"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "欧阳娜娜"),
		chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "姓名录入错误"),
		chromedp.Submit(chromedp.CSS(`input[name="reason"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.diff`)),
	)
	if s := text(); !strings.Contains(s, "欧阳娜娜") || !strings.Contains(s, "已更正 SUPERSEDED") || !strings.Contains(s, "指向新证书") {
		t.Fatalf("reissue preview: %.900s", s)
	}
	if c, _ := e.store.Certificate(ctx, third); c.Status != issuer.Valid {
		t.Fatalf("the preview changed %s to %s", third, c.Status)
	}
	shot("reissue-preview")
	wideShot("reissue-preview")
	run("confirm reissue", chromedp.Click(chromedp.CSS(`button[name="confirm"]`)), chromedp.WaitVisible(chromedp.CSS(".notice.correction")))
	if s := text(); !strings.Contains(s, "更正自") || !strings.Contains(s, third) || !strings.Contains(s, "欧阳娜娜") {
		t.Fatalf("after reissuing: %.900s", s)
	}
	run("corrected certificate", chromedp.Navigate(base+"/console/certificates/"+third), chromedp.WaitVisible(chromedp.CSS(".notice.correction")))
	if s := text(); !strings.Contains(s, "已更正为") || !strings.Contains(s, "姓名录入错误") {
		t.Fatalf("the corrected certificate's page: %.900s", s)
	}
	wideShot("reissue-old-certificate")

	// 6. The public page shows it revoked (its cache may lag a moment).
	deadline := time.Now().Add(20 * time.Second)
	for {
		run("public page", chromedp.Navigate(base+"/v/"+number+"?lang=zh"), chromedp.WaitVisible(chromedp.CSS("body")))
		if strings.Contains(text(), "已撤销") || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if s := text(); !strings.Contains(s, "已撤销") {
		t.Fatalf("the public page does not show the certificate revoked: %.600s", s)
	}
	shot("public-revoked")

	// 6b. A misleading verdict: a real, valid number with a well-formed
	// code that is not its own (a forged paper) must not read 有效.
	run("forged paper", chromedp.Navigate(base+"/v/"+second+"?lang=zh&c=ABCDEFGHJKLMNPQR"),
		chromedp.WaitVisible(chromedp.CSS(`section.verdict.v-code_mismatch`)))
	if s := value("verdict block", chromedp.Text(chromedp.CSS("section.verdict"))); !strings.Contains(s, "验证码不符") || !strings.Contains(s, "可能是伪造") {
		t.Fatalf("the forged-paper page says: %.400s", s)
	}
	shot("public-wrong-code")

	// 6c. A credit office's sheet on /bulk, results on the page: the
	// revoked row and a wrong name need action, the valid one is accepted.
	sheet := filepath.Join(dir, "bulk.csv")
	if err := os.WriteFile(sheet, []byte("证书编号,姓名\n"+second+",学生甲甲\n"+number+",学生甲\n"+second+",错名字\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run("bulk sheet", chromedp.Navigate(base+"/bulk?lang=zh"), chromedp.WaitVisible(chromedp.CSS("#f")),
		chromedp.SetUploadFiles(chromedp.CSS("#f"), []string{sheet}),
		chromedp.Click(chromedp.CSS(`button[name="view"][value="page"]`)),
		chromedp.WaitVisible(chromedp.CSS("#bulk-summary")))
	if s := value("bulk summary", chromedp.Text(chromedp.CSS("#bulk-summary"))); !strings.Contains(s, "3 行") || !strings.Contains(s, "1 行可以采信") || !strings.Contains(s, "姓名不符") || !strings.Contains(s, "已撤销") {
		t.Fatalf("the bulk summary says: %.600s", s)
	}
	shot("public-bulk")

	// 6d. The same field takes a certificate PDF: its verdict on the page
	// (the file is exactly the one issued), with a receipt.
	status, certPDF := get("/console/certificates/" + second + "/pdf")
	if status != 200 {
		t.Fatalf("certificate PDF: %d", status)
	}
	pdfFile := filepath.Join(dir, second+".pdf")
	if err := os.WriteFile(pdfFile, certPDF, 0o600); err != nil {
		t.Fatal(err)
	}
	run("bulk PDF", chromedp.Navigate(base+"/bulk?lang=zh"), chromedp.WaitVisible(chromedp.CSS("#f")),
		chromedp.SetUploadFiles(chromedp.CSS("#f"), []string{pdfFile}),
		chromedp.Click(chromedp.CSS(`button[name="view"][value="page"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#credential-result[data-conclusion="valid"]`)))
	if s := text(); !strings.Contains(s, "证书 PDF 文件的核验结论") || !strings.Contains(s, "与签发的PDF文件完全一致 通过") || !strings.Contains(s, "回执编号") {
		t.Fatalf("the bulk page on a certificate PDF says: %.900s", s)
	}
	shot("public-bulk-pdf")

	// 6e. A sheet with the clerk's own columns: the page, then the result
	// sheet and the receipt downloaded, and the receipt looked up by its
	// reference as anyone who has it would.
	sheet2 := filepath.Join(dir, "bulk2.csv")
	sheetText := "学号,证书编号,姓名,备注\nS001," + second + ",学生甲甲,转入\nS002," + number + ",学生甲,\n"
	if err := os.WriteFile(sheet2, []byte(sheetText), 0o600); err != nil {
		t.Fatal(err)
	}
	run("bulk sheet with columns", chromedp.Navigate(base+"/bulk?lang=zh"), chromedp.WaitVisible(chromedp.CSS("#f")),
		chromedp.SetUploadFiles(chromedp.CSS("#f"), []string{sheet2}),
		chromedp.Click(chromedp.CSS(`button[name="view"][value="page"]`)),
		chromedp.WaitVisible(chromedp.CSS("#receipt-made a.btn")))
	if s := value("bulk summary", chromedp.Text(chromedp.CSS("#bulk-summary"))); !strings.Contains(s, "2 行") || !strings.Contains(s, "核验时间") || !strings.Contains(s, "+08:00") {
		t.Fatalf("the bulk summary says: %.600s", s)
	}
	ref := value("receipt reference", chromedp.Text(chromedp.CSS("#receipt-made a.receipt-ref")))
	pdfHref, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#receipt-made a.btn"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	shot("public-bulk-sheet")
	if status, rpdf := get(strings.TrimPrefix(pdfHref.Value, base)); status != 200 || !strings.Contains(pdfToText(t, rpdf), ref) || !strings.Contains(pdfToText(t, rpdf), "2 行") {
		t.Fatalf("the batch receipt PDF: %d", status)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "bulk2.csv")
	_, _ = fw.Write([]byte(sheetText))
	_ = mw.Close()
	res, err := client.Post(base+"/bulk", mw.FormDataContentType(), &form)
	if err != nil {
		t.Fatal(err)
	}
	resultSheet, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if lines := strings.Split(string(resultSheet), "\n"); res.StatusCode != 200 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "学号,备注") ||
		!strings.Contains(lines[1], ",S001,转入") || !strings.Contains(lines[1], "+08:00 (Asia/Shanghai)") {
		t.Fatalf("the result sheet: %d %.500s", res.StatusCode, resultSheet)
	}
	run("receipt lookup", chromedp.Navigate(base+"/bulk?lang=zh"), chromedp.WaitVisible(chromedp.CSS("#rref")),
		chromedp.SendKeys(chromedp.CSS("#rref"), strings.ToLower(ref)),
		chromedp.Submit(chromedp.CSS("#rref")),
		chromedp.WaitVisible(chromedp.CSS("#receipt-now")))
	if s := text(); !strings.Contains(s, ref) || !strings.Contains(s, "核验时记录的结果") || !strings.Contains(s, "证书当前状态") || !strings.Contains(s, "已撤销") || strings.Contains(s, "学生甲") {
		t.Fatalf("the receipt page says: %.900s", s)
	}
	shot("public-receipt")
	run("back to the console", chromedp.Navigate(base+"/console/certificates"), chromedp.WaitVisible(chromedp.CSS("footer")))
	logout()

	// 7. Another college's operator is refused every page of the first.
	login("other.op", otherPW)
	for _, p := range []string{
		"/console/certificates/" + number, "/console/certificates/" + number + "/pdf", "/console/certificates/" + number + "/revoke",
		"/console/certificates/" + number + "/reissue", "/console/batches/" + batchID, "/console/batches/" + batchID + "/print.pdf",
		"/console/batches/" + batchID + "/certificates.zip", strings.TrimPrefix(jobURL, base), strings.TrimPrefix(jobURL, base) + "/marked.xlsx",
		"/console/institutions/jlqc", "/console/users", "/console/settings", "/console/audit?institution=jlqc",
	} {
		run("visit "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("body")))
		s := text()
		// The error page ("无法完成"): not found, or not allowed.
		if !strings.Contains(s, "无法完成") || !(strings.Contains(s, "不存在") || strings.Contains(s, "无权访问")) || strings.Contains(s, "学生") {
			t.Errorf("other college's operator at %s sees: %.300s", p, s)
		}
		if strings.Contains(s, number) && !strings.Contains(p, number) {
			t.Errorf("%s shows the first college's certificate", p)
		}
	}
	run("own ledger", chromedp.Navigate(base+"/console/certificates"), chromedp.WaitVisible(chromedp.CSS("footer")))
	if s := text(); strings.Contains(s, "Y000022000077") {
		t.Fatal("the other college's ledger lists the first college's certificates")
	}
	shot("refused")
	evs, _ := e.store.Audit(ctx, issuer.AuditFilter{Subject: number})
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Actor+":"+ev.Action)
	}
	if !strings.Contains(strings.Join(actions, " "), "qc.op:certificate.revoke") {
		t.Fatalf("audit of %s: %v", number, actions)
	}
	logout()

	// 8. The authority reads the audit log, newest first and in words, and
	// the province-wide ledger names each certificate's college.
	login("root", rootPW)
	run("audit log", chromedp.Navigate(base+"/console/audit"), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	if s := text(); !strings.Contains(s, "原因：证书信息有误或误发；备注：证件号码录入错误") {
		t.Fatalf("audit log: %.3000s", s)
	}
	shot("audit")
	run("audit log of qc.op", chromedp.Navigate(base+"/console/audit?actor=qc.op&action=certificate.revoke"), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	if s := value("audit rows", chromedp.Text(chromedp.CSS("table.audit"))); !strings.Contains(s, number) || strings.Contains(s, "新建账号") || strings.Contains(s, "登录") {
		t.Fatalf("filtered audit log: %.800s", s)
	}
	run("province ledger", chromedp.Navigate(base+"/console/certificates"), chromedp.WaitVisible(chromedp.CSS("table.ledger")))
	if s := text(); !strings.Contains(s, "发证院校") || !strings.Contains(s, "吉林汽车工业职业技术学院") {
		t.Fatalf("province ledger: %.800s", s)
	}
	shot("province-ledger")

	// 9. The authority edits jlqc's scope: the whole of level 5 for the
	// occupations a search lists, level 4 of one dropped; a page lists what
	// is added and removed, and nothing is saved before the confirmation.
	run("scope editor", chromedp.Navigate(base+"/console/institutions/jlqc?q=4-04-05#scope"), chromedp.WaitVisible(chromedp.CSS(`input[value="4-04-05-05||4"]`)))
	shot("scope-editor")
	run("edit scope",
		chromedp.Click(chromedp.CSS(`input[value="4-04-05-05||4"]`)),
		chromedp.Click(chromedp.CSS(`input[name="all_level"][value="5"]`)),
		chromedp.Click(chromedp.CSS(`button[value="review"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	)
	if s := text(); !strings.Contains(s, "移除 1 项") || !strings.Contains(s, "新增") || !strings.Contains(s, "五级/初级工") || !strings.Contains(s, "已发的证书不受影响") {
		t.Fatalf("scope review: %.1500s", s)
	}
	if in, _ := e.svc.Institution(ctx, authorityActor(), "jlqc"); in.Version != 1 {
		t.Fatalf("the review saved version %d", in.Version)
	}
	shot("scope-confirm")
	run("confirm scope", chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)))
	in, err := e.svc.Institution(ctx, authorityActor(), "jlqc")
	if err != nil || in.Version != 2 {
		t.Fatalf("after confirming: version %d, %v", in.Version, err)
	}
	for _, sc := range in.Scope {
		if sc.Occupation == "4-04-05-05" && slices.Contains(sc.Levels, 4) {
			t.Fatalf("level 4 is still in the scope: %+v", in.Scope)
		}
	}
	// Suspending states its consequences first; cancelling changes nothing.
	run("suspend review",
		chromedp.SetValue(chromedp.CSS(`select[name="status"]`), "suspended"),
		chromedp.SendKeys(chromedp.CSS(`input[name="note"]`), "年度检查未通过"),
		chromedp.Submit(chromedp.CSS(`input[name="note"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	)
	if s := text(); !strings.Contains(s, "立即不能发证") {
		t.Fatalf("suspend review: %.800s", s)
	}
	shot("suspend-confirm")
	if in, _ := e.svc.Institution(ctx, authorityActor(), "jlqc"); in.Status != issuer.Active {
		t.Fatal("suspended before the confirmation")
	}
	run("coverage", chromedp.Navigate(base+"/console/dashboard"), chromedp.WaitVisible(chromedp.CSS("table.colleges")))
	if s := value("colleges", chromedp.Text(chromedp.CSS("table.colleges"))); !strings.Contains(s, "吉林汽车工业职业技术学院") || !strings.Contains(s, "尚未发证") {
		t.Fatalf("coverage colleges: %.800s", s)
	}
	shot("coverage")
	// The colleges expected to register: a sheet with bad rows is refused
	// whole, each problem named by row and column; the corrected sheet
	// gives the dashboard its denominators.
	badList, goodList := filepath.Join(dir, "expected-bad.csv"), filepath.Join(dir, "expected.csv")
	const listHeader = "院校名称,类型,市州,官方代码\n"
	if err := os.WriteFile(badList, []byte(listHeader+"吉林汽车工业职业技术学院,高职,长春市,\n长春某学院,大学,沈阳市,\n吉林交通职业技术学院,高职,吉林市,41220101\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goodList, []byte(listHeader+"吉林汽车工业职业技术学院,高职,长春市,\n吉林另一职业学院,高职,吉林市,\n吉林交通职业技术学院,高职,吉林市,4122010183\n"+
		"四平职业大学,高职,四平市,\n延边职业技术学院,高职,延边朝鲜族自治州,\n白城职业技术学院,高职,白城市,\n吉林工程技术师范学院,应用型本科,长春市,\n长春大学,本科,长春市,\n长春技师学院,技师学院,长春市,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	importList := func(path, wait string) {
		run("import "+filepath.Base(path),
			chromedp.Navigate(base+"/console/expected"),
			chromedp.WaitVisible(chromedp.CSS("#list")),
			chromedp.SetUploadFiles(chromedp.CSS("#list"), []string{path}),
			chromedp.Submit(chromedp.CSS("#list")),
			chromedp.WaitVisible(chromedp.CSS(wait)),
		)
	}
	importList(badList, "#import-problems")
	if s := text(); !strings.Contains(s, "表格有3处错误，未导入任何一行") || !strings.Contains(s, "第3行“类型”列") || !strings.Contains(s, "第4行“官方代码”列") {
		t.Fatalf("the refused list: %.1500s", s)
	}
	shot("expected-import-error")
	authWide("authority-import-error")
	importList(goodList, ".notice.ok")
	run("coverage with denominators", chromedp.Navigate(base+"/console/dashboard"), chromedp.WaitVisible(chromedp.CSS("#expected table.cov")))
	if s := text(); !strings.Contains(s, "2 / 9（22%）") || !strings.Contains(s, "2026年底前，实现省内高等职业学校职业技能等级认定工作全覆盖") || !strings.Contains(s, "四平职业大学") {
		t.Fatalf("coverage with the list: %.2500s", s)
	}
	shot("coverage-expected")
	authWide("authority-dashboard")
	authShot("authority-dashboard-coverage", "#expected", false)
	authShot("authority-dashboard-unregistered", "#expected form.filters", false)
	run("catalogue", chromedp.Navigate(base+"/console/catalogue"), chromedp.WaitVisible(chromedp.CSS(`a[href="/console/catalogue/template.xlsx"]`)))
	shot("catalogue")
	logout()

	// 10. A college administrator publishes a fee in the table that names
	// each occupation and level of its scope.
	login("other.head", otherAdminPW)
	run("fees",
		chromedp.Navigate(base+"/console/settings"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="amount:4-04-05-05|3"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="amount:4-04-05-05|3"]`), "380"),
		chromedp.SendKeys(chromedp.CSS(`input[name="basis:4-04-05-05|3"]`), "吉发改收费〔2026〕12号"),
		chromedp.Submit(chromedp.CSS(`input[name="amount:4-04-05-05|3"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)),
	)
	if in, _ := e.svc.Institution(ctx, authorityActor(), "other"); len(in.Fees) != 1 || in.Fees[0].AmountFen != 38000 {
		t.Fatalf("published fees: %+v", in.Fees)
	}
	shot("fees")
	// ... and sees a new seal on a sample certificate before saving it.
	sealFile := filepath.Join(dir, "seal.png")
	if err := os.WriteFile(sealFile, ringSeal(t), 0o600); err != nil {
		t.Fatal(err)
	}
	run("seal preview",
		chromedp.Navigate(base+"/console/settings"),
		chromedp.WaitVisible(chromedp.CSS("#seal")),
		chromedp.SetUploadFiles(chromedp.CSS("#seal"), []string{sealFile}),
		chromedp.Submit(chromedp.CSS("#seal")),
		chromedp.WaitVisible(chromedp.CSS(`.sealcompare img`)),
	)
	if in, _ := e.svc.Institution(ctx, authorityActor(), "other"); len(in.Print.Seal) != 0 {
		t.Fatal("the seal was saved before the confirmation")
	}
	wideShot("seal-preview")
	run("save seal", chromedp.Click(chromedp.CSS(`form[action="/console/settings/seal/confirm"] button`)), chromedp.WaitVisible(chromedp.CSS(`.notice.ok`)))
	if in, _ := e.svc.Institution(ctx, authorityActor(), "other"); len(in.Print.Seal) == 0 {
		t.Fatal("the seal was not saved on confirming")
	}
	t.Logf("end-to-end run took %v", time.Since(start).Round(time.Millisecond))
}

// ringSeal is a red ring seal with a star-like centre on transparency.
func ringSeal(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 320, 320))
	for y := range 320 {
		for x := range 320 {
			d := (x-160)*(x-160) + (y-160)*(y-160)
			if d < 150*150 && d > 136*136 || d < 40*40 {
				img.SetNRGBA(x, y, color.NRGBA{210, 30, 30, 230})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pdfToText is the text of a PDF, by pdftotext (poppler-utils, which
// .ci/run installs).
func pdfToText(t *testing.T, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", path, "-").Output() // #nosec G204 -- a test's own temp file
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}
