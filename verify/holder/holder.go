// Package holder is the holder's side on the web: 我的证书 at /me. A holder
// has no account. They sign in with a certificate's number, the holder code
// from their claim slip and their full name (issuer.Service.HolderSignIn,
// which limits failures per certificate and per client), and may add
// further certificates the same way. The list of what they claimed (their
// wallet) lives only in their browser, in a cookie sealed with a key
// derived from the KEK: the server joins nothing, so an operator of one
// college, who can reset one certificate's code, never learns what else
// the holder holds.
//
// From the wallet a holder sees each certificate's live verdict, downloads
// its PDF exactly as issued and its verifiable credential, and makes,
// extends and withdraws share links (/s/TOKEN, served by verify/web). Every
// action goes through issuer.Service with issuer.HolderActor(number), which
// reaches that one certificate and no college's records.
package holder

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/assets"
	"certd/issuer"
	"certd/issuer/clientip"
	"certd/verify"
	"certd/verify/cache"
)

// Deps is what Mount needs.
type Deps struct {
	Service *issuer.Service
	// Lookup gives each certificate's live verdict (the public cache); nil
	// shows the register's status instead.
	Lookup    *cache.Service
	PublicURL string // base of the share links, without a trailing slash
	// TrustedProxies: see verify/web.Deps.
	TrustedProxies []string
	Log            *slog.Logger
	Now            func() time.Time
}

// MaxWallet bounds the certificates one browser's wallet holds (and so the
// cookie's size).
const MaxWallet = 10

// walletLife is how long a sign-in lasts in the browser.
const walletLife = 12 * time.Hour

type handlers struct {
	svc     *issuer.Service
	lookup  *cache.Service
	base    string
	trusted []netip.Prefix
	log     *slog.Logger
	now     func() time.Time
	tmpl    *template.Template
	css     template.CSS
	aead    cipher.AEAD
	csrfKey []byte
	secure  bool
	csp     string
}

// Mount adds the holder pages to app.
func Mount(app *fiber.App, d Deps) error {
	if d.Service == nil || d.Service.KEK == nil {
		return errors.New("holder: Service with a KEK is required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	trusted, err := clientip.ParseTrustedProxies(d.TrustedProxies)
	if err != nil {
		return err
	}
	// The public pages' style sheet and the holder pages' own additions,
	// inlined as one and pinned by its hash in these pages' CSP (the public
	// pages do not carry the additions).
	base, err := fs.ReadFile(assets.Static, "static/verify.css")
	if err != nil {
		return err
	}
	more, err := fs.ReadFile(assets.Static, "static/holder.css")
	if err != nil {
		return err
	}
	css := append(base, more...)
	sum := sha256.Sum256(css)
	tmpl, err := template.New("").Funcs(template.FuncMap{"t": t}).ParseFS(assets.Holder, "holder/*.html")
	if err != nil {
		return err
	}
	key := d.Service.WalletKey()
	block, err := aes.NewCipher(key)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("certd holder csrf v1"))
	h := &handlers{svc: d.Service, lookup: d.Lookup, base: strings.TrimRight(d.PublicURL, "/"), trusted: trusted, log: d.Log,
		now: d.Now, tmpl: tmpl,
		css:  template.CSS(css), // #nosec G203 -- our own embedded style sheet, pinned by its hash in the public pages' CSP
		aead: aead, csrfKey: mac.Sum(nil), secure: strings.HasPrefix(strings.ToLower(d.PublicURL), "https://"),
		// No script; images (the share link's QR code) and forms only from
		// here.
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}
	app.Get("/me", h.home)
	app.Get("/me/add", h.addForm)
	app.Post("/me/sign-in", h.signIn)
	app.Post("/me/sign-out", h.signOut)
	app.Get("/me/c/:number", h.cert)
	app.Get("/me/c/:number/pdf", h.pdf)
	app.Get("/me/c/:number/credential", h.credential)
	app.Post("/me/c/:number/links", h.createLink)
	app.Post("/me/c/:number/links/end-all", h.endAll)
	app.Post("/me/c/:number/links/:id/end", h.endLink)
	app.Post("/me/c/:number/links/:id/extend", h.extendLink)
	return nil
}

func t(en bool, zh, english string) string {
	if en {
		return english
	}
	return zh
}

// wallet is the sealed cookie's content.
type wallet struct {
	Numbers []string `json:"n"`
	Exp     int64    `json:"e"`
	Nonce   string   `json:"k"` // per sign-in; the CSRF token is its MAC
}

func (h *handlers) cookieName() string {
	if h.secure {
		return "__Host-certd_wallet"
	}
	return "certd_wallet"
}

var walletAAD = []byte("certd-holder-wallet/v1")

func (h *handlers) seal(w wallet) (string, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, h.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(h.aead.Seal(nonce, nonce, b, walletAAD)), nil
}

// wallet reads the cookie; an absent, altered or expired one is empty.
func (h *handlers) wallet(c *fiber.Ctx) wallet {
	raw := c.Cookies(h.cookieName())
	if raw == "" || len(raw) > 4096 {
		return wallet{}
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	ns := h.aead.NonceSize()
	if err != nil || len(b) < ns {
		return wallet{}
	}
	plain, err := h.aead.Open(nil, b[:ns], b[ns:], walletAAD)
	if err != nil {
		return wallet{}
	}
	var w wallet
	if json.Unmarshal(plain, &w) != nil || h.now().Unix() >= w.Exp || len(w.Numbers) > MaxWallet {
		return wallet{}
	}
	return w
}

func (h *handlers) setWallet(c *fiber.Ctx, w wallet) error {
	v, err := h.seal(w)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: h.cookieName(), Value: v, Path: "/", Expires: time.Unix(w.Exp, 0), HTTPOnly: true, Secure: h.secure,
		// Lax: a link from a mail opens the wallet; no other site can
		// post to it (and every form carries the CSRF token too).
		SameSite: fiber.CookieSameSiteLaxMode})
	return nil
}

