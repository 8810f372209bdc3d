package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"certd/issuer"
	"certd/verify"
)

// Cache misses are read in batches. Each of a few loader goroutines takes
// the oldest waiting miss and whatever else is queued behind it (up to
// maxLoadBatch), and answers them all with one Redis MGET and one database
// query. Under light load a batch is one number and costs one channel hop;
// under a flood of different numbers (a cold cache, a bulk check, someone
// guessing) the queue fills while the loaders are busy, and the per-query
// cost of the database, its round trips and system calls on both sides, is
// paid once per batch instead of once per request.
const (
	maxLoadBatch = 64
	loadTimeout  = 5 * time.Second
)

// loaders is one per core: checking signatures is what a loader spends
// its time on, so more loaders than cores only cut the batches smaller
// (measured on 2 cores: 4 loaders 16.2k cold requests/s, 2 loaders 18.6k to
// 21.4k). At least 2, so that one batch's database round trip overlaps
// another's signature check.
var loaders = max(2, runtime.GOMAXPROCS(0))

type loadReq struct {
	number   string
	deadline time.Time // when the waiter gives up; the batch's query gets the earliest
	// prefetched loads come from a bulk list: the row's own lookup that
	// follows is the view's first use, not its second.
	prefetched bool
	done       chan loadResult // buffered: an answer never blocks a loader
}

type loadResult struct {
	e   *Entry
	err error
}

// enqueue hands a miss to the loaders and waits for its answer. It does not
// take the caller's context: the load serves every singleflight waiter, and
// the first one giving up must not fail the others. loadTimeout bounds it,
// queue included: a stuck database must not hold requests forever.
func (s *Service) enqueue(number string) (*Entry, error) {
	r := loadReq{number: number, deadline: time.Now().Add(loadTimeout), done: make(chan loadResult, 1)}
	t := time.NewTimer(loadTimeout)
	defer t.Stop()
	select {
	case s.loads <- r:
	case <-t.C:
		return nil, ErrUnavailable
	case <-s.stop:
		return nil, ErrUnavailable
	}
	select {
	case res := <-r.done:
		return res.e, res.err
	case <-t.C:
		return nil, ErrUnavailable
	case <-s.stop:
		return nil, ErrUnavailable
	}
}

// Prefetch loads the numbers that are not cached, queued all at once so
// that they are read in full batches, and returns when they are cached,
// failed (a later Lookup meets the error) or loadTimeout passed. It skips
// Lookup's singleflight: a number also being looked up right now may be
// read twice, which costs a query, not a wrong answer.
func (s *Service) Prefetch(numbers []string) {
	deadline := time.Now().Add(loadTimeout)
	t := time.NewTimer(loadTimeout)
	defer t.Stop()
	waiting := make([]chan loadResult, 0, len(numbers))
	for _, n := range numbers {
		if _, ok := s.l1.GetIfPresent(n); ok {
			continue
		}
		r := loadReq{number: n, deadline: deadline, prefetched: true, done: make(chan loadResult, 1)}
		select {
		case s.loads <- r:
			waiting = append(waiting, r.done)
		case <-t.C:
			return
		case <-s.stop:
			return
		}
	}
	for _, c := range waiting {
		select {
		case <-c:
		case <-t.C:
			return
		case <-s.stop:
			return
		}
	}
}

// nextBatch waits for one item from c, then takes whatever else is already
// queued behind it, up to max. It reports false when stop closed first.
func nextBatch[T any](stop <-chan struct{}, c <-chan T, batch []T, max int) ([]T, bool) {
	select {
	case <-stop:
		return batch, false
	case x := <-c:
		batch = append(batch[:0], x)
	}
	for len(batch) < max {
		select {
		case x := <-c:
			batch = append(batch, x)
		default:
			return batch, true
		}
	}
	return batch, true
}

func (s *Service) loader() {
	defer s.loadersDone.Done()
	queued := make([]loadReq, 0, maxLoadBatch)
	batch := make([]loadReq, 0, maxLoadBatch)
	for {
		var ok bool
		if queued, ok = nextBatch(s.stop, s.loads, queued, maxLoadBatch); !ok {
			return
		}
		// A waiter that gave up is not waiting for this work.
		now := time.Now()
		batch = batch[:0]
		deadline := now.Add(loadTimeout)
		for _, r := range queued {
			if now.After(r.deadline) {
				r.done <- loadResult{nil, ErrUnavailable}
				continue
			}
			batch = append(batch, r)
			if r.deadline.Before(deadline) {
				deadline = r.deadline
			}
		}
		if len(batch) == 0 {
			continue
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		s.loadBatchSafely(ctx, batch)
		cancel()
	}
}

// loadBatchSafely keeps a panic in a batch from taking the process down
// (in a request it would have been a 500): its waiters are told the
// service is unavailable, and the loader goes on.
func (s *Service) loadBatchSafely(ctx context.Context, batch []loadReq) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic while loading verification views", "panic", fmt.Sprint(p), "numbers", len(batch))
			for _, r := range batch {
				select {
				case r.done <- loadResult{nil, ErrUnavailable}:
				default: // answered already
				}
			}
		}
	}()
	s.loadBatch(ctx, batch)
}

