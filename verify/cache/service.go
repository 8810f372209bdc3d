package cache

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"certd/issuer"
	"certd/verify"
)

// ErrUnavailable means a lookup cannot be answered right now (the database
// is unreachable or holds no authority yet). It is never turned into a
// verdict: a viewer is told to try again, not that a certificate is
// unknown. Its kind is [issuer.ErrUnavailable].
var ErrUnavailable = issuer.Errorf(issuer.ErrUnavailable, "verify_unavailable",
	"暂时无法验证，请稍后再试", "verification is temporarily unavailable; try again shortly")

// Options configure a [Service].
type Options struct {
	Store verify.Store
	// Redis is the shared second-level cache; nil means in-process only.
	// The caller closes it, after the service.
	Redis *Remote
	Log   *slog.Logger
	// Metrics receives the cache's counters (hits, loads, invalidations,
	// batch signature failures, Redis state); nil keeps them unpublished.
	Metrics prometheus.Registerer
	// Poll is how often the audit log is read for changes made anywhere;
	// it bounds how long a revocation can stay unseen. Default 200ms.
	Poll time.Duration
	// Freshness is how old this instance's knowledge of the register may
	// be when it answers "valid" (or "not found"): a successful read of
	// the audit log must have started within it. Past it, such a view is
	// answered as [verify.Stale]: a revocation made since could be
	// missing. Default [DefaultFreshness]; it must exceed Poll.
	Freshness time.Duration
	// PollTimeout bounds one read of the audit log, so that a frozen
	// connection cannot hold the tail: the next read starts on a fresh
	// one. Default Freshness/2.
	PollTimeout time.Duration
	// TTL bounds how long a found certificate's view is cached, NegativeTTL
	// an unknown number's. Invalidation does not wait for them; they only
	// bound memory and the damage of a missed event.
	TTL, NegativeTTL time.Duration
	// L1Bytes bounds the in-process cache's memory, roughly (entries are
	// weighed by an estimate that errs high). Default 256 MiB: a cold
	// flood of different numbers then costs evictions, not gigabytes.
	L1Bytes int64
	Now     func() time.Time
	// LogPolicy is the public log's tlog-policy, published in the trust
	// bundle; PublicLog checks that each certificate is in the log (nil:
	// no such check, as in a deployment without a log).
	LogPolicy string
	PublicLog verify.LogSource
}

// DefaultFreshness is the design's promise: a revocation is answered by
// every instance within a second, or the instance says it cannot confirm
// the current status.
const DefaultFreshness = time.Second

// Service is the public lookup layer: it turns a certificate number into
// the ready verification view, through an in-process cache (otter) and, when
// configured, Redis, and keeps both fresh by tailing the audit log, which
// every change to a certificate or an institution appends to in the same
// transaction, whichever process or command made it.
type Service struct {
	store  verify.Store
	remote *Remote
	log    *slog.Logger
	opt    Options
	m      *metrics

	dir atomic.Pointer[Directory]
	// writes queues views for Redis; writeBehind drains it.
	// applied is the watermark of audit events whose invalidations have
	// been applied; killed remembers, per number, the newest sequence at
	// which it was invalidated (pruned after the Redis TTL).
	applied   atomic.Int64
	killed    map[string]killMark
	lastPrune time.Time
	// dirStale is set when an institution change was read but the
	// directory could not be reloaded; only the polling goroutine uses it.
	dirStale   bool
	writes     chan pendingWrite
	writesDone chan struct{}
	l1         *otter.Cache[string, *Entry]
	sf         singleflight.Group
	loads      chan loadReq
	// loadersDone lets Close wait for the loaders: they use the store,
	// the caches and Redis.
	loadersDone sync.WaitGroup

	// gen counts invalidations. A load notes it before reading and writes
	// its result only if it did not move, under the read lock; the poller
	// moves it under the write lock before deleting, so a value read before
	// a change can never be written back after that change's deletion.
	mu  sync.RWMutex
	gen uint64

	cursor int64               // newest audit seq processed
	holes  map[int64]time.Time // seqs below cursor not seen yet (transactions still open)

	// epoch is the origin of the monotonic instants below (nanoseconds
	// since epoch), which a wall-clock step cannot move. freshAt is the
	// start of the newest successful read of the audit log: every change
	// committed before it has been applied.
	epoch   time.Time
	freshAt atomic.Int64

	stop chan struct{}
	done chan struct{}
}

