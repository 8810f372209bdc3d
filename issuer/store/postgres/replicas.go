package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"certd/issuer"
	"certd/issuer/occupation"
)

// Routed sends the public read path to PostgreSQL streaming replicas and
// everything else to the primary, without ever letting a replica answer
// with data older than a change the reader has already been told about.
//
// # Why reads stay correct
//
// Public verification learns of changes by reading the audit log (the
// change log its cache tails); it drops what a change touched and reads it
// again. Routed reads the audit log on the primary and, right after, the
// primary's WAL position (pg_current_wal_lsn): every change that read
// returned was committed before that position. From then on a read goes to
// a replica only if the replica has replayed up to that position
// (pg_last_wal_replay_lsn), and to the primary otherwise. So a view rebuilt
// after an invalidation always sees the change that invalidated it, on any
// replica: the one-second promise on revocations holds as it does without
// replicas. The position check is a comparison of two numbers in memory
// while the replicas keep up, and one round trip to a replica when its last
// polled position is behind.
//
// # Rotation
//
// A poller reads each replica's replay position every PollEvery and the
// primary's position beside it, and estimates each replica's lag in time
// (how long ago the primary passed the position the replica has reached).
// A replica that lags more than MaxLag, or cannot be reached, leaves the
// rotation and comes back by itself when a poll finds it caught up.
//
// Routed embeds the primary's Store, so anything it does not route (writes,
// the confirmation counters, the console's reads) goes to the primary.
type Routed struct {
	*Store // the primary

	replicas []*replica
	opt      ReplicaOptions
	need     atomic.Uint64 // the WAL position reads must have seen
	next     atomic.Uint32 // round robin

	samplesMu sync.Mutex
	samples   []lsnSample // the primary's recent positions, oldest first

	stop chan struct{}
	done chan struct{}
}

// ReplicaOptions tune the rotation.
type ReplicaOptions struct {
	// MaxLag is how far behind (in time) a replica may be and stay in the
	// rotation; default 1 s.
	MaxLag time.Duration
	// PollEvery is how often replicas and the primary are polled; default
	// 100 ms.
	PollEvery time.Duration
}

// ReplicaState is what /readyz and /metrics report for one replica.
type ReplicaState struct {
	Name    string        // host:port/database, never the password
	Up      bool          // reachable at the last poll
	InUse   bool          // in the rotation
	Lag     time.Duration // estimated replay lag
	LagByte uint64        // bytes of WAL behind the primary at the last poll
	Reads   uint64        // reads it answered
	Err     string        // why it is out, when it is
}

type replica struct {
	name   string
	pool   *pgxpool.Pool
	replay atomic.Uint64 // last known replay position
	reads  atomic.Uint64

	mu      sync.Mutex
	up      bool
	lag     time.Duration
	lagByte uint64
	err     string
}

type lsnSample struct {
	at  time.Time
	lsn uint64
}

// OpenRouted wraps an open primary with replicas at urls. A replica that
// cannot be reached at start is not an error: it joins the rotation when
// it answers. A URL that does not parse is.
func OpenRouted(ctx context.Context, primary *Store, urls []string, opt ReplicaOptions) (*Routed, error) {
	if opt.MaxLag <= 0 {
		opt.MaxLag = time.Second
	}
	if opt.PollEvery <= 0 {
		opt.PollEvery = 100 * time.Millisecond
	}
	r := &Routed{Store: primary, opt: opt, stop: make(chan struct{}), done: make(chan struct{})}
	for _, u := range urls {
		cfg, err := pgxpool.ParseConfig(u)
		if err != nil {
			r.closeReplicas()
			return nil, issuer.Errorf(issuer.ErrInvalid, "replica_url", "只读副本连接串无效：%v", "invalid replica URL: %v", err)
		}
		// A replica must never be asked to write: the session refuses.
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			r.closeReplicas()
			return nil, issuer.Errorf(issuer.ErrInvalid, "replica_url", "只读副本连接串无效：%v", "invalid replica URL: %v", err)
		}
		c := cfg.ConnConfig
		r.replicas = append(r.replicas, &replica{name: fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database), pool: pool, err: "not polled yet"})
	}
	r.poll(ctx)
	go r.run() // #nosec G118 -- the poller lives as long as the router; Close stops it
	return r, nil
}

