package web

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/sqlite"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

func openSQLite(t testing.TB) verifytest.Store   { return verifytest.Open(t, sqlite.Open) }
func openPostgres(t testing.TB) verifytest.Store { return pgtest.Open(t) }

// testApp is one certd instance's public routes.
type testApp struct {
	app  *fiber.App
	logs *verifytest.Log
	url  string // set by listen
}

func newApp(t testing.TB, st verify.Store, d Deps) *testApp {
	t.Helper()
	app := fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true, BodyLimit: MaxBody})
	logs := &verifytest.Log{}
	d.Store = st
	if d.PublicURL == "" {
		d.PublicURL = "http://verify.test"
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(logs, nil))
	}
	if d.Options.Poll == 0 {
		d.Options.Poll = 50 * time.Millisecond
	}
	if d.RateLimit == 0 {
		d.RateLimit = -1
	}
	if _, err := Mount(app, d); err != nil {
		t.Fatal(err)
	}
	ta := &testApp{app: app, logs: logs}
	t.Cleanup(func() {
		// Shutdown waits for open connections; the test client's idle
		// keep-alive ones would otherwise hold it for their 90 s timeout.
		http.DefaultClient.CloseIdleConnections()
		_ = app.ShutdownWithTimeout(5 * time.Second)
	})
	return ta
}

// listen serves the app on a loopback port for clients that need a real
// socket (Chromium, node).
func (a *testApp) listen(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.app.Listener(ln) }()
	a.url = "http://" + ln.Addr().String()
	return a.url
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