// RenderSlots is how many rendered forms an [Entry] keeps; the caller of
// [Service.Render] numbers its forms from 0.
const RenderSlots = 8

// Entry is one cached view with the forms rendered from it, each made on
// first use and kept as long as the view.
type Entry struct {
	rec      *verify.Record
	rendered [RenderSlots]atomic.Pointer[Blob]
	// knownAt is when the view was known to be the register's current
	// word (the service's monotonic clock): the start of its database
	// read, or for a view from Redis the service's freshness when its
	// invalidations were checked. unconfirmed is the view's stale form,
	// kept while the instance's knowledge stays as old.
	knownAt     int64
	unconfirmed atomic.Pointer[Entry]
	// toRedis is the Redis write this view is waiting for: it is made on
	// the view's second use, not its first (see Lookup). firstUseFree is
	// set for a view a bulk list prefetched: its row's lookup is its first
	// use.
	toRedis      atomic.Pointer[pendingWrite]
	firstUseFree atomic.Bool
}

// Record is the view. It is shared by every viewer: cut what one viewer
// may see from it with [verify.Record.For], never change it.
func (e *Entry) Record() *verify.Record { return e.rec }

// Blob is a response body ready to send, with its strong ETag and, made on
// first demand, its gzip form.
type Blob struct {
	body   []byte
	etag   string
	stamp  *stamped // a page that says when it was viewed (stamp.go)
	gzOnce sync.Once
	gz     []byte
}

// NewBlob wraps body, naming it by its SHA-256.
func NewBlob(body []byte) *Blob {
	sum := sha256.Sum256(body)
	return &Blob{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, stamp: findStamp(body)}
}

// Body is the body as rendered.
func (b *Blob) Body() []byte { return b.body }

// ETag is the body's strong entity tag, quoted.
func (b *Blob) ETag() string { return b.etag }

// Gzipped is the body compressed, or nil when it is too small to be worth
// it; a weak phone link then gets a third of the bytes.
func (b *Blob) Gzipped() []byte {
	b.gzOnce.Do(func() { b.gz = gzipBytes(b.body) })
	return b.gz
}

// weight is the entry's memory estimate: the record's plus the forms
// rendered so far, each with room for its gzip copy.
func (e *Entry) weight() uint32 {
	w := recordWeight(e.rec)
	for i := range e.rendered {
		if b := e.rendered[i].Load(); b != nil {
			w = satAdd(w, len(b.body)+len(b.body)/2)
		}
	}
	return w
}

// recordWeight estimates the memory a cached view holds before anything is
// rendered: the record and its signed token twice over (the string and the
// decoded facts). It errs high.
func recordWeight(r *verify.Record) uint32 {
	if !r.Found {
		return 512
	}
	return satAdd(2<<10, 2*len(r.Token))
}

// satAdd adds n to a weight, saturating instead of wrapping: an absurdly
// large entry must weigh the most, never almost nothing.
func satAdd(w uint32, n int) uint32 {
	if n < 0 {
		return w
	}
	if uint64(n) >= uint64(^uint32(0)-w) {
		return ^uint32(0)
	}
	return w + uint32(n) // #nosec G115 -- n < MaxUint32-w, checked above
}

// Render returns rendered form slot of e, building it on its first use. A
// form that failed to build (nil) is not kept. A new form makes the entry
// heavier, so the cache weighs it again, if it still holds this entry (an
// invalidation may have dropped it meanwhile: it must not come back).
func (s *Service) Render(e *Entry, slot int, build func() []byte) *Blob {
	if b := e.rendered[slot].Load(); b != nil {
		return b
	}
	body := build()
	if body == nil {
		return nil
	}
	b := NewBlob(body)
	e.rendered[slot].Store(b)
	s.l1.ComputeIfPresent(e.rec.Number, func(old *Entry) (*Entry, otter.ComputeOp) {
		if old != e {
			return old, otter.CancelOp
		}
		return e, otter.WriteOp
	})
	return b
}

