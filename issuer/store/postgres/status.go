package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

// lockStatus serialises status index allocation per institution until the
// transaction ends: two batches of one college issued at once would
// otherwise draw from the same free set, and the later would fail on the
// unique index.
func lockStatus(ctx context.Context, tx pgx.Tx, inst string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('certd.status_list:' || current_schema() || ':' || $1, 0))`, inst)
	return err
}

func takenIndexes(ctx context.Context, tx pgx.Tx, inst string) ([]int, error) {
	rows, err := tx.Query(ctx, `SELECT status_index FROM certificates WHERE institution_id = $1 AND status_index IS NOT NULL`, inst)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (int, error) {
		var i int32
		err := r.Scan(&i)
		return int(i), err
	})
}

// allocStatus gives certs random free indexes in inst's list.
func allocStatus(ctx context.Context, tx pgx.Tx, inst string, certs []issuer.Certificate) error {
	if err := lockStatus(ctx, tx, inst); err != nil {
		return err
	}
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
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM certificates WHERE institution_id = $1 AND status_index IS NULL`, inst).Scan(&n)
	if err != nil || n == 0 {
		return 0, storeutil.Unavailable("status indexes", err)
	}
	err = s.write(ctx, "fill status indexes", func(tx pgx.Tx) error {
		if err := lockStatus(ctx, tx, inst); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT number FROM certificates WHERE institution_id = $1 AND status_index IS NULL ORDER BY number`, inst)
		if err != nil {
			return err
		}
		numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		certs := make([]issuer.Certificate, len(numbers))
		for i, no := range numbers {
			certs[i].Number = no
		}
		n = len(certs)
		taken, err := takenIndexes(ctx, tx, inst)
		if err != nil {
			return err
		}
		if err := storeutil.AllocStatus(taken, certs); err != nil {
			return err
		}
		for _, c := range certs {
			if _, err := tx.Exec(ctx, `UPDATE certificates SET status_index = $1 WHERE number = $2 AND status_index IS NULL`, nullIndex(c.StatusIndex), c.Number); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// StatusBits reads what inst's list is made of.
func (s *Store) StatusBits(ctx context.Context, inst string) (issuer.StatusBits, error) {
	out := issuer.StatusBits{MaxIndex: -1}
	var maxIdx *int32
	err := s.pool.QueryRow(ctx, `SELECT count(status_index), max(status_index) FROM certificates WHERE institution_id = $1`, inst).Scan(&out.Allocated, &maxIdx)
	if err != nil {
		return out, storeutil.Unavailable("status bits", err)
	}
	if maxIdx != nil {
		out.MaxIndex = int(*maxIdx)
	}
	rows, err := s.pool.Query(ctx, `SELECT status_index FROM certificates
		WHERE institution_id = $1 AND status_index IS NOT NULL AND status <> 'valid' ORDER BY status_index`, inst)
	if err != nil {
		return out, storeutil.Unavailable("status bits", err)
	}
	out.Set, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (int, error) {
		var i int32
		err := r.Scan(&i)
		return int(i), err
	})
	return out, storeutil.Unavailable("status bits", err)
}

// PutStatusList stores a new version of an institution's list; its
// Version must be exactly one more than the latest (1 for the first). A
// version with the latest's bits is a re-signing; if the latest was one
// too, it is deleted, so unchanged lists do not pile up.
func (s *Store) PutStatusList(ctx context.Context, l issuer.StatusList) error {
	return s.write(ctx, "put status list", func(tx pgx.Tx) error {
		var latest int
		var digest string
		var latestResign bool
		err := tx.QueryRow(ctx, `SELECT version, bits_digest, resign FROM status_lists
			WHERE institution_id = $1 ORDER BY version DESC LIMIT 1`, l.InstitutionID).Scan(&latest, &digest, &latestResign)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if l.Version != latest+1 {
			return storeutil.StatusListVersionConflict(l.InstitutionID, l.Version, latest)
		}
		resign := latest > 0 && l.BitsDigest != "" && l.BitsDigest == digest
		_, err = tx.Exec(ctx, `INSERT INTO status_lists (institution_id, version, valid_from, ttl_ms, size, revoked, token, bits_digest, resign)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, l.InstitutionID, l.Version, instant(l.ValidFrom), l.TTL.Milliseconds(), l.Size, l.Revoked, l.Token, l.BitsDigest, resign)
		if c, code := pgConstraint(err); code == "23505" && c == "status_lists_pkey" {
			return storeutil.StatusListVersionConflict(l.InstitutionID, l.Version, l.Version)
		}
		if err != nil {
			return err
		}
		if resign && latestResign {
			_, err := tx.Exec(ctx, `DELETE FROM status_lists WHERE institution_id = $1 AND version = $2`, l.InstitutionID, latest)
			return err
		}
		return nil
	})
}

// StatusList returns version v of inst's list, or the latest for v 0.
func (s *Store) StatusList(ctx context.Context, inst string, v int) (issuer.StatusList, error) {
	l := issuer.StatusList{InstitutionID: inst}
	q := `SELECT version, valid_from, ttl_ms, size, revoked, token, bits_digest FROM status_lists WHERE institution_id = $1 AND version = $2`
	args := []any{inst, v}
	if v == 0 {
		q = `SELECT version, valid_from, ttl_ms, size, revoked, token, bits_digest FROM status_lists WHERE institution_id = $1 ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	var from time.Time
	var ttl int64
	err := s.pool.QueryRow(ctx, q, args...).Scan(&l.Version, &from, &ttl, &l.Size, &l.Revoked, &l.Token, &l.BitsDigest)
	if errors.Is(err, pgx.ErrNoRows) {
		return issuer.StatusList{}, storeutil.NotFound(storeutil.StatusList, inst)
	}
	if err != nil {
		return issuer.StatusList{}, storeutil.Unavailable("status list", err)
	}
	l.ValidFrom, l.TTL = from.UTC(), time.Duration(ttl)*time.Millisecond
	return l, nil
}
