package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"certd/issuer"
	"certd/issuer/clientip"
	"certd/issuer/keys"
	"certd/issuer/render"
	"certd/issuer/statuslist"
	"certd/issuer/store/postgres"
	"certd/issuer/store/sqlite"
	"certd/verify"
	"certd/verify/cache"
)

// Config is every setting certd takes. Each has a flag and a CERTD_*
// environment variable; a flag given on the command line wins.
type Config struct {
	Data        string
	DatabaseURL string
	RedisURL    string
	Addr        string
	PublicURL   string
	// PublicURLDefaulted is set when PublicURL is the built-in default,
	// given neither as a flag nor in the environment: the deployment's
	// recorded address is used then (publicurl.go).
	PublicURLDefaulted bool
	// Demo is serve --demo: a loopback public address may be recorded and
	// printed.
	Demo     bool
	KEKFile  string
	KEK      string // the key itself (CERTD_KEK only, never a flag: flags show in ps)
	LogLevel string
	FontPath string
	// TrustedProxies and RateLimit guard the public verification routes.
	TrustedProxies string
	RateLimit      string
	// CacheMB bounds the in-process verification cache.
	CacheMB string
	// MetricsAddr is where the Prometheus metrics are served, apart from
	// the public port; empty serves none.
	MetricsAddr string
	// PDFDir is where certificate PDFs are kept as files; see PDFDirPath.
	PDFDir string
	// LogDir holds the public log's files (default <data>/log); LogOrigin
	// names the log (default <public host>/log; fixed once the log key
	// exists); LogWitnesses is a tlog-policy file naming the witnesses (with
	// their URLs) and the quorum, empty for a local witness.
	LogDir       string
	LogOrigin    string
	LogWitnesses string
	// StatusTTL is the ttl of published status lists (a Go duration).
	StatusTTL string
	// ReplicaURLs are PostgreSQL streaming replicas for the public read
	// path; ReplicaMaxLag is how far behind one may be and stay in use.
	ReplicaURLs   stringList
	ReplicaMaxLag string
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// statusTTL is the validated --status-ttl.
func (c *Config) statusTTL() time.Duration {
	d, _ := time.ParseDuration(c.StatusTTL)
	return d
}

var settings = []struct {
	name, env, def, help string
	field                func(*Config) *string
}{
	{"data", "CERTD_DATA", "./data", "data directory (SQLite database, key-encryption key, PDFs)", func(c *Config) *string { return &c.Data }},
	{"database-url", "CERTD_DATABASE_URL", "", "PostgreSQL URL (postgres://...); empty means the embedded SQLite database in --data", func(c *Config) *string { return &c.DatabaseURL }},
	{"redis-url", "CERTD_REDIS_URL", "", "Redis URL for the shared verification cache: redis://, rediss://, redis+sentinel://...?master_name=NAME or redis+cluster://...?addr=...; empty means in-process only", func(c *Config) *string { return &c.RedisURL }},
	{"addr", "CERTD_ADDR", "127.0.0.1:8080", "address the HTTP server listens on", func(c *Config) *string { return &c.Addr }},
	{"public-url", "CERTD_PUBLIC_URL", "http://127.0.0.1:8080", "public base address printed in QR codes", func(c *Config) *string { return &c.PublicURL }},
	{"kek-file", "CERTD_KEK_FILE", "", "file holding the key-encryption key (must exist); empty means <data>/kek, created if missing", func(c *Config) *string { return &c.KEKFile }},
	{"log-level", "CERTD_LOG_LEVEL", "info", "log level: debug, info, warn, error", func(c *Config) *string { return &c.LogLevel }},
	{"trusted-proxies", "CERTD_TRUSTED_PROXIES", "", "comma-separated IPs or CIDR prefixes of reverse proxies whose X-Forwarded-For is believed; empty trusts none", func(c *Config) *string { return &c.TrustedProxies }},
	{"rate-limit", "CERTD_RATE_LIMIT", "600", "public verification requests per minute per client; -1 disables", func(c *Config) *string { return &c.RateLimit }},
	{"cache-mb", "CERTD_CACHE_MB", "256", "memory for the in-process verification cache, in MiB (approximate)", func(c *Config) *string { return &c.CacheMB }},
	{"metrics-addr", "CERTD_METRICS_ADDR", "127.0.0.1:9090", "address serving Prometheus metrics (GET /metrics), apart from the public one; keep it private; empty serves none", func(c *Config) *string { return &c.MetricsAddr }},
	{"pdf-dir", "CERTD_PDF_DIR", "", "directory keeping the certificate PDFs as files, outside the database; empty: <data>/pdfs with SQLite, in the database with PostgreSQL (several instances need one shared directory)", func(c *Config) *string { return &c.PDFDir }},
	{"log-dir", "CERTD_LOG_DIR", "", "directory of the public log's files (tiles, checkpoint); empty means <data>/log. Several instances on one PostgreSQL database must share it", func(c *Config) *string { return &c.LogDir }},
	{"log-origin", "CERTD_LOG_ORIGIN", "", "the public log's name (checkpoint origin); empty means <public-url host>/log. Fixed once the log key is made", func(c *Config) *string { return &c.LogOrigin }},
	{"log-witnesses", "CERTD_LOG_WITNESSES", "", "tlog-policy file naming the log's witnesses (witness NAME VKEY URL), groups and the quorum; empty runs a local witness in <data>/witness", func(c *Config) *string { return &c.LogWitnesses }},
	{"status-ttl", "CERTD_STATUS_TTL", "10m", "how long a published status list may be relied on (its ttl, also its cache lifetime); lists are re-signed at half of it", func(c *Config) *string { return &c.StatusTTL }},
	{"replica-max-lag", "CERTD_REPLICA_MAX_LAG", "1s", "a read replica lagging more than this leaves the rotation until it catches up", func(c *Config) *string { return &c.ReplicaMaxLag }},
	{"font", "CERTD_FONT", "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf", "TrueType font (.ttf or .ttc) for certificates", func(c *Config) *string { return &c.FontPath }},
}

// addConfigFlags registers the shared settings on a command's flag set.
func addConfigFlags(fs *flag.FlagSet, c *Config) {
	for _, s := range settings {
		def := s.def
		if v, ok := os.LookupEnv(s.env); ok {
			def = v
		}
		fs.StringVar(s.field(c), s.name, def, s.help+" ["+s.env+"]")
	}
	c.KEK = os.Getenv("CERTD_KEK")
	// Given on the command line, the flags replace the environment's list.
	fromEnv := true
	fs.Func("database-replica-url", "PostgreSQL streaming replica URL for the public read path; repeat for several [CERTD_DATABASE_REPLICA_URLS, comma-separated]", func(v string) error {
		if fromEnv {
			c.ReplicaURLs, fromEnv = nil, false
		}
		return c.ReplicaURLs.Set(v)
	})
	for _, u := range strings.Split(os.Getenv("CERTD_DATABASE_REPLICA_URLS"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.ReplicaURLs = append(c.ReplicaURLs, u)
		}
	}
}

// validate checks every setting and reports all bad ones at once.
func (c *Config) validate() error {
	var bad []string
	if c.Data == "" {
		bad = append(bad, "--data 不能为空 / --data is empty")
	}
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad = append(bad, "--database-url 应为 postgres:// 地址 / --database-url must be a postgres:// URL")
		}
	}
	if c.RedisURL != "" {
		if _, _, err := cache.ParseRedisURL(c.RedisURL); err != nil {
			bad = append(bad, err.Error())
		}
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		bad = append(bad, fmt.Sprintf("--public-url %q 应为 http(s):// 开头的地址 / --public-url must be an http(s):// address", c.PublicURL))
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if _, err := clientip.ParseTrustedProxies(strings.Split(c.TrustedProxies, ",")); err != nil {
		bad = append(bad, "--trusted-proxies: "+err.Error())
	}
	if n, err := strconv.Atoi(c.RateLimit); err != nil || n == 0 {
		bad = append(bad, "--rate-limit 应为正整数或 -1 / --rate-limit must be a positive integer or -1")
	}
	if n, err := strconv.Atoi(c.CacheMB); err != nil || n < 1 || n > 1<<20 {
		bad = append(bad, "--cache-mb 应为 1 到 1048576 之间的整数 / --cache-mb must be an integer from 1 to 1048576")
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad = append(bad, "--metrics-addr 应为 主机:端口（或留空不提供）/ --metrics-addr must be host:port (or empty for none)")
		}
	}
	if c.StatusTTL == "" {
		c.StatusTTL = issuer.DefaultStatusTTL.String()
	}
	if d, err := time.ParseDuration(c.StatusTTL); err != nil || d < 10*time.Second || d > statuslist.MaxTTL || d%time.Millisecond != 0 {
		bad = append(bad, "--status-ttl 应为 10s 到 744h 之间的时长 / --status-ttl must be a duration from 10s to 744h")
	}
	if len(c.ReplicaURLs) > 0 && c.DatabaseURL == "" {
		bad = append(bad, "--database-replica-url 需要同时给出 --database-url（PostgreSQL）/ --database-replica-url needs --database-url (PostgreSQL)")
	}
	for _, r := range c.ReplicaURLs {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad = append(bad, "--database-replica-url 应为 postgres:// 地址 / --database-replica-url must be a postgres:// URL")
		}
	}
	// Empty is the default (a Config built in code, as the tests do, sets
	// only what it needs; replicas.go reads "" as 1s).
	if d, err := time.ParseDuration(c.ReplicaMaxLag); c.ReplicaMaxLag != "" && (err != nil || d <= 0) {
		bad = append(bad, "--replica-max-lag 应为正的时长，如 1s / --replica-max-lag must be a positive duration such as 1s")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad = append(bad, "--log-level 应为 debug、info、warn 或 error / --log-level must be debug, info, warn or error")
	}
	if len(bad) > 0 {
		return usageError{strings.Join(bad, "\n")}
	}
	return nil
}

