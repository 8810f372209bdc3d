package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

var _ issuer.LogStore = (*Store)(nil)

const insertLog = `INSERT INTO tlog_outbox (kind, institution_id, subject, salt, entry, created_at) VALUES (?, ?, ?, ?, ?, ?)`

func logArgs(it issuer.LogItem, at time.Time) []any {
	if at.IsZero() {
		at = time.Now()
	}
	var salt any
	if len(it.Salt) > 0 {
		salt = it.Salt
	}
	return []any{it.Kind, it.InstitutionID, it.Subject, salt, it.Entry, instant(at)}
}

// appendLog writes the event's log entries into the outbox (inside the
// change's transaction).
func appendLog(ctx context.Context, tx *sql.Tx, ev issuer.AuditEvent) error {
	for _, it := range ev.Log {
		if _, err := tx.ExecContext(ctx, insertLog, logArgs(it, ev.At)...); err != nil {
			return err
		}
	}
	return nil
}

// LogRecords lists outbox rows in ID order.
func (s *Store) LogRecords(ctx context.Context, f issuer.LogFilter) ([]issuer.LogRecord, error) {
	var q strings.Builder
	q.WriteString(`SELECT id, kind, institution_id, subject, salt, entry, created_at, log_index FROM tlog_outbox WHERE id > ?`)
	args := []any{f.AfterID}
	if f.Subject != "" {
		q.WriteString(` AND subject = ?`)
		args = append(args, f.Subject)
	}
	if f.InstitutionID != "" {
		q.WriteString(` AND institution_id = ?`)
		args = append(args, f.InstitutionID)
	}
	if f.Kind != "" {
		q.WriteString(` AND kind = ?`)
		args = append(args, f.Kind)
	}
	if f.Pending {
		q.WriteString(` AND log_index IS NULL`)
	}
	q.WriteString(` ORDER BY id`)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, storeutil.Unavailable("log records", err)
	}
	defer rows.Close()
	out := []issuer.LogRecord{}
	for rows.Next() {
		var r issuer.LogRecord
		var at sql.NullString
		var idx sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Kind, &r.InstitutionID, &r.Subject, &r.Salt, &r.Entry, &at, &idx); err != nil {
			return nil, storeutil.Unavailable("log records", err)
		}
		if r.CreatedAt, err = parseInstant(at); err != nil {
			return nil, storeutil.Unavailable("log records", err)
		}
		if idx.Valid {
			r.Indexed, r.Index = true, uint64(idx.Int64) // #nosec G115 -- stored from a uint64 below 2^63
		}
		out = append(out, r)
	}
	return out, storeutil.Unavailable("log records", rows.Err())
}

// MaxLogIndex is the highest recorded index, or -1.
func (s *Store) MaxLogIndex(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(log_index) FROM tlog_outbox`).Scan(&n); err != nil {
		return 0, storeutil.Unavailable("max log index", err)
	}
	if !n.Valid {
		return -1, nil
	}
	return n.Int64, nil
}

// SetLogIndexes records the indexes of appended rows in one transaction.
func (s *Store) SetLogIndexes(ctx context.Context, idx map[int64]uint64) error {
	return s.write(ctx, "set log indexes", func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE tlog_outbox SET log_index = ? WHERE id = ? AND (log_index IS NULL OR log_index = ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for id, i := range idx {
			if i > 1<<62 {
				return storeutil.LogIndexConflict(id, i)
			}
			res, err := st.ExecContext(ctx, int64(i), id, int64(i)) // #nosec G115 -- bounded above
			if isUnique(err) {
				return storeutil.LogIndexConflict(id, i)
			}
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
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
	var at sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT origin, public_key, sealed, created_at FROM tlog_key WHERE id = 1`).Scan(&k.Origin, &pub, &k.Sealed, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return k, storeutil.NotFound(storeutil.LogKeyNoun, "")
	}
	if err != nil {
		return k, storeutil.Unavailable("log key", err)
	}
	k.PublicKey = pub
	if k.CreatedAt, err = parseInstant(at); err != nil {
		return k, storeutil.Unavailable("log key", err)
	}
	return k, nil
}

// CreateLogKey stores the log's sealed key once.
func (s *Store) CreateLogKey(ctx context.Context, k issuer.LogKey) error {
	return s.write(ctx, "create log key", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tlog_key (id, origin, public_key, sealed, created_at) VALUES (1, ?, ?, ?, ?)`,
			k.Origin, []byte(k.PublicKey), k.Sealed, instant(k.CreatedAt))
		if isUnique(err) {
			return storeutil.LogKeyExists()
		}
		return err
	})
}

// LockSequencer always succeeds on SQLite: one process serves a database
// file, and the log directory's own lock keeps out a second appender.
func (s *Store) LockSequencer(context.Context) (<-chan struct{}, func(), error) {
	return make(chan struct{}), func() {}, nil
}