func (r *Routed) run() {
	defer close(r.done)
	t := time.NewTicker(r.opt.PollEvery)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.opt.PollEvery*5)
			r.poll(ctx)
			cancel()
		}
	}
}

// poll reads the primary's position, then every replica's.
func (r *Routed) poll(ctx context.Context) {
	now := time.Now()
	if lsn, err := currentLSN(ctx, r.Store.pool); err == nil {
		r.samplesMu.Lock()
		r.samples = append(r.samples, lsnSample{now, lsn})
		// Keep enough history to measure lags beyond the bound, no more.
		cut := 0
		for cut < len(r.samples)-1 && now.Sub(r.samples[cut].at) > 4*r.opt.MaxLag {
			cut++
		}
		r.samples = r.samples[cut:]
		r.samplesMu.Unlock()
	}
	var wg sync.WaitGroup
	for _, rp := range r.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.pollReplica(ctx, rp, now)
		}()
	}
	wg.Wait()
}

func (r *Routed) pollReplica(ctx context.Context, rp *replica, now time.Time) {
	lsn, err := replayLSN(ctx, rp.pool)
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if err != nil {
		rp.up, rp.err = false, shortErr(err)
		return
	}
	storeMax(&rp.replay, lsn)
	rp.up, rp.err = true, ""
	rp.lag, rp.lagByte = r.lagOf(lsn, now)
	if rp.lag > r.opt.MaxLag {
		rp.err = fmt.Sprintf("lag %s over the bound %s", rp.lag.Round(time.Millisecond), r.opt.MaxLag)
	}
}

// lagOf estimates how far behind a replay position is: how long ago the
// primary first passed it, from the recent samples (an upper bound within
// one poll interval).
func (r *Routed) lagOf(replay uint64, now time.Time) (time.Duration, uint64) {
	r.samplesMu.Lock()
	defer r.samplesMu.Unlock()
	if len(r.samples) == 0 {
		return 0, 0
	}
	latest := r.samples[len(r.samples)-1].lsn
	var behind uint64
	if latest > replay {
		behind = latest - replay
	}
	for _, s := range r.samples {
		if s.lsn > replay {
			return now.Sub(s.at), behind
		}
	}
	return 0, behind
}

func (rp *replica) usable() bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.up && rp.err == ""
}

// pick returns a pool whose data includes every change the audit log has
// shown: a replica in the rotation that has replayed far enough, else the
// primary.
func (r *Routed) pick(ctx context.Context) *pgxpool.Pool {
	n := len(r.replicas)
	if n == 0 {
		return r.Store.pool
	}
	need := r.need.Load()
	start := int(r.next.Add(1))
	for i := range n {
		rp := r.replicas[(start+i)%n]
		if !rp.usable() {
			continue
		}
		if rp.replay.Load() < need {
			// Polled behind: ask once, it has probably caught up since.
			lsn, err := replayLSN(ctx, rp.pool)
			if err != nil {
				continue
			}
			storeMax(&rp.replay, lsn)
			if lsn < need {
				continue
			}
		}
		rp.reads.Add(1)
		return rp.pool
	}
	return r.Store.pool
}

// on is a Store reading from the pool pick chose; its read methods are the
// primary's, unchanged.
func (r *Routed) on(ctx context.Context) *Store {
	p := r.pick(ctx)
	if p == r.Store.pool {
		return r.Store
	}
	return &Store{pool: p}
}

// Audit reads the change log on the primary, then raises the position
// every later read must have seen to the primary's current one.
func (r *Routed) Audit(ctx context.Context, f issuer.AuditFilter) ([]issuer.AuditEvent, error) {
	evs, err := r.Store.Audit(ctx, f)
	if err != nil || len(r.replicas) == 0 {
		return evs, err
	}
	lsn, err := currentLSN(ctx, r.Store.pool)
	if err != nil {
		// Without the position no replica can be trusted with what these
		// events touched; failing the read keeps the tail from applying
		// them until it can.
		return nil, err
	}
	storeMax(&r.need, lsn)
	return evs, nil
}

