package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

// takenIndexes reads the status indexes an institution has allocated.
func takenIndexes(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, inst string) ([]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT status_index FROM certificates WHERE institution_id = ? AND status_index IS NOT NULL`, inst)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// allocStatus gives certs random free indexes in inst's list, inside the
// writer's transaction (SQLite has one writer, so no other allocation
// interleaves).
func allocStatus(ctx context.Context, tx *sql.Tx, inst string, certs []issuer.Certificate) error {
	taken, err := takenIndexes(ctx, tx, inst)
	if err != nil {
		return err
	}
	return storeutil.AllocStatus(taken, certs)
}

// FillStatusIndexes gives every certificate of inst that has no status
// index (one issued before status lists) a random free one.
func (s *Store) FillStatusIndexes(ctx context.Context, inst string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM certificates WHERE institution_id = ? AND status_index IS NULL`, inst).Scan(&n)
	if err != nil || n == 0 {
		return 0, storeutil.Unavailable("status indexes", err)
	}
	err = s.write(ctx, "fill status indexes", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT number FROM certificates WHERE institution_id = ? AND status_index IS NULL ORDER BY number`, inst)
		if err != nil {
			return err
		}
		var certs []issuer.Certificate
		for rows.Next() {
			var c issuer.Certificate
			if err := rows.Scan(&c.Number); err != nil {
				_ = rows.Close()
				return err
			}
			certs = append(certs, c)
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n = len(certs)
		if err := allocStatus(ctx, tx, inst, certs); err != nil {
			return err
		}
		for _, c := range certs {
			if _, err := tx.ExecContext(ctx, `UPDATE certificates SET status_index = ? WHERE number = ? AND status_index IS NULL`, c.StatusIndex, c.Number); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// StatusBits reads what inst's list is made of: the indexes of revoked and
// superseded certificates, and how many are allocated.
func (s *Store) StatusBits(ctx context.Context, inst string) (issuer.StatusBits, error) {
	out := issuer.StatusBits{MaxIndex: -1}
	var maxIdx sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT count(status_index), max(status_index) FROM certificates WHERE institution_id = ?`, inst).Scan(&out.Allocated, &maxIdx)
	if err != nil {
		return out, storeutil.Unavailable("status bits", err)
	}
	if maxIdx.Valid {
		out.MaxIndex = int(maxIdx.Int64)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT status_index FROM certificates
		WHERE institution_id = ? AND status_index IS NOT NULL AND status <> 'valid' ORDER BY status_index`, inst)
	if err != nil {
		return out, storeutil.Unavailable("status bits", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return out, storeutil.Unavailable("status bits", err)
		}
		out.Set = append(out.Set, i)
	}
	return out, storeutil.Unavailable("status bits", rows.Err())
}

// PutStatusList stores a new version of an institution's list; its
// Version must be exactly one more than the latest (1 for the first). A
// version with the latest's bits is a re-signing; if the latest was one
// too, it is deleted, so unchanged lists do not pile up.
func (s *Store) PutStatusList(ctx context.Context, l issuer.StatusList) error {
	return s.write(ctx, "put status list", func(tx *sql.Tx) error {
		var latest, latestResign int
		var digest string
		err := tx.QueryRowContext(ctx, `SELECT version, bits_digest, resign FROM status_lists
			WHERE institution_id = ? ORDER BY version DESC LIMIT 1`, l.InstitutionID).Scan(&latest, &digest, &latestResign)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if l.Version != latest+1 {
			return storeutil.StatusListVersionConflict(l.InstitutionID, l.Version, latest)
		}
		resign := latest > 0 && l.BitsDigest != "" && l.BitsDigest == digest
		if _, err := tx.ExecContext(ctx, `INSERT INTO status_lists (institution_id, version, valid_from, ttl_ms, size, revoked, token, bits_digest, resign)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, l.InstitutionID, l.Version, instant(l.ValidFrom), l.TTL.Milliseconds(), l.Size, l.Revoked, l.Token, l.BitsDigest, resign); err != nil {
			return err
		}
		if resign && latestResign != 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM status_lists WHERE institution_id = ? AND version = ?`, l.InstitutionID, latest)
			return err
		}
		return nil
	})
}

// StatusList returns version v of inst's list, or the latest for v 0.
func (s *Store) StatusList(ctx context.Context, inst string, v int) (issuer.StatusList, error) {
	l := issuer.StatusList{InstitutionID: inst}
	q := `SELECT version, valid_from, ttl_ms, size, revoked, token, bits_digest FROM status_lists WHERE institution_id = ? AND version = ?`
	args := []any{inst, v}
	if v == 0 {
		q = `SELECT version, valid_from, ttl_ms, size, revoked, token, bits_digest FROM status_lists WHERE institution_id = ? ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	var from sql.NullString
	var ttl int64
	err := s.r.QueryRowContext(ctx, q, args...).Scan(&l.Version, &from, &ttl, &l.Size, &l.Revoked, &l.Token, &l.BitsDigest)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.StatusList{}, storeutil.NotFound(storeutil.StatusList, inst)
	}
	if err != nil {
		return issuer.StatusList{}, storeutil.Unavailable("status list", err)
	}
	l.TTL = time.Duration(ttl) * time.Millisecond
	if l.ValidFrom, err = parseInstant(from); err != nil {
		return issuer.StatusList{}, storeutil.Unavailable("status list", err)
	}
	return l, nil
}