func (h *handlers) csrf(w wallet) string {
	if w.Nonce == "" {
		return ""
	}
	mac := hmac.New(sha256.New, h.csrfKey)
	mac.Write([]byte(w.Nonce))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// sameOrigin refuses a form posted from another site: the Origin header
// (or Sec-Fetch-Site) that every current browser sends says where it came
// from. A client that sends neither is not a browser a page could drive.
func (h *handlers) sameOrigin(c *fiber.Ctx) bool {
	if s := c.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	o := c.Get(fiber.HeaderOrigin)
	if o == "" || o == "null" && c.Get("Sec-Fetch-Site") == "same-origin" {
		return true
	}
	return strings.EqualFold(o, h.base) || strings.EqualFold(o, c.Protocol()+"://"+c.Hostname())
}

// checkPost is the CSRF check of a signed-in holder's form.
func (h *handlers) checkPost(c *fiber.Ctx, w wallet) bool {
	tok := c.FormValue("_csrf")
	return h.sameOrigin(c) && tok != "" && hmac.Equal([]byte(tok), []byte(h.csrf(w)))
}

func wantsEnglish(c *fiber.Ctx) bool {
	switch c.Query("lang") {
	case "en":
		return true
	case "zh":
		return false
	}
	al := c.Get(fiber.HeaderAcceptLanguage)
	if i := strings.IndexAny(al, ",;"); i >= 0 {
		al = al[:i]
	}
	al = strings.ToLower(strings.TrimSpace(al))
	return al == "en" || strings.HasPrefix(al, "en-")
}

// page is what every holder template gets.
type page struct {
	En        bool
	Title     string
	CSS       template.CSS
	LangQ     string
	SwitchURL string
	CSRF      string
	Err       *issuer.Error
	OK        string

	Wallet bool
	Number string
	Items  []item
	Cert   *item
	Links  []linkRow
	Made   *made
	// Credential: the verifiable credential can be downloaded.
	Credential bool
}

type item struct {
	Number, Title, Name, Issuer, IssuedOn string
	Status                                string
	Verdict                               verify.Verdict
	VerdictText                           string
}

type linkRow struct {
	ID, Label, Until, LastView string
	Views                      int64
	Active, Ended, Hidden      bool
}

type made struct {
	Number, URL, QRPath, QRSVG, Until, LinkedIn string
	Hidden                                      bool
}

func (h *handlers) newPage(c *fiber.Ctx, w wallet, title string) *page {
	en := wantsEnglish(c)
	p := &page{En: en, Title: title, CSS: h.css, CSRF: h.csrf(w), Wallet: len(w.Numbers) > 0}
	p.LangQ = "?lang=zh"
	other := "en"
	if en {
		p.LangQ, other = "?lang=en", "zh"
	}
	p.SwitchURL = c.Path() + "?lang=" + other
	return p
}

func (h *handlers) render(c *fiber.Ctx, status int, name string, p *page) error {
	var b strings.Builder
	if err := h.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		h.log.Error("render holder page", "page", name, "error", err)
		return fiber.ErrInternalServerError
	}
	// Personal data, per browser: never cached anywhere.
	c.Set("Cache-Control", "no-store")
	c.Set("Content-Security-Policy", h.csp)
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Frame-Options", "DENY")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).SendString(b.String())
}