// Certificate reads one certificate (public path).
func (r *Routed) Certificate(ctx context.Context, number string) (issuer.Certificate, error) {
	return r.on(ctx).Certificate(ctx, number)
}

// Certificates reads certificates (public path: batched cache misses).
func (r *Routed) Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error) {
	return r.on(ctx).Certificates(ctx, f)
}

// StatusList reads a published status list (/status/ID). A replica within
// the lag bound serves a version at most that much older than the primary's
// latest, which the publisher's one-second promise allows for.
func (r *Routed) StatusList(ctx context.Context, id string, v int) (issuer.StatusList, error) {
	return r.on(ctx).StatusList(ctx, id, v)
}

// Authority reads the authority (the public registry).
func (r *Routed) Authority(ctx context.Context) (issuer.Authority, error) {
	return r.on(ctx).Authority(ctx)
}

// Institutions reads every institution (the public registry).
func (r *Routed) Institutions(ctx context.Context) ([]issuer.Institution, error) {
	return r.on(ctx).Institutions(ctx)
}

// InstitutionVersions reads an institution's versions (the public registry).
func (r *Routed) InstitutionVersions(ctx context.Context, id string) ([]issuer.Institution, error) {
	return r.on(ctx).InstitutionVersions(ctx, id)
}

// Occupations reads the catalogue.
func (r *Routed) Occupations(ctx context.Context) ([]occupation.Occupation, error) {
	return r.on(ctx).Occupations(ctx)
}

// Replicas reports each replica's state.
func (r *Routed) Replicas() []ReplicaState {
	out := make([]ReplicaState, len(r.replicas))
	for i, rp := range r.replicas {
		rp.mu.Lock()
		out[i] = ReplicaState{Name: rp.name, Up: rp.up, InUse: rp.up && rp.err == "", Lag: rp.lag, LagByte: rp.lagByte, Reads: rp.reads.Load(), Err: rp.err}
		rp.mu.Unlock()
	}
	return out
}

// Readiness is what /readyz adds for the replicas. A replica out of the
// rotation does not make the instance unready: the primary answers.
func (r *Routed) Readiness(context.Context) map[string]string {
	out := map[string]string{}
	for i, s := range r.Replicas() {
		k := "replica_" + strconv.Itoa(i)
		switch {
		case s.InUse:
			out[k] = fmt.Sprintf("%s ok, lag %s", s.Name, s.Lag.Round(time.Millisecond))
		case s.Up:
			out[k] = fmt.Sprintf("%s out of rotation: %s", s.Name, s.Err)
		default:
			out[k] = fmt.Sprintf("%s unreachable: %s", s.Name, s.Err)
		}
	}
	return out
}

// Close stops the poller and closes the replicas; the primary is closed
// by whoever opened it.
func (r *Routed) Close() error {
	select {
	case <-r.stop:
	default:
		close(r.stop)
		<-r.done
		r.closeReplicas()
	}
	return nil
}

func (r *Routed) closeReplicas() {
	for _, rp := range r.replicas {
		rp.pool.Close()
	}
}

func currentLSN(ctx context.Context, p *pgxpool.Pool) (uint64, error) {
	var s string
	if err := p.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
		return 0, err
	}
	return parseLSN(s)
}

func replayLSN(ctx context.Context, p *pgxpool.Pool) (uint64, error) {
	var s *string
	if err := p.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&s); err != nil {
		return 0, err
	}
	if s == nil {
		// NULL: the server is not in recovery. A primary given as a
		// replica would be fresh but is not what the operator meant.
		return 0, errNotStandby
	}
	return parseLSN(*s)
}

var errNotStandby = errors.New("not a standby (pg_last_wal_replay_lsn is NULL)")

// parseLSN reads PostgreSQL's X/Y text form of a WAL position.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("bad WAL position %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad WAL position %q", s)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad WAL position %q", s)
	}
	return h<<32 | l, nil
}

func storeMax(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
