package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"certd/issuer"
)

// TestRevokeSeenByAnotherInstance: two instances on one PostgreSQL database
// and one Redis, both with the certificate cached; a revocation made outside
// either (as `certd revoke` does) is answered by both within 1 second, and
// so are a reissue and a newly issued number that was cached as unknown.
func TestRevokeSeenByAnotherInstance(t *testing.T) {
	rurl := redisURL(t)
	st := openPostgres(t)
	w := newWorld(t, st, 3)
	prefix := "certd-test-" + randHex() + ":"
	a := newApp(t, st, Deps{RedisURL: rurl, RedisPrefix: prefix, Options: Options{Poll: 200 * time.Millisecond}})
	b := newApp(t, st, Deps{RedisURL: rurl, RedisPrefix: prefix, Options: Options{Poll: 200 * time.Millisecond}})
	c := w.certs[0]
	next := fmt.Sprintf("%s%06d", c.Number[:16], 4) // the number the next certificate will get
	for _, x := range []*testApp{a, b} {
		for _, n := range []string{c.Number, w.certs[1].Number, next} {
			x.do(t, "GET", "/api/v1/certificates/"+n, nil)
			x.do(t, "GET", "/v/"+n, nil)
		}
	}
	if _, body := b.do(t, "GET", "/api/v1/certificates/"+c.Number, nil); !strings.Contains(body, `"verdict":"valid"`) {
		t.Fatal("not valid before the revocation")
	}
	if r, _ := b.do(t, "GET", "/api/v1/certificates/"+next, nil); r.StatusCode != 404 {
		t.Fatal("next number should be unknown yet")
	}
	start := time.Now()
	if _, err := w.iss.Revoke(w.ctx, authority, c.Number, issuer.ReasonMisconduct, "考核舞弊"); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, time.Second, "revocation on instance B", func() bool {
		_, api := b.do(t, "GET", "/api/v1/certificates/"+c.Number, nil)
		_, page := b.do(t, "GET", "/v/"+c.Number, nil)
		return strings.Contains(api, `"verdict":"revoked"`) && strings.Contains(page, "已撤销")
	})
	if _, api := a.do(t, "GET", "/api/v1/certificates/"+c.Number, nil); !strings.Contains(api, `"verdict":"revoked"`) {
		t.Errorf("instance A still answers %s", api)
	}
	t.Logf("revocation visible on the other instance after %v", took)

	// A new certificate takes the number that was cached as unknown.
	w.issue(1, 100)
	if w.certs[3].Number != next {
		t.Fatalf("issued %s, expected %s", w.certs[3].Number, next)
	}
	eventually(t, time.Second, "new certificate on instance B", func() bool {
		r, _ := b.do(t, "GET", "/api/v1/certificates/"+next, nil)
		return r.StatusCode == 200
	})

	// A reissue supersedes the old number everywhere.
	old := w.certs[1].Number
	nc, err := w.iss.Reissue(w.ctx, authority, old, issuer.Correction{Reason: "姓名有误", Name: "张三"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "reissue on instance A", func() bool {
		_, api := a.do(t, "GET", "/api/v1/certificates/"+old, nil)
		return strings.Contains(api, `"verdict":"superseded"`) && strings.Contains(api, nc.Number)
	})
	_ = start
}

// TestOneReadPerMiss: concurrent misses for one number cause one database
// read, and unknown numbers are cached too.
func TestOneReadPerMiss(t *testing.T) {
	base := openSQLite(t)
	w := newWorld(t, base, 1)
	cs := &countingStore{Store: base}
	a := newApp(t, cs, Deps{})
	for _, n := range []string{w.certs[0].Number, "Y000022000001263999999"} {
		before := cs.reads.Load()
		var wg sync.WaitGroup
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := a.svc.Lookup(context.Background(), n); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for i := 0; i < 100; i++ {
			a.do(t, "GET", "/api/v1/certificates/"+n, nil)
		}
		if got := cs.reads.Load() - before; got != 1 {
			t.Errorf("%s: %d database reads for 164 lookups, want 1", n, got)
		}
	}
}

// TestMissesAreBatched: a flood of different numbers (a cold cache, a bulk
// check) is read in a few queries, each number once, and every answer is
// the right one, found or not.
func TestMissesAreBatched(t *testing.T) {
	base := openSQLite(t)
	w := newWorld(t, base, max(150, loaders+100))
	cs := &countingStore{Store: base, gate: make(chan struct{})}
	a := newApp(t, cs, Deps{})
	var numbers []string
	for _, c := range w.certs {
		numbers = append(numbers, c.Number)
	}
	for i := 0; i < 50; i++ {
		numbers = append(numbers, fmt.Sprintf("Y000022000001263%06d", 900000+i))
	}
	got := make([]*entry, len(numbers))
	var wg sync.WaitGroup
	for i, n := range numbers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := a.svc.Lookup(context.Background(), n)
			if err != nil {
				t.Error(err)
			}
			got[i] = e
		}()
	}
	// Let the loaders block on their first queries while the rest queue.
	waitQueued(t, a.svc, cs, len(numbers))
	close(cs.gate)
	wg.Wait()
	if r := cs.reads.Load(); r != int64(len(numbers)) {
		t.Errorf("%d numbers read for %d distinct lookups, want each read once", r, len(numbers))
	}
	// The loaders' first queries, then batches of up to maxLoadBatch.
	if q, most := cs.queries.Load(), int64(loaders+(len(numbers)+maxLoadBatch-1)/maxLoadBatch+loaders); q > most {
		t.Errorf("%d queries for %d numbers, want at most %d", q, len(numbers), most)
	}
	for i, n := range numbers {
		if got[i] == nil {
			continue
		}
		if got[i].rec.Number != n {
			t.Fatalf("lookup of %s answered with %s", n, got[i].rec.Number)
		}
		if wantFound := i < len(w.certs); got[i].rec.Found != wantFound || (wantFound && got[i].rec.Verdict != Valid) {
			t.Errorf("%s: found=%v verdict=%s", n, got[i].rec.Found, got[i].rec.Verdict)
		}
	}
}