func statusOf(e *issuer.Error) int {
	switch {
	case issuer.Is(e, issuer.ErrNotFound):
		return fiber.StatusNotFound
	case issuer.Is(e, issuer.ErrForbidden):
		return fiber.StatusForbidden
	case issuer.Is(e, issuer.ErrConflict):
		return fiber.StatusConflict
	case issuer.Is(e, issuer.ErrUnavailable):
		return fiber.StatusServiceUnavailable
	}
	return fiber.StatusBadRequest
}

// fail shows err on the page name (the sign-in form or the error page);
// an error that is not an issuer.Error is logged and shown as internal.
func (h *handlers) fail(c *fiber.Ctx, w wallet, name string, err error) error {
	e, ok := issuer.AsError(err)
	if !ok {
		h.log.Error("holder request failed", "error", err, "route", c.Route().Path)
		e = issuer.Errorf(issuer.ErrUnavailable, "internal", "服务器内部错误，请稍后再试", "internal error; try again later")
	}
	p := h.newPage(c, w, t(wantsEnglish(c), "我的证书", "My certificates"))
	p.Err = e
	p.Number = strings.ToUpper(strings.TrimSpace(c.FormValue("number")))
	if len(p.Number) > 40 {
		p.Number = ""
	}
	return h.render(c, statusOf(e), name, p)
}

var errForm = issuer.Errorf(issuer.ErrForbidden, "form_expired", "表单已过期或来自其他网站，请刷新页面后重试", "the form expired or came from another site; reload the page and try again")

func (h *handlers) home(c *fiber.Ctx) error {
	w := h.wallet(c)
	if len(w.Numbers) == 0 {
		return h.signInPage(c, w)
	}
	en := wantsEnglish(c)
	p := h.newPage(c, w, t(en, "我的证书", "My certificates"))
	for _, n := range w.Numbers {
		it, err := h.item(c.UserContext(), n, en)
		if issuer.Is(err, issuer.ErrNotFound) {
			continue
		}
		if err != nil {
			return h.fail(c, w, "error", err)
		}
		p.Items = append(p.Items, it)
	}
	if msg := c.Query("msg"); msg == "added" {
		p.OK = t(en, "证书已领取，并加入“我的证书”。", "The certificate is claimed and added to your list.")
	}
	return h.render(c, fiber.StatusOK, "wallet", p)
}

func (h *handlers) signInPage(c *fiber.Ctx, w wallet) error {
	en := wantsEnglish(c)
	if w.Nonce == "" {
		// A nonce before sign-in, so that the sign-in form has a CSRF
		// token too.
		w = wallet{Nonce: newNonce(), Exp: h.now().Add(walletLife).Unix()}
		if err := h.setWallet(c, w); err != nil {
			return err
		}
	}
	p := h.newPage(c, w, t(en, "领取我的证书", "Claim my certificate"))
	if n, err := verify.NormalizeNumber(c.Query("n")); err == nil {
		p.Number = n
	}
	return h.render(c, fiber.StatusOK, "signin", p)
}

