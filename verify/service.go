package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/verify/cache"
)

// ErrUnavailable means verification cannot be answered right now (the
// database is unreachable or holds no authority yet). It is never turned
// into a verdict: a viewer is told to try again, not that a certificate is
// unknown.
var ErrUnavailable = errors.New("暂时无法验证，请稍后再试 / verification is temporarily unavailable; try again shortly")

// Options configure a [Service].
type Options struct {
	Store Store
	// Redis is the shared second-level cache; nil means in-process only.
	Redis *cache.Remote
	Log   *slog.Logger
	// Poll is how often the audit log is read for changes made anywhere;
	// it bounds how long a revocation can stay unseen. Default 200ms.
	Poll time.Duration
	// TTL bounds how long a found certificate's view is cached, NegativeTTL
	// an unknown number's. Invalidation does not wait for them; they only
	// bound memory and the damage of a missed event.
	TTL, NegativeTTL time.Duration
	// L1Bytes bounds the in-process cache's memory, roughly (entries are
	// weighed by an estimate that errs high). Default 256 MiB: a cold
	// flood of different numbers then costs evictions, not gigabytes.
	L1Bytes int64
	Now     func() time.Time
}

// Service is the public lookup layer: it turns a certificate number into
// the ready verification view, through an in-process cache (otter) and, when
// configured, Redis, and keeps both fresh by tailing the audit log, which
// every change to a certificate or an institution appends to in the same
// transaction, whichever process or command made it.
type Service struct {
	store  Store
	remote *cache.Remote
	log    *slog.Logger
	opt    Options
	m      *metrics

	reg atomic.Pointer[regState]
	// writes queues views for Redis; writeBehind drains it.
	// applied is the watermark of audit events whose invalidations have
	// been applied; killed remembers, per number, the newest sequence at
	// which it was invalidated (pruned after the Redis TTL).
	applied   atomic.Int64
	killed    map[string]killMark
	lastPrune time.Time
	// regStale is set when an institution change was read but the
	// registry could not be reloaded; only the polling goroutine uses it.
	regStale   bool
	writes     chan pendingWrite
	writesDone chan struct{}
	l1         *otter.Cache[string, *entry]
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

	stop chan struct{}
	done chan struct{}
}

// regState is everything derived from the institutions: the verified
// registry, the published documents, and the fingerprint that names the
// shared cache's key space (so a registry change retires every cached view
// on every instance at once).
type regState struct {
	registry     *Registry
	fp           string
	bundle       []byte // trust.json
	jwks         []byte // .well-known/jwks.json
	institutions []issuer.Institution
	byID         map[string]issuer.Institution
	versions     map[string][]issuer.Institution
	occupations  map[string]string // code → name, for the directory
}

// entry is one cached view with its rendered forms, made on first use.
type entry struct {
	rec      *Record
	rendered [8]atomic.Pointer[blob]
	// toRedis is the Redis write this view is waiting for: it is made on
	// the view's second use, not its first (see Lookup). firstUseFree is
	// set for a view a bulk list prefetched: its row's lookup is its first
	// use.
	toRedis      atomic.Pointer[pendingWrite]
	firstUseFree atomic.Bool
}

type blob struct {
	body   []byte
	etag   string
	gzOnce sync.Once
	gz     []byte // gzip of body, made on first demand: a weak phone link gets a third of the bytes
}

// gzipped returns the compressed body, or nil when not worth it.
func (b *blob) gzipped() []byte {
	b.gzOnce.Do(func() { b.gz = gzipBytes(b.body) })
	return b.gz
}

// render returns the i-th rendered form, making it once.
// weight is the record's estimate plus the forms rendered so far, each
// with room for its gzip copy.
func (e *entry) weight() uint32 {
	w := e.rec.weight()
	for i := range e.rendered {
		if b := e.rendered[i].Load(); b != nil {
			w += uint32(len(b.body) + len(b.body)/2)
		}
	}
	return w
}