// gzipWriters are reused: a new gzip writer allocates about 800 KB.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func gzipBytes(b []byte) []byte {
	if len(b) < 512 {
		return nil
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// New loads the directory, finds the end of the audit log and starts
// tailing it.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Poll == 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.TTL == 0 {
		o.TTL = 10 * time.Minute
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 30 * time.Second
	}
	if o.L1Bytes == 0 {
		o.L1Bytes = 256 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Freshness == 0 {
		o.Freshness = DefaultFreshness
	}
	if o.PollTimeout == 0 {
		o.PollTimeout = o.Freshness / 2
	}
	if o.Poll >= o.Freshness || o.PollTimeout >= o.Freshness {
		return nil, fmt.Errorf("verification cache: the audit poll interval (%v) and timeout (%v) must be shorter than the freshness bound (%v)",
			o.Poll, o.PollTimeout, o.Freshness)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var s *Service
	s = &Service{store: o.Store, remote: o.Redis, log: o.Log, opt: o, holes: map[int64]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{}), m: newMetrics(o.Metrics, o.Redis, func() float64 { return s.age().Seconds() }),
		writes: make(chan pendingWrite, 4096), writesDone: make(chan struct{}), killed: map[string]killMark{},
		loads: make(chan loadReq, 4096), epoch: time.Now()}
	neg, pos := o.NegativeTTL, o.TTL
	s.l1 = otter.Must(&otter.Options[string, *Entry]{
		MaximumWeight: uint64(max(o.L1Bytes, 1)),
		Weigher:       func(k string, e *Entry) uint32 { return satAdd(e.weight(), len(k)) },
		// Expiry counts from when the view was cached: re-weighing an
		// entry after it renders a form (Render) must not extend its life.
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[string, *Entry]) time.Duration {
			if !e.Value.rec.Found {
				return neg
			}
			return pos
		}),
	})
	// The workers below live as long as the service, not as long as ctx
	// (which only bounds start-up); Close stops them.
	if o.Redis != nil {
		go s.writeBehind() // #nosec G118 -- service-lifetime worker, stopped by Close
	}
	// The cursor is found before the directory is read, so that a change
	// made in between is replayed rather than missed; what was committed
	// before this instant is known once both are read.
	known := s.clock()
	cur, err := s.lastSeq(ctx)
	if err != nil {
		return nil, err
	}
	s.cursor = cur
	if err := s.reloadDirectory(ctx); err != nil && !issuer.Is(err, issuer.ErrNotFound) {
		return nil, err
	}
	if err := s.replayRecent(ctx, cur); err != nil {
		return nil, err
	}
	s.freshAt.Store(known)
	s.loadersDone.Add(loaders)
	for range loaders {
		go s.loader() // #nosec G118 -- service-lifetime worker, stopped by Close
	}
	go s.tail() // #nosec G118 -- service-lifetime worker, stopped by Close
	return s, nil
}

// Lookup returns the verification view of a normalised number. Concurrent
// misses for one number share one load. The only error is
// [ErrUnavailable]: the view could not be read, which says nothing about
// the certificate.
//
// A view that says valid or not found comes back as its [verify.Stale]
// form when this instance cannot vouch that it is current (see
// Options.Freshness); that is decided on every answer, cached or not.
func (s *Service) Lookup(ctx context.Context, number string) (*Entry, error) {
	// Read before the cache: a view found there afterwards has survived
	// every invalidation of the audit read that made the instance this
	// fresh (see vouched).
	fresh := s.freshAt.Load()
	if e, ok := s.l1.GetIfPresent(number); ok {
		s.m.l1Hit.Inc()
		// A view goes to Redis when it is used a second time. Most lookups
		// of a number are its only one (a QR scanned once, a row of a bulk
		// check, a guess), and writing each of those would cost Redis more
		// than it ever saves; a view that is asked for again is the kind
		// another instance will be asked for too.
		if w := e.toRedis.Load(); w != nil && !e.firstUseFree.CompareAndSwap(true, false) && e.toRedis.CompareAndSwap(w, nil) {
			select {
			case s.writes <- *w:
			default: // a full queue drops the write; it is only a cache
			}
		}
		return s.vouched(e, fresh), nil
	}
	s.m.l1Miss.Inc()
	v, err, _ := s.sf.Do(number, func() (any, error) {
		// A load that finished between our miss and this call has
		// cached the view already: one read per miss, not two. (The load
		// serves every waiter, so it does not take this caller's context:
		// the first one giving up must not fail the others.)
		fresh := s.freshAt.Load()
		if e, ok := s.l1.GetIfPresent(number); ok {
			return known{e, fresh}, nil
		}
		e, err := s.enqueue(number)
		return known{e, 0}, err
	})
	if err != nil {
		return nil, err
	}
	k := v.(known)
	return s.vouched(k.e, k.fresh), nil
}

