package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"certd/issuer"
	"certd/verify/cache"
)

// redisHas reports whether some key in Redis names the certificate.
func redisHas(t *testing.T, rs *redisServer, number string) bool {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: rs.addr(), DisableIdentity: true})
	defer c.Close()
	keys, err := c.Keys(context.Background(), "*"+number+"*").Result()
	return err == nil && len(keys) > 0
}

// A view written to Redis by an instance that then stopped, before a
// revocation it never saw, must not be served by an instance started after
// the revocation (made here the way certd revoke makes it: no server ran).
func TestRestartDoesNotServeStaleRedisView(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 1)
	rs := startRedis(t, 0)
	n := w.certs[0].Number
	a := newApp(t, st, Deps{RedisURL: rs.url()})
	a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	a.do(t, "GET", "/api/v1/certificates/"+n, nil) // the second use writes it to Redis
	eventually(t, 3*time.Second, "view written to Redis", func() bool { return redisHas(t, rs, n) })
	a.svc.Close() // a never sees what follows
	if _, err := w.iss.Revoke(w.ctx, authority, n, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	b := newApp(t, st, Deps{RedisURL: rs.url()})
	if _, body := b.do(t, "GET", "/api/v1/certificates/"+n, nil); !strings.Contains(body, `"verdict":"revoked"`) {
		t.Fatalf("a new instance served the stale view: %.300s", body)
	}
}

// A view another instance read just before a revocation and wrote to Redis
// just after it must not come back on an instance that has already applied
// the revocation.
func TestLateRedisWriteIsNotTrusted(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 1)
	rs := startRedis(t, 0)
	n := w.certs[0].Number
	a := newApp(t, st, Deps{RedisURL: rs.url()})
	b := newApp(t, st, Deps{RedisURL: rs.url()})
	// a builds a view while the certificate is valid; keep a copy of it.
	a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	eventually(t, 3*time.Second, "view written to Redis", func() bool { return redisHas(t, rs, n) })
	c := redis.NewClient(&redis.Options{Addr: rs.addr(), DisableIdentity: true})
	defer c.Close()
	ctx := context.Background()
	keys, _ := c.Keys(ctx, "*"+n+"*").Result()
	stale, err := c.Get(ctx, keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.iss.Revoke(w.ctx, authority, n, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	// b applies the revocation (and deletes the Redis key) ...
	eventually(t, 3*time.Second, "b sees the revocation", func() bool {
		_, body := b.do(t, "GET", "/api/v1/certificates/"+n, nil)
		return strings.Contains(body, `"verdict":"revoked"`)
	})
	// ... then the late write lands, and b's in-process copy is gone.
	if err := c.Set(ctx, keys[0], stale, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	b.svc.l1.InvalidateAll()
	if _, body := b.do(t, "GET", "/api/v1/certificates/"+n, nil); !strings.Contains(body, `"verdict":"revoked"`) {
		t.Fatalf("b trusted a view written to Redis after the revocation it applied: %.300s", body)
	}
}

// TestRedisOnSecondUse: a view used once stays in its instance; used a
// second time it goes to Redis, and another instance then answers from
// Redis without reading the database.
func TestRedisOnSecondUse(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 2)
	rs := startRedis(t, 0)
	a := newApp(t, st, Deps{RedisURL: rs.url()})
	// Both running from the start: an instance that starts replays the
	// recent changes (these certificates' issuance among them) and drops
	// their Redis views.
	cs := &countingStore{Store: st}
	b := newApp(t, cs, Deps{RedisURL: rs.url()})
	once, twice := w.certs[0].Number, w.certs[1].Number
	a.do(t, "GET", "/api/v1/certificates/"+once, nil)
	a.do(t, "GET", "/api/v1/certificates/"+twice, nil)
	a.do(t, "GET", "/v/"+twice, nil)
	eventually(t, 3*time.Second, "view used twice written to Redis", func() bool { return redisHas(t, rs, twice) })
	if redisHas(t, rs, once) {
		t.Errorf("a view used once was written to Redis")
	}
	if r, body := b.do(t, "GET", "/api/v1/certificates/"+twice, nil); r.StatusCode != 200 || !strings.Contains(body, `"verdict":"valid"`) {
		t.Fatalf("instance b: %d %.200s", r.StatusCode, body)
	}
	if n := cs.reads.Load(); n != 0 {
		t.Errorf("instance b read the database %d times for a view in Redis", n)
	}
	b.do(t, "GET", "/api/v1/certificates/"+once, nil)
	if n := cs.reads.Load(); n != 1 {
		t.Errorf("instance b: %d database reads for a view not in Redis, want 1", n)
	}
}

// TestDeferredWriteOfInvalidatedView: a view waiting for its second use
// to go to Redis must not get there after its number was invalidated,
// however long it waited.
func TestDeferredWriteOfInvalidatedView(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 2)
	rs := startRedis(t, 0)
	a := newApp(t, st, Deps{RedisURL: rs.url()})
	n := w.certs[0].Number
	a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	e, ok := a.svc.l1.GetIfPresent(n)
	if !ok || e.toRedis.Load() == nil {
		t.Fatal("the view was not kept waiting for its second use")
	}
	stale := *e.toRedis.Load()
	if _, err := w.iss.Revoke(w.ctx, authority, n, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "revocation applied", func() bool {
		_, body := a.do(t, "GET", "/api/v1/certificates/"+n, nil)
		return strings.Contains(body, `"verdict":"revoked"`)
	})
	// The old view's write arrives late, as if its second use had raced
	// with the invalidation; a good write follows it in the same queue.
	// Issued before the instance started: a certificate issued while it
	// runs is invalidated by its own issuance event, which may land after
	// the view was read and (rightly) stop its write.
	other := w.certs[1].Number
	a.do(t, "GET", "/api/v1/certificates/"+other, nil)
	oe, _ := a.svc.l1.GetIfPresent(other)
	a.svc.writes <- stale
	a.svc.writes <- *oe.toRedis.Load()
	eventually(t, 3*time.Second, "the good write landed", func() bool { return redisHas(t, rs, other) })
	if redisHas(t, rs, n) {
		t.Fatal("a view from before the revocation was written to Redis after it")
	}
}