// render returns rendered form i of e, building it on first use. A new
// form makes the entry heavier, so the cache weighs it again, if it still
// holds this entry (an invalidation may have dropped it meanwhile: it must
// not come back).
func (s *Service) render(e *entry, i int, build func() []byte) *blob {
	if b := e.rendered[i].Load(); b != nil {
		return b
	}
	body := build()
	sum := sha256.Sum256(body)
	b := &blob{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	e.rendered[i].Store(b)
	s.l1.ComputeIfPresent(e.rec.Number, func(old *entry) (*entry, otter.ComputeOp) {
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

// NewService loads the registry, finds the end of the audit log and starts
// tailing it.
func NewService(ctx context.Context, o Options) (*Service, error) {
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
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Service{store: o.Store, remote: o.Redis, log: o.Log, opt: o, holes: map[int64]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{}), m: newMetrics(),
		writes: make(chan pendingWrite, 4096), writesDone: make(chan struct{}), killed: map[string]killMark{},
		loads: make(chan loadReq, 4096)}
	neg, pos := o.NegativeTTL, o.TTL
	s.l1 = otter.Must(&otter.Options[string, *entry]{
		MaximumWeight: uint64(o.L1Bytes),
		Weigher:       func(k string, e *entry) uint32 { return uint32(len(k)) + e.weight() },
		// Expiry counts from when the view was cached: re-weighing an
		// entry after it renders a form (render) must not extend its life.
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[string, *entry]) time.Duration {
			if !e.Value.rec.Found {
				return neg
			}
			return pos
		}),
	})
	if o.Redis != nil {
		go s.writeBehind()
		o.Redis.OnState = func(up bool) {
			if up {
				s.m.redisUp.Set(1)
			} else {
				s.m.redisUp.Set(0)
			}
		}
		if o.Redis.Up() {
			s.m.redisUp.Set(1)
		}
	}
	// The cursor is found before the registry is read, so that a change
	// made in between is replayed rather than missed.
	cur, err := s.lastSeq(ctx)
	if err != nil {
		return nil, err
	}
	s.cursor = cur
	if err := s.reloadRegistry(ctx); err != nil && !issuer.Is(err, issuer.ErrNotFound) {
		return nil, err
	}
	if err := s.replayRecent(ctx, cur); err != nil {
		return nil, err
	}
	s.loadersDone.Add(loaders)
	for range loaders {
		go s.loader()
	}
	go s.tail()
	return s, nil
}

// lastSeq finds the newest audit seq with O(log n) one-row reads, since the
// store offers no "latest" query and the log can be long.
func (s *Service) lastSeq(ctx context.Context) (int64, error) {
	after := func(x int64) (int64, error) {
		evs, err := s.store.Audit(ctx, issuer.AuditFilter{AfterSeq: x, Limit: 1})
		if err != nil || len(evs) == 0 {
			return 0, err
		}
		return evs[0].Seq, nil
	}
	lo, err := after(0)
	if err != nil || lo == 0 {
		return 0, err
	}
	step := int64(1)
	for {
		n, err := after(lo + step)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		lo, step = n, step*2
	}
	hi := lo + step
	for lo < hi {
		mid := lo + (hi-lo)/2
		n, err := after(mid)
		if err != nil {
			return 0, err
		}
		if n != 0 {
			lo = n
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// reloadRegistry reads the authority and every institution with all its
// versions, verifies the registrations, and publishes the result.
func (s *Service) reloadRegistry(ctx context.Context) error {
	a, err := s.store.Authority(ctx)
	if err != nil {
		return err
	}
	all, err := s.store.Institutions(ctx)
	if err != nil {
		return err
	}
	occ, err := s.store.Occupations(ctx)
	if err != nil {
		return err
	}
	// GeneratedAt stays zero, so that the published bundle (and its ETag)
	// changes only when the registry does.
	tb := credential.TrustBundle{Format: credential.TrustFormat,
		Authority: credential.Authority{ID: credential.AuthorityID, Name: a.Name, JWK: credential.NewJWK(a.PublicKey)}}
	rs := &regState{institutions: all, byID: map[string]issuer.Institution{},
		versions: map[string][]issuer.Institution{}, occupations: map[string]string{}}
	for _, o := range occ {
		rs.occupations[o.Code] = o.Name
	}
	for _, in := range all {
		rs.byID[in.ID] = in
		vs, err := s.store.InstitutionVersions(ctx, in.ID)
		if err != nil {
			return err
		}
		rs.versions[in.ID] = vs
		for _, v := range vs {
			tb.Registrations = append(tb.Registrations, v.Token)
		}
	}
	if rs.registry, err = NewRegistry(&tb); err != nil {
		return err
	}
	toks := slices.Clone(tb.Registrations)
	slices.Sort(toks)
	h := sha256.New()
	h.Write([]byte(tb.Authority.JWK.Kid))
	for _, t := range toks {
		h.Write([]byte{0})
		h.Write([]byte(t))
	}
	rs.fp = hex.EncodeToString(h.Sum(nil))[:16]
	rs.bundle, _ = json.MarshalIndent(tb, "", "  ")
	rs.jwks = jwksOf(tb.Authority, rs.registry)
	if old := s.reg.Load(); old != nil && old.fp == rs.fp {
		return nil
	}
	s.mu.Lock()
	s.gen++
	s.reg.Store(rs)
	s.mu.Unlock()
	s.l1.InvalidateAll()
	return nil
}

// Lookup returns the verification view of a normalised number. Concurrent
// misses for one number share one load.
func (s *Service) Lookup(ctx context.Context, number string) (*entry, error) {
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
		return e, nil
	}
	s.m.l1Miss.Inc()
	v, err, _ := s.sf.Do(number, func() (any, error) {
		// A load that finished between our miss and this call has
		// cached the view already: one read per miss, not two. (The load
		// serves every waiter, so it does not take this caller's context:
		// the first one giving up must not fail the others.)
		if e, ok := s.l1.GetIfPresent(number); ok {
			return e, nil
		}
		return s.enqueue(number)
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}

func (s *Service) viewKey(fp, number string) string { return cache.ViewSpace + fp + ":" + number }

// pendingWrite is a view waiting to be written to Redis. rs is the
// registry the view was built under, and rec.Seq the watermark of applied
// invalidations before the store was read: if the registry changed since,
// or the number was invalidated at a later sequence, the view may be stale
// and is not written. It may wait minutes for its second use, so the check
// is per number, not the global gen.
type pendingWrite struct {
	key string
	rec *Record
	ttl time.Duration
	rs  *regState
}

// writeBehind drains pending writes in batches until the service stops.
func (s *Service) writeBehind() {
	defer close(s.writesDone)
	batch := make([]pendingWrite, 0, 256)
	kvs := make([]cache.KV, 0, 256)
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
			kvs = append(kvs, cache.KV{Key: w.key, Value: b, TTL: ttl})
			written = append(written, w)
		}
		s.mu.RUnlock()
		if len(kvs) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.remote.SetMany(ctx, kvs)
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
			s.remote.Del(context.Background(), stale...)
		}
	}
}

// writable reports whether w may still be written: the registry it was
// built under is current, and its number was not invalidated at a
// sequence the record may predate (rec.Seq is the watermark before the
// record was read). Called with s.mu held.
func (s *Service) writable(w pendingWrite) bool {
	return w.rs == s.reg.Load() && s.killed[w.rec.Number].seq <= w.rec.Seq
}

// Fresh reads a certificate straight from the store, bypassing the cache,
// for the rare questions that need the store's newest bookkeeping (the PDF
// hash is set after issuance and appends no audit event).
func (s *Service) Fresh(ctx context.Context, number string) (issuer.Certificate, error) {
	return s.store.Certificate(ctx, number)
}

// holeTTL is how long a missing seq is waited for: a transaction that takes
// longer than this between writing its audit line and committing is missed.
const holeTTL = 30 * time.Second

// tail polls the audit log until Close.
func (s *Service) tail() {
	defer close(s.done)
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.poll(ctx)
		cancel()
		switch {
		case err != nil && !failing:
			failing = true
			s.log.Error("audit log poll failed; cached views may go stale until it recovers", "error", err)
		case err == nil && failing:
			failing = false
			s.log.Info("audit log poll recovered")
		}
	}
}

// poll processes the audit events after the cursor, plus any below it that
// were committed late, and invalidates what they touched.
func (s *Service) poll(ctx context.Context) error {
	if s.reg.Load() == nil {
		if err := s.reloadRegistry(ctx); err != nil && !issuer.Is(err, issuer.ErrNotFound) {
			return err
		}
	}
	now := time.Now()
	from := s.cursor
	for h, since := range s.holes {
		if now.Sub(since) > holeTTL {
			delete(s.holes, h)
		} else if h-1 < from {
			from = h - 1
		}
	}
	numbers := map[string]int64{}
	instChanged := false
	// The cursor moves past each event as it is read, so whatever happens
	// later in this poll (a failed page, a failed registry reload), the
	// numbers already read must still be invalidated now: they will not be
	// read again.
	defer func() {
		if len(numbers) > 0 {
			s.invalidate(ctx, numbers)
		}
		s.pruneKilled(now)
		s.applied.Store(s.watermark())
	}()
	for {
		evs, err := s.store.Audit(ctx, issuer.AuditFilter{AfterSeq: from, Limit: 1000})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			from = ev.Seq
			if ev.Seq <= s.cursor {
				if _, ok := s.holes[ev.Seq]; !ok {
					continue // seen already
				}
				delete(s.holes, ev.Seq)
			} else {
				for h := s.cursor + 1; h < ev.Seq && len(s.holes) < 10_000; h++ {
					s.holes[h] = now
				}
				s.cursor = ev.Seq
			}
			switch {
			case strings.HasPrefix(ev.Action, "certificate."):
				touched(numbers, ev)
			case strings.HasPrefix(ev.Action, "institution."), strings.HasPrefix(ev.Action, "authority."):
				instChanged = true
			}
		}
		if len(evs) < 1000 {
			break
		}
	}
	if instChanged || s.regStale {
		if err := s.reloadRegistry(ctx); err != nil {
			s.regStale = true // retried on the next poll
			return err
		}
		s.regStale = false
	}
	return nil
}