// usageError is a bad flag or setting: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// backend is what both store backends are: the issuing side's store, and
// the public side's (verify.Store adds the failed-confirmation counter).
// Wiring them here is what checks, at compile time, that they are both.
type backend interface {
	issuer.Store
	verify.Store
	issuer.LogStore
	// The deployment's named values: the public address (publicurl.go).
	DeploymentValue(ctx context.Context, name string) (string, error)
	SetDeploymentValue(ctx context.Context, name, value string, at time.Time, ev *issuer.AuditEvent) (string, error)
}

// env is what a command works with once the config is validated.
type env struct {
	cfg   *Config
	store backend
	svc   *issuer.Service
	log   *slog.Logger
	// printErr says why certificates cannot be printed (no usable font);
	// svc.Printer is nil then.
	printErr    error
	warnedPrint bool
	// urlErr says why this command may not print: the public address
	// differs from the deployment's, or is loopback outside the demo.
	urlErr error
	// metrics, when set, is where the server's metrics are registered
	// (serve sets it; tests may leave it nil).
	metrics *prometheus.Registry
	// publog is the public log, when serve runs it.
	publog *logRuntime
	// closers run at close, before the store's own Close.
	closers []func() error
}

func (c *Config) logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// PDFDirPath is the directory PDFs are kept in, or "" for the database:
// --pdf-dir if given; with SQLite, <data>/pdfs, so that the database file
// holds records only; with PostgreSQL the database, because several
// instances share no directory unless the operator mounts one and names it.
func (c *Config) PDFDirPath() string {
	switch {
	case c.PDFDir != "":
		return c.PDFDir
	case c.DatabaseURL == "":
		return filepath.Join(c.Data, "pdfs")
	}
	return ""
}

