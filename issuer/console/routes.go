package console

import (
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/account"
)

// perm is what a route needs. Roles map onto permissions in one place
// (allowed); the service checks the institution of each record again.
type perm int

const (
	permPublic     perm = iota // login page: no session
	permAny                    // any signed-in account
	permIssue                  // import rosters, issue, print: college admin and operator
	permRevoke                 // revoke and reissue: college admin and operator
	permLedger                 // read certificates and batches: everyone but nobody
	permCollegeAdm             // college settings: college admin
	permUsers                  // manage accounts: authority admin, college admin
	permAuthority              // register and change institutions, catalogue: authority admin
	permProvince               // province-wide reading: authority admin, province auditor
	permAudit                  // read the audit log: admins and auditors
)

func allowed(p perm, u account.User) bool {
	switch p {
	case permPublic, permAny:
		return true
	case permIssue, permRevoke:
		return u.Role == account.CollegeAdmin || u.Role == account.CollegeOperator
	case permLedger:
		return u.Role.Valid()
	case permCollegeAdm:
		return u.Role == account.CollegeAdmin
	case permUsers:
		return u.Role == account.CollegeAdmin || u.Role == account.AuthorityAdmin
	case permAuthority:
		return u.Role == account.AuthorityAdmin
	case permProvince:
		return u.Authority()
	case permAudit:
		return u.Role == account.AuthorityAdmin || u.Role == account.CollegeAdmin || u.Role == account.Auditor
	}
	return false
}

// scopeFor is the API token scope an API route needs.
var scopeFor = map[perm]account.Scope{permLedger: account.ScopeLedgerRead, permIssue: account.ScopeIssue, permRevoke: account.ScopeRevoke, permAudit: account.ScopeAuditRead}

// Route is one console route, exported for the authorization matrix test.
type Route struct {
	Method, Path string
	Perm         perm
	API          bool
	h            func(*Console, *fiber.Ctx, *reqCtx) error
}

