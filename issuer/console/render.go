package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/assets"
	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/occupation"
)

var funcs = template.FuncMap{
	// tr picks the language: Chinese unless the English switch is on.
	"tr": func(en bool, zh, eng string) string {
		if en {
			return eng
		}
		return zh
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(issuer.DateLayout)
	},
	"time":  fmtTime,
	"yuan":  yuan,
	"level": func(l occupation.Level) string { return l.Chinese() },
	"levelEn": func(l occupation.Level) string {
		return l.English()
	},
	"statusZh": func(s issuer.Status) string { return s.Chinese() },
	"roleZh":   func(r account.Role) string { return r.Chinese() },
	"roleEn":   func(r account.Role) string { return r.English() },
	"add":      func(a, b int) int { return a + b },
	"pct": func(a, b int) int {
		if b == 0 {
			return 0
		}
		return a * 100 / b
	},
	// action names an audit action for people; the code stays beside it.
	"action": func(en bool, code string) string {
		if l, ok := actionLabels[code]; ok {
			if en {
				return l[1]
			}
			return l[0]
		}
		return ""
	},
	// describe turns an audit event into a sentence (auditview.go).
	"describe": func(en bool, ev issuer.AuditEvent) auditRow { return describe(ev, en) },
	// dict2 passes the language and one value to a shared block.
	"dict2": func(en bool, v any) map[string]any { return map[string]any{"En": en, "Certs": v} },
	// dict3 adds the colleges' names by ID, for the province-wide ledger.
	"dict3": func(en bool, v any, colleges map[string]string) map[string]any {
		return map[string]any{"En": en, "Certs": v, "Colleges": colleges}
	},
	"levels":   func() []occupation.Level { return []occupation.Level{5, 4, 3, 2, 1} },
	"hasLevel": func(ls []occupation.Level, l occupation.Level) bool { return containsLevel(ls, l) },
	"dash": func(s string) string {
		if s == "" {
			return "--"
		}
		return s
	},
}

var actionLabels = map[string][2]string{
	"certificate.issue": {"发证", "issued"}, "certificate.revoke": {"撤销证书", "revoked"}, "certificate.reissue": {"更正补发", "corrected reissue"},
	"holder.code_reset": {"重置领取码", "holder code reset"}, "holder.sign_in": {"持证人登录", "holder signed in"},
	"holder.sign_in_failed": {"持证人登录失败", "failed holder sign-in"}, "holder.share_create": {"持证人创建分享链接", "holder made a share link"},
	"holder.share_extend": {"持证人延长分享链接", "holder extended a share link"}, "holder.share_end": {"持证人结束分享链接", "holder ended a share link"},
	"holder.share_end_all": {"持证人结束全部分享链接", "holder ended every share link"}, "holder.pdf_download": {"持证人下载PDF", "holder downloaded the PDF"},
	"holder.credential_download": {"持证人下载可验证凭证", "holder downloaded the verifiable credential"},
	"credential.download":        {"下载持证人凭证", "holder credential downloaded"}, "certificate.credential": {"补发持证人凭证", "holder credential made for an earlier certificate"}, "batch.slips": {"下载领取凭条", "claim slips downloaded"},
	"batch.print": {"下载打印文件", "print file downloaded"}, "batch.download": {"下载证书包", "certificates downloaded"},
	"ledger.export": {"导出台账", "ledger exported"}, "roster.check": {"检查名单", "roster checked"},
	"institution.register": {"机构备案", "college registered"}, "institution.update": {"修改备案", "registration changed"},
	"institution.suspended": {"暂停机构", "college suspended"}, "institution.withdrawn": {"撤销备案", "registration withdrawn"},
	"institution.active": {"恢复机构", "college reinstated"}, "institution.renew": {"延续备案", "registration renewed"},
	"institution.key_rotate": {"轮换密钥", "key rotated"}, "institution.print_settings": {"打印设置", "print settings"},
	"institution.fees": {"公布收费标准", "fees published"}, "catalogue.import": {"导入职业目录", "catalogue imported"},
	"account.create": {"新建账号", "account created"}, "account.login": {"登录", "signed in"}, "account.logout": {"退出", "signed out"},
	"account.login_failed": {"登录失败", "failed sign-in"}, "account.login_unknown": {"未知账号登录", "sign-in, unknown name"},
	"account.locked": {"账号锁定", "account locked"}, "account.login_locked": {"锁定期间登录", "sign-in while locked"},
	"account.disable": {"停用账号", "account disabled"}, "account.enable": {"启用账号", "account enabled"},
	"account.password_reset": {"重置密码", "password reset"}, "account.password_change": {"修改密码", "password changed"},
	"token.create": {"生成API令牌", "API token created"}, "token.revoke": {"吊销API令牌", "API token revoked"},
	"console.csrf_rejected":          {"拒绝来源不明的请求", "request without a valid CSRF token refused"},
	"account.password_change_failed": {"修改密码时当前密码错误", "wrong current password at a password change"},
	"account.login_password":         {"密码正确，待输入动态验证码", "password right, code pending"},
	"account.totp_begin":             {"开始设置两步验证", "two-step set-up started"}, "account.totp_enable": {"启用两步验证", "two-step sign-in turned on"},
	"account.totp_failed": {"动态验证码错误", "wrong two-step code"}, "account.totp_reset": {"重置两步验证", "two-step sign-in reset"},
	"authority.create": {"创建主管部门", "authority created"}, "catalogue.load": {"载入内置职业目录", "built-in catalogue loaded"},
	"audit.export":    {"导出审计日志", "audit log exported"},
	"expected.import": {"导入应备案院校名单", "expected colleges imported"}, "expected.add": {"添加应备案院校", "expected college added"},
	"expected.update": {"修改应备案院校", "expected college changed"}, "expected.delete": {"移出应备案院校名单", "expected college removed"},
	"expected.link": {"应备案院校关联备案机构", "expected college linked to a registration"}, "expected.unlink": {"取消应备案院校的关联", "expected college unlinked"},
}

