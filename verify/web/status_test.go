package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify/internal/verifytest"
)

// TestStatusListRoutes: the latest list at /status/ID with a cache life
// no longer than its freshness, every version at /status/ID/N for good,
// a revocation's version served within the second, and clear 404s for
// names and versions that do not exist.
func TestStatusListRoutes(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	w.Iss.StatusBase = "http://verify.test/status"
	a := newApp(t, w.Store, Deps{})
	resp, body := a.do(t, "GET", "/status/jlvtc", nil)
	if resp.StatusCode != 404 || !strings.Contains(body, "status_list_unknown") {
		t.Fatalf("before any list: %d %s", resp.StatusCode, body)
	}
	l1, err := w.Iss.PublishStatusList(w.Ctx, "jlvtc", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = a.do(t, "GET", "/status/jlvtc", nil)
	if resp.StatusCode != 200 || body != l1.Token || resp.Header.Get("Content-Type") != "application/vc+jwt" {
		t.Fatalf("latest: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	cc := resp.Header.Get("Cache-Control")
	age, err := strconv.Atoi(strings.TrimPrefix(cc, "public, max-age="))
	if err != nil || age > 60 || age < 50 {
		t.Fatalf("latest Cache-Control %q, want max-age at most the 60 s ttl", cc)
	}
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, w.Certs[0].Number, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	l2, err := w.Iss.PublishStatusList(w.Ctx, "jlvtc", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, time.Second, "the new version served as the latest", func() bool {
		_, body := a.do(t, "GET", "/status/jlvtc", nil)
		return body == l2.Token
	})
	resp, body = a.do(t, "GET", "/status/jlvtc/1", nil)
	if resp.StatusCode != 200 || body != l1.Token || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("version 1: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/status/jlvtc/3", "/status/jlvtc/0", "/status/jlvtc/01", "/status/jlvtc/x", "/status/nope", "/status/NOPE", "/status/jlvtc/99999999999"} {
		resp, body := a.do(t, "GET", p, nil)
		if resp.StatusCode != 404 || !strings.Contains(body, "没有这个状态列表") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
}
