package cache

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"certd/verify/internal/verifytest"
)

// sharedRemote opens a Remote on the shared test Redis under a key prefix
// of the test's own, with a plain client to look behind it; the prefix's
// keys are deleted when the test ends.
func sharedRemote(t *testing.T) (*Remote, *redis.Client, string) {
	t.Helper()
	u := verifytest.RedisURL(t)
	prefix := "certd-test-" + verifytest.RandHex() + ":"
	r, err := Open(u, RemoteOptions{Prefix: prefix, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := redis.ParseURL(u)
	opt.DisableIdentity = true
	c := redis.NewClient(opt)
	t.Cleanup(func() {
		_ = r.sweep(context.Background(), "")
		_ = r.Close()
		_ = c.Close()
	})
	return r, c, prefix
}

// TestRemoteRoundTrip: values and counters land under the prefix with
// their lifetimes, come back in one MGET in the order asked (nil for a
// miss), and go on deletion.
func TestRemoteRoundTrip(t *testing.T) {
	r, c, prefix := sharedRemote(t)
	ctx := context.Background()
	r.setMany(ctx, []kv{{key: "v:a", value: []byte("一"), ttl: time.Minute}, {key: "v:b", value: []byte("two"), ttl: 2 * time.Second}})
	got := r.getMany(ctx, []string{"v:a", "v:missing", "v:b"})
	if len(got) != 3 || string(got[0]) != "一" || got[1] != nil || string(got[2]) != "two" {
		t.Fatalf("getMany: %q", got)
	}
	if v, err := c.Get(ctx, prefix+"v:a").Result(); err != nil || v != "一" {
		t.Errorf("the value is not under the prefix: %q %v", v, err)
	}
	if ttl, err := c.PTTL(ctx, prefix+"v:b").Result(); err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("lifetime %v (%v), want at most 2s", ttl, err)
	}
	r.del("v:a", "v:b")
	if got := r.getMany(ctx, []string{"v:a", "v:b"}); got[0] != nil || got[1] != nil {
		t.Errorf("deleted values came back: %q", got)
	}

	totals, err := r.IncrBy(ctx, map[string]int64{"rl:x": 3, "rl:y": 1}, time.Minute)
	if err != nil || totals["rl:x"] != 3 || totals["rl:y"] != 1 {
		t.Fatalf("first counts: %v %v", totals, err)
	}
	totals, err = r.IncrBy(ctx, map[string]int64{"rl:x": 2}, time.Minute)
	if err != nil || len(totals) != 1 || totals["rl:x"] != 5 {
		t.Fatalf("second counts: %v %v, want rl:x 5", totals, err)
	}
	if ttl, err := c.PTTL(ctx, prefix+"rl:x").Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("counter lifetime %v (%v), want at most a minute", ttl, err)
	}
	if !r.up() {
		t.Error("Redis marked down after a round trip")
	}
}

// TestRemoteDownAtOpen: a Redis that is not there is not an error: the
// cache starts down, every read is a miss, the counters say so, and
// deletions are kept for later.
func TestRemoteDownAtOpen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r, err := Open("redis://"+addr+"/0", RemoteOptions{Timeout: 100 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open with Redis away: %v", err)
	}
	defer r.Close()
	ctx := context.Background()
	if r.up() {
		t.Error("up with nothing listening")
	}
	if got := r.getMany(ctx, []string{"a", "b"}); len(got) != 2 || got[0] != nil || got[1] != nil {
		t.Errorf("reads while away: %q", got)
	}
	r.setMany(ctx, []kv{{key: "a", value: []byte("x"), ttl: time.Minute}})
	if _, err := r.IncrBy(ctx, map[string]int64{"rl:x": 1}, time.Minute); err == nil {
		t.Error("counters counted with Redis away")
	}
	r.del("v:a")
	r.mu.Lock()
	_, kept := r.pending["v:a"]
	r.mu.Unlock()
	if !kept {
		t.Error("a deletion made while Redis was away was not kept for later")
	}
	if _, err := Open("http://"+addr, RemoteOptions{}); err == nil {
		t.Error("a URL that is not redis:// was accepted")
	}
}

// TestRemoteDeletesMissedDuringOutage: a deletion asked for while Redis is
// away is made when it is back, before Redis is read again, and the
// outage and the recovery are logged once each.
func TestRemoteDeletesMissedDuringOutage(t *testing.T) {
	rs := startRedis(t, 0)
	logs := &verifytest.Log{}
	r, err := Open(rs.url(), RemoteOptions{Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	r.setMany(ctx, []kv{{key: "v:revoked", value: []byte("valid"), ttl: time.Minute}, {key: "v:other", value: []byte("x"), ttl: time.Minute}})
	// Paused, Redis keeps its data but answers nothing: the first read
	// finds it away, and the deletion is only remembered.
	if err := rs.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r.getMany(ctx, []string{"v:revoked"})
	if r.up() {
		_ = rs.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatal("a Redis that does not answer is still up")
	}
	r.del("v:revoked")
	if got := r.getMany(ctx, []string{"v:revoked"}); got[0] != nil {
		t.Error("read from Redis while it is away")
	}
	_ = rs.cmd.Process.Signal(syscall.SIGCONT)
	verifytest.Eventually(t, 3*time.Second, "redis back in use", r.up)
	c := rs.client(t)
	if n, err := c.Exists(ctx, "certd:v:revoked").Result(); err != nil || n != 0 {
		t.Errorf("the deletion missed during the outage was not made (%d, %v)", n, err)
	}
	if got := r.getMany(ctx, []string{"v:revoked", "v:other"}); got[0] != nil || string(got[1]) != "x" {
		t.Errorf("after the outage: %q", got)
	}
	if strings.Count(logs.String(), "redis unreachable") != 1 || strings.Count(logs.String(), "redis reachable again") != 1 {
		t.Errorf("outage and recovery not logged once each:\n%s", logs)
	}
}

// TestRemoteSweepsAfterOverflow: when more deletions were missed than it
// keeps, every view is swept on recovery, and nothing else: the rate
// limits' counters stay.
func TestRemoteSweepsAfterOverflow(t *testing.T) {
	r, c, prefix := sharedRemote(t)
	ctx := context.Background()
	var kvs []kv
	for _, k := range []string{"v:fp:1", "v:fp:2", "v:old:3"} {
		kvs = append(kvs, kv{key: k, value: []byte("x"), ttl: time.Minute})
	}
	r.setMany(ctx, kvs)
	if _, err := r.IncrBy(ctx, map[string]int64{"rl:req:1:client": 4}, time.Minute); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.overflow = true
	r.mu.Unlock()
	if err := r.flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 1 || keys[0] != prefix+"rl:req:1:client" {
		t.Errorf("after the sweep: %v %v, want only the counter", keys, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.overflow {
		t.Error("the overflow was not cleared by the sweep")
	}
}

// TestRemoteIgnoresMisses: a missing key is a miss, not an outage.
func TestRemoteIgnoresMisses(t *testing.T) {
	r, _, _ := sharedRemote(t)
	ctx := context.Background()
	if r.failed(ctx, redis.Nil) || r.failed(ctx, nil) {
		t.Error("a miss counted as a failure")
	}
	if !r.up() {
		t.Fatal("a miss marked Redis down")
	}
	if !r.failed(ctx, errors.New("connection reset")) || r.up() {
		t.Error("a failure did not mark Redis down")
	}
}