// replayRecent applies again the certificate changes of the last Redis TTL.
// The cursor of a new instance starts at the newest event, so without this
// a view another instance wrote to Redis just before a change it never saw
// (it stopped, or the change was made while no server ran, with certd revoke)
// would be served until it expired.
func (s *Service) replayRecent(ctx context.Context, cur int64) error {
	s.applied.Store(cur)
	if s.remote == nil || cur == 0 {
		return nil
	}
	since := s.opt.Now().Add(-(s.opt.TTL + time.Minute))
	// Binary search for the first event of the window; sequence and time
	// grow together closely enough for a window of minutes.
	lo, hi := int64(0), cur
	for lo < hi {
		mid := lo + (hi-lo)/2
		evs, err := s.store.Audit(ctx, issuer.AuditFilter{AfterSeq: mid, Limit: 1})
		if err != nil {
			return err
		}
		if len(evs) == 0 || !evs[0].At.Before(since) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	numbers := map[string]int64{}
	for from := lo; ; {
		evs, err := s.store.Audit(ctx, issuer.AuditFilter{AfterSeq: from, Limit: 1000})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Seq > cur {
				break
			}
			if strings.HasPrefix(ev.Action, "certificate.") {
				touched(numbers, ev)
			}
			from = ev.Seq
		}
		if len(evs) < 1000 || from >= cur {
			break
		}
	}
	if len(numbers) > 0 {
		s.invalidate(ctx, numbers)
	}
	return nil
}

