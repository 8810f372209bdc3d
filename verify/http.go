package verify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"certd/assets"
	"certd/issuer/clientip"
	"certd/verify/cache"
)

// MaxBody is the largest request body the public routes accept: a PDF
// (MaxPDFSize) or a bulk sheet, plus multipart framing. The command sets it
// as the app's BodyLimit; the routes check their own tighter limits.
const MaxBody = MaxPDFSize + 1<<20

// Deps is what [Mount] needs.
type Deps struct {
	Store     Store
	PublicURL string // base of the QR URLs, without a trailing slash
	RedisURL  string // empty: in-process cache only
	// RedisPrefix separates deployments (or tests) sharing one Redis;
	// default "certd:".
	RedisPrefix string
	Log         *slog.Logger
	// TrustedProxies are the addresses (IPs or CIDR prefixes) of reverse
	// proxies whose X-Forwarded-For is believed. Empty: the peer address
	// is the client, whatever the headers say.
	TrustedProxies []string
	// RateLimit is requests per minute per client (default 600; negative
	// disables). ConfirmLimit is name/ID confirmations per hour per client,
	// counting each bulk item (default 5,000; negative disables).
	RateLimit, ConfirmLimit int
	// AccessLog, when set, receives the one line per request (text, like
	// Log), batched so that logging costs no system call per request. Nil
	// sends those lines through Log.
	AccessLog io.Writer
	// Service options (poll interval, TTLs); Store, Redis and Log are
	// filled from the fields above.
	Options Options
}

// Mount adds the public verification routes to app and starts the service
// behind them. The service stops when the app shuts down.
func Mount(app *fiber.App, d Deps) (*Service, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	trusted, err := clientip.ParseTrustedProxies(d.TrustedProxies)
	if err != nil {
		return nil, err
	}
	var remote *cache.Remote
	if d.RedisURL != "" {
		if remote, err = cache.Open(d.RedisURL, cache.Options{Log: d.Log, Prefix: d.RedisPrefix}); err != nil {
			return nil, err
		}
	}
	o := d.Options
	o.Store, o.Redis, o.Log = d.Store, remote, d.Log
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := NewService(ctx, o)
	if err != nil {
		if remote != nil {
			_ = remote.Close()
		}
		return nil, err
	}
	h, err := newHandlers(svc, d, trusted)
	if err != nil {
		svc.Close()
		return nil, err
	}
	app.Hooks().OnShutdown(func() error {
		h.close()
		svc.Close()
		if remote != nil {
			return remote.Close()
		}
		return nil
	})
	h.routes(app)
	return svc, nil
}

type handlers struct {
	svc     *Service
	log     *slog.Logger
	access  *slog.Logger // nil when Log does not log at info level
	buf     *lineBuffer
	base    string
	trusted []netip.Prefix
	tmpl    *template.Template
	css     template.CSS
	csp     string
	hsts    bool
	share   []byte
	openapi []byte
	reqs    *limiter
	confirm *limiter
	misses  *limiter // failed confirmations per certificate

	secHeaders [][2][]byte
}

