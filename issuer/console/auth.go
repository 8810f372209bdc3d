package console

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/account"
)

type loginData struct {
	CSRF string
	Name string
	Next string
	Why  string
	Err  *formErr
	// TOTP: the password was right; the form asks for the code.
	TOTP bool
}

// safeNext keeps a post-login redirect inside the console: an open
// redirect would turn the login page into a phishing aid.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/console") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") || len(s) > 500 {
		return "/console"
	}
	return s
}

// preSession sets (or keeps) the pre-login cookie a login form's CSRF token
// is bound to, so that another site cannot log a victim into its account.
func (c *Console) preSession(fc *fiber.Ctx) string {
	pre := fc.Cookies(c.preCookie())
	if len(pre) < 20 || len(pre) > 64 {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		pre = base64.RawURLEncoding.EncodeToString(b)
		c.setCookie(fc, c.preCookie(), pre, c.now().Add(2*time.Hour))
	}
	return pre
}

func (c *Console) loginPage(fc *fiber.Ctx, rc *reqCtx) error {
	if _, _, err := c.authenticate(fc); err == nil {
		return fc.Redirect(safeNext(fc.Query("next")), fiber.StatusSeeOther)
	}
	pre := c.preSession(fc)
	return c.render(fc, rc, "login", loginData{CSRF: c.sess.csrfToken("login:" + pre), Next: safeNext(fc.Query("next")), Why: fc.Query("why")})
}

func (c *Console) login(fc *fiber.Ctx, rc *reqCtx) error {
	pre := fc.Cookies(c.preCookie())
	name, pw := fc.FormValue("name"), fc.FormValue("password")
	data := loginData{Name: name, Next: safeNext(fc.FormValue("next"))}
	if len(data.Name) > 64 {
		data.Name = data.Name[:64]
	}
	if pre == "" || !c.sess.csrfOK("login:"+pre, fc.FormValue("_csrf")) {
		pre = c.preSession(fc)
		data.CSRF = c.sess.csrfToken("login:" + pre)
		data.Err = c.formError(errf(issuer.ErrForbidden, "csrf", "登录页面已过期，请重新输入", "the login page expired; please sign in again"))
		return c.renderStatus(fc, rc, fiber.StatusForbidden, "login", data)
	}
	data.CSRF = c.sess.csrfToken("login:" + pre)
	client, ok := c.allowAttempt(fc)
	if !ok {
		data.Err = c.formError(errThrottled())
		return c.renderStatus(fc, rc, fiber.StatusTooManyRequests, "login", data)
	}
	u, err := c.acc.Login(fc.UserContext(), name, pw, client)
	if err != nil {
		data.Err = c.formError(err)
		_, _, status := c.userError(err)
		if status == fiber.StatusBadRequest {
			status = fiber.StatusUnauthorized
		}
		return c.renderStatus(fc, rc, status, "login", data)
	}
	if u.TOTPEnabled {
		// The password was right; the session waits for the code.
		tok, jti, exp, err := c.sess.issuePending(u)
		if err != nil {
			return c.fail(fc, rc, err)
		}
		c.setCookie(fc, c.pendingCookie(), tok, exp)
		c.clearCookie(fc, c.preCookie())
		return c.render(fc, rc, "login", loginData{CSRF: c.sess.csrfToken("totp:" + jti), Name: u.Name, Next: data.Next, TOTP: true})
	}
	return c.startSession(fc, rc, u, data.Next)
}

// startSession signs the browser in as u and sends it on.
func (c *Console) startSession(fc *fiber.Ctx, rc *reqCtx, u account.User, next string) error {
	tok, exp, err := c.sess.issue(u, newJTI(), c.now())
	if err != nil {
		return c.fail(fc, rc, err)
	}
	c.setCookie(fc, c.sessionCookie(), tok, exp)
	c.clearCookie(fc, c.preCookie())
	c.clearCookie(fc, c.pendingCookie())
	if u.MustChange {
		return fc.Redirect("/console/account?must=1", fiber.StatusSeeOther)
	}
	if u.TOTPRequired() && !u.TOTPEnabled {
		return fc.Redirect("/console/account/totp?must=1", fiber.StatusSeeOther)
	}
	return fc.Redirect(next, fiber.StatusSeeOther)
}

