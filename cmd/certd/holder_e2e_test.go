package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"certd/issuer"
)

// TestHolderEndToEnd walks the holder's whole story in headless Chromium,
// on the same app `certd serve` runs: the college prints the claim slip;
// the holder reads the holder code off it, signs in at /me with the
// number, the code and their name, sees the wallet with the live verdict,
// makes a 7-day share link with the ID number hidden, and opens it in a
// second, fresh browser context (no cookies), which sees the name but not
// the ID number; the holder withdraws the link, and the second context,
// reloading, sees it withdrawn and nothing about the certificate.
//
// Set CERTD_SCREENSHOTS=DIR to keep the pages at 390×844 (a phone).
func TestHolderEndToEnd(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed at %s; CI requires it (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("chromium is not installed at %s; skipping the browser test", chromiumPath)
	}
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
	if err := e.loadPrinter(); err != nil {
		t.Fatal(err)
	}
	actor := authorityActor()
	if _, err := e.svc.Init(ctx, actor, "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddInstitution(ctx, actor, issuer.InstitutionSpec{ID: "jlqc", Name: "吉林汽车工业职业技术学院", USCC: "12220000MB0123457W",
		Prefix: "Y000022000077", FilingNo: "吉人社认备〔2026〕077号", City: "长春市", Kind: "高职",
		Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}}}); err != nil {
		t.Fatal(err)
	}
	roster, err := os.ReadFile(writeRoster(t, dir, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := e.svc.Issue(ctx, actor, issuer.IssueRequest{InstitutionID: "jlqc", Roster: roster, Filename: "r.csv"})
	if err != nil || len(rep.Issued) != 3 {
		t.Fatalf("issue: %v %+v", err, rep)
	}
	c := rep.Issued[1]

	// The claim slip, as the college prints it; the holder code is read
	// off it, as the holder would.
	slip, err := e.svc.ClaimSlip(ctx, actor, c.Number)
	if err != nil {
		t.Fatal(err)
	}
	slipText := strings.ReplaceAll(pdfToText(t, slip), "\n", " ")
	code := regexp.MustCompile(`[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}`).FindString(slipText)
	if code == "" || !strings.Contains(slipText, c.Number) {
		t.Fatalf("claim slip without the code or number:\n%s", slipText)
	}

	app, err := newApp(e)
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	defer app.ShutdownWithTimeout(5 * time.Second)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(390, 844))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	holderCtx, cancelHolder := chromedp.NewContext(actx)
	defer cancelHolder()
	holderCtx, cancelTimeout := context.WithTimeout(holderCtx, 90*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(holderCtx); err != nil { // starts the browser
		t.Fatal(err)
	}
	// The viewer: a second, fresh browser context (its own cookies).
	viewerCtx, cancelViewer := chromedp.NewContext(holderCtx, chromedp.WithNewBrowserContext())
	defer cancelViewer()

	shots := os.Getenv("CERTD_SCREENSHOTS")
	shot := func(bctx context.Context, name string) {
		if shots == "" {
			return
		}
		if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)); err != nil {
			t.Fatalf("viewport: %v", err)
		}
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		_ = os.MkdirAll(shots, 0o755)
		if err := os.WriteFile(filepath.Join(shots, "holder-"+name+"-phone.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(bctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage: %.1500s", what, err, body)
		}
	}
	text := func(bctx context.Context) string {
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	lang := chromedp.Navigate // pages in Chinese: ?lang=zh below

	// 1. A wrong code is refused without saying which part was wrong.
	run(holderCtx, "sign-in form", lang(base+"/me?lang=zh&n="+c.Number), chromedp.WaitVisible(chromedp.CSS("#code")))
	shot(holderCtx, "signin")
	run(holderCtx, "wrong code",
		chromedp.SendKeys(chromedp.CSS("#code"), "AAAA-BBBB-CCCC"),
		chromedp.SendKeys(chromedp.CSS("#name"), c.Holder.Name),
		chromedp.Submit(chromedp.CSS("#name")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if s := text(holderCtx); !strings.Contains(s, "证书编号、领取码或姓名不正确") {
		t.Fatalf("wrong code: %.600s", s)
	}
	// 2. The right code, typed in lower case, signs in.
	run(holderCtx, "sign in",
		chromedp.Clear(chromedp.CSS("#code")),
		chromedp.SendKeys(chromedp.CSS("#code"), strings.ToLower(code)),
		chromedp.Clear(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), c.Holder.Name),
		chromedp.Submit(chromedp.CSS("#name")),
		chromedp.WaitVisible(chromedp.CSS(`form[action^="/me/c/`+c.Number+`/links"] #label`)),
	)
	if s := text(holderCtx); !strings.Contains(s, "有效") || !strings.Contains(s, c.Holder.Name) || !strings.Contains(s, "可验证凭证") {
		t.Fatalf("certificate page: %.800s", s)
	}
	shot(holderCtx, "certificate")
	// 3. The wallet lists it with its live verdict.
	run(holderCtx, "wallet", lang(base+"/me?lang=zh"), chromedp.WaitVisible(chromedp.CSS(".wallet")))
	if s := text(holderCtx); !strings.Contains(s, c.Number) || !strings.Contains(s, "有效") {
		t.Fatalf("wallet: %.600s", s)
	}
	shot(holderCtx, "wallet")
	// 4. A 7-day link with the ID number hidden.
	run(holderCtx, "make link",
		lang(base+"/me/c/"+c.Number+"?lang=zh"),
		chromedp.WaitVisible(chromedp.CSS("#label")),
		chromedp.SendKeys(chromedp.CSS("#label"), "某公司招聘"),
		chromedp.SetValue(chromedp.CSS("#days"), "7"),
		chromedp.Click(chromedp.CSS(`input[name="reveal"][value="hidden"]`)),
		chromedp.Submit(chromedp.CSS("#label")),
		chromedp.WaitVisible(chromedp.CSS("#share-url")),
	)
	link, err := chromedp.Run(holderCtx, chromedp.Text(chromedp.CSS("#share-url")))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(link), base+"/s/") {
		t.Fatalf("share link %q: %v", link, err)
	}
	link = strings.TrimSpace(link)
	if s := text(holderCtx); !strings.Contains(s, "不显示证件号码") {
		t.Fatalf("made page: %.600s", s)
	}
	shot(holderCtx, "link-made")

	// 5. A fresh browser context opens it: the name, the verdict and the
	// band, no ID number, and no holder cookie.
	run(viewerCtx, "open share link", chromedp.Navigate(link+"?lang=zh"), chromedp.WaitVisible(chromedp.CSS(".share-band")))
	s := text(viewerCtx)
	if !strings.Contains(s, c.Holder.Name) || !strings.Contains(s, "有效") || !strings.Contains(s, "持证人可随时撤回") {
		t.Fatalf("shared page: %.800s", s)
	}
	if strings.Contains(s, c.Holder.DocNumber[:6]) || strings.Contains(s, "某公司招聘") {
		t.Fatalf("shared page shows the ID number or the label: %.800s", s)
	}
	cookies, err := chromedp.Run(viewerCtx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil || cookies != "" {
		t.Fatalf("viewer context has cookies %q (%v): not fresh", cookies, err)
	}
	shot(viewerCtx, "shared")

	// 6. The holder withdraws it ...
	run(holderCtx, "withdraw",
		lang(base+"/me/c/"+c.Number+"?lang=zh"),
		chromedp.WaitVisible(chromedp.CSS("button[data-end]")),
		chromedp.Click(chromedp.CSS("button[data-end]")),
		chromedp.WaitVisible(chromedp.CSS(".ok")),
	)
	if s := text(holderCtx); !strings.Contains(s, "已撤回") {
		t.Fatalf("after withdrawing: %.800s", s)
	}
	shot(holderCtx, "withdrawn-list")
	// ... and the viewer, reloading, sees it withdrawn, and nothing else.
	deadline := time.Now().Add(3 * time.Second)
	for {
		run(viewerCtx, "reload share link", chromedp.Navigate(link+"?lang=zh"), chromedp.WaitVisible(chromedp.CSS("footer")))
		s = text(viewerCtx)
		if strings.Contains(s, "已被撤回") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(s, "已被撤回") || strings.Contains(s, c.Holder.Name) || strings.Contains(s, c.Number) {
		t.Fatalf("withdrawn link in the viewer: %.800s", s)
	}
	shot(viewerCtx, "shared-withdrawn")

	// The college sees the certificate claimed, and the audit log has the
	// holder's actions without personal data.
	_, hc, err := e.svc.HolderCode(ctx, actor, c.Number)
	if err != nil || !hc.Claimed() {
		t.Fatalf("claimed: %v %v", hc, err)
	}
	evs, err := e.svc.Audit(ctx, actor, issuer.AuditFilter{Subject: c.Number})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Action] = true
		if strings.Contains(ev.Detail, c.Holder.Name) || strings.Contains(ev.Detail, c.Holder.DocNumber) || strings.Contains(ev.Detail, "某公司") {
			t.Fatalf("audit line with personal data: %+v", ev)
		}
	}
	for _, a := range []string{"holder.sign_in_failed", "holder.sign_in", "holder.share_create", "holder.share_end"} {
		if !seen[a] {
			t.Errorf("no %s in the audit log: %v", a, seen)
		}
	}
}