// Routes lists every route the console serves.
func Routes() []Route {
	g, p := "GET", "POST"
	return []Route{
		{g, "/console/login", permPublic, false, (*Console).loginPage},
		{p, "/console/login", permPublic, false, (*Console).login},
		{g, "/console/login/totp", permPublic, false, (*Console).totpLoginPage},
		{p, "/console/login/totp", permPublic, false, (*Console).totpLogin},
		{g, "/console/lang/:lang", permPublic, false, (*Console).setLang},
		{p, "/console/logout", permAny, false, (*Console).logout},
		{g, "/console", permAny, false, (*Console).home},
		{g, "/console/account", permAny, false, (*Console).accountPage},
		{p, "/console/account/password", permAny, false, (*Console).changePassword},
		{g, "/console/account/totp", permAny, false, (*Console).totpPage},
		{p, "/console/account/totp", permAny, false, (*Console).totpConfirm},
		{p, "/console/account/tokens", permAny, false, (*Console).createToken},
		{p, "/console/account/tokens/:id/revoke", permAny, false, (*Console).revokeToken},

		{g, "/console/issue", permIssue, false, (*Console).issueForm},
		{g, "/console/issue/template.xlsx", permIssue, false, (*Console).rosterTemplate},
		{p, "/console/issue", permIssue, false, (*Console).issueUpload},
		{g, "/console/issue/:job", permIssue, false, (*Console).issueJob},
		{g, "/console/issue/:job/marked.xlsx", permIssue, false, (*Console).issueMarked},
		{p, "/console/issue/:job/confirm", permIssue, false, (*Console).issueConfirm},
		{g, "/console/batches/:id", permLedger, false, (*Console).batchPage},
		{g, "/console/batches/:id/progress.json", permLedger, false, (*Console).batchProgress},
		{g, "/console/batches/:id/print.pdf", permLedger, false, (*Console).batchPrint},
		{g, "/console/batches/:id/certificates.zip", permLedger, false, (*Console).batchZip},
		{g, "/console/batches/:id/slips.pdf", permIssue, false, (*Console).batchSlips},
		{g, "/console/batches/:id/numbers.xlsx", permLedger, false, (*Console).batchNumbersXLSX},
		{g, "/console/batches/:id/numbers.csv", permLedger, false, (*Console).batchNumbersCSV},

		{g, "/console/certificates", permLedger, false, (*Console).ledger},
		{g, "/console/certificates/export.xlsx", permLedger, false, (*Console).ledgerExport},
		{g, "/console/certificates/:number", permLedger, false, (*Console).certificatePage},
		{g, "/console/certificates/:number/pdf", permLedger, false, (*Console).certificatePDF},
		{p, "/console/certificates/:number/holder-code", permIssue, false, (*Console).resetHolderCode},
		{g, "/console/certificates/:number/slip.pdf", permIssue, false, (*Console).certificateSlip},
		{g, "/console/certificates/:number/revoke", permRevoke, false, (*Console).revokeForm},
		{p, "/console/certificates/:number/revoke", permRevoke, false, (*Console).revoke},
		{g, "/console/certificates/:number/reissue", permRevoke, false, (*Console).reissueForm},
		{p, "/console/certificates/:number/reissue", permRevoke, false, (*Console).reissue},

		{g, "/console/settings", permCollegeAdm, false, (*Console).settingsPage},
		{p, "/console/settings/print", permCollegeAdm, false, (*Console).settingsPrint},
		{p, "/console/settings/seal", permCollegeAdm, false, (*Console).settingsSeal},
		{p, "/console/settings/seal/confirm", permCollegeAdm, false, (*Console).settingsSealConfirm},
		{g, "/console/settings/seal.png", permCollegeAdm, false, (*Console).settingsSealImage},
		{p, "/console/settings/fees", permCollegeAdm, false, (*Console).settingsFees},
		{g, "/console/settings/fees-template.xlsx", permCollegeAdm, false, (*Console).feesTemplate},
		{g, "/console/settings/calibration.pdf", permCollegeAdm, false, (*Console).settingsCalibration},

		{g, "/console/users", permUsers, false, (*Console).usersPage},
		{p, "/console/users", permUsers, false, (*Console).createUser},
		{p, "/console/users/:id/disable", permUsers, false, (*Console).disableUser},
		{p, "/console/users/:id/enable", permUsers, false, (*Console).enableUser},
		{p, "/console/users/:id/reset", permUsers, false, (*Console).resetUser},
		{p, "/console/users/:id/totp-reset", permUsers, false, (*Console).resetUserTOTP},
		{p, "/console/users/tokens/:id/revoke", permUsers, false, (*Console).revokeUserToken},

		{g, "/console/institutions", permProvince, false, (*Console).institutionsPage},
		{g, "/console/institutions/new", permAuthority, false, (*Console).institutionNew},
		{p, "/console/institutions", permAuthority, false, (*Console).institutionCreate},
		{g, "/console/institutions/:id", permProvince, false, (*Console).institutionPage},
		{p, "/console/institutions/:id", permAuthority, false, (*Console).institutionUpdate},
		{p, "/console/institutions/:id/status", permAuthority, false, (*Console).institutionStatus},
		{p, "/console/institutions/:id/renew", permAuthority, false, (*Console).institutionRenew},
		{p, "/console/institutions/:id/rotate", permAuthority, false, (*Console).institutionRotate},
		{g, "/console/catalogue", permProvince, false, (*Console).cataloguePage},
		{p, "/console/catalogue", permAuthority, false, (*Console).catalogueImport},
		{p, "/console/catalogue/entry", permAuthority, false, (*Console).catalogueEntry},
		{g, "/console/catalogue/template.xlsx", permProvince, false, (*Console).catalogueTemplate},
		{g, "/console/audit", permAudit, false, (*Console).auditPage},
		{g, "/console/log", permLedger, false, (*Console).logPage},
		{g, "/console/audit/export.xlsx", permAudit, false, (*Console).auditExport},
		{g, "/console/dashboard", permProvince, false, (*Console).dashboardPage},
		{g, "/console/expected", permProvince, false, (*Console).expectedPage},
		{p, "/console/expected", permAuthority, false, (*Console).expectedAdd},
		{p, "/console/expected/import", permAuthority, false, (*Console).expectedImport},
		{g, "/console/expected/template.xlsx", permProvince, false, (*Console).expectedTemplate},
		{g, "/console/expected/unregistered.xlsx", permProvince, false, (*Console).unregisteredSheet},
		{g, "/console/expected/:id", permProvince, false, (*Console).expectedEntryPage},
		{p, "/console/expected/:id", permAuthority, false, (*Console).expectedUpdate},
		{p, "/console/expected/:id/delete", permAuthority, false, (*Console).expectedDelete},
		{p, "/console/expected/:id/link", permAuthority, false, (*Console).expectedLink},

		{g, "/api/console/v1/certificates", permLedger, true, (*Console).apiCertificates},
		{g, "/api/console/v1/certificates/:number", permLedger, true, (*Console).apiCertificate},
		{p, "/api/console/v1/certificates/:number/revoke", permRevoke, true, (*Console).apiRevoke},
		{p, "/api/console/v1/rosters", permIssue, true, (*Console).apiIssue},
		{g, "/api/console/v1/audit", permAudit, true, (*Console).apiAudit},
	}
}