// totpLoginPage shows the code form again (a reload) while the password
// step's token lives.
func (c *Console) totpLoginPage(fc *fiber.Ctx, rc *reqCtx) error {
	cl, err := c.sess.parsePending(fc.Cookies(c.pendingCookie()))
	if err != nil {
		return fc.Redirect("/console/login?why=totp", fiber.StatusSeeOther)
	}
	return c.render(fc, rc, "login", loginData{CSRF: c.sess.csrfToken("totp:" + cl.ID), Next: safeNext(fc.Query("next")), TOTP: true})
}

// totpLogin is the second step of a sign-in: the code from the holder's
// authenticator app. It spends a sign-in attempt from the client's budget
// like a password, and a wrong code counts towards the account's lockout.
func (c *Console) totpLogin(fc *fiber.Ctx, rc *reqCtx) error {
	data := loginData{Next: safeNext(fc.FormValue("next")), TOTP: true}
	cl, err := c.sess.parsePending(fc.Cookies(c.pendingCookie()))
	if err != nil || !c.sess.csrfOK("totp:"+cl.ID, fc.FormValue("_csrf")) {
		pre := c.preSession(fc)
		return c.renderStatus(fc, rc, fiber.StatusForbidden, "login", loginData{CSRF: c.sess.csrfToken("login:" + pre), Next: data.Next,
			Err: c.formError(errf(issuer.ErrForbidden, "totp_expired", "验证步骤已过期（5分钟），请重新输入密码", "the sign-in step expired (5 minutes); enter your password again"))})
	}
	data.CSRF = c.sess.csrfToken("totp:" + cl.ID)
	client, ok := c.allowAttempt(fc)
	if !ok {
		data.Err = c.formError(errThrottled())
		return c.renderStatus(fc, rc, fiber.StatusTooManyRequests, "login", data)
	}
	u, err := c.acc.LoginTOTP(fc.UserContext(), cl.Subject, cl.Gen, fc.FormValue("code"), client)
	if err != nil {
		data.Err = c.formError(err)
		_, _, status := c.userError(err)
		if status == fiber.StatusBadRequest {
			status = fiber.StatusUnauthorized
		}
		return c.renderStatus(fc, rc, status, "login", data)
	}
	return c.startSession(fc, rc, u, data.Next)
}

type totpData struct {
	Must    bool
	Enabled bool
	Enrol   account.Enrolment
	QR      template.URL // a PNG data URL made here, not user input
	Err     *formErr
}

// totpPage shows the caller's two-step sign-in: enabled, or the QR code
// and secret to add to an authenticator app, with the form to prove it.
func (c *Console) totpPage(fc *fiber.Ctx, rc *reqCtx) error {
	return c.totpView(fc, rc, fiber.StatusOK, totpData{Must: fc.Query("must") == "1"})
}

func (c *Console) totpView(fc *fiber.Ctx, rc *reqCtx, status int, d totpData) error {
	d.Must = d.Must || (rc.user.TOTPRequired() && !rc.user.TOTPEnabled)
	if rc.user.TOTPEnabled {
		d.Enabled = true
		return c.renderStatus(fc, rc, status, "totp", d)
	}
	e, err := c.acc.BeginTOTP(fc.UserContext(), rc.user)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d.Enrol = e
	if strings.HasPrefix(e.QR, "data:image/png;base64,") {
		d.QR = template.URL(e.QR) // #nosec G203 -- a PNG the server encoded
	}
	return c.renderStatus(fc, rc, status, "totp", d)
}

func (c *Console) totpConfirm(fc *fiber.Ctx, rc *reqCtx) error {
	if !rc.user.TOTPOffered() {
		return c.fail(fc, rc, forbidden())
	}
	if rc.user.TOTPEnabled {
		return c.redirect(fc, "/console/account/totp", "totp")
	}
	client, ok := c.allowAttempt(fc)
	if !ok {
		return c.totpView(fc, rc, fiber.StatusTooManyRequests, totpData{Err: c.formError(errThrottled())})
	}
	u, err := c.acc.ConfirmTOTP(fc.UserContext(), rc.user, fc.FormValue("code"), client)
	if err != nil {
		_, _, status := c.userError(err)
		return c.totpView(fc, rc, status, totpData{Err: c.formError(err)})
	}
	rc.user = u
	return c.redirect(fc, "/console/account", "totp")
}

func errThrottled() error {
	return errf(issuer.ErrForbidden, "throttled", "密码尝试过于频繁，请10分钟后再试", "too many password attempts; try again in 10 minutes")
}

