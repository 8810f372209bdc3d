package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/console"
	"certd/issuer/ident"
	"certd/issuer/occupation"
	"certd/issuer/publog"
	"certd/issuer/roster"
	"certd/verify/cache"
	"certd/verify/holder"
	"certd/verify/web"
)

func cmdServe(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("serve", false)
	demo := f.Bool("demo", false, "on an empty data directory, create the authority, a demo college (id demo) and sample certificates")
	if _, err := f.parse(args); err != nil {
		return err
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if *demo {
		// Only a data directory the demo filled is a demo: --demo on one
		// with data of its own does not make loopback addresses printable.
		e.cfg.Demo = true
		if err := seedDemo(ctx, e, out); err != nil {
			return err
		}
		if e.cfg.Demo, err = e.isDemo(ctx); err != nil {
			return err
		}
	}
	e.printerOrWarn()
	rt, err := e.logPolicy(ctx, true)
	if err != nil {
		return fmt.Errorf("无法启动公开日志 / cannot start the public log: %w", err)
	}
	defer rt.close()
	// Certificates from before the log get their entries once.
	if n, err := publog.Backfill(ctx, e.store); err != nil {
		return fmt.Errorf("无法补记公开日志 / cannot backfill the public log: %w", err)
	} else if n > 0 {
		e.log.Warn("public log: certificates issued before the log were logged now (the log dates them from now)", "certificates", n)
	}
	rt.startSequencer(ctx)
	e.publog = rt
	e.metrics = prometheus.NewRegistry()
	app, err := newApp(e)
	if err != nil {
		return err
	}
	ms, err := serveMetrics(e.cfg.MetricsAddr, e.metrics)
	if err != nil {
		return err
	}
	if ms != nil {
		defer ms.Close()
		e.log.Info("metrics listening", "addr", ms.Addr())
	}
	// Status lists: a new version within a poll of every revocation or
	// reissue, whichever process made it, and re-signed before they age.
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go func() { _ = (&issuer.StatusPublisher{Service: e.svc, TTL: e.cfg.statusTTL()}).Run(pubCtx) }()
	if e.svc.Printer != nil {
		// Print jobs an interruption left unfinished (a kill, a lost
		// database, a full disk) are finished at start, with the photos
		// and address they were issued with; ResumePrinting logs each.
		// Then, every lease period, the jobs of an instance that died
		// printing them (their lease ran out) are taken over.
		go func() {
			if _, err := e.svc.ResumePrinting(ctx, authorityActor(), nil); err != nil {
				e.log.Error("cannot list unfinished print jobs", "error", err)
			}
			tick := time.NewTicker(issuer.DefaultPrintLease)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if _, err := e.svc.TakeOverPrinting(ctx, authorityActor(), nil); err != nil {
						e.log.Error("cannot list unfinished print jobs", "error", err)
					}
				}
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- app.Listen(e.cfg.Addr) }()
	e.log.Info("certd listening", "addr", e.cfg.Addr, "public_url", e.cfg.PublicURL)
	select {
	case err := <-errc:
		return fmt.Errorf("无法监听 %s / cannot listen on %s: %w", e.cfg.Addr, e.cfg.Addr, err)
	case <-ctx.Done():
	}
	e.log.Info("shutting down")
	return app.ShutdownWithTimeout(10 * time.Second)
}

// metricsServer serves GET /metrics on its own address. The metrics count
// requests by route, console login failures included: they are for the
// operators' Prometheus, not for the public port (which has no /metrics).
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// serveMetrics starts serving reg on addr; nil, nil when addr is empty.
func serveMetrics(addr string, reg *prometheus.Registry) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("无法监听指标地址 %s / cannot listen on the metrics address %s: %w", addr, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}}
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

// Addr is the address the metrics are served on.
func (m *metricsServer) Addr() string { return m.ln.Addr().String() }

// Close stops the metrics server.
func (m *metricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.srv.Shutdown(ctx)
}