// touched adds the certificate numbers an audit event changed, with the
// event's sequence.
func touched(numbers map[string]int64, ev issuer.AuditEvent) {
	numbers[ev.Subject] = max(numbers[ev.Subject], ev.Seq)
	if ev.Action == "certificate.reissue" && ev.Detail != "" {
		var d struct {
			Supersedes string `json:"supersedes"`
		}
		if json.Unmarshal([]byte(ev.Detail), &d) == nil && d.Supersedes != "" {
			numbers[d.Supersedes] = max(numbers[d.Supersedes], ev.Seq)
		}
	}
}

// killMark remembers that a number was invalidated at an audit sequence.
type killMark struct {
	seq int64
	at  time.Time
}

// watermark is the sequence up to which every audit event has been
// applied: the cursor, or just below the oldest event not seen yet.
func (s *Service) watermark() int64 {
	w := s.cursor
	for h := range s.holes {
		w = min(w, h-1)
	}
	return w
}

// pruneKilled forgets invalidations older than any view Redis may still
// hold.
func (s *Service) pruneKilled(now time.Time) {
	if now.Sub(s.lastPrune) < time.Minute {
		return
	}
	s.lastPrune = now
	keep := s.opt.TTL + time.Minute
	s.mu.Lock()
	for n, k := range s.killed {
		if now.Sub(k.at) > keep {
			delete(s.killed, n)
		}
	}
	s.mu.Unlock()
}