func (c *Console) logout(fc *fiber.Ctx, rc *reqCtx) error {
	if err := c.acc.Logout(fc.UserContext(), rc.user); err != nil {
		return c.fail(fc, rc, err)
	}
	c.clearCookie(fc, c.sessionCookie())
	return fc.Redirect("/console/login?why=logout", fiber.StatusSeeOther)
}

func (c *Console) setLang(fc *fiber.Ctx, rc *reqCtx) error {
	v := "zh"
	if fc.Params("lang") == "en" {
		v = "en"
	}
	fc.Cookie(&fiber.Cookie{Name: "certd_lang", Value: v, Path: "/", Expires: c.now().Add(365 * 24 * time.Hour), Secure: c.secure, SameSite: fiber.CookieSameSiteLaxMode})
	back := safeNext(fc.Query("back"))
	return fc.Redirect(back, fiber.StatusSeeOther)
}

func (c *Console) home(fc *fiber.Ctx, rc *reqCtx) error {
	switch {
	case allowed(permIssue, rc.user):
		return fc.Redirect("/console/issue", fiber.StatusSeeOther)
	case allowed(permProvince, rc.user):
		return fc.Redirect("/console/dashboard", fiber.StatusSeeOther)
	}
	return fc.Redirect("/console/certificates", fiber.StatusSeeOther)
}

type accountData struct {
	Must     bool
	Err      *formErr
	Tokens   []account.Token
	Scopes   []account.Scope
	NewToken string
}

func (c *Console) accountView(fc *fiber.Ctx, rc *reqCtx, status int, d accountData) error {
	ts, err := c.acc.Tokens(fc.UserContext(), rc.user)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d.Tokens, d.Scopes = ts, account.Scopes
	d.Must = d.Must || rc.user.MustChange
	return c.renderStatus(fc, rc, status, "account", d)
}

func (c *Console) accountPage(fc *fiber.Ctx, rc *reqCtx) error {
	return c.accountView(fc, rc, fiber.StatusOK, accountData{Must: fc.Query("must") == "1"})
}

func (c *Console) changePassword(fc *fiber.Ctx, rc *reqCtx) error {
	next := fc.FormValue("new")
	if next != fc.FormValue("repeat") {
		return c.accountView(fc, rc, fiber.StatusBadRequest, accountData{Err: c.formError(errf(issuer.ErrInvalid, "password_repeat", "两次输入的新密码不一致", "the two new passwords differ"))})
	}
	// The current password is a password guess: the sign-in throttle
	// counts it too.
	client, ok := c.allowAttempt(fc)
	if !ok {
		return c.accountView(fc, rc, fiber.StatusTooManyRequests, accountData{Err: c.formError(errThrottled())})
	}
	u, err := c.acc.ChangePassword(fc.UserContext(), rc.user, fc.FormValue("current"), next, client)
	if err != nil {
		_, _, status := c.userError(err)
		return c.accountView(fc, rc, status, accountData{Err: c.formError(err)})
	}
	// The change ended every session, this one included: start a new one.
	tok, exp, err := c.sess.issue(u, newJTI(), c.now())
	if err != nil {
		return c.fail(fc, rc, err)
	}
	c.setCookie(fc, c.sessionCookie(), tok, exp)
	return c.redirect(fc, "/console/account", "password")
}

func (c *Console) createToken(fc *fiber.Ctx, rc *reqCtx) error {
	var scopes []account.Scope
	for _, s := range fc.Context().PostArgs().PeekMulti("scope") {
		scopes = append(scopes, account.Scope(s))
	}
	if form, err := fc.MultipartForm(); err == nil {
		for _, s := range form.Value["scope"] {
			scopes = append(scopes, account.Scope(s))
		}
	}
	_, secret, err := c.acc.CreateToken(fc.UserContext(), rc.user, fc.FormValue("label"), scopes, 0)
	if err != nil {
		_, _, status := c.userError(err)
		return c.accountView(fc, rc, status, accountData{Err: c.formError(err)})
	}
	return c.accountView(fc, rc, fiber.StatusOK, accountData{NewToken: secret})
}

func (c *Console) revokeToken(fc *fiber.Ctx, rc *reqCtx) error {
	if err := c.acc.RevokeToken(fc.UserContext(), rc.user, fc.Params("id")); err != nil {
		return c.fail(fc, rc, err)
	}
	return c.redirect(fc, "/console/account", "token_revoked")
}