// open validates the config and opens the store and the KEK.
func (c *Config) open(ctx context.Context) (*env, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	log := c.logger()
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return nil, fmt.Errorf("无法创建数据目录 %s / cannot create the data directory: %w", c.Data, err)
	}
	kek, err := c.loadKEK(log)
	if err != nil {
		return nil, err
	}
	var st backend
	if c.DatabaseURL != "" {
		st, err = postgres.Open(ctx, c.DatabaseURL)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(c.Data, "certd.db"))
	}
	if err != nil {
		return nil, err
	}
	if dir := c.PDFDirPath(); dir != "" {
		if err := st.(interface{ KeepPDFsIn(string) error }).KeepPDFsIn(dir); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	svc := issuer.New(st, kek)
	svc.Log = log
	// The deployment's recorded public address stands unless one was
	// given (publicurl.go decides whether that one may be used).
	if c.PublicURLDefaulted {
		if u, err := st.DeploymentValue(ctx, publicURLKey); err == nil && u != "" {
			c.PublicURL = u
		}
	}
	// Every record signed from here on says where its revocation bit is.
	svc.StatusBase = c.PublicURL + "/status"
	svc.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return &env{cfg: c, store: st, svc: svc, log: log}, nil
}

// printerOrWarn loads the printer for the server: without a usable font
// the service still verifies, and says once why it cannot print. The
// server's public address is resolved first (serverURL).
func (e *env) printerOrWarn() {
	if e.loadPrinter() != nil && e.urlErr != nil && !e.warnedPrint {
		e.warnedPrint = true
		e.log.Warn("certificates cannot be printed until the public address is set", "error", e.urlErr)
	} else if e.printErr != nil && !e.warnedPrint {
		e.warnedPrint = true
		e.log.Warn("certificates cannot be printed until the font is fixed", "font", e.cfg.FontPath, "error", e.printErr)
	}
}

// loadPrinter loads the certificate font, once. Only commands that print
// call it: the others (show, verify, list...) do not pay for parsing a
// 15 MB font at start. The QR codes point to the deployment's public
// address (printURL): a command whose address differs from it, or is
// loopback outside the demo, prints nothing (urlErr).
func (e *env) loadPrinter() error {
	if e.urlErr != nil {
		return e.urlErr
	}
	if e.svc.Printer == nil && e.printErr == nil {
		u, err := e.printURL()
		if err != nil {
			e.urlErr = err
			e.svc.NoPrinter = err
			return err
		}
		e.svc.PublicURL, e.svc.StatusBase = u, u+"/status" // the ledger's links and the records' status too
		p, err := issuer.NewPrinter(render.Config{FontPath: e.cfg.FontPath}, u)
		if err != nil {
			e.printErr = err
		} else {
			e.svc.Printer = p
		}
	}
	return e.printErr
}

func (c *Config) loadKEK(log *slog.Logger) (*keys.KEK, error) {
	if c.KEK != "" {
		if c.KEKFile != "" {
			return nil, usageError{"CERTD_KEK 与 --kek-file 只能给出一个 / give CERTD_KEK or --kek-file, not both"}
		}
		k, err := keys.ParseKEK([]byte(c.KEK))
		if err != nil {
			return nil, fmt.Errorf("CERTD_KEK: %w", err)
		}
		return k, nil
	}
	if c.KEKFile != "" {
		// A KEK the operator named must already exist: creating a fresh
		// one at a mistyped or unmounted path would start a server that
		// opens none of the sealed keys, or seal new keys that the real
		// KEK cannot open.
		k, err := keys.LoadKEKFile(c.KEKFile)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("密钥加密密钥文件 %s 不存在；新部署可用 openssl rand -hex 32 生成 / key-encryption key file %s does not exist; for a new deployment make one with: openssl rand -hex 32 > FILE", c.KEKFile, c.KEKFile)
		}
		return k, err
	}
	path := filepath.Join(c.Data, "kek")
	k, created, err := keys.LoadOrCreateKEKFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("created a new key-encryption key inside the data directory; in production keep it elsewhere (--kek-file or CERTD_KEK) so that a copy of the data directory does not include it", "path", path)
	}
	return k, nil
}

func (e *env) close() {
	if e == nil {
		return
	}
	if e.store != nil {
		// What a command committed reaches the public log before it exits
		// (unless a server is running to take it).
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		if err := e.flushLog(ctx); err != nil {
			e.log.Warn("public log: entries left for the server to append", "error", err)
		}
		cancel()
	}
	for _, c := range e.closers {
		_ = c()
	}
	if e.store != nil {
		_ = e.store.Close()
	}
}