func (h *handlers) addForm(c *fiber.Ctx) error { return h.signInPage(c, h.wallet(c)) }

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (h *handlers) clientBlock(c *fiber.Ctx) string {
	var xff string
	if len(h.trusted) > 0 {
		xff = clientip.Forwarded(c.Request().Header.PeekAll(fiber.HeaderXForwardedFor))
	}
	return clientip.Block(clientip.Of(c.Context().RemoteIP(), xff, h.trusted)).String()
}

func (h *handlers) signIn(c *fiber.Ctx) error {
	w := h.wallet(c)
	if !h.checkPost(c, w) {
		return h.fail(c, w, "signin", errForm)
	}
	number, err := verify.NormalizeNumber(c.FormValue("number"))
	if err != nil {
		return h.fail(c, w, "signin", err)
	}
	code, name := c.FormValue("code"), c.FormValue("name")
	if len(code) > 64 || len(name) > 256 {
		return h.fail(c, w, "signin", verify.ErrInputTooLong)
	}
	if _, err := h.svc.HolderSignIn(c.UserContext(), number, code, name, h.clientBlock(c)); err != nil {
		return h.fail(c, w, "signin", err)
	}
	if !slices.Contains(w.Numbers, number) {
		if len(w.Numbers) >= MaxWallet {
			return h.fail(c, w, "signin", issuer.Errorf(issuer.ErrConflict, "wallet_full", "本浏览器最多保存%d本证书，请先退出再领取", "this browser keeps at most %d certificates; sign out first", MaxWallet))
		}
		w.Numbers = append(w.Numbers, number)
	}
	// A new nonce at every sign-in: a CSRF token seen before it is void.
	w.Nonce, w.Exp = newNonce(), h.now().Add(walletLife).Unix()
	if err := h.setWallet(c, w); err != nil {
		return err
	}
	return c.Redirect("/me/c/"+number+langQ(c), fiber.StatusSeeOther)
}

func langQ(c *fiber.Ctx) string {
	if l := c.Query("lang"); l == "en" || l == "zh" {
		return "?lang=" + l
	}
	return ""
}

func (h *handlers) signOut(c *fiber.Ctx) error {
	w := h.wallet(c)
	if !h.checkPost(c, w) {
		return h.fail(c, w, "error", errForm)
	}
	c.Cookie(&fiber.Cookie{Name: h.cookieName(), Value: "", Path: "/", Expires: time.Unix(1, 0), HTTPOnly: true, Secure: h.secure, SameSite: fiber.CookieSameSiteLaxMode})
	return c.Redirect("/me"+langQ(c), fiber.StatusSeeOther)
}

// held returns the wallet and the path's number when the wallet holds it;
// otherwise it has answered (the sign-in form for that number).
func (h *handlers) held(c *fiber.Ctx) (wallet, string, bool) {
	w := h.wallet(c)
	number, err := verify.NormalizeNumber(c.Params("number"))
	if err != nil || !slices.Contains(w.Numbers, number) {
		q := url.Values{}
		if err == nil {
			q.Set("n", number)
		}
		if l := c.Query("lang"); l == "en" || l == "zh" {
			q.Set("lang", l)
		}
		_ = c.Redirect("/me?"+q.Encode(), fiber.StatusSeeOther)
		return w, "", false
	}
	return w, number, true
}

func (h *handlers) item(ctx context.Context, number string, en bool) (item, error) {
	ct, err := h.svc.HolderCertificate(ctx, issuer.HolderActor(number), number)
	if err != nil {
		return item{}, err
	}
	it := item{Number: number, Name: ct.Holder.Name, Issuer: ct.InstitutionID, IssuedOn: ct.IssuedOn.Format(issuer.DateLayout), Status: string(ct.Status)}
	it.Title = ct.OccupationName
	if ct.Specialty != "" {
		it.Title += "（" + ct.Specialty + "）"
	}
	it.Title += " " + ct.Level.Chinese()
	it.Verdict = verify.Verdict(ct.Status)
	if h.lookup != nil {
		e, err := h.lookup.Lookup(ctx, number)
		if err != nil {
			return item{}, err
		}
		rec := e.Record()
		it.Verdict = rec.Verdict
		if rec.Institution != nil {
			it.Issuer = rec.Institution.Name
		}
	}
	it.VerdictText = t(en, it.Verdict.Chinese(), it.Verdict.English())
	return it, nil
}

