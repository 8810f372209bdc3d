package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"certd/issuer/store/postgres/pgtest"
)

// TestServeWithReplica runs certd on a primary and a streaming replica:
// public reads use the replica, /readyz and /metrics report it, and with
// the replica's replay paused a revocation still shows within a second.
func TestServeWithReplica(t *testing.T) {
	c := pgtest.NewCluster(t)
	dir := t.TempDir()
	cl := &cli{t: t, data: filepath.Join(dir, "data")}
	pg := func(args ...string) string { return cl.must(append(args, "--database-url", c.PrimaryURL)...) }
	pg("init")
	pg("institution", "add", "testdata/institution.yaml")
	var rep struct{ Numbers []string }
	if err := json.Unmarshal([]byte(pg("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 20, 0), "--no-pdf", "--json")), &rep); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := &Config{Data: cl.data, DatabaseURL: c.PrimaryURL, ReplicaURLs: stringList{c.ReplicaURL}, ReplicaMaxLag: "1s",
		Addr: ln.Addr().String(), PublicURL: testPublicURL, LogLevel: "error", RateLimit: "-1", CacheMB: "16", FontPath: "/nonexistent.ttf"}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	e, err := cfg.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	e.metrics = prometheus.NewRegistry()
	app, err := newApp(e)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })

	verdict := func(n string) string {
		resp, err := http.Get(base + "/api/v1/certificates/" + n)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Verdict string }
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return v.Verdict
	}
	n := rep.Numbers[0]
	deadline := time.Now().Add(10 * time.Second)
	for verdict(n) != "valid" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range rep.Numbers[1:] {
		if v := verdict(m); v != "valid" {
			t.Fatalf("%s: %s", m, v)
		}
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "replica_0") || !strings.Contains(string(body), "ok, lag") {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var reads float64
	for _, mf := range mfs {
		if mf.GetName() == "certd_replica_reads_total" {
			reads = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if reads == 0 {
		t.Error("certd_replica_reads_total: no public read went to the replica")
	}

	// The replica stops replaying; a revocation on the primary must still
	// show within a second.
	c.PauseReplay()
	defer c.ResumeReplay()
	pg("revoke", n, "--reason", "error")
	start := time.Now()
	for verdict(n) != "revoked" {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the revocation never showed with the replica paused")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("revocation showed after %s", took)
	} else {
		t.Logf("revocation showed after %s with the replica's replay paused", took.Round(time.Millisecond))
	}
}
