package console

import (
	"crypto/rand"
	"encoding/base64"
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
	tok, exp, err := c.sess.issue(u, newJTI(), c.now())
	if err != nil {
		return c.fail(fc, rc, err)
	}
	c.setCookie(fc, c.sessionCookie(), tok, exp)
	c.clearCookie(fc, c.preCookie())
	if u.MustChange {
		return fc.Redirect("/console/account?must=1", fiber.StatusSeeOther)
	}
	return fc.Redirect(data.Next, fiber.StatusSeeOther)
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