// newApp builds the HTTP application.
func newApp(e *env) (*fiber.App, error) {
	// The pages, the API and the console speak of the deployment's one
	// public address; a server configured with another does not start.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	u, err := e.resolveURL(ctx, false)
	cancel()
	if err != nil {
		return nil, err
	}
	e.cfg.PublicURL, e.svc.PublicURL, e.svc.StatusBase = u, u, u+"/status"
	e.printerOrWarn()
	app := fiber.New(fiber.Config{
		// Strings from a request must outlive the handler (cache keys, logs).
		Immutable:             true,
		DisableStartupMessage: true,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           60 * time.Second,
		// The verification page (8 KB with its inline style sheet) must
		// leave in one write: with fasthttp's default 4 KB buffer every
		// page took two system calls.
		WriteBufferSize: 16 << 10,
		// The largest any route takes; bodyLimits.config picks each
		// request's own before its body is read.
		BodyLimit: max(web.MaxBody, console.MaxUpload, apiRosterBody),
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := fiber.StatusInternalServerError
			if fe, ok := err.(*fiber.Error); ok {
				code = fe.Code
			}
			return c.Status(code).JSON(fiber.Map{"error": httpText(code)})
		},
	})
	pub, err := e.publicStore(context.Background())
	if err != nil {
		return nil, err
	}
	rl, _ := strconv.Atoi(e.cfg.RateLimit)
	mb, _ := strconv.Atoi(e.cfg.CacheMB)
	deps := web.Deps{
		Store: pub, PublicURL: e.cfg.PublicURL, RedisURL: e.cfg.RedisURL, Log: e.log,
		TrustedProxies: strings.Split(e.cfg.TrustedProxies, ","), RateLimit: rl, AccessLog: os.Stderr, Metrics: e.metrics,
		Options: cache.Options{L1Bytes: int64(mb) << 20},
		// Every instance holds the KEK, so every instance keys client
		// hashes alike and they count a client together.
		ClientSecret: e.svc.KEK.Derive("certd public client key v1"),
	}
	// Receipts print in the certificate font; without it they are kept
	// and shown, and their PDF says why it cannot be made.
	if e.loadPrinter() == nil && e.svc.Printer != nil {
		deps.ReceiptPDF = e.svc.Printer.Receipt
	}
	if rt := e.publog; rt != nil {
		deps.LogFiles, deps.Proofs = rt.reader.Public, rt.prover
		deps.Options.LogPolicy, deps.Options.PublicLog = rt.public, rt.logSource()
	}
	lookup, err := web.Mount(app, deps)
	if err != nil {
		return nil, err
	}
	// The holder pages (/me) after the public routes, so that the public
	// side's security headers and rate limit cover them.
	if err := holder.Mount(app, holder.Deps{Service: e.svc, Lookup: lookup, PublicURL: e.cfg.PublicURL,
		TrustedProxies: strings.Split(e.cfg.TrustedProxies, ","), Log: e.log}); err != nil {
		return nil, err
	}
	if err := mountConsole(app, e); err != nil {
		return nil, err
	}
	limits, err := newBodyLimits(e)
	if err != nil {
		return nil, err
	}
	// One server serves the console and the public routes; each request's
	// body limit is chosen from its headers before the body is read.
	app.Server().HeaderReceived = limits.config
	return app, nil
}

// Request body limits. Only a signed-in operator's upload may be large;
// everything else, the console's login page included, gets smallBody.
const (
	// smallBody: every route not named below (logins, the confirmation
	// form, JSON of a few items, requests that should have no body).
	smallBody = 64 << 10
	// consoleForm: any console form of a signed-in operator (an
	// institution's scope may have thousands of lines).
	consoleForm = 1 << 20
)

