// Package web is the public face of verification on the web: the pages an
// employer reaches from a certificate's QR code, the JSON API, the bulk
// check of a credit-transfer office, the institution directory, the
// published trust bundle and key set, and the operators' health checks.
// The metrics go to a registry the caller serves where it likes
// (Deps.Metrics; certd serves them on a separate, private address): they
// count console logins too, and are nobody's business on the public port.
//
// [Mount] adds these routes to a Fiber app and starts the lookup service
// behind them ([cache.Service]); the handlers use only its exported
// surface. What a viewer may see is decided by the view model of package
// verify ([verify.Record.For]); this package only proves who the viewer is
// (the QR's code, a confirmed name), renders, and speaks HTTP.
//
// The cached answers are the hot path: a page or API answer for a known
// number is rendered once per view and language, kept with the view with
// its gzip form and ETag, and sent as bytes, so that a scan costs a map
// lookup and a write.
//
// Every anonymous input is bounded: a request rate per client and a budget
// of name confirmations per client (in Redis, shared by the instances, when
// configured), a budget of failed confirmations per certificate, and size
// limits on numbers, names, sheets, PDFs and JSON bodies. Errors are
// [issuer.Error] values, bilingual, turned into an HTTP status only here
// (statusOf); a request log line carries the route pattern, never the
// number, name or address.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"certd/assets"
	"certd/issuer/clientip"
	"certd/issuer/render"
	"certd/issuer/tlog"
	"certd/verify"
	"certd/verify/cache"
)

// MaxBody is the largest request body the public routes accept: a PDF
// (verify.MaxPDFSize) plus multipart framing, for POST /api/v1/verify.
// The routes check their own tighter limits.
const MaxBody = verify.MaxPDFSize + 1<<20

// MaxBulkBody is the largest body of POST /bulk: a sheet plus multipart
// framing. Every other public route takes a small form or none.
const MaxBulkBody = maxSheet + 64<<10

// Deps is what [Mount] needs.
type Deps struct {
	Store     verify.Store
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
	// Deadline bounds the time of each request that does real work for
	// an anonymous caller: a PDF, a signed record, a bulk check (JSON or
	// sheet). Zero means DefaultDeadline.
	Deadline time.Duration
	// Metrics is where the routes and the lookup service register their
	// metrics. Nil: a registry of their own, which nothing serves. The
	// public app serves no /metrics.
	Metrics *prometheus.Registry
	// Options of the lookup service (poll interval, TTLs, memory); Store,
	// Redis, Log and Metrics are filled from the fields above.
	Options cache.Options
	// LogFiles serves the public log's files at /log/... (tlog.Reader's
	// Public) and Proofs gives certificates' tlog-proofs at
	// /api/v1/certificates/{number}/proof; nil serves neither.
	LogFiles func(path string) (tlog.Resource, error)
	Proofs   verify.Prover
	// ReceiptPDF prints a verification receipt (issuer.Printer.Receipt);
	// nil: receipts are kept and shown, but not offered as PDF.
	ReceiptPDF func(render.Receipt) ([]byte, error)
	// ReceiptLimit is receipts kept per hour per client (default 120;
	// negative disables the limit). Receipts are kept only when Store is a
	// ReceiptStore.
	ReceiptLimit int
	// ClientSecret keys the hash that stands for a client's network in
	// rate-limit counts and failed name checks (in Redis and the
	// database). Without the key the hash could be reversed by trying
	// every IPv4 address. Instances of one deployment must share it, or
	// each counts a client apart (serve derives it from the KEK); empty
	// makes a random one for this process.
	ClientSecret []byte
}

// DefaultDeadline is the time a costly public request may take. The
// largest honest one, a cold bulk check of 1,000 rows with ID numbers (a
// slow hash each), takes about a second on two busy cores; a crafted one
// is cut off here. fasthttp tells a handler nothing when its client hangs
// up, so this deadline, not the client's going away, is what stops the
// work.
const DefaultDeadline = 5 * time.Second

