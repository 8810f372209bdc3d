package verify

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

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
	h.Write([]byte(key))
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

// full reports whether key has used its whole budget this window.
func (l *limiter) full(key string) bool {
	if l.limit < 0 {
		return false
	}
	win := time.Now().UnixNano() / int64(l.window)
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.m[key]
	return c != nil && c.win == win && c.others+c.mine >= l.limit
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

func (h *handlers) limited(c *fiber.Ctx) error {
	h.svc.m.limited.Inc()
	c.Set("Retry-After", "60")
	return h.fail(c, fiber.StatusTooManyRequests, "请求过于频繁，请稍后再试", "too many requests; try again later")
}

// clientKey identifies the client for rate limiting without keeping its
// address: a hash is enough to count, and is all that reaches Redis.
func (h *handlers) clientKey(c *fiber.Ctx) string {
	ip := ClientIP(c.Context().RemoteIP(), c.Get(fiber.HeaderXForwardedFor), h.trusted)
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.Is6() {
		// A client owns a whole /64; counting per address would let it
		// rotate through them.
		p, _ := ip.WithZone("").Prefix(64)
		ip = p.Addr()
	}
	b, _ := ip.MarshalBinary()
	f := fnv.New64a()
	f.Write(b)
	return hex.EncodeToString(f.Sum(nil))
}

// ParseTrustedProxies parses IPs and CIDR prefixes.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("受信任代理 %q 不是IP地址或网段 / trusted proxy %q is not an IP address or CIDR prefix", s, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client: the peer, unless the peer is a
// trusted proxy, in which case X-Forwarded-For is walked from the right
// (the entries the proxies themselves appended) to the first address that
// is not a trusted proxy. Entries further left were written by the client
// and prove nothing. A malformed entry ends the walk at the last good one.
func ClientIP(peer net.IP, xff string, trusted []netip.Prefix) netip.Addr {
	addr, ok := netip.AddrFromSlice(peer)
	if !ok {
		return netip.IPv4Unspecified()
	}
	addr = addr.Unmap()
	if len(trusted) == 0 || !trustedAddr(addr, trusted) || xff == "" {
		return addr
	}
	if len(xff) > 2048 {
		xff = xff[len(xff)-2048:]
	}
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return addr
		}
		a = a.Unmap()
		if !trustedAddr(a, trusted) {
			return a
		}
		addr = a
	}
	return addr
}