func newHandlers(svc *Service, d Deps, trusted []netip.Prefix) (*handlers, error) {
	css, err := fs.ReadFile(assets.Static, "static/verify.css")
	if err != nil {
		return nil, err
	}
	share, err := fs.ReadFile(assets.Static, "static/share.png")
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(assets.Templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	h := &handlers{svc: svc, log: d.Log, base: strings.TrimRight(d.PublicURL, "/"), trusted: trusted, tmpl: tmpl,
		css: template.CSS(css), share: share, openapi: openAPI(d.PublicURL),
		hsts: strings.HasPrefix(d.PublicURL, "https://"),
		// Nothing but the inlined style sheet and our own images and forms:
		// a page that is all about trust runs no script at all.
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	}
	if d.Log.Enabled(context.Background(), slog.LevelInfo) {
		h.access = d.Log
		if d.AccessLog != nil {
			h.buf = newLineBuffer(d.AccessLog)
			h.access = slog.New(newAccessHandler(h.buf))
		}
	}
	// Security headers, in canonical form so that setting them costs no
	// normalisation per request.
	for _, kv := range [][2]string{
		{"X-Content-Type-Options", "nosniff"},
		{"X-Frame-Options", "DENY"},
		// The QR URL carries the verification code: never leak it to
		// another site through Referer.
		{"Referrer-Policy", "no-referrer"},
		{"Content-Security-Policy", h.csp},
		{"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
	} {
		h.secHeaders = append(h.secHeaders, [2][]byte{[]byte(kv[0]), []byte(kv[1])})
	}
	if h.hsts {
		h.secHeaders = append(h.secHeaders, [2][]byte{[]byte("Strict-Transport-Security"), []byte("max-age=31536000")})
	}
	rl, cl := d.RateLimit, d.ConfirmLimit
	if rl == 0 {
		rl = 600
	}
	if cl == 0 {
		cl = 5000
	}
	h.reqs = newLimiter("req", rl, time.Minute, svc.remote)
	h.confirm = newLimiter("confirm", cl, time.Hour, svc.remote)
	// A privacy control, not a load control: it stays on when rate limits
	// are switched off.
	h.misses = newLimiter("confirm-miss", maxFailedConfirms, confirmWindowDays*24*time.Hour, svc.remote)
	return h, nil
}

func (h *handlers) close() {
	h.reqs.close()
	h.confirm.close()
	h.misses.close()
	if h.buf != nil {
		_ = h.buf.Close()
	}
}

func (h *handlers) routes(app *fiber.App) {
	app.Use(h.observe)
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/readyz", h.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(h.svc.m.reg, promhttp.HandlerOpts{})))
	app.Get("/static/share.png", func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "public, max-age=86400")
		c.Set(fiber.HeaderContentType, "image/png")
		return c.Send(h.share)
	})
	app.Use(h.rateLimit)
	app.Get("/", h.home)
	app.Get("/v/lookup", h.lookupForm)
	app.Get("/v/:number", h.page)
	app.Post("/v/:number", h.page)
	app.Get("/api/v1/certificates/:number", h.apiCertificate)
	app.Post("/api/v1/verify", h.apiVerify)
	app.Get("/bulk", h.bulkForm)
	app.Post("/bulk", h.bulkUpload)
	app.Get("/api/openapi.json", h.static(h.openapi, "application/json"))
	app.Get("/.well-known/jwks.json", h.jwks)
	app.Get("/trust.json", h.trust)
	app.Get("/institutions", h.institutions)
	app.Get("/institutions/:id", h.institution)
	app.Get("/api/v1/institutions", h.apiInstitutions)
	app.Get("/api/v1/institutions/:id", h.apiInstitution)
}

// observe wraps every request: security headers, panic containment,
// metrics by route pattern and one log line without personal data (no
// path, query, address or body: the route pattern says what was asked).
func (h *handlers) observe(c *fiber.Ctx) (err error) {
	start := time.Now()
	hdr := &c.Response().Header
	for _, kv := range h.secHeaders {
		hdr.SetCanonical(kv[0], kv[1])
	}
	defer func() {
		if r := recover(); r != nil {
			// No stack trace to the client, and none in the log line
			// either: it may hold request data.
			h.log.Error("panic in request handler", "panic", fmt.Sprint(r), "route", routeOf(c))
			err = nil
			c.Status(fiber.StatusInternalServerError)
			_ = h.fail(c, fiber.StatusInternalServerError, "服务器内部错误", "internal error")
		}
		if err != nil {
			// Let the app's error handler write it, then log what it wrote.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				c.Status(fiber.StatusInternalServerError)
			}
			err = nil
		}
		status := c.Response().StatusCode()
		d := time.Since(start)
		route := routeOf(c)
		h.svc.m.observe(route, c.Method(), status, d)
		if h.access == nil {
			return
		}
		h.access.LogAttrs(context.Background(), slog.LevelInfo, "http",
			slog.String("method", c.Method()), slog.String("route", route), slog.Int("status", status),
			slog.Int64("us", d.Microseconds()), slog.Int("bytes", len(c.Response().Body())))
	}()
	return c.Next()
}

// routeOf is the route pattern a request matched. After Next, Route is the
// last route that matched; a request that matched nothing still shows the
// middleware's own "/".
func routeOf(c *fiber.Ctx) string {
	if r := c.Route(); r != nil && len(r.Handlers) > 0 && (r.Path != "/" || c.Path() == "/") {
		return r.Path
	}
	return "unmatched"
}

func (h *handlers) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	st, ok := h.svc.Ready(ctx)
	c.Set("Cache-Control", "no-store")
	if !ok {
		return c.Status(fiber.StatusServiceUnavailable).JSON(st)
	}
	return c.JSON(st)
}

func (h *handlers) static(body []byte, ctype string) fiber.Handler {
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	b := &blob{body: body, etag: etag}
	return func(c *fiber.Ctx) error {
		return h.sendBlob(c, b, ctype, "public, max-age=300")
	}
}

