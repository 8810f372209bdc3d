package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"certd/issuer"
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
