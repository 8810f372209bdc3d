package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer/clientip"
	"certd/verify/cache"
)

// limiter counts requests per client in fixed windows. With Redis, every
// instance adds its counts to a shared counter a few times a second and
// decides on the shared total plus what it has not sent yet; so the limit
// holds across instances within one sync interval, and a request never
// waits on Redis. Without Redis (or while it is away) each instance limits
// on its own counts.
type limiter struct {
	name   string
	limit  int64
	window time.Duration
	remote *cache.Remote
	shards [32]limShard
	stop   chan struct{}
	done   chan struct{}
}

type limShard struct {
	mu sync.Mutex
	m  map[string]*limCount
}

type limCount struct {
	win      int64
	mine     int64 // counted here this window
	unsynced int64 // part of mine not yet added to Redis
	others   int64 // other instances' share, as of the last sync
}

func newLimiter(name string, limit int, window time.Duration, remote *cache.Remote) *limiter {
	l := &limiter{name: name, limit: int64(limit), window: window, remote: remote, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range l.shards {
		l.shards[i].m = map[string]*limCount{}
	}
	go l.run()
	return l
}

func (l *limiter) shard(key string) *limShard {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key)) // a hash.Hash never returns an error
	return &l.shards[h.Sum32()%uint32(len(l.shards))]
}

// allow counts cost against key and reports whether it is within the limit.
func (l *limiter) allow(key string, cost int64) bool {
	if l.limit < 0 {
		return true
	}
	win := time.Now().UnixNano() / int64(l.window)
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.m[key]
	if c == nil || c.win != win {
		c = &limCount{win: win}
		s.m[key] = c
	}
	if c.others+c.mine+cost > l.limit {
		return false
	}
	c.mine += cost
	c.unsynced += cost
	return true
}

// count is what key has used this window, here and (as of the last sync)
// elsewhere.
func (l *limiter) count(key string) int64 {
	win := time.Now().UnixNano() / int64(l.window)
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.m[key]; c != nil && c.win == win {
		return c.others + c.mine
	}
	return 0
}

func (l *limiter) run() {
	defer close(l.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.sync()
	}
}

// sync drops finished windows and exchanges counts with Redis.
func (l *limiter) sync() {
	win := time.Now().UnixNano() / int64(l.window)
	send := map[string]int64{}
	sent := map[string]*limCount{}
	mineAt := map[string]int64{}
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k, c := range s.m {
			switch {
			case c.win != win:
				delete(s.m, k)
			case c.unsynced > 0 && l.remote != nil:
				rk := "rl:" + l.name + ":" + strconv.FormatInt(win, 10) + ":" + k
				send[rk], sent[rk], mineAt[rk] = c.unsynced, c, c.mine
				c.unsynced = 0
			}
		}
		s.mu.Unlock()
	}
	if len(send) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	totals, err := l.remote.IncrBy(ctx, send, l.window+time.Minute)
	if err != nil {
		return // local counts stand on their own until Redis is back
	}
	for rk, total := range totals {
		c := sent[rk]
		s := l.shardOf(c, rk)
		s.mu.Lock()
		c.others = max(0, total-mineAt[rk])
		s.mu.Unlock()
	}
}

func (l *limiter) shardOf(_ *limCount, rk string) *limShard {
	return l.shard(rk[strings.LastIndexByte(rk, ':')+1:])
}

func (l *limiter) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
		<-l.done
	}
}

// rateLimit is the per-client request limit on every public route after it.
func (h *handlers) rateLimit(c *fiber.Ctx) error {
	if h.reqs.limit >= 0 && !h.reqs.allow(h.clientKey(c), 1) {
		return h.limited(c)
	}
	return c.Next()
}

// clientKey identifies the client for rate limiting without keeping its
// address: a hash keyed with the deployment's secret is enough to count,
// and is all that reaches Redis or the database. Unkeyed, it could be
// reversed by hashing every IPv4 address (2^32 tries, minutes).
func (h *handlers) clientKey(c *fiber.Ctx) string {
	var xff string
	if len(h.trusted) > 0 { // read only where a proxy may have written it
		xff = clientip.Forwarded(c.Request().Header.PeekAll(fiber.HeaderXForwardedFor))
	}
	// A client owns a whole IPv6 /64; counting per address would let it
	// rotate through them.
	return h.keyOf(clientip.Block(clientip.Of(c.Context().RemoteIP(), xff, h.trusted)))
}

// keyOf is SHA-256 over the secret and the block's 16-byte form (IPv4
// mapped): a keyed hash of fixed-length input, with no allocation but the
// result's.
func (h *handlers) keyOf(block netip.Addr) string {
	var buf [32 + 16]byte
	copy(buf[:32], h.clientSecret[:])
	a := block.As16()
	copy(buf[32:], a[:])
	sum := sha256.Sum256(buf[:])
	return hex.EncodeToString(sum[:12])
}
