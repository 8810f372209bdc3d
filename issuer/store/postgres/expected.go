package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

// ExpectedColleges lists the colleges expected to register, by ID (the
// console orders them by city as the province lists its cities).
func (s *Store) ExpectedColleges(ctx context.Context) ([]issuer.ExpectedCollege, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, kind, city, code, institution_id, updated_at FROM expected_colleges ORDER BY id`)
	if err != nil {
		return nil, storeutil.Unavailable("expected colleges", err)
	}
	defer rows.Close()
	var out []issuer.ExpectedCollege
	for rows.Next() {
		var e issuer.ExpectedCollege
		var at *time.Time
		if err := rows.Scan(&e.ID, &e.Name, &e.Kind, &e.City, &e.Code, &e.InstitutionID, &at); err != nil {
			return nil, storeutil.Unavailable("expected colleges", err)
		}
		e.UpdatedAt = fromDB(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, storeutil.Unavailable("expected colleges", err)
	}
	return out, nil
}

// PutExpectedColleges inserts or replaces the entries by ID in one
// transaction; a name or code another entry has is a unique-index clash
// that rolls back the whole call.
func (s *Store) PutExpectedColleges(ctx context.Context, list []issuer.ExpectedCollege, ev issuer.AuditEvent) error {
	return s.write(ctx, "put expected colleges", func(tx pgx.Tx) error {
		for _, e := range list {
			_, err := tx.Exec(ctx, `INSERT INTO expected_colleges (id, name, name_key, kind, city, code, institution_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key, kind = excluded.kind, city = excluded.city,
				code = excluded.code, institution_id = excluded.institution_id, updated_at = excluded.updated_at`,
				e.ID, e.Name, issuer.CollegeNameKey(e.Name), e.Kind, e.City, e.Code, e.InstitutionID, instant(e.UpdatedAt))
			if _, code := pgConstraint(err); code == "23505" {
				return storeutil.ExpectedDuplicate(e.Name)
			}
			if err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, ev)
	})
}

// DeleteExpectedCollege removes one entry.
func (s *Store) DeleteExpectedCollege(ctx context.Context, id string, ev issuer.AuditEvent) error {
	return s.write(ctx, "delete expected college", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM expected_colleges WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storeutil.ExpectedNotFound()
		}
		return appendAudit(ctx, tx, ev)
	})
}
