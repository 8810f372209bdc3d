package verify

import (
	"context"
	"encoding/json"
	"runtime"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
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
	number string
	done   chan loadResult
}

type loadResult struct {
	e   *entry
	err error
}

// enqueue hands a miss to the loaders and waits for its answer. It does not
// take the caller's context: the load serves every singleflight waiter, and
// the first one giving up must not fail the others. loadTimeout bounds it.
func (s *Service) enqueue(number string) (*entry, error) {
	r := loadReq{number: number, done: make(chan loadResult, 1)}
	// A stuck database must not hold requests forever: the loaders give
	// up on a batch after loadTimeout, but a full queue behind them would
	// drain slowly.
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
// that they are read in full batches, and returns when they are cached (or
// failed: a later Lookup meets the error). It skips Lookup's singleflight:
// a number also being looked up right now may be read twice, which costs a
// query, not a wrong answer.
func (s *Service) Prefetch(ctx context.Context, numbers []string) {
	waiting := make([]chan loadResult, 0, len(numbers))
	for _, n := range numbers {
		if _, ok := s.l1.GetIfPresent(n); ok {
			continue
		}
		r := loadReq{number: n, done: make(chan loadResult, 1)}
		select {
		case s.loads <- r:
			waiting = append(waiting, r.done)
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		}
	}
	for _, c := range waiting {
		select {
		case <-c:
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		}
	}
}

func (s *Service) loader() {
	batch := make([]loadReq, 0, maxLoadBatch)
	for {
		select {
		case <-s.stop:
			return
		case r := <-s.loads:
			batch = append(batch[:0], r)
		}
	drain:
		for len(batch) < maxLoadBatch {
			select {
			case r := <-s.loads:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
		s.loadBatch(ctx, batch)
		cancel()
	}
}

// loadBatch answers every request in batch. A number is rarely twice in a
// batch (Lookup's singleflight lets one load per number through; Prefetch
// may add another); then both get the same answer.
func (s *Service) loadBatch(ctx context.Context, batch []loadReq) {
	answer := func(i int, e *entry, err error) { batch[i].done <- loadResult{e, err} }
	rs := s.reg.Load()
	if rs == nil {
		for i := range batch {
			answer(i, nil, ErrUnavailable)
		}
		return
	}
	// Noted before anything is read: see Service.gen and applied.
	s.mu.RLock()
	g0 := s.gen
	killed := make([]int64, len(batch))
	for i, r := range batch {
		killed[i] = s.killed[r.number].seq
	}
	s.mu.RUnlock()
	seq0 := s.applied.Load()

	recs := make([]*Record, len(batch))
	keys := make([]string, len(batch))
	for i, r := range batch {
		keys[i] = s.viewKey(rs.fp, r.number)
	}
	if s.remote != nil {
		for i, b := range s.remote.GetMany(ctx, keys) {
			var r Record
			// A view older than an invalidation this instance applied may
			// predate that change: read the database instead.
			if b != nil && json.Unmarshal(b, &r) == nil && r.Number == batch[i].number && r.Seq >= killed[i] {
				recs[i] = &r
				s.m.l2Hit.Inc()
			} else {
				s.m.l2Miss.Inc()
			}
		}
	}
	var misses []string
	for i, r := range batch {
		if recs[i] == nil {
			misses = append(misses, r.number)
		}
	}
	fromDB := make(map[string]bool, len(misses))
	if len(misses) > 0 {
		s.m.loads.Add(float64(len(misses)))
		certs, err := s.store.Certificates(ctx, issuer.CertificateFilter{Numbers: misses})
		if err != nil {
			s.log.Error("verification lookup failed", "error", err, "numbers", len(misses))
			for i := range batch {
				if recs[i] == nil {
					answer(i, nil, ErrUnavailable)
				}
			}
			// Answer the Redis hits anyway: they are as good as ever.
			certs = nil
		}
		byNumber := make(map[string]*issuer.Certificate, len(certs))
		for i := range certs {
			byNumber[certs[i].Number] = &certs[i]
		}
		now := s.opt.Now()
		v := &Verifier{Registry: rs.registry, Now: s.opt.Now}
		// Every record read is verified again, signature included: that is
		// what catches a record edited in the database. Checked as one batch,
		// at a third of the cost; if the batch fails, each record is judged
		// on its own, so the odd one out fails alone and says why.
		sigs := credential.NewBatch(len(certs))
		build := func(v *Verifier) {
			for i, r := range batch {
				if (recs[i] != nil && !fromDB[r.number]) || err != nil {
					continue
				}
				if c, ok := byNumber[r.number]; ok {
					recs[i] = buildRecord(v, *c, now)
				} else {
					recs[i] = notFoundRecord(r.number, now)
				}
				recs[i].Seq = seq0
				fromDB[r.number] = true
			}
		}
		build(&Verifier{Registry: rs.registry, Now: s.opt.Now, batch: sigs})
		if !sigs.Verify() {
			s.m.batchFallbacks.Inc()
			build(v)
		}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	// An invalidation or registry change since g0 may have made these
	// views stale: answer with them (they were true when read) but keep
	// none of them.
	keep := s.gen == g0 && s.reg.Load() == rs
	for i, r := range batch {
		if recs[i] == nil {
			continue // answered ErrUnavailable above
		}
		e := &entry{rec: recs[i]}
		if keep {
			if fromDB[r.number] && s.remote != nil {
				ttl := s.opt.TTL
				if !recs[i].Found {
					ttl = s.opt.NegativeTTL
				}
				// Written behind a later answer, in batches (Lookup).
				e.toRedis.Store(&pendingWrite{key: keys[i], rec: recs[i], ttl: ttl, rs: rs})
			}
			s.l1.Set(r.number, e)
		}
		answer(i, e, nil)
	}
}