// known is a view with the service's freshness read before it was taken
// from the cache (0 for a view just loaded, which carries its own).
type known struct {
	e     *Entry
	fresh int64
}

// clock is the service's monotonic clock: nanoseconds since epoch.
func (s *Service) clock() int64 { return int64(time.Since(s.epoch)) }

// age is how long ago the newest successful read of the audit log started.
func (s *Service) age() time.Duration { return time.Duration(s.clock() - s.freshAt.Load()) }

// vouched returns e if its verdict may be given now, or else its stale
// form. Only "valid" and "not found" can be wrong because of a change not
// seen yet (a revocation, an issuance); they are given only while the view
// is known to be current within Options.Freshness. It is known current as
// of its own read (knownAt), and, while it stays in the cache, as of the
// start of every later successful audit read (fresh, read before the view
// was taken from the cache: had that read seen a change to this number,
// the view would have been dropped first). On the hot path this costs a
// clock read and a pointer load.
func (s *Service) vouched(e *Entry, fresh int64) *Entry {
	if v := e.rec.Verdict; v != verify.Valid && v != verify.NotFound {
		return e
	}
	at := max(fresh, e.knownAt)
	if s.clock()-at <= int64(s.opt.Freshness) {
		// Caught up: the stale form (and what was rendered from it,
		// which the cache does not weigh) is not kept past the outage.
		if e.unconfirmed.Load() != nil {
			e.unconfirmed.Store(nil)
		}
		return e
	}
	asOf := s.epoch.Add(time.Duration(at))
	if u := e.unconfirmed.Load(); u != nil && u.rec.BuiltAt == asOf.Unix() {
		return u
	}
	// Not cached on its own: it is only ever reached through e, and it
	// goes when the instance catches up. Its rendered forms are kept with
	// it while the instance stays behind.
	u := &Entry{rec: e.rec.Unconfirmed(asOf), knownAt: at}
	e.unconfirmed.Store(u)
	return u
}

// AsOf is the start of the newest successful read of the audit log: every
// change committed before it has been applied here.
func (s *Service) AsOf() time.Time { return s.epoch.Add(time.Duration(s.freshAt.Load())) }

// Status answers a [verify.Verifier]'s status check from the cached view,
// so that checking a presented record costs no more than a lookup.
func (s *Service) Status(ctx context.Context, number string) (verify.StatusInfo, error) {
	e, err := s.Lookup(ctx, number)
	if err != nil {
		return verify.StatusInfo{}, err
	}
	return e.rec.StatusInfo(), nil
}

// Fresh reads a certificate straight from the store, bypassing the cache,
// for the rare questions that need the store's newest bookkeeping (the PDF
// hash is set after issuance and appends no audit event).
func (s *Service) Fresh(ctx context.Context, number string) (issuer.Certificate, error) {
	return s.store.Certificate(ctx, number)
}

// Directory is the institutions as of the last reload, or nil while none
// could be read (the store was unreachable, or holds no authority yet).
func (s *Service) Directory() *Directory { return s.dir.Load() }

func viewKey(fp, number string) string { return viewSpace + fp + ":" + number }

