package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const haproxyConfig = "haproxy.cfg"

// TestHAProxyConfigMatchesCompose: the proxy balances over exactly the
// certd services of compose.yaml, checks them on /readyz, and listens where
// compose publishes it.
func TestHAProxyConfigMatchesCompose(t *testing.T) {
	cfg := readFile(t, haproxyConfig)
	p := loadCompose(t)
	servers := regexp.MustCompile(`(?m)^\s*server\s+(\S+)\s+(\S+)`).FindAllStringSubmatch(cfg, -1)
	var names []string
	for _, s := range servers {
		names = append(names, s[1])
		if s[2] != s[1]+":8080" {
			t.Errorf("server %s points at %s, want %s:8080", s[1], s[2], s[1])
		}
	}
	if got := sortedCopy(names); strings.Join(got, " ") != strings.Join(certdServices, " ") {
		t.Errorf("HAProxy servers %v, want the compose services %v", got, certdServices)
	}
	for _, want := range []string{
		`option httpchk GET /readyz`,
		`http-request set-header X-Forwarded-For %[src]`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`(?m)^\s*retry-on\s+(.*)$`).FindStringSubmatch(cfg); m != nil && strings.TrimSpace(m[1]) != "conn-failure" {
		t.Errorf("retry-on %s: only a connection that failed may be retried; a request sent may have committed", m[1])
	}
	if strings.Contains(cfg, "option forwardfor") {
		t.Error("option forwardfor adds a second X-Forwarded-For header; certd reads the first, which the client wrote")
	}
	published := false
	for _, port := range p.Services["proxy"].Ports {
		if port.Target == 8080 {
			published = true
		}
	}
	if !published || !regexp.MustCompile(`(?m)^\s*bind :8080\s*$`).MatchString(cfg) {
		t.Error("HAProxy should bind :8080, the port compose publishes")
	}
}

// TestHAProxyBehaviour runs the configuration in a real HAProxy, in front of
// two stand-ins for certd on loopback: a client's X-Forwarded-For never
// reaches certd, an instance whose /readyz fails leaves the rotation, and
// the health endpoint compose checks fails when no instance is left.
func TestHAProxyBehaviour(t *testing.T) {
	haproxy := lookPathOrSkip(t, "haproxy")
	if out, err := output(t, haproxy, "-c", "-q", "-f", haproxyConfig); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}

	type backend struct {
		srv   *httptest.Server
		ready atomic.Bool
		mu    sync.Mutex
		xff   [][]string // X-Forwarded-For values of each request other than /readyz
	}
	var backends [2]*backend
	for i := range backends {
		b := &backend{}
		b.ready.Store(true)
		b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/readyz" {
				if !b.ready.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				return
			}
			b.mu.Lock()
			b.xff = append(b.xff, r.Header.Values("X-Forwarded-For"))
			b.mu.Unlock()
			fmt.Fprintf(w, "backend %d", i)
		}))
		t.Cleanup(b.srv.Close)
		backends[i] = b
	}

	front, health := freePort(t), freePort(t)
	cfg := readFile(t, haproxyConfig)
	for _, r := range []struct{ old, new string }{
		{"bind :8080", "bind 127.0.0.1:" + front},
		{"bind 127.0.0.1:8404", "bind 127.0.0.1:" + health},
		{"server certd-1 certd-1:8080", "server certd-1 " + backends[0].srv.Listener.Addr().String()},
		{"server certd-2 certd-2:8080", "server certd-2 " + backends[1].srv.Listener.Addr().String()},
		// Faster checks, so the test waits less; the logic is the same.
		{"inter 2s", "inter 100ms"},
		// Within the file limit of a test process.
		{"maxconn 20000", "maxconn 100"},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("haproxy.cfg no longer contains %q; update this test", r.old)
		}
		cfg = strings.Replace(cfg, r.old, r.new, 1)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, haproxy, "-db", "-f", path)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", log.String())
		}
	})

	client := &http.Client{Timeout: 5 * time.Second}
	status := func(url string, hdr ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return resp.StatusCode, body.String()
	}
	healthURL := "http://127.0.0.1:" + health + "/healthz"
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		// A bound on waiting, not a measured time: checks run every 100 ms.
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("haproxy exited (%v) while waiting for %s", err, what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
		}
	}
	waitFor("HAProxy's health endpoint", func() bool { c, _ := status(healthURL); return c == http.StatusOK })

	// Round robin over both, each request with a forged header.
	seen := map[string]bool{}
	for range 4 {
		code, body := status("http://127.0.0.1:"+front+"/v/Y000022000009263000001", "X-Forwarded-For", "203.0.113.7")
		if code != http.StatusOK {
			t.Fatalf("through the proxy: %d %s", code, body)
		}
		seen[body] = true
	}
	if len(seen) != 2 {
		t.Errorf("requests reached %v, want both instances", seen)
	}
	for i, b := range backends {
		b.mu.Lock()
		for _, v := range b.xff {
			if len(v) != 1 || v[0] != "127.0.0.1" {
				t.Errorf("backend %d got X-Forwarded-For %q, want only the client's address as HAProxy saw it", i, v)
			}
		}
		b.mu.Unlock()
	}

	// Metrics stay inside, however the path is spelled.
	for _, p := range []string{"/metrics", "/METRICS", "//metrics", "/./metrics", "/v/../metrics", "/%6detrics", "/%2Fmetrics", "/metrics/", "/metrics?x=1"} {
		if code, _ := status("http://127.0.0.1:" + front + p); code != http.StatusNotFound {
			t.Errorf("GET %s through the proxy: %d, want 404", p, code)
		}
	}
	total := 0
	for _, b := range backends {
		b.mu.Lock()
		total += len(b.xff)
		b.mu.Unlock()
	}
	if total != 4 {
		t.Errorf("the instances saw %d requests, want the 4 above: a metrics request got through", total)
	}

	// An instance that is not ready gets no requests.
	backends[1].ready.Store(false)
	waitFor("certd-2 to leave the rotation", func() bool {
		for range 4 {
			if _, body := status("http://127.0.0.1:" + front + "/"); body != "backend 0" {
				return false
			}
		}
		return true
	})
	// With none ready, compose's health check of the proxy fails.
	backends[0].ready.Store(false)
	waitFor("the health endpoint to fail", func() bool { c, _ := status(healthURL); return c == http.StatusServiceUnavailable })
	backends[0].ready.Store(true)
	waitFor("certd-1 to come back", func() bool { c, _ := status(healthURL); return c == http.StatusOK })
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
