// Package console is the web console of certd: the pages a college's
// certification office uses to import rosters, issue, print, revoke and
// correct certificates, and the pages the provincial authority uses to
// register colleges and watch coverage; plus a small token-authenticated
// JSON API for automation.
//
// # Security
//
// Every route is declared in one table with the permission it needs
// (routes.go); the middleware refuses anything the caller's role lacks.
// Which records the caller reaches is not the console's to decide: it reads
// and writes only through issuer.Service and account.Service, which scope
// every call to the caller's institution. Which institution a college user
// acts for comes from its stored account, never from the request. Sessions
// are short-lived signed cookies (HttpOnly, SameSite=Strict, Secure outside
// local development), every state-changing request carries a CSRF token
// bound to the session, and pages run no script at all, so the
// Content-Security-Policy forbids scripts outright.
//
// Pages are server-rendered html/template in Chinese with an English
// switch, one small inlined style sheet, and work on a phone.
package console

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/assets"
	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/clientip"
	"certd/issuer/keys"
	"certd/issuer/publog"
)

// MaxUpload is the largest request the console accepts: a roster
// (roster.MaxFileBytes at most) and a ZIP of photos (issuer.MaxPhotosArchive
// at most) together. The app's BodyLimit must be at least this.
const MaxUpload = 64 << 20

// Deps is what the console needs.
type Deps struct {
	Service  *issuer.Service
	Accounts *account.Service
	KEK      *keys.KEK
	Log      *slog.Logger
	// PublicURL decides whether cookies are Secure: everywhere except
	// plain-http local development (http://127.0.0.1, http://localhost).
	PublicURL      string
	TrustedProxies []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// UploadDir is where the console keeps roster uploads in progress, in
	// a private directory of its own (0700) made at Mount: the data
	// directory's "uploads" in certd serve. Empty means os.TempDir(),
	// which may be memory (tmpfs) on some systems.
	UploadDir string
	// LoginLimit is password attempts (sign-ins and password changes) per
	// client per 10 minutes (default 30), a client being an IPv4 address or
	// an IPv6 /64; it slows password spraying across accounts, which the
	// per-account lockout alone does not.
	LoginLimit int
	// PublicLog replays the public log for one institution (nil: the
	// deployment runs no log; the page says so).
	PublicLog func(ctx context.Context, institutionID string) (*publog.InstitutionLog, error)
}

// Console is the mounted console.
type Console struct {
	d        Deps
	svc      *issuer.Service
	acc      *account.Service
	log      *slog.Logger
	sess     *sessions
	pages    map[string]*template.Template
	css      template.CSS
	csp      string
	secure   bool
	trusted  []netip.Prefix
	jobs     *jobs
	throttle *throttle
	now      func() time.Time
	seals    pendingSeals

	dashMu   sync.Mutex
	dashAt   time.Time
	dashData *dashboard
}