func (h *handlers) cert(c *fiber.Ctx) error {
	w, number, ok := h.held(c)
	if !ok {
		return nil
	}
	return h.certPage(c, w, number, "")
}

func (h *handlers) certPage(c *fiber.Ctx, w wallet, number, ok string) error {
	ctx := c.UserContext()
	en := wantsEnglish(c)
	it, err := h.item(ctx, number, en)
	if err != nil {
		return h.fail(c, w, "error", err)
	}
	links, err := h.svc.HolderShareLinks(ctx, issuer.HolderActor(number), number)
	if err != nil {
		return h.fail(c, w, "error", err)
	}
	p := h.newPage(c, w, it.Title)
	p.Cert, p.OK, p.Credential = &it, ok, true
	now := h.now()
	for _, l := range links {
		r := linkRow{ID: l.TokenHash, Label: l.Label, Until: l.ExpiresAt.In(issuer.ChinaTime).Format("2006-01-02 15:04"), Views: l.Views,
			Active: l.Active(now), Ended: !l.EndedAt.IsZero(), Hidden: l.Reveal != issuer.RevealMasked}
		if !l.LastViewAt.IsZero() {
			r.LastView = l.LastViewAt.In(issuer.ChinaTime).Format("2006-01-02 15:04")
		}
		p.Links = append(p.Links, r)
	}
	switch c.Query("msg") {
	case "ended":
		p.OK = t(en, "链接已撤回，打开它的人将看到“已撤回”。", "The link is withdrawn; whoever opens it now sees that it was withdrawn.")
	case "ended_all":
		p.OK = t(en, "本证书的全部链接已撤回。", "Every link of this certificate is withdrawn.")
	case "extended":
		p.OK = t(en, "链接有效期已延长。", "The link is extended.")
	}
	return h.render(c, fiber.StatusOK, "cert", p)
}

func (h *handlers) pdf(c *fiber.Ctx) error {
	w, number, ok := h.held(c)
	if !ok {
		return nil
	}
	b, err := h.svc.HolderPDF(c.UserContext(), issuer.HolderActor(number), number)
	if err != nil {
		return h.fail(c, w, "error", err)
	}
	c.Set("Cache-Control", "no-store")
	c.Set(fiber.HeaderContentType, "application/pdf")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+number+`.pdf"`)
	return c.Send(b)
}

// credential is the 下载可验证凭证 control: the SD-JWT VC of the certificate
// (issuer.Service.HolderCredential, audited there).
func (h *handlers) credential(c *fiber.Ctx) error {
	w, number, ok := h.held(c)
	if !ok {
		return nil
	}
	b, err := h.svc.HolderCredential(c.UserContext(), issuer.HolderActor(number), number)
	if err != nil {
		return h.fail(c, w, "error", err)
	}
	// pick: the holder chose what to disclose (the d boxes of the form);
	// the download is a presentation with only those disclosures. Without
	// it, the whole credential, for the holder's own wallet.
	if c.Query("pick") != "" {
		args := c.Context().QueryArgs().PeekMulti("d")
		if len(args) > len(issuer.DisclosableClaims) {
			return h.fail(c, w, "error", verify.ErrInputTooLong)
		}
		has := issuer.CredentialClaims(b)
		var picks []string
		for _, a := range args {
			// A claim this credential lacks (no photo) is nothing to hide.
			if slices.Contains(has, string(a)) {
				picks = append(picks, string(a))
			}
		}
		if b, err = issuer.PresentCredential(b, picks...); err != nil {
			return h.fail(c, w, "error", err)
		}
	}
	c.Set("Cache-Control", "no-store")
	c.Set(fiber.HeaderContentType, issuer.CredentialContentType)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+issuer.CredentialFile(number)+`"`)
	return c.Send(b)
}

func (h *handlers) createLink(c *fiber.Ctx) error {
	w, number, ok := h.held(c)
	if !ok {
		return nil
	}
	if !h.checkPost(c, w) {
		return h.fail(c, w, "error", errForm)
	}
	days, err := strconv.Atoi(c.FormValue("days", "30"))
	if err != nil {
		days = -1 // refused with the range
	}
	spec := issuer.ShareSpec{Label: c.FormValue("label"), Days: days, Reveal: issuer.Reveal(c.FormValue("reveal"))}
	if len(spec.Label) > 400 {
		return h.fail(c, w, "error", verify.ErrInputTooLong)
	}
	ctx := c.UserContext()
	tok, l, err := h.svc.CreateShareLink(ctx, issuer.HolderActor(number), number, spec)
	if err != nil {
		return h.fail(c, w, "error", err)
	}
	en := wantsEnglish(c)
	it, err := h.item(ctx, number, en)
	if err != nil {
		return h.fail(c, w, "error", err)
	}
	u := h.base + "/s/" + tok
	issued, _ := time.Parse(issuer.DateLayout, it.IssuedOn)
	li := url.Values{}
	li.Set("startTask", "CERTIFICATION_NAME")
	li.Set("name", "职业技能等级证书 Skill Level Certificate: "+it.Title)
	li.Set("organizationName", it.Issuer)
	li.Set("issueYear", strconv.Itoa(issued.Year()))
	li.Set("issueMonth", strconv.Itoa(int(issued.Month())))
	li.Set("certUrl", u)
	li.Set("certId", number)
	p := h.newPage(c, w, t(en, "分享链接已生成", "Share link made"))
	p.Made = &made{Number: number, URL: u, QRPath: "/s/" + tok + "/qr.png", QRSVG: "/s/" + tok + "/qr.svg",
		Until: l.ExpiresAt.In(issuer.ChinaTime).Format("2006-01-02 15:04"), Hidden: l.Reveal != issuer.RevealMasked,
		LinkedIn: "https://www.linkedin.com/profile/add?" + li.Encode()}
	return h.render(c, fiber.StatusOK, "made", p)
}

// linkID reads a link's id (the hex SHA-256 of its token) from the path.
func linkID(c *fiber.Ctx) (string, bool) {
	id := c.Params("id")
	if len(id) != 64 {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if !(id[i] >= '0' && id[i] <= '9' || id[i] >= 'a' && id[i] <= 'f') {
			return "", false
		}
	}
	return id, true
}

var errNoLink = issuer.Errorf(issuer.ErrNotFound, "share_unknown", "没有这个分享链接", "no such share link")

func (h *handlers) endLink(c *fiber.Ctx) error {
	return h.linkAction(c, "ended", func(ctx context.Context, number, id string) error {
		return h.svc.EndShareLink(ctx, issuer.HolderActor(number), number, id)
	})
}

func (h *handlers) extendLink(c *fiber.Ctx) error {
	return h.linkAction(c, "extended", func(ctx context.Context, number, id string) error {
		days, err := strconv.Atoi(c.FormValue("days"))
		if err != nil {
			days = -1
		}
		_, err = h.svc.ExtendShareLink(ctx, issuer.HolderActor(number), number, id, days)
		return err
	})
}

func (h *handlers) linkAction(c *fiber.Ctx, msg string, do func(ctx context.Context, number, id string) error) error {
	w, number, ok := h.held(c)
	if !ok {
		return nil
	}
	if !h.checkPost(c, w) {
		return h.fail(c, w, "error", errForm)
	}
	id, ok := linkID(c)
	if !ok {
		return h.fail(c, w, "error", errNoLink)
	}
	if err := do(c.UserContext(), number, id); err != nil {
		return h.fail(c, w, "error", err)
	}
	return c.Redirect(fmt.Sprintf("/me/c/%s?msg=%s%s", number, msg, strings.Replace(langQ(c), "?", "&", 1)), fiber.StatusSeeOther)
}

func (h *handlers) endAll(c *fiber.Ctx) error {
	w, number, ok := h.held(c)
	if !ok {
		return nil
	}
	if !h.checkPost(c, w) {
		return h.fail(c, w, "error", errForm)
	}
	if _, err := h.svc.EndAllShareLinks(c.UserContext(), issuer.HolderActor(number), number); err != nil {
		return h.fail(c, w, "error", err)
	}
	return c.Redirect("/me/c/"+number+"?msg=ended_all"+strings.Replace(langQ(c), "?", "&", 1), fiber.StatusSeeOther)
}
