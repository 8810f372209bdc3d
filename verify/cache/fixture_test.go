package cache

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/sqlite"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

func openSQLite(t testing.TB) verifytest.Store   { return verifytest.Open(t, sqlite.Open) }
func openPostgres(t testing.TB) verifytest.Store { return pgtest.Open(t) }

// instance is one certd instance's lookup service, started as web.Mount
// starts it, logging into a buffer of its own.
type instance struct {
	*Service
	logs *verifytest.Log
}

// start starts a service on st; with redisURL, on that Redis (key prefix
// "certd:", so instances of one test share it). It stops when the test
// ends. Poll defaults to 50ms.
func start(t testing.TB, st verify.Store, redisURL string, o Options) *instance {
	t.Helper()
	logs := &verifytest.Log{}
	o.Store, o.Log = st, slog.New(slog.NewTextHandler(logs, nil))
	if o.Poll == 0 {
		o.Poll = 50 * time.Millisecond
	}
	if redisURL != "" {
		r, err := Open(redisURL, RemoteOptions{Log: o.Log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() }) // after the service's Close: cleanups run last first
		o.Redis = r
	}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &instance{Service: s, logs: logs}
}

// lookup is Lookup that fails the test on an error.
func (in *instance) lookup(t testing.TB, number string) *verify.Record {
	t.Helper()
	e, err := in.Lookup(context.Background(), number)
	if err != nil {
		t.Fatalf("lookup %s: %v", number, err)
	}
	return e.Record()
}

// shareInRedis uses number's view twice on in, which writes it to Redis,
// and waits until it is there.
func (in *instance) shareInRedis(t testing.TB, rs *redisServer, number string) {
	t.Helper()
	in.lookup(t, number)
	in.lookup(t, number)
	verifytest.Eventually(t, 3*time.Second, "view written to Redis", func() bool { return redisHas(t, rs, number) })
}

// waitQueued waits until each of n lookups is either in a query held at
// cs's gate or queued for the loaders, whatever the number of loaders.
func waitQueued(t *testing.T, svc *Service, cs *verifytest.CountingStore, n int) {
	t.Helper()
	verifytest.Eventually(t, 3*time.Second, "lookups held or queued", func() bool {
		return cs.Reads.Load()+int64(len(svc.loads)) == int64(n)
	})
}

// redisServer runs a private redis-server on a free port, so that the test
// can stop, pause and restart it without touching the shared one.
type redisServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

func startRedis(t testing.TB, port int) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not installed; CI requires it")
		}
		t.Skip("redis-server not installed")
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	r := &redisServer{t: t, port: port}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", r.addr())
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %d did not start", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisServer) url() string  { return "redis://" + r.addr() + "/0" }

func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// client is a plain Redis client of the test's, to look behind the cache.
func (r *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr(), DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// redisHas reports whether some key in Redis names the certificate.
func redisHas(t testing.TB, rs *redisServer, number string) bool {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rs.addr(), DisableIdentity: true})
	defer c.Close()
	keys, err := c.Keys(context.Background(), "*"+number+"*").Result()
	return err == nil && len(keys) > 0
}
