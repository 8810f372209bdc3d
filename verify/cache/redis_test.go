package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

// A view written to Redis by an instance that then stopped, before a
// revocation it never saw, must not be served by an instance started after
// the revocation (made here the way certd revoke makes it: no server ran).
func TestRestartDoesNotServeStaleRedisView(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 1)
	rs := startRedis(t, 0)
	n := w.Certs[0].Number
	a := start(t, st, rs.url(), Options{})
	a.shareInRedis(t, rs, n)
	a.Close() // a never sees what follows
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, n, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	b := start(t, st, rs.url(), Options{})
	if rec := b.lookup(t, n); rec.Verdict != verify.Revoked {
		t.Fatalf("a new instance served the stale view: %s", rec.Verdict)
	}
}

// A view another instance read just before a revocation and wrote to Redis
// just after it must not come back on an instance that has already applied
// the revocation.
func TestLateRedisWriteIsNotTrusted(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 1)
	rs := startRedis(t, 0)
	n := w.Certs[0].Number
	a := start(t, st, rs.url(), Options{})
	b := start(t, st, rs.url(), Options{})
	// a builds a view while the certificate is valid; keep a copy of it.
	a.shareInRedis(t, rs, n)
	c := rs.client(t)
	ctx := context.Background()
	keys, _ := c.Keys(ctx, "*"+n+"*").Result()
	stale, err := c.Get(ctx, keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, n, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	// b applies the revocation (and deletes the Redis key) ...
	verifytest.Eventually(t, 3*time.Second, "b sees the revocation", func() bool { return b.lookup(t, n).Verdict == verify.Revoked })
	// ... then the late write lands, and b's in-process copy is gone.
	if err := c.Set(ctx, keys[0], stale, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	b.l1.InvalidateAll()
	if rec := b.lookup(t, n); rec.Verdict != verify.Revoked {
		t.Fatalf("b trusted a view written to Redis after the revocation it applied: %s", rec.Verdict)
	}
}

// TestRedisOnSecondUse: a view used once stays in its instance; used a
// second time it goes to Redis, and another instance then answers from
// Redis without reading the database.
func TestRedisOnSecondUse(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	rs := startRedis(t, 0)
	a := start(t, st, rs.url(), Options{})
	// Both running from the start: an instance that starts replays the
	// recent changes (these certificates' issuance among them) and drops
	// their Redis views.
	cs := &verifytest.CountingStore{Store: st}
	b := start(t, cs, rs.url(), Options{})
	once, twice := w.Certs[0].Number, w.Certs[1].Number
	a.lookup(t, once)
	a.shareInRedis(t, rs, twice)
	if redisHas(t, rs, once) {
		t.Errorf("a view used once was written to Redis")
	}
	if rec := b.lookup(t, twice); rec.Verdict != verify.Valid {
		t.Fatalf("instance b: %s", rec.Verdict)
	}
	if n := cs.Reads.Load(); n != 0 {
		t.Errorf("instance b read the database %d times for a view in Redis", n)
	}
	b.lookup(t, once)
	if n := cs.Reads.Load(); n != 1 {
		t.Errorf("instance b: %d database reads for a view not in Redis, want 1", n)
	}
}

// TestDeferredWriteOfInvalidatedView: a view waiting for its second use
// to go to Redis must not get there after its number was invalidated,
// however long it waited.
func TestDeferredWriteOfInvalidatedView(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	rs := startRedis(t, 0)
	a := start(t, st, rs.url(), Options{})
	n := w.Certs[0].Number
	a.lookup(t, n)
	e, ok := a.l1.GetIfPresent(n)
	if !ok || e.toRedis.Load() == nil {
		t.Fatal("the view was not kept waiting for its second use")
	}
	stale := *e.toRedis.Load()
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, n, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, 3*time.Second, "revocation applied", func() bool { return a.lookup(t, n).Verdict == verify.Revoked })
	// The old view's write arrives late, as if its second use had raced
	// with the invalidation; a good write follows it in the same queue.
	// Issued before the instance started: a certificate issued while it
	// runs is invalidated by its own issuance event, which may land after
	// the view was read and (rightly) stop its write.
	other := w.Certs[1].Number
	a.lookup(t, other)
	oe, _ := a.l1.GetIfPresent(other)
	a.writes <- stale
	a.writes <- *oe.toRedis.Load()
	verifytest.Eventually(t, 3*time.Second, "the good write landed", func() bool { return redisHas(t, rs, other) })
	if redisHas(t, rs, n) {
		t.Fatal("a view from before the revocation was written to Redis after it")
	}
}

// TestDeferredWriteKeepsItsLifetime: a view written to Redis on its second
// use lives there only as long as it would have from its first: the kill
// marks and a new instance's replay window are sized to that.
func TestDeferredWriteKeepsItsLifetime(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 1)
	rs := startRedis(t, 0)
	a := start(t, st, rs.url(), Options{TTL: 8 * time.Second})
	n := w.Certs[0].Number
	a.lookup(t, n)
	time.Sleep(2 * time.Second)
	a.lookup(t, n)
	verifytest.Eventually(t, 3*time.Second, "view in Redis", func() bool { return redisHas(t, rs, n) })
	c := rs.client(t)
	keys, _ := c.Keys(context.Background(), "*"+n+"*").Result()
	ttl, err := c.PTTL(context.Background(), keys[0]).Result()
	// Built-at is kept in whole seconds, so the remaining life may come out
	// up to a second short, never long.
	if err != nil || ttl > 6500*time.Millisecond || ttl <= 0 {
		t.Errorf("Redis TTL %v (%v) for a view read 2 s into an 8 s lifetime, want at most 6 s", ttl, err)
	}
}

