package cache

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"certd/issuer"
)

// lastSeq is where the tail starts: the newest audit seq.
func (s *Service) lastSeq(ctx context.Context) (int64, error) {
	return issuer.LastAuditSeq(ctx, s.store)
}

// holeTTL is how long a missing seq is waited for: a transaction that takes
// longer than this between writing its audit line and committing is missed.
const holeTTL = 30 * time.Second

// tail polls the audit log until Close. A poll that succeeds makes the
// instance fresh as of its start (Service.freshAt); one that fails or takes
// longer than Options.PollTimeout does not, and the next tick tries again on
// another connection, so a frozen one cannot hold the tail.
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
		start := s.clock()
		ctx, cancel := context.WithTimeout(context.Background(), s.opt.PollTimeout)
		err := s.poll(ctx)
		cancel()
		if err == nil {
			s.freshAt.Store(start)
		}
		switch {
		case err != nil && !failing:
			failing = true
			s.log.Error("audit log poll failed; valid and not-found answers are withheld (cannot confirm the current status) until it recovers", "error", err)
		case err == nil && failing:
			failing = false
			s.log.Info("audit log poll recovered")
		}
	}
}

// poll processes the audit events after the cursor, plus any below it that
// were committed late, and invalidates what they touched.
func (s *Service) poll(ctx context.Context) error {
	if s.dir.Load() == nil {
		if err := s.reloadDirectory(ctx); err != nil && !issuer.Is(err, issuer.ErrNotFound) {
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
			s.invalidate(numbers)
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
			case strings.HasPrefix(ev.Action, "certificate."),
				// A holder's share link changed: the view is dropped so that
				// the share page, which keeps a link's state with the view
				// it read it after, reads the link again (verify/web).
				strings.HasPrefix(ev.Action, "holder.share_"):
				touched(numbers, ev)
			case strings.HasPrefix(ev.Action, "institution."), strings.HasPrefix(ev.Action, "authority."):
				instChanged = true
			}
		}
		if len(evs) < 1000 {
			break
		}
	}
	if instChanged || s.dirStale {
		if err := s.reloadDirectory(ctx); err != nil {
			s.dirStale = true // retried on the next poll
			return err
		}
		s.dirStale = false
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
		s.invalidate(numbers)
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
func (s *Service) invalidate(changed map[string]int64) {
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
	d := s.dir.Load()
	keys := make([]string, 0, len(numbers))
	for _, n := range numbers {
		s.l1.Invalidate(n)
		if d != nil {
			keys = append(keys, viewKey(d.fp, n))
		}
	}
	s.m.invalidations.Add(float64(len(numbers)))
	if s.remote != nil {
		for i := 0; i < len(keys); i += 1000 {
			s.remote.del(keys[i:min(i+1000, len(keys))]...)
		}
	}
}
