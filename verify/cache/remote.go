package cache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// maxPending bounds the deletions remembered during an outage; past it the
// whole key space is swept on recovery instead.
const maxPending = 100_000

// Remote is the Redis shared by the instances: the second-level cache of
// verification views, and the shared counters of the rate limits.
//
// Redis is an accelerator, never a dependency: every call degrades to a miss
// (or a local answer) when Redis is unreachable, the outage is logged once,
// and a background probe picks Redis up again when it returns. Deletions
// that could not be made during an outage are remembered and made before the
// cache is trusted again, so that a revocation that happened while Redis was
// away cannot come back from a stale entry.
type Remote struct {
	rdb redis.UniversalClient
	// cluster: keys of one command may live on different nodes, so
	// multi-key commands (MGET, DEL, UNLINK) are sent key by key in one
	// pipeline, which go-redis splits per node.
	cluster bool
	form    RedisForm
	prefix  string
	log     *slog.Logger
	timeout time.Duration

	down     atomic.Bool
	mu       sync.Mutex
	pending  map[string]struct{}
	overflow bool

	stop chan struct{}
	done chan struct{}
}

// RemoteOptions tune a Remote; zero values pick defaults fit for a LAN
// Redis.
type RemoteOptions struct {
	Prefix  string        // key prefix, default "certd:"
	Timeout time.Duration // per-command timeout, default 250ms
	Log     *slog.Logger
}

// quiet drops go-redis's own log lines: it logs every failed dial, which
// during an outage is thousands of lines; Remote logs the outage once.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var quietOnce sync.Once

// Open parses a Redis URL in any of the forms ParseRedisURL reads (one
// server, Sentinel, Cluster), connects through go-redis's universal client
// and starts the reconnect probe. It does not fail when Redis is down: the
// cache starts in the down state. A Sentinel failover or a Cluster
// resharding shows as a short outage: the database answers meanwhile, the
// outage is logged once, and the cache is used again once the new master
// answers.
func Open(url string, o RemoteOptions) (*Remote, error) {
	opt, form, err := ParseRedisURL(url)
	if err != nil {
		return nil, err
	}
	quietOnce.Do(func() { redis.SetLogger(quiet{}) })
	if o.Timeout == 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.Prefix == "" {
		o.Prefix = "certd:"
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	// OSS Redis does not speak maintenance notifications or CLIENT SETINFO
	// (Debian ships 7.0); asking makes go-redis log a warning per connection.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.DisableIdentity = true
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = o.Timeout, o.Timeout, o.Timeout
	// A retry doubles the wait when Redis is gone; the database is the
	// fallback, so fail fast instead.
	opt.MaxRetries = -1
	opt.PoolTimeout = o.Timeout
	r := &Remote{rdb: redis.NewUniversalClient(opt), cluster: form == RedisCluster, form: form, prefix: o.Prefix, log: o.Log, timeout: o.Timeout, pending: map[string]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		r.markDown(err)
	}
	go r.probe()
	return r, nil
}

// up reports whether Redis is currently used.
func (r *Remote) up() bool { return !r.down.Load() }

func (r *Remote) markDown(err error) {
	if r.down.CompareAndSwap(false, true) {
		r.log.Warn("redis unreachable: verification continues from the database", "error", err.Error())
	}
}

// failed classifies an error from Redis: redis.Nil is a miss, not a
// failure; a caller whose context ended (cancelled, or its deadline spent
// waiting in a queue) says nothing about Redis. Redis being slow shows as
// the client's own read timeout instead.
func (r *Remote) failed(ctx context.Context, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	r.markDown(err)
	return true
}

// getMany returns the values of keys in one round trip (MGET), nil where
// a key is missing; all nil when Redis is away.
func (r *Remote) getMany(ctx context.Context, keys []string) [][]byte {
	out := make([][]byte, len(keys))
	if r.down.Load() || len(keys) == 0 {
		return out
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	if r.cluster {
		cmds := make([]*redis.StringCmd, len(full))
		_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range full {
				cmds[i] = p.Get(ctx, k)
			}
			return nil
		})
		// Each command says whether it failed: the pipeline's own error is
		// only the first, and may be a miss.
		for i, c := range cmds {
			b, err := c.Bytes()
			if r.failed(ctx, err) {
				return make([][]byte, len(keys))
			}
			out[i] = b
		}
		return out
	}
	vals, err := r.rdb.MGet(ctx, full...).Result()
	if r.failed(ctx, err) {
		return out
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out
}

// unlink deletes full keys through c: in one command on a single server,
// key by key in one pipeline on a Cluster (or on one of its nodes, whose
// keys may still be in different slots).
func unlink(ctx context.Context, c redis.Cmdable, cluster bool, full []string) error {
	if !cluster {
		return c.Unlink(ctx, full...).Err()
	}
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range full {
			p.Unlink(ctx, k)
		}
		return nil
	})
	return err
}