// TestDeferredWriteKeepsItsLifetime: a view written to Redis on its second
// use lives there only as long as it would have from its first: the kill
// marks and a new instance's replay window are sized to that.
func TestDeferredWriteKeepsItsLifetime(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 1)
	rs := startRedis(t, 0)
	a := newApp(t, st, Deps{RedisURL: rs.url(), Options: Options{TTL: 8 * time.Second}})
	n := w.certs[0].Number
	a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	time.Sleep(2 * time.Second)
	a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	eventually(t, 3*time.Second, "view in Redis", func() bool { return redisHas(t, rs, n) })
	c := redis.NewClient(&redis.Options{Addr: rs.addr(), DisableIdentity: true})
	defer c.Close()
	keys, _ := c.Keys(context.Background(), "*"+n+"*").Result()
	ttl, err := c.PTTL(context.Background(), keys[0]).Result()
	// Built-at is kept in whole seconds, so the remaining life may come out
	// up to a second short, never long.
	if err != nil || ttl > 6500*time.Millisecond || ttl <= 0 {
		t.Errorf("Redis TTL %v (%v) for a view read 2 s into an 8 s lifetime, want at most 6 s", ttl, err)
	}
}

// TestBulkRowsUsedOnce: a bulk list's rows are one use each: a list checked
// once puts nothing in Redis, the same list checked again does.
func TestBulkRowsUsedOnce(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 4)
	rs := startRedis(t, 0)
	a := newApp(t, st, Deps{RedisURL: rs.url()})
	rows := w.certs[:3]
	var items []map[string]string
	for _, c := range rows {
		items = append(items, map[string]string{"number": c.Number, "name": c.Holder.Name})
	}
	req, _ := json.Marshal(map[string]any{"items": items})
	check := func() {
		if resp, body := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(req), "Content-Type", "application/json"); resp.StatusCode != 200 {
			t.Fatalf("bulk: %d %.200s", resp.StatusCode, body)
		}
	}
	check()
	// A single use of another number goes through the same queue after
	// the bulk rows would have: once its own second use lands, the rows'
	// writes would have too.
	probe := w.certs[3].Number // issued before the instance started, like the rows
	a.do(t, "GET", "/api/v1/certificates/"+probe, nil)
	a.do(t, "GET", "/api/v1/certificates/"+probe, nil)
	eventually(t, 3*time.Second, "probe written", func() bool { return redisHas(t, rs, probe) })
	for _, c := range rows {
		if redisHas(t, rs, c.Number) {
			t.Errorf("%s was written to Redis after one bulk check", c.Number)
		}
	}
	check()
	eventually(t, 3*time.Second, "rows written after a second check", func() bool {
		for _, c := range rows {
			if !redisHas(t, rs, c.Number) {
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
	r, err := cache.Open(rs.url(), cache.Options{Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if got := r.GetMany(ctx, []string{"a", "b"}); got[0] != nil || got[1] != nil {
		t.Fatalf("values from a spent context: %q", got)
	}
	r.SetMany(ctx, []cache.KV{{Key: "a", Value: []byte("x"), TTL: time.Minute}})
	if !r.Up() {
		t.Fatal("a spent deadline marked Redis down")
	}
}