// Mount adds the public verification routes to app and starts the lookup
// service behind them. Both stop when the app shuts down.
func Mount(app *fiber.App, d Deps) (*cache.Service, error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	trusted, err := clientip.ParseTrustedProxies(d.TrustedProxies)
	if err != nil {
		return nil, err
	}
	var remote *cache.Remote
	if d.RedisURL != "" {
		if remote, err = cache.Open(d.RedisURL, cache.RemoteOptions{Log: d.Log, Prefix: d.RedisPrefix}); err != nil {
			return nil, err
		}
	}
	m := newMetrics(d.Metrics)
	o := d.Options
	o.Store, o.Redis, o.Log, o.Metrics = d.Store, remote, d.Log, m.reg
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := cache.New(ctx, o)
	if err != nil {
		if remote != nil {
			_ = remote.Close()
		}
		return nil, err
	}
	h, err := newHandlers(svc, remote, m, d, trusted)
	if err != nil {
		svc.Close()
		if remote != nil {
			_ = remote.Close()
		}
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
	svc      *cache.Service
	m        *metrics
	log      *slog.Logger
	access   *slog.Logger // nil when Log does not log at info level
	buf      *lineBuffer
	base     string
	trusted  []netip.Prefix
	tmpl     *template.Template
	css      template.CSS
	csp      string
	hsts     bool
	share    []byte
	openapi  *cache.Blob
	reqs     *limiter
	confirm  *limiter
	misses   failures   // failed confirmations per certificate and client (confirm.go)
	missLim  []*limiter // the limiters behind misses, with Redis
	deadline time.Duration
	logFiles func(path string) (tlog.Resource, error)
	proofs   verify.Prover
	// lists reads published status lists (nil when the store has none);
	// status caches what was read (status.go).
	lists  StatusStore
	status statusCache
	store  verify.Store
	shares *shares // share links (share.go)
	// receipts keeps verification receipts (nil: none kept), within
	// receiptLim per client; receiptPrinter makes their PDF (receipt.go).
	receipts       ReceiptStore
	receiptLim     *limiter
	receiptPrinter func(render.Receipt) ([]byte, error)

	secHeaders [][2][]byte
	// clientSecret keys clientKey (Deps.ClientSecret).
	clientSecret [32]byte
}

func newHandlers(svc *cache.Service, remote *cache.Remote, m *metrics, d Deps, trusted []netip.Prefix) (*handlers, error) {
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
	styles := template.CSS(css) // #nosec G203 -- our own embedded style sheet, pinned by its hash in the CSP
	h := &handlers{svc: svc, m: m, log: d.Log, base: strings.TrimRight(d.PublicURL, "/"), trusted: trusted, tmpl: tmpl,
		css: styles, share: share, openapi: cache.NewBlob(openAPI(d.PublicURL)),
		hsts: strings.HasPrefix(d.PublicURL, "https://"), deadline: d.Deadline, store: d.Store,
		logFiles: d.LogFiles, proofs: d.Proofs,
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
	if h.deadline <= 0 {
		h.deadline = DefaultDeadline
	}
	h.shares = newShares(d.Store, d.Log)
	if len(d.ClientSecret) > 0 {
		h.clientSecret = sha256.Sum256(d.ClientSecret)
	} else if _, err := rand.Read(h.clientSecret[:]); err != nil {
		return nil, err
	}
	rl, cl := d.RateLimit, d.ConfirmLimit
	if rl == 0 {
		rl = 600
	}
	if cl == 0 {
		cl = 5000
	}
	h.reqs = newLimiter("req", rl, time.Minute, remote)
	h.confirm = newLimiter("confirm", cl, time.Hour, remote)
	// A privacy control, not a load control: it stays on when rate limits
	// are switched off. Without Redis it is kept in the database, so that
	// a restart does not give every certificate a fresh budget.
	if remote != nil {
		// Limits past the caps, so that the counts go on: the caps are
		// decided in checkMatch.
		cert := newLimiter("confirm-miss", 1<<30, confirmWindowDays*24*time.Hour, remote)
		client := newLimiter("confirm-miss-client", 1<<30, confirmWindowDays*24*time.Hour, remote)
		h.missLim = []*limiter{cert, client}
		h.misses = limiterFailures{cert: cert, client: client}
	} else {
		h.misses = storeFailures{st: d.Store, now: time.Now}
	}
	h.lists, _ = d.Store.(StatusStore)
	h.receipts, _ = d.Store.(ReceiptStore)
	h.receiptPrinter = d.ReceiptPDF
	rcl := d.ReceiptLimit
	if rcl == 0 {
		rcl = defaultReceiptLimit
	}
	h.receiptLim = newLimiter("receipt", rcl, time.Hour, remote)
	return h, nil
}

func (h *handlers) close() {
	h.shares.close()
	h.reqs.close()
	h.confirm.close()
	h.receiptLim.close()
	for _, l := range h.missLim {
		l.close()
	}
	if h.buf != nil {
		_ = h.buf.Close()
	}
}

func (h *handlers) routes(app *fiber.App) {
	app.Use(h.observe)
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	app.Get("/readyz", h.readyz)
	app.Get("/static/share.png", func(c *fiber.Ctx) error {
		c.Set("Cache-Control", "public, max-age=86400")
		c.Set(fiber.HeaderContentType, "image/png")
		return c.Send(h.share)
	})
	if h.logFiles != nil {
		// Static, immutable files with their own cache lifetimes, for
		// mirrors and monitors: outside the per-client rate limit.
		app.Get("/log/*", h.logFile)
	}
	app.Use(h.rateLimit)
	if h.proofs != nil {
		app.Get("/api/v1/certificates/:number/proof", h.proof)
	}
	app.Get("/", h.home)
	app.Get("/v/lookup", h.lookupForm)
	app.Get("/v/:number", h.page)
	app.Post("/v/:number", h.page)
	app.Get("/s/:token", h.sharePage)
	app.Get("/s/:token/qr.png", h.shareQR)
	app.Get("/s/:token/qr.svg", h.shareQR)
	app.Get("/api/v1/certificates/:number", h.apiCertificate)
	app.Post("/api/v1/verify", h.costly(h.apiVerify))
	app.Get("/bulk", h.bulkForm)
	app.Get("/bulk/template.csv", h.bulkTemplate)
	app.Post("/bulk", h.costly(h.bulkUpload))
	app.Post("/bulk/credential", h.costly(h.bulkCredential))
	app.Post("/v/:number/receipt", h.costly(h.pageReceipt))
	app.Post("/api/v1/receipts", h.costly(h.apiReceipt))
	app.Get("/api/v1/receipts/:ref", h.costly(h.apiReceiptLookup))
	app.Get("/receipt/lookup", h.receiptLookupForm)
	app.Get("/receipt/:ref", h.costly(h.receiptPage))
	app.Get("/receipt/:ref/pdf", h.costly(h.receiptPDF))
	app.Get("/api/openapi.json", func(c *fiber.Ctx) error {
		return h.sendBlob(c, h.openapi, fiber.MIMEApplicationJSON, "public, max-age=300")
	})
	app.Get("/.well-known/jwks.json", h.withDirectory(h.jwks))
	app.Get("/trust.json", h.withDirectory(h.trust))
	app.Get("/institutions", h.withDirectory(h.institutions))
	app.Get("/institutions/:id", h.withDirectory(h.institution))
	app.Get("/api/v1/institutions", h.withDirectory(h.apiInstitutions))
	app.Get("/api/v1/institutions/:id", h.withDirectory(h.apiInstitution))
	app.Get("/status/:id", h.statusList)
	app.Get("/status/:id/:version", h.statusList)
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
			_ = h.fail(c, errInternal)
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
		h.m.observe(route, c.Method(), status, d)
		if h.access == nil {
			return
		}
		h.access.LogAttrs(context.Background(), slog.LevelInfo, "http",
			slog.String("method", c.Method()), slog.String("route", route), slog.Int("status", status),
			slog.Int64("us", d.Microseconds()), slog.Int("bytes", len(c.Response().Body())))
	}()
	return c.Next()
}

// costly gives a handler that works for an anonymous caller (parsing an
// upload, verifying records, checking a list) a deadline: its context ends
// after h.deadline, and the work below it (the PDF scan, the sheet reader,
// the bulk workers, the lookups) stops there with verify.ErrDeadline.
// fasthttp has no signal for a client that went away, so the deadline is
// the only bound on a request whose client no longer waits. The cached
// GET routes do not need one: they cost a map lookup.
func (h *handlers) costly(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), h.deadline)
		defer cancel()
		c.SetUserContext(ctx)
		return next(c)
	}
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

