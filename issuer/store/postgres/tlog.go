package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

var _ issuer.LogStore = (*Store)(nil)

var logColumns = []string{"kind", "institution_id", "subject", "salt", "entry", "created_at"}

func logRow(it issuer.LogItem, at time.Time) []any {
	if at.IsZero() {
		at = time.Now()
	}
	var salt []byte
	if len(it.Salt) > 0 {
		salt = it.Salt
	}
	return []any{it.Kind, it.InstitutionID, it.Subject, salt, it.Entry, storeutil.Instant(at)}
}

// appendLog writes the event's log entries into the outbox (inside the
// change's transaction).
func appendLog(ctx context.Context, tx pgx.Tx, ev issuer.AuditEvent) error {
	for _, it := range ev.Log {
		if _, err := tx.Exec(ctx, `INSERT INTO tlog_outbox (kind, institution_id, subject, salt, entry, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			logRow(it, ev.At)...); err != nil {
			return err
		}
	}
	return nil
}

// LogRecords lists outbox rows in ID order.
func (s *Store) LogRecords(ctx context.Context, f issuer.LogFilter) ([]issuer.LogRecord, error) {
	var q strings.Builder
	q.WriteString(`SELECT id, kind, institution_id, subject, salt, entry, created_at, log_index FROM tlog_outbox WHERE id > $1`)
	args := []any{f.AfterID}
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&q, " AND "+cond, len(args))
	}
	if f.Subject != "" {
		add("subject = $%d", f.Subject)
	}
	if f.InstitutionID != "" {
		add("institution_id = $%d", f.InstitutionID)
	}
	if f.Kind != "" {
		add("kind = $%d", f.Kind)
	}
	if f.Pending {
		q.WriteString(" AND log_index IS NULL")
	}
	q.WriteString(" ORDER BY id")
	if f.Limit > 0 {
		args = append(args, f.Limit)
		fmt.Fprintf(&q, " LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, storeutil.Unavailable("log records", err)
	}
	defer rows.Close()
	out := []issuer.LogRecord{}
	for rows.Next() {
		var r issuer.LogRecord
		var at *time.Time
		var idx *int64
		if err := rows.Scan(&r.ID, &r.Kind, &r.InstitutionID, &r.Subject, &r.Salt, &r.Entry, &at, &idx); err != nil {
			return nil, storeutil.Unavailable("log records", err)
		}
		r.CreatedAt = fromDB(at)
		if idx != nil {
			r.Indexed, r.Index = true, uint64(*idx) // #nosec G115 -- stored from a uint64 below 2^62
		}
		out = append(out, r)
	}
	return out, storeutil.Unavailable("log records", rows.Err())
}

// MaxLogIndex is the highest recorded index, or -1.
func (s *Store) MaxLogIndex(ctx context.Context) (int64, error) {
	var n *int64
	if err := s.pool.QueryRow(ctx, `SELECT MAX(log_index) FROM tlog_outbox`).Scan(&n); err != nil {
		return 0, storeutil.Unavailable("max log index", err)
	}
	if n == nil {
		return -1, nil
	}
	return *n, nil
}

// SetLogIndexes records the indexes of appended rows in one transaction.
func (s *Store) SetLogIndexes(ctx context.Context, idx map[int64]uint64) error {
	return s.write(ctx, "set log indexes", func(tx pgx.Tx) error {
		for id, i := range idx {
			if i > 1<<62 {
				return storeutil.LogIndexConflict(id, i)
			}
			tag, err := tx.Exec(ctx, `UPDATE tlog_outbox SET log_index = $1 WHERE id = $2 AND (log_index IS NULL OR log_index = $1)`, int64(i), id) // #nosec G115 -- bounded above
			if c, _ := pgConstraint(err); c != "" {
				return storeutil.LogIndexConflict(id, i)
			}
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return storeutil.LogIndexConflict(id, i)
			}
		}
		return nil
	})
}

// LogKey returns the log's sealed key.
func (s *Store) LogKey(ctx context.Context) (issuer.LogKey, error) {
	var k issuer.LogKey
	var pub []byte
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT origin, public_key, sealed, created_at FROM tlog_key WHERE id = 1`).Scan(&k.Origin, &pub, &k.Sealed, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, storeutil.NotFound(storeutil.LogKeyNoun, "")
	}
	if err != nil {
		return k, storeutil.Unavailable("log key", err)
	}
	k.PublicKey, k.CreatedAt = pub, fromDB(at)
	return k, nil
}

// CreateLogKey stores the log's sealed key once.
func (s *Store) CreateLogKey(ctx context.Context, k issuer.LogKey) error {
	return s.write(ctx, "create log key", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tlog_key (id, origin, public_key, sealed, created_at) VALUES (1, $1, $2, $3, $4)`,
			k.Origin, []byte(k.PublicKey), k.Sealed, storeutil.Instant(k.CreatedAt))
		if c, _ := pgConstraint(err); c == "tlog_key_pkey" {
			return storeutil.LogKeyExists()
		}
		return err
	})
}

// sequencerLock is the advisory lock key of the log's sequencer, derived
// from the schema: advisory locks belong to the database, and deployments
// (or tests) in other schemas of it each have a log of their own. A fixed
// key let one deployment's sequencer keep another's from ever running.
const sequencerLock = `hashtextextended('certd.sequencer:' || current_schema(), 0)`

// LockSequencer takes a session advisory lock on a connection of its own:
// of all the instances serving one database, exactly one holds it. The lock
// dies with the connection, so lost is closed when a periodic ping fails,
// and the holder must stop appending then.
func (s *Store) LockSequencer(ctx context.Context) (<-chan struct{}, func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, storeutil.Unavailable("lock sequencer", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+sequencerLock+`)`).Scan(&ok); err != nil {
		conn.Release()
		return nil, nil, storeutil.Unavailable("lock sequencer", err)
	}
	if !ok {
		conn.Release()
		return nil, nil, storeutil.LogSequencerBusy()
	}
	lost := make(chan struct{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // #nosec G118 -- the watch outlives the caller's context: it ends with release
		defer close(done)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				err := conn.Ping(pctx)
				cancel()
				if err != nil {
					close(lost)
					return
				}
			}
		}
	}()
	var once bool
	release := func() {
		if once {
			return
		}
		once = true
		close(stop)
		<-done
		select {
		case <-lost:
			// The connection is gone, and the lock with it.
			_ = conn.Conn().Close(context.Background())
		default:
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = conn.Exec(uctx, `SELECT pg_advisory_unlock(`+sequencerLock+`)`)
			cancel()
		}
		conn.Release()
	}
	return lost, release, nil
}