// uploadBody are the console routes that take a file, by path as routed
// (lower case, no trailing slash), with what each may be: the handlers'
// own limits plus multipart framing.
var uploadBody = map[string]int{
	"/console/issue":         console.MaxUpload, // a roster and a ZIP of photos
	"/console/catalogue":     8<<20 + 1<<20,     // the occupation catalogue (console's readUpload limit)
	"/console/settings/seal": 1<<20 + 64<<10,    // the seal image
	"/console/settings/fees": 1<<20 + 64<<10,    // the fee sheet (console's readUpload limit)
}

// apiRosterBody is POST /api/console/v1/rosters: the roster as the body.
const apiRosterBody = roster.MaxFileBytes + 64<<10

// bodyLimits decides a request's body limit from its headers.
type bodyLimits struct {
	// session checks the console session cookie (console.SessionCheck).
	session func(cookie func(name string) []byte) bool
	// token checks an API token given as "Bearer ..." (a store read).
	token func(authorization string) bool
}

func newBodyLimits(e *env) (*bodyLimits, error) {
	as, err := e.accounts()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, err := console.SessionCheck(ctx, console.Deps{Service: e.svc, Accounts: as, KEK: e.svc.KEK, PublicURL: e.cfg.PublicURL})
	if err != nil {
		return nil, err
	}
	token := func(authorization string) bool {
		secret, ok := strings.CutPrefix(authorization, "Bearer ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.HasPrefix(secret, account.TokenPrefix) || len(secret) > 100 {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _, err := as.Authenticate(ctx, secret)
		if err != nil && issuer.Is(err, issuer.ErrUnavailable) {
			e.log.Warn("body limit: API token not checked", "error", err)
		}
		return err == nil
	}
	return &bodyLimits{session: session, token: token}, nil
}

// config is the server's HeaderReceived hook. The limit is decided on the
// path the router will route, and only when that path is already decoded
// and clean: a path with percent-escapes, dot segments or doubled slashes
// (/v/..%2Fconsole, /console/../bulk) names one route to a cleaning eye and
// another to the router, so it gets smallBody whatever it seems to name.
// Routing ignores case and a trailing slash, and so does the lookup.
func (b *bodyLimits) config(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{MaxRequestBodySize: b.limit(h)}
}

func (b *bodyLimits) limit(h *fasthttp.RequestHeader) int {
	if !h.IsPost() {
		return smallBody
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if u.Parse(nil, h.RequestURI()) != nil || !bytes.Equal(u.Path(), u.PathOriginal()) {
		return smallBody
	}
	p := strings.ToLower(strings.TrimSuffix(string(u.Path()), "/"))
	switch {
	case p == "/api/v1/verify":
		return web.MaxBody
	case p == "/bulk":
		return web.MaxBulkBody
	case p == "/api/console/v1/rosters":
		// A store read, made for the one API route that takes a file.
		if b.token(string(h.Peek(fasthttp.HeaderAuthorization))) {
			return apiRosterBody
		}
	case p == "/console" || strings.HasPrefix(p, "/console/"):
		if !b.session(h.Cookie) {
			return smallBody
		}
		if n, ok := uploadBody[p]; ok {
			return n
		}
		return consoleForm
	}
	return smallBody
}

func httpText(code int) string {
	switch code {
	case fiber.StatusNotFound:
		return "未找到 / not found"
	case fiber.StatusMethodNotAllowed:
		return "不支持的请求方法 / method not allowed"
	case fiber.StatusRequestEntityTooLarge:
		return "请求过大 / request too large"
	}
	if code >= 500 {
		return "服务器内部错误 / internal error"
	}
	return "请求有误 / bad request"
}

// seedDemo fills an empty data directory with an authority, the college
// "demo" (scope: every catalogue occupation at levels 5 to 3) and a few
// certificates whose holders have the names that are hard to print.
func seedDemo(ctx context.Context, e *env, out io.Writer) error {
	actor := issuer.Actor{Name: "demo", Authority: true}
	a, err := e.svc.Init(ctx, actor, "吉林省人力资源和社会保障厅")
	if issuer.Is(err, issuer.ErrConflict) {
		fmt.Fprintln(out, "数据目录已有数据，跳过演示数据 / the data directory is not empty; demo data not created")
		return nil
	}
	if err != nil {
		return err
	}
	// The deployment is a demo from now on: its QR codes may point to
	// this machine, for every later command too.
	if _, err := e.store.SetDeploymentValue(ctx, demoKey, "true", time.Now(), nil); err != nil {
		return err
	}
	e.printerOrWarn()
	occ, err := e.svc.Occupations(ctx)
	if err != nil {
		return err
	}
	spec := issuer.InstitutionSpec{
		ID: "demo", Name: "吉林演示职业技术学院", USCC: "12220000MB0123457W", Prefix: "Y000022000001",
		FilingNo: "吉人社认备〔2026〕001号", Contact: "认定中心 0431-00000000", City: "长春市", Kind: "高职",
	}
	for _, o := range occ {
		spec.Scope = append(spec.Scope, issuer.ScopeSpec{Occupation: o.Code, Levels: []string{"5", "4", "3"}})
		for _, s := range o.Specialties {
			var ls []string
			for _, l := range s.Levels {
				if l.AtMost(occupation.StudentMax) {
					ls = append(ls, l.String())
				}
			}
			spec.Scope = append(spec.Scope, issuer.ScopeSpec{Occupation: o.Code, Specialty: s.Name, Levels: ls})
		}
		spec.Fees = append(spec.Fees, issuer.FeeSpec{Occupation: o.Code, Level: "3", Amount: "0", Basis: "本校学生免费 / free for our students"})
	}
	in, err := e.svc.AddInstitution(ctx, actor, spec)
	if err != nil {
		return err
	}
	today := issuer.Day(time.Now()).AddDate(0, 0, -7).Format(issuer.DateLayout)
	rows := [][]string{
		{"姓名", "证件类型", "证件号码", "职业编码", "工种", "等级", "考生类别", "学号", "专业", "考核日期"},
		{"欧阳娜娜", "居民身份证", ident.CompleteResidentID("22010220040315002"), "4-04-05-05", "", "三级/高级工", "毕业年度学生", "2023010101", "人工智能技术应用", today},
		{"阿卜杜热合曼·买买提", "居民身份证", ident.CompleteResidentID("65010220030709001"), "6-18-02-04", "电焊工", "四级", "毕业年度学生", "2023020117", "智能焊接技术", today},
		{"𠮷野家", "居民身份证", ident.CompleteResidentID("22020220041102003"), "4-03-02-01", "", "五级", "在校生", "2024030233", "烹饪工艺与营养", today},
		{"龘", "居民身份证", ident.CompleteResidentID("22030220050101004"), "6-31-07-03", "", "3", "毕业年度学生", "2023040309", "工业机器人技术", today},
		{"John Smith", "护照", "E12345678", "4-01-06-01", "", "高级工", "社会人员", "", "", today},
	}
	var csv strings.Builder
	for _, r := range rows {
		csv.WriteString(strings.Join(r, ",") + "\n")
	}
	rep, err := e.svc.Issue(ctx, actor, issuer.IssueRequest{InstitutionID: in.ID, Roster: []byte(csv.String()), Filename: "demo.csv"})
	if err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("demo roster rejected: %+v", rep.Problems)
	}
	fmt.Fprintf(out, "演示数据已创建 / demo data created:\n  主管部门 / authority: %s (key %s)\n  认定机构 / institution: %s (id %s, prefix %s, %d scope lines)\n  证书 / certificates:\n",
		a.Name, a.KID, in.Name, in.ID, in.Prefix, len(in.Scope))
	for _, c := range rep.Issued {
		fmt.Fprintf(out, "    %s  %s  %s %s\n", c.Number, c.Holder.Name, c.OccupationName, c.Level.Chinese())
	}
	return seedDemoAccounts(ctx, e, out, in.ID)
}