// Cache-Control for verification answers. A shared cache may keep them but
// must revalidate every time (the ETag makes that a cheap 304), so no copy
// is ever served that certd has not just confirmed: the 1-second promise on
// revocations holds behind any CDN. Answers with personal data stay out of
// shared caches.
const (
	ccPublic  = "public, max-age=0, must-revalidate"
	ccPrivate = "private, no-cache"
)

func (h *handlers) sendBlob(c *fiber.Ctx, b *cache.Blob, ctype, cc string) error {
	vary := fiber.HeaderAcceptEncoding
	if ctype == fiber.MIMETextHTMLCharsetUTF8 {
		vary = varyPage
	}
	c.Set("Cache-Control", cc)
	c.Set(fiber.HeaderContentType, ctype)
	if b.Stamped() {
		return sendStamped(c, b)
	}
	body, etag := b.Body(), b.ETag()
	if len(body) >= 512 {
		c.Set(fiber.HeaderVary, vary)
		if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
			if gz := b.Gzipped(); gz != nil {
				// A different representation needs a different strong ETag.
				body, etag = gz, etag[:len(etag)-1]+`-gz"`
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

// sendStamped sends a page that says when it was viewed (cache.Blob's
// stamp): its ETag changes every second, so a revalidating browser shows a
// time no older than its last request.
func sendStamped(c *fiber.Ctx, b *cache.Blob) error {
	unix, stamp := cache.Now()
	gz := len(b.Body()) >= 512 && strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip")
	if len(b.Body()) >= 512 {
		c.Set(fiber.HeaderVary, varyPage)
	}
	var tag [64]byte // the ETag built without allocating: this is the hot path
	et := append(tag[:0], b.ETag()...)
	et = strconv.AppendInt(append(et[:len(et)-1], '-'), unix, 36)
	if gz {
		et = append(et, "-gz"...)
	}
	et = append(et, '"')
	c.Response().Header.SetBytesV("ETag", et)
	if inm := c.Request().Header.Peek(fiber.HeaderIfNoneMatch); len(inm) > 0 && etagMatch(string(inm), string(et)) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Response().ResetBody()
	gzipped, err := b.WriteStamped(c.Response().BodyWriter(), stamp, gz)
	if gzipped {
		c.Set(fiber.HeaderContentEncoding, "gzip")
	}
	return err
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

// certParams reads what the page and the API of a certificate take: the
// number from the path and the QR's verification code from ?c=, both
// normalised. codeGiven is false when there is no code.
func certParams(c *fiber.Ctx) (number, code string, codeGiven bool, err error) {
	if number, err = verify.NormalizeNumber(c.Params("number")); err != nil {
		return "", "", false, err
	}
	raw := c.Query("c")
	if raw == "" {
		return number, "", false, nil
	}
	code, ok := verify.NormalizeCode(raw)
	if !ok {
		return "", "", false, errBadCode
	}
	return number, code, true, nil
}

// wantsEnglish picks the page language: lang=en or lang=zh when the link
// says, else the browser's first choice (Accept-Language), else Chinese.
func wantsEnglish(c *fiber.Ctx) bool {
	switch c.Query("lang") {
	case "en":
		return true
	case "zh":
		return false
	}
	return prefersEnglish(c.Get(fiber.HeaderAcceptLanguage))
}

// prefersEnglish reads the first language of an Accept-Language header
// ("en-GB,en;q=0.9,zh;q=0.5"): browsers list their user's first choice
// first. A Chinese phone sends "zh-CN,zh;q=0.9,en;q=0.8" and gets Chinese.
func prefersEnglish(h string) bool {
	if i := strings.IndexAny(h, ",;"); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSpace(h)
	return len(h) >= 2 && (h[0]|0x20) == 'e' && (h[1]|0x20) == 'n' && (len(h) == 2 || h[2] == '-' || h[2] == '_')
}

// varyPage is the Vary of a page: its language may come from
// Accept-Language, its encoding from Accept-Encoding.
const varyPage = "Accept-Encoding, Accept-Language"

func (h *handlers) home(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	d := h.pageData(c, "/", en, t(en, "职业技能等级证书查询", "Skill level certificate verification"), "")
	d.Message = t(en, "请扫描证书上的二维码，或输入证书编号。", "Scan the QR code on the certificate, or enter its number.")
	return h.renderPage(c, fiber.StatusOK, "home", d)
}

// lookupForm turns the typed number of the search form into the page URL.
// The printed verification code, when given, goes with it, as in the QR
// code's link.
func (h *handlers) lookupForm(c *fiber.Ctx) error {
	n, err := verify.NormalizeNumber(c.Query("number"))
	if err != nil {
		return h.failWith(c, err)
	}
	q := url.Values{}
	if raw := c.Query("c"); strings.TrimSpace(raw) != "" {
		code, ok := verify.NormalizeCode(raw)
		if !ok {
			return h.failWith(c, errBadCode)
		}
		q.Set("c", code)
	}
	if l := c.Query("lang"); l == "en" || l == "zh" {
		q.Set("lang", l)
	}
	target := "/v/" + n
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return c.Redirect(target, fiber.StatusSeeOther)
}