func parsePages() (map[string]*template.Template, error) {
	layout, err := fs.ReadFile(assets.Console, "console/layout.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(assets.Console, "console/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(assets.Console, f)
		if err != nil {
			return nil, err
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err != nil {
			return nil, err
		}
		if _, err := t.Parse(string(body)); err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// view is what every page template gets.
type view struct {
	En    bool
	User  *account.User
	CSRF  string
	CSS   template.CSS
	Page  string
	Path  string
	Msg   string // a fixed message key from a redirect (?msg=)
	ErrZh string
	ErrEn string
	Data  any
}

func (v view) Can(p string) bool {
	if v.User == nil {
		return false
	}
	switch p {
	case "issue":
		return allowed(permIssue, *v.User)
	case "revoke":
		return allowed(permRevoke, *v.User)
	case "settings":
		return allowed(permCollegeAdm, *v.User)
	case "users":
		return allowed(permUsers, *v.User)
	case "authority":
		return allowed(permAuthority, *v.User)
	case "province":
		return allowed(permProvince, *v.User)
	case "audit":
		return allowed(permAudit, *v.User)
	}
	return false
}

func (c *Console) render(fc *fiber.Ctx, rc *reqCtx, page string, data any) error {
	return c.renderStatus(fc, rc, fiber.StatusOK, page, data)
}

func (c *Console) renderStatus(fc *fiber.Ctx, rc *reqCtx, status int, page string, data any) error {
	v := view{En: rc.en, CSS: c.css, Page: page, Path: fc.Path(), Msg: fc.Query("msg"), Data: data}
	if rc.user.ID != "" {
		u := rc.user
		v.User = &u
		v.CSRF = c.sess.csrfToken(rc.jti)
	}
	if ld, ok := data.(loginData); ok {
		v.CSRF = ld.CSRF
	}
	if e, ok := data.(errorData); ok {
		v.ErrZh, v.ErrEn = e.Zh, e.En
	}
	t := c.pages[page]
	if t == nil {
		return c.fail(fc, rc, notFound())
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console: template", "page", page, "error", err)
		return fc.Status(fiber.StatusInternalServerError).SendString("服务器内部错误 / internal error")
	}
	fc.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return fc.Status(status).Send(buf.Bytes())
}

// errorData is a page that only says what went wrong.
type errorData struct {
	Zh, En string
	Back   string
}

// fail shows err in the console layout with its status; for the API, as
// JSON. Nothing internal reaches the page.
func (c *Console) fail(fc *fiber.Ctx, rc *reqCtx, err error) error {
	zh, en, status := c.userError(err)
	if rc.api {
		code := "error"
		if e, ok := issuer.AsError(err); ok {
			code = e.Code
		}
		return fc.Status(status).JSON(apiErr(code, zh, en))
	}
	return c.renderStatus(fc, rc, status, "error", errorData{Zh: zh, En: en, Back: fc.Get(fiber.HeaderReferer)})
}

// formErr re-renders a form page with the error above it. When the error
// names fields (issuer.FieldsError), Fields lists every problem, each shown
// beside its field and summed up above the form.
type formErr struct {
	Zh, En string
	Fields []issuer.FieldProblem
}

func (c *Console) formError(err error) *formErr {
	zh, en, _ := c.userError(err)
	return &formErr{zh, en, issuer.FieldsOf(err)}
}

// Field returns the problems of one field, joined, or nil.
func (f *formErr) Field(name string) *issuer.FieldProblem {
	if f == nil {
		return nil
	}
	var out *issuer.FieldProblem
	for _, p := range f.Fields {
		if p.Field != name {
			continue
		}
		if out == nil {
			out = &issuer.FieldProblem{Field: name, Zh: p.Zh, En: p.En}
		} else {
			out.Zh += "；" + p.Zh
			out.En += "; " + p.En
		}
	}
	return out
}

func (c *Console) redirect(fc *fiber.Ctx, to, msg string) error {
	if msg != "" {
		if strings.Contains(to, "?") {
			to += "&msg=" + msg
		} else {
			to += "?msg=" + msg
		}
	}
	return fc.Redirect(to, fiber.StatusSeeOther)
}