// TestBulkRowsUsedOnce: a bulk list's rows are one use each: a list checked
// once puts nothing in Redis, the same list checked again does. (A bulk
// check prefetches its numbers, then looks each row up.)
func TestBulkRowsUsedOnce(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 4)
	rs := startRedis(t, 0)
	a := start(t, st, rs.url(), Options{})
	var rows []string
	for _, c := range w.Certs[:3] {
		rows = append(rows, c.Number)
	}
	check := func() {
		a.Prefetch(rows)
		for _, n := range rows {
			if rec := a.lookup(t, n); rec.Verdict != verify.Valid {
				t.Fatalf("bulk row %s: %s", n, rec.Verdict)
			}
		}
	}
	check()
	// A single use of another number goes through the same queue after
	// the bulk rows would have: once its own second use lands, the rows'
	// writes would have too.
	probe := w.Certs[3].Number // issued before the instance started, like the rows
	a.shareInRedis(t, rs, probe)
	for _, n := range rows {
		if redisHas(t, rs, n) {
			t.Errorf("%s was written to Redis after one bulk check", n)
		}
	}
	check()
	verifytest.Eventually(t, 3*time.Second, "rows written after a second check", func() bool {
		for _, n := range rows {
			if !redisHas(t, rs, n) {
				return false
			}
		}
		return true
	})
}

// TestSpentDeadlineIsNotAnOutage: a load whose deadline ran out while it
// queued must not mark Redis as down.
func TestSpentDeadlineIsNotAnOutage(t *testing.T) {
	rs := startRedis(t, 0)
	r, err := Open(rs.url(), RemoteOptions{Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if got := r.getMany(ctx, []string{"a", "b"}); got[0] != nil || got[1] != nil {
		t.Fatalf("values from a spent context: %q", got)
	}
	r.setMany(ctx, []kv{{key: "a", value: []byte("x"), ttl: time.Minute}})
	if !r.up() {
		t.Fatal("a spent deadline marked Redis down")
	}
}

// TestRedisOutageUnderLoad: Redis is stopped in the middle of a load and
// started again; no verification fails, a revocation made while Redis was
// away is answered correctly when it is back, and Redis is used again.
func TestRedisOutageUnderLoad(t *testing.T) {
	st := openPostgres(t)
	w := verifytest.NewWorld(t, st, 20)
	rs := startRedis(t, 0)
	// A short in-process TTL sends the load through to Redis (and, while
	// it is away, to the database) instead of being answered from memory.
	opt := Options{Poll: 100 * time.Millisecond, TTL: 150 * time.Millisecond}
	a := start(t, st, rs.url(), opt)
	b := start(t, st, rs.url(), opt)

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
				in := a
				if (g+i)%2 == 1 {
					in = b
				}
				c := w.Certs[(g*7+i)%len(w.Certs)]
				e, err := in.Lookup(context.Background(), c.Number)
				if err != nil || (e.rec.Verdict != verify.Valid && e.rec.Verdict != verify.Revoked) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(err, e))
					continue
				}
				ok.Add(1)
			}
		}(g)
	}
	time.Sleep(500 * time.Millisecond)
	rs.stop()
	verifytest.Eventually(t, 2*time.Second, "outage noticed", func() bool { return !a.remote.up() && !b.remote.up() })
	// Revoke while Redis is away: the shared cache cannot be told.
	revoked := w.Certs[5].Number
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, revoked, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	startRedis(t, rs.port) // on the same port, where the clients reconnect
	verifytest.Eventually(t, 3*time.Second, "redis back in use", func() bool { return a.remote.up() && b.remote.up() })
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d verifications failed during the outage; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if ok.Load() < 200 {
		t.Fatalf("only %d verifications ran", ok.Load())
	}
	for _, in := range []*instance{a, b} {
		if rec := in.lookup(t, revoked); rec.Verdict != verify.Revoked {
			t.Errorf("revocation made during the outage not answered: %s", rec.Verdict)
		}
	}
	logs := a.logs.String()
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
	w := verifytest.NewWorld(t, st, 1)
	rs := startRedis(t, 0)
	a := start(t, st, rs.url(), Options{})
	// b runs throughout, so its start-up replay cannot be what saves it.
	b := start(t, st, rs.url(), Options{})
	n := w.Certs[0].Number
	a.shareInRedis(t, rs, n)
	// Pause Redis: it keeps the entry but answers nothing.
	if err := rs.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, n, issuer.ReasonError, ""); err != nil {
		_ = rs.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatal(err)
	}
	verifytest.Eventually(t, 3*time.Second, "revoked while Redis paused", func() bool { return a.lookup(t, n).Verdict == verify.Revoked })
	_ = rs.cmd.Process.Signal(syscall.SIGCONT)
	verifytest.Eventually(t, 3*time.Second, "redis back", func() bool { return a.remote.up() })
	// b has nothing in L1: it must not get the stale entry from Redis.
	if rec := b.lookup(t, n); rec.Verdict != verify.Revoked {
		t.Errorf("stale valid entry served after the outage: %s", rec.Verdict)
	}
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
