package issuer

import (
	"context"
	"time"
)

// StatusPublisher keeps every institution's status list current: it tails
// the audit log (the change path the verification cache tails too, so a
// revocation made by any process, the console, the API or certd revoke,
// is seen) and publishes a new version of a list within a poll interval of
// a revocation or reissue being committed; and it re-signs every list
// once half its ttl has passed, so that the latest list is always fresh.
// Several instances may run one each: the store's version check lets one
// publication win per version, and the losers start again with the
// latest bits.
type StatusPublisher struct {
	Service *Service
	TTL     time.Duration // DefaultStatusTTL if 0
	Poll    time.Duration // 200 ms if 0
	// Refresh is how often the lists' ages are checked; 5 s if 0.
	Refresh time.Duration
}

// holeWindow is how far back each poll reads the audit log again: a
// transaction that took its seq before another but committed after it
// appears behind the cursor, and is still seen within this many events.
const holeWindow = 256

// Run publishes until ctx ends. It first publishes a new version of every
// list (changes made while no server ran are then out), and returns only
// ctx's error; failures are logged and retried at the next tick.
func (p *StatusPublisher) Run(ctx context.Context) error {
	s := p.Service
	ttl, poll, refresh := p.TTL, p.Poll, p.Refresh
	if ttl <= 0 {
		ttl = DefaultStatusTTL
	}
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	if refresh <= 0 {
		refresh = 5 * time.Second
	}
	cursor, err := s.lastAuditSeq(ctx)
	for err != nil {
		s.log().Error("status lists: cannot read the audit log", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		cursor, err = s.lastAuditSeq(ctx)
	}
	seen := map[int64]time.Time{}
	// What is behind the cursor at start is covered by the publication
	// below, not to be published again at the first poll.
	if evs, err := s.store.Audit(ctx, AuditFilter{AfterSeq: max(0, cursor-holeWindow), Limit: 2000}); err == nil {
		for _, ev := range evs {
			seen[ev.Seq] = time.Now()
		}
	}
	if ins, err := s.store.Institutions(ctx); err == nil {
		for _, in := range ins {
			p.publish(ctx, in.ID, ttl)
		}
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		evs, err := s.store.Audit(ctx, AuditFilter{AfterSeq: max(0, cursor-holeWindow), Limit: 2000})
		if err != nil {
			s.log().Warn("status lists: cannot read the audit log", "error", err)
			continue
		}
		changed := map[string]bool{}
		now := time.Now()
		for _, ev := range evs {
			if _, ok := seen[ev.Seq]; ok {
				continue
			}
			seen[ev.Seq] = now
			cursor = max(cursor, ev.Seq)
			switch ev.Action {
			// An issue changes no bit, but a list made after it tells an
			// offline verifier that the new certificates are covered.
			case "certificate.revoke", "certificate.reissue", "certificate.issue":
				changed[ev.InstitutionID] = true
			}
		}
		for seq, at := range seen {
			if seq < cursor-holeWindow && now.Sub(at) > time.Second {
				delete(seen, seq)
			}
		}
		for id := range changed {
			p.publish(ctx, id, ttl)
		}
		if time.Since(lastRefresh) >= refresh {
			lastRefresh = time.Now()
			p.refresh(ctx, ttl)
		}
	}
}

func (p *StatusPublisher) publish(ctx context.Context, id string, ttl time.Duration) {
	if _, err := p.Service.PublishStatusList(ctx, id, ttl); err != nil && ctx.Err() == nil {
		p.Service.log().Error("status list not published", "institution", id, "error", err)
	}
}

// refresh re-signs the lists that are missing or have used half their ttl.
func (p *StatusPublisher) refresh(ctx context.Context, ttl time.Duration) {
	s := p.Service
	ins, err := s.store.Institutions(ctx)
	if err != nil {
		s.log().Warn("status lists: cannot read the institutions", "error", err)
		return
	}
	now := s.statusClock()
	for _, in := range ins {
		l, err := s.store.StatusList(ctx, in.ID, 0)
		if err == nil && now.Sub(l.ValidFrom) < ttl/2 {
			continue
		}
		if err != nil && !Is(err, ErrNotFound) {
			s.log().Warn("status lists: cannot read a list", "institution", in.ID, "error", err)
			continue
		}
		p.publish(ctx, in.ID, ttl)
	}
}

func (s *Service) lastAuditSeq(ctx context.Context) (int64, error) { return LastAuditSeq(ctx, s.store) }