// loadBatch answers every request in batch. A number is rarely twice in a
// batch (Lookup's singleflight lets one load per number through; Prefetch
// may add another); then both get the same answer.
func (s *Service) loadBatch(ctx context.Context, batch []loadReq) {
	d := s.dir.Load()
	if d == nil {
		for _, r := range batch {
			r.done <- loadResult{nil, ErrUnavailable}
		}
		return
	}
	// Noted before anything is read: see Service.gen and applied. A view
	// from Redis is known current as of the freshness noted before its
	// invalidations are checked (vouched).
	fresh := s.freshAt.Load()
	s.mu.RLock()
	g0 := s.gen
	killed := make([]int64, len(batch))
	for i, r := range batch {
		killed[i] = s.killed[r.number].seq
	}
	s.mu.RUnlock()
	seq0 := s.applied.Load()

	keys := make([]string, len(batch))
	for i, r := range batch {
		keys[i] = viewKey(d.fp, r.number)
	}
	var misses []int // indexes into batch
	if s.remote != nil {
		var hits []int
		recs := make([]*verify.Record, len(batch))
		for i, b := range s.remote.getMany(ctx, keys) {
			var r verify.Record
			// A view older than an invalidation this instance applied may
			// predate that change: read the database instead.
			if b != nil && json.Unmarshal(b, &r) == nil && r.Number == batch[i].number && r.Seq >= killed[i] {
				recs[i] = &r
				hits = append(hits, i)
				s.m.l2Hit.Inc()
			} else {
				misses = append(misses, i)
				s.m.l2Miss.Inc()
			}
		}
		// Answered now, not after the database query: a slow or stuck
		// database must not hold up what Redis already had.
		s.settle(batch, hits, recs, keys, nil, fresh, g0, d)
	} else {
		misses = make([]int, len(batch))
		for i := range batch {
			misses[i] = i
		}
	}
	if len(misses) == 0 {
		return
	}

	numbers := make([]string, len(misses))
	for j, i := range misses {
		numbers[j] = batch[i].number
	}
	s.m.loads.Add(float64(len(misses)))
	readAt := s.clock()
	certs, err := s.store.Certificates(ctx, issuer.CertificateFilter{Numbers: numbers})
	if err != nil {
		s.log.Error("verification lookup failed", "error", err, "numbers", len(misses))
		for _, i := range misses {
			batch[i].done <- loadResult{nil, ErrUnavailable}
		}
		return
	}
	// Every record read is verified again, signature included (see
	// verify.Verifier.Records): that is what catches a record edited in
	// the database.
	v := &verify.Verifier{Registry: d.Registry, Now: s.opt.Now, PublicLog: s.opt.PublicLog}
	found, batchOK := v.Records(certs)
	if !batchOK {
		s.m.batchFallbacks.Inc()
	}
	byNumber := make(map[string]*verify.Record, len(found))
	for _, r := range found {
		byNumber[r.Number] = r
	}
	now := s.opt.Now()
	recs := make([]*verify.Record, len(batch))
	for _, i := range misses {
		r, ok := byNumber[batch[i].number]
		if !ok {
			r = verify.NotFoundRecord(batch[i].number, now)
		}
		r.Seq = seq0
		recs[i] = r
	}
	s.settle(batch, misses, recs, keys, &seq0, readAt, g0, d)
}

// settle caches and answers batch[i] for each i in idx with recs[i].
// fromDB (the watermark the records were read under) is nil for views that
// came from Redis, which are not written back. knownAt is when the records
// were known to be current (Entry.knownAt).
func (s *Service) settle(batch []loadReq, idx []int, recs []*verify.Record, keys []string, fromDB *int64, knownAt int64, g0 uint64, d *Directory) {
	if len(idx) == 0 {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	// An invalidation or directory change since g0 may have made these
	// views stale: answer with them (they were true when read, and the
	// answer is within the one-second promise) but keep none of them.
	keep := s.gen == g0 && s.dir.Load() == d
	for _, i := range idx {
		r := batch[i]
		e := &Entry{rec: recs[i], knownAt: knownAt}
		if keep && !recs[i].LogPending {
			if fromDB != nil && s.remote != nil {
				ttl := s.opt.TTL
				if !recs[i].Found {
					ttl = s.opt.NegativeTTL
				}
				// Written behind a later use, in batches (Lookup).
				e.toRedis.Store(&pendingWrite{key: keys[i], rec: recs[i], ttl: ttl, dir: d})
				e.firstUseFree.Store(r.prefetched)
			}
			s.l1.Set(r.number, e)
		}
		r.done <- loadResult{e, nil}
	}
}