// Cache-Control for verification answers. A shared cache may keep them but
// must revalidate every time (the ETag makes that a cheap 304), so no copy
// is ever served that certd has not just confirmed: the 1-second promise on
// revocations holds behind any CDN. Answers with personal data stay out of
// shared caches.
const (
	ccPublic  = "public, max-age=0, must-revalidate"
	ccPrivate = "private, no-cache"
)

func (h *handlers) sendBlob(c *fiber.Ctx, b *blob, ctype, cc string) error {
	c.Set("Cache-Control", cc)
	c.Set(fiber.HeaderContentType, ctype)
	body, etag := b.body, b.etag
	if len(body) >= 512 {
		c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
		if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
			if gz := b.gzipped(); gz != nil {
				// A different representation needs a different strong ETag.
				body, etag = gz, b.etag[:len(b.etag)-1]+`-gz"`
				c.Set(fiber.HeaderContentEncoding, "gzip")
			}
		}
	}
	c.Set("ETag", etag)
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagMatch(inm, etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	return c.Send(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// codeParam reads the QR's verification code from ?c=, normalised. given
// is false when there is none; ok is false when it is malformed.
func codeParam(c *fiber.Ctx) (code string, given, ok bool) {
	raw := c.Query("c")
	if raw == "" {
		return "", false, true
	}
	code, ok = NormalizeCode(raw)
	return code, true, ok
}

// wantsEnglish picks the page language: Chinese unless lang=en.
func wantsEnglish(c *fiber.Ctx) bool { return c.Query("lang") == "en" }

// apiError is the body of every API error.
type apiError struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// fail answers an error in the form the route speaks: JSON under /api and
// for the machine documents, a page elsewhere.
func (h *handlers) fail(c *fiber.Ctx, status int, zh, en string) error {
	c.Set("Cache-Control", "no-store")
	p := c.Path()
	if strings.HasPrefix(p, "/api/") || strings.HasSuffix(p, ".json") {
		return c.Status(status).JSON(apiError{Error: zh + " / " + en, Reason: reasonOf(status)})
	}
	en2 := wantsEnglish(c)
	title := t(en2, "无法处理", "Cannot process")
	var advice string
	switch status {
	case fiber.StatusServiceUnavailable:
		// An employer reading this must not take it for a verdict.
		title = t(en2, "暂不可用", "Unavailable")
		advice = t(en2, "这不表示证书无效或不存在：核验系统暂时无法读取证书登记册。请稍后刷新本页。",
			"This does not mean the certificate is invalid or unknown: the register cannot be read right now. Reload this page shortly.")
	case fiber.StatusTooManyRequests:
		advice = t(en2, "这不表示证书无效或不存在：来自您网络的查询过于频繁。请稍后再试。",
			"This does not mean the certificate is invalid or unknown: too many requests came from your network. Try again later.")
	}
	d := h.pageData(c, "/", en2, title, t(en2, zh, en))
	d.Message, d.Advice = t(en2, zh, en), advice
	return h.renderPage(c, status, "error", d)
}

func reasonOf(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusRequestEntityTooLarge:
		return "too_large"
	case fiber.StatusTooManyRequests:
		return "rate_limited"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	case fiber.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	return "error"
}

func (h *handlers) unavailable(c *fiber.Ctx, err error) error {
	if !errors.Is(err, ErrUnavailable) {
		h.log.Error("verification failed", "error", err)
	}
	c.Set("Retry-After", "2")
	return h.fail(c, fiber.StatusServiceUnavailable, "暂时无法验证，请稍后再试", "verification is temporarily unavailable; try again shortly")
}

var errTooLong = errors.New("输入过长 / input too long")

func (h *handlers) badNumber(c *fiber.Ctx, err error) error {
	zh, en, _ := strings.Cut(err.Error(), " / ")
	return h.fail(c, fiber.StatusBadRequest, zh, en)
}

func (h *handlers) home(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	d := h.pageData(c, "/", en, t(en, "职业技能等级证书查询", "Skill level certificate verification"), "")
	d.Message = t(en, "请扫描证书上的二维码，或输入证书编号。", "Scan the QR code on the certificate, or enter its number.")
	return h.renderPage(c, fiber.StatusOK, "home", d)
}

// lookupForm turns the typed number of the search form into the page URL.
func (h *handlers) lookupForm(c *fiber.Ctx) error {
	n, err := NormalizeNumber(c.Query("number"))
	if err != nil {
		return h.badNumber(c, err)
	}
	q := ""
	if wantsEnglish(c) {
		q = "?lang=en"
	}
	return c.Redirect("/v/"+n+q, fiber.StatusSeeOther)
}