// redisServer runs a private redis-server on a free port, so that the test
// can stop and restart it without touching the shared one.
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

// TestRedisOutageUnderLoad: Redis is stopped in the middle of a load and
// started again; no verification fails, a revocation made while Redis was
// away is answered correctly when it is back, and Redis is used again.
func TestRedisOutageUnderLoad(t *testing.T) {
	st := openPostgres(t)
	w := newWorld(t, st, 20)
	rs := startRedis(t, 0)
	// A short in-process TTL sends the load through to Redis (and, while
	// it is away, to the database) instead of being answered from memory.
	opt := Options{Poll: 100 * time.Millisecond, TTL: 150 * time.Millisecond}
	a := newApp(t, st, Deps{RedisURL: rs.url(), Options: opt})
	b := newApp(t, st, Deps{RedisURL: rs.url(), Options: opt})
	urlA, urlB := a.listen(t), b.listen(t)

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				base := urlA
				if (g+i)%2 == 1 {
					base = urlB
				}
				c := w.certs[(g*7+i)%len(w.certs)]
				code, body, err := tryGet(base + "/api/v1/certificates/" + c.Number)
				var v View
				if err != nil || code != 200 || json.Unmarshal([]byte(body), &v) != nil || (v.Verdict != Valid && v.Verdict != Revoked) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %.200s", code, body))
					continue
				}
				ok.Add(1)
			}
		}(g)
	}
	time.Sleep(500 * time.Millisecond)
	rs.stop()
	eventually(t, 2*time.Second, "outage noticed", func() bool { return !a.svc.remote.Up() && !b.svc.remote.Up() })
	// Revoke while Redis is away: the shared cache cannot be told.
	revoked := w.certs[5].Number
	if _, err := w.iss.Revoke(w.ctx, authority, revoked, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	rs = startRedis(t, rs.port)
	eventually(t, 3*time.Second, "redis back in use", func() bool { return a.svc.remote.Up() && b.svc.remote.Up() })
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d verifications failed during the outage; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if ok.Load() < 200 {
		t.Fatalf("only %d verifications ran", ok.Load())
	}
	for _, base := range []string{urlA, urlB} {
		if _, body := get(t, base+"/api/v1/certificates/"+revoked); !strings.Contains(body, `"verdict":"revoked"`) {
			t.Errorf("%s: revocation made during the outage not answered: %.200s", base, body)
		}
	}
	logs := a.logText()
	if strings.Count(logs, "redis unreachable") != 1 || !strings.Contains(logs, "redis reachable again") {
		t.Errorf("outage should be logged once and the recovery once:\n%s", grepLines(logs, "redis"))
	}
	t.Logf("%d verifications, none failed, across a Redis outage", ok.Load())
}

// TestStaleEntryAfterOutage: an entry written to Redis before an outage
// must not be served after a revocation that happened during it (Redis kept
// its data: it was paused, not restarted).
func TestStaleEntryAfterOutage(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 1)
	rs := startRedis(t, 0)
	a := newApp(t, st, Deps{RedisURL: rs.url(), Options: Options{Poll: 50 * time.Millisecond}})
	// b runs throughout, so its start-up replay cannot be what saves it.
	b := newApp(t, st, Deps{RedisURL: rs.url(), Options: Options{Poll: 50 * time.Millisecond}})
	n := w.certs[0].Number
	a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	a.do(t, "GET", "/api/v1/certificates/"+n, nil) // the second use writes it to Redis
	eventually(t, 3*time.Second, "view in Redis", func() bool { return redisHas(t, rs, n) })
	// Pause Redis: it keeps the entry but answers nothing.
	if err := rs.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if _, err := w.iss.Revoke(w.ctx, authority, n, issuer.ReasonError, ""); err != nil {
		_ = rs.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "revoked while Redis paused", func() bool {
		_, body := a.do(t, "GET", "/api/v1/certificates/"+n, nil)
		return strings.Contains(body, `"verdict":"revoked"`)
	})
	_ = rs.cmd.Process.Signal(syscall.SIGCONT)
	eventually(t, 3*time.Second, "redis back", func() bool { return a.svc.remote.Up() })
	// b has nothing in L1: it must not get the stale entry from Redis.
	if _, body := b.do(t, "GET", "/api/v1/certificates/"+n, nil); !strings.Contains(body, `"verdict":"revoked"`) {
		t.Errorf("stale valid entry served after the outage: %.200s", body)
	}
}

func tryGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