// kv is one value to write.
type kv struct {
	key   string
	value []byte
	ttl   time.Duration
}

// setMany writes values in one pipelined round trip; a failure only costs
// future misses.
func (r *Remote) setMany(ctx context.Context, kvs []kv) {
	if r.down.Load() || len(kvs) == 0 {
		return
	}
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, kv := range kvs {
			p.Set(ctx, r.prefix+kv.key, kv.value, kv.ttl)
		}
		return nil
	})
	r.failed(ctx, err)
}

// del deletes keys. Deletions that fail are remembered and made when Redis
// is back, before it is read again. It takes no context but uses its own
// deadline: a caller that gives up must not leave a stale entry behind.
func (r *Remote) del(keys ...string) {
	if len(keys) == 0 {
		return
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	for {
		if !r.down.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			err := unlink(ctx, r.rdb, r.cluster, full)
			cancel()
			if err == nil {
				return
			}
			r.markDown(err)
		}
		if r.remember(keys) {
			return
		}
	}
}

// remember records deletions to make on recovery. It refuses (false) when
// Redis came back meanwhile, so the caller deletes directly instead: the
// probe only goes up with nothing pending, under the same lock.
func (r *Remote) remember(keys []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down.Load() {
		return false
	}
	for _, k := range keys {
		if len(r.pending) >= maxPending {
			r.overflow = true
			return true
		}
		r.pending[k] = struct{}{}
	}
	return true
}

// sweep deletes every key under prefix+sub; used when the set of stale
// keys is unknown.
func (r *Remote) sweep(ctx context.Context, sub string) error {
	pattern := r.prefix + sub + "*"
	if cc, ok := r.rdb.(*redis.ClusterClient); ok {
		// SCAN walks one node: walk every master.
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return sweepNode(ctx, c, pattern, true)
		})
	}
	return sweepNode(ctx, r.rdb, pattern, false)
}

// sweepNode deletes the keys matching pattern on one server.
func sweepNode(ctx context.Context, c redis.Cmdable, pattern string, cluster bool) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := unlink(ctx, c, cluster, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return unlink(ctx, c, cluster, batch)
	}
	return nil
}

// viewSpace is the sub-prefix of the views, swept when too many deletions
// were missed.
const viewSpace = "v:"

// flush makes the deletions missed during an outage.
func (r *Remote) flush(ctx context.Context) error {
	r.mu.Lock()
	keys := make([]string, 0, len(r.pending))
	for k := range r.pending {
		keys = append(keys, r.prefix+k)
	}
	overflow := r.overflow
	r.mu.Unlock()
	if overflow {
		if err := r.sweep(ctx, viewSpace); err != nil {
			return err
		}
	}
	for i := 0; i < len(keys); i += 1000 {
		end := min(i+1000, len(keys))
		if err := unlink(ctx, r.rdb, r.cluster, keys[i:end]); err != nil {
			return err
		}
	}
	r.mu.Lock()
	for _, k := range keys {
		delete(r.pending, k[len(r.prefix):])
	}
	if overflow {
		r.overflow = false
	}
	r.mu.Unlock()
	return nil
}

// probe watches a down Redis and brings it back into use.
func (r *Remote) probe() {
	defer close(r.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if !r.down.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := r.rdb.Ping(ctx).Err()
		if err == nil {
			err = r.flush(ctx)
		}
		cancel()
		if err != nil {
			continue
		}
		// Deletions remembered since the flush keep Redis down for another
		// round; the check and the switch share remember's lock.
		r.mu.Lock()
		up := len(r.pending) == 0 && !r.overflow
		if up {
			r.down.Store(false)
		}
		r.mu.Unlock()
		if up {
			r.log.Info("redis reachable again: shared cache back in use")
		}
	}
}

// IncrBy adds counts to counters that expire after ttl and returns their
// new totals, in one round trip.
func (r *Remote) IncrBy(ctx context.Context, counts map[string]int64, ttl time.Duration) (map[string]int64, error) {
	if r.down.Load() {
		return nil, errors.New("redis down")
	}
	cmds := make(map[string]*redis.IntCmd, len(counts))
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, n := range counts {
			cmds[k] = p.IncrBy(ctx, r.prefix+k, n)
			p.Expire(ctx, r.prefix+k, ttl)
		}
		return nil
	})
	if r.failed(ctx, err) {
		return nil, err
	}
	out := make(map[string]int64, len(counts))
	for k, c := range cmds {
		out[k] = c.Val()
	}
	return out, nil
}

// Close stops the probe and closes the client.
func (r *Remote) Close() error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
		<-r.done
	}
	return r.rdb.Close()
}
