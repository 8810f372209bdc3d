package cache

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// These tests start their own Redis servers (Debian's redis-server, which
// is also Sentinel with --sentinel) on free loopback ports, and stop them
// at the end; the shared Redis is not touched.

func needRedisServer(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// redisProc is one redis-server (or Sentinel) the test started.
type redisProc struct {
	port int
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

func (p *redisProc) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// kill stops the server at once, as a crash would.
func (p *redisProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// startRedisConf starts redis-server with a config file of lines, waits until
// it answers PING, and stops it when the test ends.
func startRedisConf(t *testing.T, dir string, port int, sentinel bool, lines ...string) *redisProc {
	t.Helper()
	conf := filepath.Join(dir, fmt.Sprintf("redis-%d.conf", port))
	all := append([]string{"port " + strconv.Itoa(port), "bind 127.0.0.1", "dir " + dir, `save ""`, "appendonly no", "daemonize no"}, lines...)
	if err := os.WriteFile(conf, []byte(strings.Join(all, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{conf}
	if sentinel {
		args = append(args, "--sentinel")
	}
	p := &redisProc{port: port, cmd: exec.Command("redis-server", args...), out: &bytes.Buffer{}} // #nosec G204 -- a fixed binary and the test's own config
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	c := redis.NewClient(&redis.Options{Addr: p.addr(), DisableIdentity: true})
	defer c.Close()
	until(t, "redis-server on "+p.addr(), 10*time.Second, func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
	return p
}

func until(t *testing.T, what string, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
	return 0
}

// logBuffer collects log lines written from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestSentinelFailover: through a Sentinel URL the cache finds the master;
// when the master dies, every read falls back (a miss: the database
// answers), the outage is logged once, a deletion made meanwhile (a
// revocation) is remembered; once Sentinel has promoted the replica the
// cache is used again, the deletion made first, so the replica's copy of
// the revoked view is never served.
func TestSentinelFailover(t *testing.T) {
	needRedisServer(t)
	dir := t.TempDir()
	master := startRedisConf(t, dir, freePort(t), false)
	replica := startRedisConf(t, dir, freePort(t), false, "replicaof 127.0.0.1 "+strconv.Itoa(master.port))
	sent := startRedisConf(t, dir, freePort(t), true,
		"sentinel monitor certd 127.0.0.1 "+strconv.Itoa(master.port)+" 1",
		"sentinel down-after-milliseconds certd 1000",
		"sentinel failover-timeout certd 5000")
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: replica.addr(), DisableIdentity: true})
	defer rc.Close()
	until(t, "the replica in sync", 20*time.Second, func() bool {
		info, err := rc.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	sc := redis.NewSentinelClient(&redis.Options{Addr: sent.addr(), DisableIdentity: true})
	defer sc.Close()
	// Sentinel learns of the replica from the master's INFO (every 10 s).
	until(t, "Sentinel to know the replica", 30*time.Second, func() bool {
		rs, err := sc.Replicas(ctx, "certd").Result()
		return err == nil && len(rs) == 1 && !strings.Contains(fmt.Sprint(rs[0]), "disconnected")
	})

	logs := &logBuffer{}
	r, err := Open("redis+sentinel://"+sent.addr()+"?master_name=certd", RemoteOptions{Prefix: "t:", Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.form != RedisSentinel || !r.up() {
		t.Fatalf("form %s, up %v", r.form, r.up())
	}
	r.setMany(ctx, []kv{{key: "v:revoked", value: []byte("valid view"), ttl: time.Minute}, {key: "v:other", value: []byte("other"), ttl: time.Minute}})
	mc := redis.NewClient(&redis.Options{Addr: master.addr(), DisableIdentity: true})
	defer mc.Close()
	if v, _ := mc.Get(ctx, "t:v:revoked").Result(); v != "valid view" {
		t.Fatalf("the value is not on the master: %q", v)
	}
	if n, err := mc.Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("not replicated: %d %v", n, err)
	}

	master.kill()
	killed := time.Now()
	// Reads fall back to the database (a miss), and the revocation's
	// deletion is kept for the new master.
	if got := r.getMany(ctx, []string{"v:revoked"}); got[0] != nil {
		t.Fatalf("a read during the outage: %q", got[0])
	}
	r.del("v:revoked")
	if r.up() {
		t.Fatal("the cache is still in use with its master gone")
	}
	until(t, "the cache back on the promoted replica", 30*time.Second, r.up)
	t.Logf("master killed: cache back in use after %v (Sentinel down-after 1 s)", time.Since(killed).Round(time.Millisecond))
	got := r.getMany(ctx, []string{"v:revoked", "v:other"})
	if got[0] != nil || string(got[1]) != "other" {
		t.Fatalf("after the failover: %q (the revoked view must be gone, the other kept)", got)
	}
	if role, _ := rc.Do(ctx, "ROLE").Slice(); len(role) == 0 || role[0] != "master" {
		t.Fatalf("the replica was not promoted: %v", role)
	}
	if n, _ := rc.Exists(ctx, "t:v:revoked").Result(); n != 0 {
		t.Fatal("the revoked view is still on the new master")
	}
	r.setMany(ctx, []kv{{key: "v:new", value: []byte("after"), ttl: time.Minute}})
	if v, _ := rc.Get(ctx, "t:v:new").Result(); v != "after" {
		t.Fatalf("a write after the failover did not reach the new master: %q", v)
	}
	if d, u := logs.count("redis unreachable"), logs.count("redis reachable again"); d != 1 || u != 1 {
		t.Fatalf("logged %d outages and %d recoveries, want 1 and 1:\n%s", d, u, logs.b.String())
	}
}

// TestClusterRoundTrip: through a Cluster URL the cache reads, writes,
// counts, deletes and sweeps keys that live in different slots on
// different nodes (MGET, DEL and UNLINK of such keys fail with CROSSSLOT in
// one command, so they go key by key in one pipeline).
func TestClusterRoundTrip(t *testing.T) {
	needRedisServer(t)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli is not installed")
	}
	dir := t.TempDir()
	var nodes []*redisProc
	var addrs []string
	for range 3 {
		port := freePort(t)
		nodes = append(nodes, startRedisConf(t, dir, port, false, "cluster-enabled yes",
			"cluster-config-file nodes-"+strconv.Itoa(port)+".conf", "cluster-node-timeout 2000"))
		addrs = append(addrs, nodes[len(nodes)-1].addr())
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...) // #nosec G204 -- fixed binary, our own ports
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx := context.Background()
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, DisableIdentity: true})
		until(t, "cluster_state:ok on "+a, 20*time.Second, func() bool {
			info, err := c.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		_ = c.Close()
	}
	r, err := Open("redis+cluster://"+addrs[0]+"?addr="+addrs[1]+"&addr="+addrs[2], RemoteOptions{Prefix: "t:", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.cluster || !r.up() {
		t.Fatalf("cluster %v up %v", r.cluster, r.up())
	}
	var kvs []kv
	var keys []string
	for i := range 60 {
		k := fmt.Sprintf("v:%d", i)
		keys = append(keys, k)
		kvs = append(kvs, kv{key: k, value: []byte("view " + k), ttl: time.Minute})
	}
	r.setMany(ctx, kvs)
	got := r.getMany(ctx, append(keys, "v:missing"))
	for i, k := range keys {
		if string(got[i]) != "view "+k {
			t.Fatalf("%s: %q", k, got[i])
		}
	}
	if got[len(keys)] != nil || !r.up() {
		t.Fatalf("a miss: %q, up %v", got[len(keys)], r.up())
	}
	spread := 0
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, DisableIdentity: true})
		if n, _ := c.DBSize(ctx).Result(); n > 0 {
			spread++
		}
		_ = c.Close()
	}
	if spread < 2 {
		t.Fatalf("the keys are on %d node(s); the test needs them spread", spread)
	}
	r.del(keys[:30]...)
	got = r.getMany(ctx, keys)
	for i := range keys {
		if (got[i] == nil) != (i < 30) {
			t.Fatalf("after deleting the first 30: %s = %q", keys[i], got[i])
		}
	}
	totals, err := r.IncrBy(ctx, map[string]int64{"rl:a": 2, "rl:b": 3, "rl:c": 4}, time.Minute)
	if err != nil || totals["rl:a"] != 2 || totals["rl:b"] != 3 || totals["rl:c"] != 4 {
		t.Fatalf("counters: %v %v", totals, err)
	}
	if err := r.sweep(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, DisableIdentity: true})
		if n, _ := c.DBSize(ctx).Result(); n != 0 {
			t.Errorf("%s still holds %d keys after the sweep", a, n)
		}
		_ = c.Close()
	}
}