// reqCtx is what a handler knows about the request beyond fiber's Ctx.
type reqCtx struct {
	user  account.User
	actor issuer.Actor
	jti   string // session id; "" for API tokens and anonymous
	en    bool
	api   bool
}

func (c *Console) mount(app *fiber.App) {
	for _, r := range Routes() {
		r := r
		app.Add(r.Method, r.Path, func(fc *fiber.Ctx) error { return c.serve(fc, r) })
	}
	// Anything else under /console is a page that does not exist; answer
	// it in the console's own layout rather than the JSON fallback.
	app.All("/console/*", func(fc *fiber.Ctx) error {
		c.headers(fc)
		return c.fail(fc, &reqCtx{en: c.lang(fc)}, notFound())
	})
}

func (c *Console) headers(fc *fiber.Ctx) {
	fc.Set("Content-Security-Policy", c.csp)
	fc.Set("Cache-Control", "no-store")
	fc.Set("X-Content-Type-Options", "nosniff")
	fc.Set("X-Frame-Options", "DENY")
	fc.Set("Referrer-Policy", "same-origin")
	if c.secure {
		fc.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

func (c *Console) lang(fc *fiber.Ctx) bool { return fc.Cookies("certd_lang") == "en" }

// serve authenticates, authorizes and checks CSRF, then runs the handler.
func (c *Console) serve(fc *fiber.Ctx, r Route) error {
	c.headers(fc)
	rc := &reqCtx{en: c.lang(fc), api: r.API}
	if r.API {
		return c.serveAPI(fc, r, rc)
	}
	if r.Perm == permPublic {
		return r.h(c, fc, rc)
	}
	u, claims, err := c.authenticate(fc)
	if err != nil {
		// Delete only a cookie that was sent and is no good. A request
		// without one is no reason: SameSite=Strict leaves the cookie off
		// every navigation from another site (a link in a mail, a bookmark
		// page), and deleting it then would sign the browser out.
		why := ""
		if fc.Cookies(c.sessionCookie()) != "" {
			c.clearCookie(fc, c.sessionCookie())
			why = "&why=expired"
		}
		if fc.Method() == fiber.MethodGet {
			return fc.Redirect("/console/login?next="+url.QueryEscape(fc.OriginalURL())+why, fiber.StatusSeeOther)
		}
		return c.renderStatus(fc, rc, fiber.StatusUnauthorized, "login", loginData{Why: "expired", Next: "/console"})
	}
	rc.user, rc.actor, rc.jti = u, u.Actor(), claims.ID
	// Sliding expiry: re-sign a token in use once it is a few minutes old.
	if iat := claims.IssuedAt; iat != nil && c.now().Sub(iat.Time) > refreshAfter {
		if tok, exp, err := c.sess.issue(u, claims.ID, time.Unix(claims.Auth, 0)); err == nil {
			c.setCookie(fc, c.sessionCookie(), tok, exp)
		}
	}
	if fc.Method() != fiber.MethodGet && fc.Method() != fiber.MethodHead {
		if !c.sess.csrfOK(rc.jti, fc.FormValue("_csrf")) && !c.sess.csrfOK(rc.jti, fc.Get("X-CSRF-Token")) {
			c.audit(fc, rc, "console.csrf_rejected", u.InstitutionID, r.Path, nil)
			return c.fail(fc, rc, errf(issuer.ErrForbidden, "csrf", "页面已过期或来源不明，请返回上一页刷新后重试", "the form has expired or did not come from this site; go back, reload and try again"))
		}
	}
	if !allowed(r.Perm, u) {
		return c.fail(fc, rc, forbidden())
	}
	// A generated password must be replaced before anything else.
	// Minting an API token would be a way around it, so only the password
	// page and logout are open until then.
	if u.MustChange && r.Path != "/console/account" && r.Path != "/console/account/password" && r.Path != "/console/logout" {
		return fc.Redirect("/console/account?must=1", fiber.StatusSeeOther)
	}
	// An authority administrator works only with a second factor: until
	// one is set up, the set-up page (and the password pages) are all
	// there is.
	if u.TOTPRequired() && !u.TOTPEnabled && !u.MustChange && r.Path != "/console/account/totp" && r.Path != "/console/logout" {
		return fc.Redirect("/console/account/totp?must=1", fiber.StatusSeeOther)
	}
	return r.h(c, fc, rc)
}

// authenticate checks the session cookie against the stored account.
func (c *Console) authenticate(fc *fiber.Ctx) (account.User, *claims, error) {
	tok := fc.Cookies(c.sessionCookie())
	if tok == "" {
		return account.User{}, nil, errf(issuer.ErrInvalid, "no_session", "", "")
	}
	cl, err := c.sess.parse(tok)
	if err != nil {
		return account.User{}, nil, err
	}
	u, err := c.acc.SessionUser(fc.UserContext(), cl.Subject, cl.Gen)
	if err != nil {
		return account.User{}, nil, err
	}
	return u, cl, nil
}

func (c *Console) serveAPI(fc *fiber.Ctx, r Route, rc *reqCtx) error {
	auth := fc.Get(fiber.HeaderAuthorization)
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		fc.Set("WWW-Authenticate", `Bearer realm="certd"`)
		return fc.Status(fiber.StatusUnauthorized).JSON(apiErr("unauthorized", "需要API令牌", "an API token is required"))
	}
	u, tok, err := c.acc.Authenticate(fc.UserContext(), strings.TrimSpace(secret))
	if err != nil {
		zh, en, _ := c.userError(err)
		fc.Set("WWW-Authenticate", `Bearer realm="certd", error="invalid_token"`)
		return fc.Status(fiber.StatusUnauthorized).JSON(apiErr("invalid_token", zh, en))
	}
	if u.MustChange {
		return fc.Status(fiber.StatusForbidden).JSON(apiErr("password_change_required", "请先登录控制台修改初始密码", "sign in to the console and change the generated password first"))
	}
	if u.TOTPRequired() && !u.TOTPEnabled {
		return fc.Status(fiber.StatusForbidden).JSON(apiErr("totp_required", "主管部门管理员须先在控制台启用两步验证", "an authority administrator must set up two-step sign-in in the console first"))
	}
	if !allowed(r.Perm, u) || !tok.Has(scopeFor[r.Perm]) {
		return fc.Status(fiber.StatusForbidden).JSON(apiErr("forbidden", "令牌或账号无此权限", "the token or its account lacks this permission"))
	}
	rc.user, rc.actor = u, u.Actor()
	rc.actor.Name = u.Name + " (token " + tok.ID + ")"
	return r.h(c, fc, rc)
}

func apiErr(code, zh, en string) fiber.Map {
	return fiber.Map{"error": fiber.Map{"code": code, "zh": zh, "en": en}}
}