// Mount adds the console under /console and its API under
// /api/console/v1 to app.
func Mount(app *fiber.App, d Deps) (*Console, error) {
	if d.Service == nil || d.Accounts == nil || d.KEK == nil {
		return nil, errors.New("console: Service, Accounts and KEK are required")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	trusted, err := clientip.ParseTrustedProxies(d.TrustedProxies)
	if err != nil {
		return nil, err
	}
	base := d.UploadDir
	if base == "" {
		base = os.TempDir()
	}
	uploads, err := uploadDir(base, now())
	if err != nil {
		return nil, fmt.Errorf("console: upload directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := loadSessions(ctx, d.Accounts, d.KEK, now)
	if err != nil {
		return nil, err
	}
	css, err := fs.ReadFile(assets.Console, "console/console.css")
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	styles := template.CSS(css) // #nosec G203 -- our own embedded style sheet, pinned by its hash in the CSP
	pu := strings.ToLower(d.PublicURL)
	c := &Console{
		d: d, svc: d.Service, acc: d.Accounts, log: d.Log, sess: sess, pages: pages,
		css: styles, trusted: trusted, now: now,
		secure: !(strings.HasPrefix(pu, "http://127.0.0.1") || strings.HasPrefix(pu, "http://localhost") || strings.HasPrefix(pu, "http://[::1]")),
		// No script anywhere; the one style sheet is inlined and pinned.
		csp:      "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		jobs:     newJobs(uploads, now),
		throttle: newThrottle(max(d.LoginLimit, 0), 10*time.Minute),
	}
	if d.LoginLimit == 0 {
		c.throttle = newThrottle(30, 10*time.Minute)
	}
	c.mount(app)
	return c, nil
}

// cookie names: the __Host- prefix makes the browser refuse the cookie
// unless it is Secure, host-only and for path /, so a sibling subdomain
// cannot plant one.
func (c *Console) sessionCookie() string {
	if c.secure {
		return "__Host-certd_session"
	}
	return "certd_session"
}

func (c *Console) preCookie() string {
	if c.secure {
		return "__Host-certd_pre"
	}
	return "certd_pre"
}

func (c *Console) pendingCookie() string {
	if c.secure {
		return "__Host-certd_totp"
	}
	return "certd_totp"
}

func (c *Console) setCookie(fc *fiber.Ctx, name, value string, exp time.Time) {
	fc.Cookie(&fiber.Cookie{Name: name, Value: value, Path: "/", Expires: exp, HTTPOnly: true, Secure: c.secure, SameSite: fiber.CookieSameSiteStrictMode})
}

func (c *Console) clearCookie(fc *fiber.Ctx, name string) {
	fc.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", Expires: time.Unix(1, 0), MaxAge: -1, HTTPOnly: true, Secure: c.secure, SameSite: fiber.CookieSameSiteStrictMode})
}

// client is the address the request came from, as the audit log names it.
func (c *Console) client(fc *fiber.Ctx) netip.Addr {
	return clientip.Of(fc.Context().RemoteIP(), clientip.Forwarded(fc.Request().Header.PeekAll(fiber.HeaderXForwardedFor)), c.trusted)
}

// allowAttempt counts one password attempt (a sign-in, or the current
// password of a password change) against the client's budget, and returns
// the client's address for the audit log. One client is an IPv4 address or
// an IPv6 /64 (clientip.Key).
func (c *Console) allowAttempt(fc *fiber.Ctx) (string, bool) {
	addr := c.client(fc)
	return addr.String(), c.throttle.allow(clientip.Key(addr), c.now())
}

// throttle counts events per key in fixed windows.
type throttle struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	counts map[string]*bucket
}

type bucket struct {
	start time.Time
	n     int
}

func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{limit: limit, window: window, counts: map[string]*bucket{}}
}

func (t *throttle) allow(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.counts) > 100_000 {
		for k, b := range t.counts {
			if now.Sub(b.start) > t.window {
				delete(t.counts, k)
			}
		}
	}
	b := t.counts[key]
	if b == nil || now.Sub(b.start) > t.window {
		b = &bucket{start: now}
		t.counts[key] = b
	}
	b.n++
	return b.n <= t.limit
}

// userError is what a person sees for err: the bilingual message of an
// *issuer.Error, or a generic line (the cause goes to the log only).
func (c *Console) userError(err error) (zh, en string, status int) {
	if e, ok := issuer.AsError(err); ok {
		status = fiber.StatusBadRequest
		switch e.Kind {
		case issuer.ErrNotFound:
			status = fiber.StatusNotFound
		case issuer.ErrConflict:
			status = fiber.StatusConflict
		case issuer.ErrForbidden:
			status = fiber.StatusForbidden
		case issuer.ErrUnavailable:
			status = fiber.StatusServiceUnavailable
			c.log.Error("console: backing service failed", "code", e.Code, "error", e.Err)
		}
		return e.Zh, e.En, status
	}
	c.log.Error("console: unexpected error", "error", err)
	return "服务器内部错误，请稍后重试", "internal error; please try again later", fiber.StatusInternalServerError
}

func errf(kind issuer.Kind, code, zh, en string, args ...any) error {
	return issuer.Errorf(kind, code, zh, en, args...)
}

func notFound() error {
	return errf(issuer.ErrNotFound, "not_found", "页面或记录不存在", "no such page or record")
}

func forbidden() error {
	return errf(issuer.ErrForbidden, "forbidden", "您的账号无权访问此页面", "your account may not use this page")
}

func (c *Console) today() string { return issuer.Day(c.now()).Format(issuer.DateLayout) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(issuer.ChinaTime).Format("2006-01-02 15:04")
}

func yuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }
