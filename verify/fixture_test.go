package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/sqlite"
)

var authority = issuer.Actor{Name: "test:authority", Authority: true}

// world is an issuing side on a real store with an authority, one college
// and a few certificates, plus the verification routes under test.
type world struct {
	t     testing.TB
	ctx   context.Context
	store issuer.Store
	iss   *issuer.Service
	certs []issuer.Certificate // as stored (with verify codes and ID numbers)
}

func openSQLite(t testing.TB) issuer.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t testing.TB) issuer.Store { return pgtest.Open(t) }

var names = []string{"欧阳娜娜", "阿卜杜热合曼·买买提", "张三丰", "龘", "John Smith"}

func newWorld(t testing.TB, st issuer.Store, n int) *world {
	t.Helper()
	ctx := context.Background()
	kek, err := keys.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, store: st, iss: &issuer.Service{Store: st, KEK: kek, Log: slog.New(slog.DiscardHandler)}}
	if _, err := w.iss.Init(ctx, authority, "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	_, err = w.iss.AddInstitution(ctx, authority, issuer.InstitutionSpec{
		ID: "jlvtc", Name: "吉林测试职业技术学院", USCC: "12220000MB0123457W", Prefix: "Y000022000001",
		FilingNo: "吉人社认备〔2026〕007号", ValidFrom: "2026-01-01", City: "长春市", Kind: "高职",
		Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"5", "4", "3"}}},
		Fees:  []issuer.FeeSpec{{Occupation: "4-04-05-05", Level: "3", Amount: "0", Basis: "本校学生免费"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		w.issue(n, 0)
	}
	return w
}

// issue issues n certificates for persons start.. and records them.
func (w *world) issue(n, start int) []issuer.Certificate {
	w.t.Helper()
	var b strings.Builder
	b.WriteString("姓名,证件类型,证件号码,职业编码,工种,等级,考生类别,学号,专业,考核日期\n")
	day := issuer.Day(time.Now()).AddDate(0, 0, -3).Format(issuer.DateLayout)
	for i := start; i < start+n; i++ {
		id := ident.CompleteResidentID(fmt.Sprintf("2201022003%02d%02d%03d", 1+i%12, 1+i%28, i%1000))
		fmt.Fprintf(&b, "%s,居民身份证,%s,4-04-05-05,,三级,毕业年度学生,S%05d,人工智能技术应用,%s\n", names[i%len(names)], id, i, day)
	}
	rep, err := w.iss.Issue(w.ctx, authority, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: []byte(b.String()), Filename: fmt.Sprintf("r%d.csv", start)})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		w.t.Fatalf("roster problems: %+v", rep.Problems)
	}
	var out []issuer.Certificate
	for _, c := range rep.Issued {
		full, err := w.store.Certificate(w.ctx, c.Number)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, full)
	}
	w.certs = append(w.certs, out...)
	return out
}

// countingStore counts certificate reads on a real store, to see what the
// cache saves.
// reads counts numbers read, queries the calls that read them.
type countingStore struct {
	Store
	reads, queries atomic.Int64
	// gate, when set, holds every query until it is closed.
	gate chan struct{}
}

func (c *countingStore) Certificate(ctx context.Context, n string) (issuer.Certificate, error) {
	c.reads.Add(1)
	c.queries.Add(1)
	return c.Store.Certificate(ctx, n)
}

func (c *countingStore) Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error) {
	if len(f.Numbers) > 0 {
		c.reads.Add(int64(len(f.Numbers)))
		c.queries.Add(1)
		if c.gate != nil {
			select {
			case <-c.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return c.Store.Certificates(ctx, f)
}

// testApp is one certd instance's public routes.
type testApp struct {
	app  *fiber.App
	svc  *Service
	logw *lockedWriter
	url  string // set by listen
}

func newApp(t testing.TB, st Store, d Deps) *testApp {
	t.Helper()
	app := fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true, BodyLimit: MaxBody})
	logw := &lockedWriter{w: &bytes.Buffer{}}
	d.Store = st
	if d.PublicURL == "" {
		d.PublicURL = "http://verify.test"
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(logw, nil))
	}
	if d.Options.Poll == 0 {
		d.Options.Poll = 50 * time.Millisecond
	}
	if d.RateLimit == 0 {
		d.RateLimit = -1
	}
	svc, err := Mount(app, d)
	if err != nil {
		t.Fatal(err)
	}
	ta := &testApp{app: app, svc: svc, logw: logw}
	t.Cleanup(func() {
		// Shutdown waits for open connections; the test client's idle
		// keep-alive ones would otherwise hold it for their 90 s timeout.
		http.DefaultClient.CloseIdleConnections()
		_ = app.ShutdownWithTimeout(5 * time.Second)
	})
	return ta
}

// listen serves the app on a loopback port for clients that need a real
// socket (Chromium, node, load).
func (a *testApp) listen(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.app.Listener(ln) }()
	a.url = "http://" + ln.Addr().String()
	return a.url
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (a *testApp) logText() string {
	lw := a.logw
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.(*bytes.Buffer).String()
}

// do runs one request through the app in process.
func (a *testApp) do(t testing.TB, method, target string, body io.Reader, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// redisURL is the shared test Redis; tests use a key prefix of their own.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("CERTD_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimSuffix(u, "/0"), "redis://"), time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis unreachable at %s (%v); CI requires it", u, err)
		}
		t.Skipf("Redis unreachable at %s: %v", u, err)
	}
	c.Close()
	return u
}

func randHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// eventually polls cond until it holds or d passes, and returns how long it
// took.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// waitQueued waits until each of n lookups is either in a query held at
// cs's gate or queued for the loaders, whatever the number of loaders.
func waitQueued(t *testing.T, svc *Service, cs *countingStore, n int) {
	t.Helper()
	eventually(t, 3*time.Second, "lookups held or queued", func() bool {
		return cs.reads.Load()+int64(len(svc.loads)) == int64(n)
	})
}