// pendingWrite is a view waiting to be written to Redis. dir is the
// directory the view was built under, and rec.Seq the watermark of applied
// invalidations before the store was read: if the directory changed since,
// or the number was invalidated at a later sequence, the view may be stale
// and is not written. It may wait minutes for its second use, so the check
// is per number, not the global gen.
type pendingWrite struct {
	key string
	rec *verify.Record
	ttl time.Duration
	dir *Directory
}

// writeBehind drains pending writes in batches until the service stops.
func (s *Service) writeBehind() {
	defer close(s.writesDone)
	batch := make([]pendingWrite, 0, 256)
	kvs := make([]kv, 0, 256)
	written := make([]pendingWrite, 0, 256)
	for {
		var ok bool
		if batch, ok = nextBatch(s.stop, s.writes, batch, cap(batch)); !ok {
			return
		}
		kvs, written = kvs[:0], written[:0]
		now := s.opt.Now()
		s.mu.RLock()
		for _, w := range batch {
			// A view lives in Redis no longer than it would have had it
			// been written when it was read: the kill marks and a new
			// instance's replay window are sized to that.
			ttl := w.ttl - now.Sub(time.Unix(w.rec.BuiltAt, 0))
			if ttl < time.Second || !s.writable(w) {
				continue
			}
			b, _ := json.Marshal(w.rec) // a Record always marshals
			kvs = append(kvs, kv{key: w.key, value: b, ttl: ttl})
			written = append(written, w)
		}
		s.mu.RUnlock()
		if len(kvs) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.remote.setMany(ctx, kvs)
		cancel()
		// An invalidation that came between the check and the write may
		// have deleted the keys before they landed: look again, and delete
		// what went stale meanwhile. Not holding the lock across the round
		// trip keeps a slow Redis from stalling invalidations and loads.
		var stale []string
		s.mu.RLock()
		for _, w := range written {
			if !s.writable(w) {
				stale = append(stale, w.key)
			}
		}
		s.mu.RUnlock()
		if len(stale) > 0 {
			s.remote.del(stale...)
		}
	}
}

// writable reports whether w may still be written: the directory it was
// built under is current, and its number was not invalidated at a
// sequence the record may predate (rec.Seq is the watermark before the
// record was read). Called with s.mu held.
func (s *Service) writable(w pendingWrite) bool {
	return w.dir == s.dir.Load() && s.killed[w.rec.Number].seq <= w.rec.Seq
}

// Ready checks the store and reports the cache's state. A Redis outage
// does not make the service unready: it answers from the database.
//
// An instance that has not read the audit log within Options.Freshness is
// not ready either: it withholds "valid", and a load balancer should send
// the viewer to an instance that can give it.
func (s *Service) Ready(ctx context.Context) (map[string]string, bool) {
	out := map[string]string{"store": "ok", "cache": "in-process", "changes": "ok"}
	ok := true
	if age := s.age(); age > s.opt.Freshness {
		out["changes"] = fmt.Sprintf("stale: the audit log was last read %s ago (as of %s); valid answers are withheld",
			age.Round(time.Millisecond), s.AsOf().In(issuer.ChinaTime).Format(time.RFC3339))
		ok = false
	}
	if err := s.store.Ping(ctx); err != nil {
		out["store"], ok = "unavailable", false
	}
	if s.dir.Load() == nil {
		out["registry"], ok = "not loaded", false
	}
	// A store that spreads reads over replicas says how each is doing; a
	// replica out of rotation leaves the instance ready (the primary
	// answers).
	if r, isR := s.store.(interface {
		Readiness(context.Context) map[string]string
	}); isR {
		for k, v := range r.Readiness(ctx) {
			out[k] = v
		}
	}
	if s.remote != nil {
		if s.remote.up() {
			out["cache"] = "redis ok"
		} else {
			out["cache"] = "redis unavailable; answering from the database"
		}
	}
	return out, ok
}

// Close stops tailing the audit log and the loaders, and releases the
// cache. It does not close the Redis client it was given.
func (s *Service) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	<-s.done
	s.loadersDone.Wait()
	if s.remote != nil {
		<-s.writesDone
	}
	s.l1.StopAllGoroutines()
}