// invalidate drops the cached views of numbers everywhere, each changed
// at the given audit sequence.
func (s *Service) invalidate(ctx context.Context, changed map[string]int64) {
	now := time.Now()
	s.mu.Lock()
	s.gen++
	numbers := make([]string, 0, len(changed))
	for n, seq := range changed {
		numbers = append(numbers, n)
		// Kept for the cache lifetime after the newest invalidation,
		// whatever its sequence (a late event may carry an older one).
		s.killed[n] = killMark{seq: max(seq, s.killed[n].seq), at: now}
	}
	s.mu.Unlock()
	rs := s.reg.Load()
	keys := make([]string, 0, len(numbers))
	for _, n := range numbers {
		s.l1.Invalidate(n)
		if rs != nil {
			keys = append(keys, s.viewKey(rs.fp, n))
		}
	}
	s.m.invalidations.Add(float64(len(numbers)))
	if s.remote != nil {
		for i := 0; i < len(keys); i += 1000 {
			s.remote.Del(ctx, keys[i:min(i+1000, len(keys))]...)
		}
	}
}

// Ready checks the store and reports the cache's state. A Redis outage
// does not make the service unready: it answers from the database.
func (s *Service) Ready(ctx context.Context) (map[string]string, bool) {
	out := map[string]string{"store": "ok", "cache": "in-process"}
	ok := true
	if err := s.store.Ping(ctx); err != nil {
		out["store"], ok = "unavailable", false
	}
	if s.reg.Load() == nil {
		out["registry"], ok = "not loaded", false
	}
	if s.remote != nil {
		if s.remote.Up() {
			out["cache"] = "redis ok"
		} else {
			out["cache"] = "redis unavailable; answering from the database"
		}
	}
	return out, ok
}

// Close stops tailing the audit log and releases the cache.
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

// jwksOf publishes every institution key ever registered, current and
// retired, and the authority key, as a JWK Set.
func jwksOf(a credential.Authority, reg *Registry) []byte {
	type key struct {
		credential.JWK
		Institution string `json:"certd_institution,omitempty"`
		NotBefore   int64  `json:"certd_not_before,omitempty"`
		NotAfter    int64  `json:"certd_not_after,omitempty"`
		Role        string `json:"certd_role"`
	}
	keys := []key{{JWK: a.JWK, Role: "authority"}}
	seen := map[string]int{}
	ids := make([]string, 0, len(reg.byInst))
	for id := range reg.byInst {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, v := range reg.byInst[id] {
			for _, k := range v.Keys {
				j := k.JWK
				if i, ok := seen[id+"/"+j.Kid]; ok {
					// A later version may have closed the key's window.
					keys[i].NotAfter = k.NotAfter
					continue
				}
				seen[id+"/"+j.Kid] = len(keys)
				keys = append(keys, key{JWK: j, Institution: id, NotBefore: k.NotBefore, NotAfter: k.NotAfter, Role: "institution"})
			}
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"keys": keys}, "", "  ")
	return b
}
