package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/occupation"
	"certd/issuer/store/internal/storeutil"
)

// Authority returns the deployment's authority.
func (s *Store) Authority(ctx context.Context) (issuer.Authority, error) {
	var a issuer.Authority
	var pub []byte
	var created *time.Time
	err := s.pool.QueryRow(ctx, `SELECT name, kid, public_key, sealed, created_at FROM authority WHERE id = 1`).
		Scan(&a.Name, &a.KID, &pub, &a.Sealed, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return issuer.Authority{}, storeutil.NotFound(storeutil.Authority, "")
	}
	if err != nil {
		return issuer.Authority{}, storeutil.Unavailable("authority", err)
	}
	a.PublicKey, a.CreatedAt = pub, fromDB(created)
	return a, nil
}

// CreateAuthority stores the authority once: the table has one possible
// row (id = 1), so a second call is a primary-key clash.
func (s *Store) CreateAuthority(ctx context.Context, a issuer.Authority, ev issuer.AuditEvent) error {
	return s.write(ctx, "create authority", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO authority (id, name, kid, public_key, sealed, created_at) VALUES (1, $1, $2, $3, $4, $5)`,
			a.Name, a.KID, []byte(a.PublicKey), a.Sealed, instant(a.CreatedAt))
		if _, code := pgConstraint(err); code == "23505" {
			return storeutil.AuthorityExists()
		}
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// PutInstitution stores a new version of an institution.
//
// The institution row is locked (SELECT … FOR UPDATE) before the version is
// checked, so of two concurrent edits of the same version the second sees
// the first's result and fails with "version_conflict"; two concurrent
// registrations of a new institution clash on the primary key instead.
// newKeys are the sealed private keys that came with this version; a key
// whose KID is already stored for this institution is not inserted again:
// only its RetiredAt is updated. That is how a rotation is recorded in one
// call: pass the new key and the old one with RetiredAt set. A KID stored
// for a different institution is ErrConflict ("kid_taken").
func (s *Store) PutInstitution(ctx context.Context, in issuer.Institution, newKeys []issuer.SigningKey, ev issuer.AuditEvent) error {
	in = storeutil.NormalizeInstitution(in)
	doc, err := storeutil.EncodeInstitution(in)
	if err != nil {
		return err
	}
	return s.write(ctx, "put institution", func(tx pgx.Tx) error {
		var latest int
		err := tx.QueryRow(ctx, `SELECT latest_version FROM institutions WHERE id = $1 FOR UPDATE`, in.ID).Scan(&latest)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if in.Version != latest+1 {
			return storeutil.VersionConflict(in.ID, in.Version, latest)
		}
		var owner string
		err = tx.QueryRow(ctx, `SELECT id FROM institutions WHERE prefix = $1 AND id <> $2`, in.Prefix, in.ID).Scan(&owner)
		if err == nil {
			return storeutil.PrefixTaken(in.Prefix, owner)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if latest == 0 {
			_, err = tx.Exec(ctx, `INSERT INTO institutions (id, prefix, latest_version) VALUES ($1, $2, $3)`, in.ID, in.Prefix, in.Version)
		} else {
			_, err = tx.Exec(ctx, `UPDATE institutions SET prefix = $1, latest_version = $2 WHERE id = $3`, in.Prefix, in.Version, in.ID)
		}
		switch constraint, _ := pgConstraint(err); constraint {
		case "institutions_pkey":
			return storeutil.VersionConflict(in.ID, in.Version, 1)
		case "institutions_prefix_key":
			return storeutil.PrefixTaken(in.Prefix, "")
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO institution_versions (id, version, effective_at, doc, token) VALUES ($1, $2, $3, $4, $5)`,
			in.ID, in.Version, instant(in.EffectiveAt), doc, in.Token); err != nil {
			return err
		}
		for _, k := range newKeys {
			if err := putKey(ctx, tx, in.ID, k); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, ev)
	})
}

func putKey(ctx context.Context, tx pgx.Tx, institutionID string, k issuer.SigningKey) error {
	tag, err := tx.Exec(ctx, `INSERT INTO signing_keys (kid, institution_id, public_key, sealed, created_at, retired_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO UPDATE SET retired_at = excluded.retired_at
		WHERE signing_keys.institution_id = excluded.institution_id`,
		k.KID, institutionID, []byte(k.PublicKey), k.Sealed, instant(k.CreatedAt), instant(k.RetiredAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		// The conflicting row belongs to another institution, so the
		// guarded update touched nothing.
		return storeutil.KeyTaken(k.KID)
	}
	return nil
}

func scanInstitution(row pgx.Row) (issuer.Institution, error) {
	var doc []byte
	var token string
	if err := row.Scan(&doc, &token); err != nil {
		return issuer.Institution{}, err
	}
	return storeutil.DecodeInstitution(doc, token)
}

func (s *Store) oneInstitution(ctx context.Context, id, query string, args ...any) (issuer.Institution, error) {
	in, err := scanInstitution(s.pool.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return issuer.Institution{}, storeutil.NotFound(storeutil.Institution, id)
	}
	if err != nil {
		return issuer.Institution{}, storeutil.Unavailable("institution", err)
	}
	return in, nil
}

// Institution returns the latest version.
func (s *Store) Institution(ctx context.Context, id string) (issuer.Institution, error) {
	return s.oneInstitution(ctx, id, `SELECT v.doc, v.token FROM institution_versions v
		JOIN institutions i ON i.id = v.id AND i.latest_version = v.version WHERE i.id = $1`, id)
}

// InstitutionAt returns the version in force at t. Ties on EffectiveAt go
// to the higher version: a correction recorded for the same moment wins.
func (s *Store) InstitutionAt(ctx context.Context, id string, t time.Time) (issuer.Institution, error) {
	return s.oneInstitution(ctx, id, `SELECT doc, token FROM institution_versions
		WHERE id = $1 AND effective_at <= $2 ORDER BY effective_at DESC, version DESC LIMIT 1`, id, storeutil.Instant(t))
}

func (s *Store) institutions(ctx context.Context, query string, args ...any) ([]issuer.Institution, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, storeutil.Unavailable("institutions", err)
	}
	defer rows.Close()
	out := []issuer.Institution{}
	for rows.Next() {
		in, err := scanInstitution(rows)
		if err != nil {
			return nil, storeutil.Unavailable("institutions", err)
		}
		out = append(out, in)
	}
	return out, storeutil.Unavailable("institutions", rows.Err())
}

// InstitutionVersions returns every version, oldest first; ErrNotFound for
// an unknown institution, which has no versions at all.
func (s *Store) InstitutionVersions(ctx context.Context, id string) ([]issuer.Institution, error) {
	out, err := s.institutions(ctx, `SELECT doc, token FROM institution_versions WHERE id = $1 ORDER BY version`, id)
	if err == nil && len(out) == 0 {
		return nil, storeutil.NotFound(storeutil.Institution, id)
	}
	return out, err
}

// Institutions returns the latest version of every institution, by ID.
func (s *Store) Institutions(ctx context.Context) ([]issuer.Institution, error) {
	return s.institutions(ctx, `SELECT v.doc, v.token FROM institution_versions v
		JOIN institutions i ON i.id = v.id AND i.latest_version = v.version ORDER BY i.id`)
}

// SigningKeys returns an institution's keys, oldest first; an empty list
// for an institution without keys or an unknown one.
func (s *Store) SigningKeys(ctx context.Context, institutionID string) ([]issuer.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT institution_id, kid, public_key, sealed, created_at, retired_at
		FROM signing_keys WHERE institution_id = $1 ORDER BY created_at, kid`, institutionID)
	if err != nil {
		return nil, storeutil.Unavailable("signing keys", err)
	}
	defer rows.Close()
	out := []issuer.SigningKey{}
	for rows.Next() {
		var k issuer.SigningKey
		var pub []byte
		var created, retired *time.Time
		if err := rows.Scan(&k.InstitutionID, &k.KID, &pub, &k.Sealed, &created, &retired); err != nil {
			return nil, storeutil.Unavailable("signing keys", err)
		}
		k.PublicKey, k.CreatedAt, k.RetiredAt = pub, fromDB(created), fromDB(retired)
		out = append(out, k)
	}
	return out, storeutil.Unavailable("signing keys", rows.Err())
}

// PutOccupations inserts or replaces catalogue entries by code.
func (s *Store) PutOccupations(ctx context.Context, occ []occupation.Occupation, ev issuer.AuditEvent) error {
	return s.write(ctx, "put occupations", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, o := range occ {
			doc, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("encode occupation %s: %w", o.Code, err)
			}
			b.Queue(`INSERT INTO occupations (code, doc) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET doc = excluded.doc`, o.Code, doc)
		}
		b.Queue(insertAudit, auditRow(ev)...)
		return tx.SendBatch(ctx, b).Close()
	})
}

// Occupations returns the catalogue ordered by code.
func (s *Store) Occupations(ctx context.Context) ([]occupation.Occupation, error) {
	rows, err := s.pool.Query(ctx, `SELECT doc FROM occupations ORDER BY code`)
	if err != nil {
		return nil, storeutil.Unavailable("occupations", err)
	}
	defer rows.Close()
	out := []occupation.Occupation{}
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, storeutil.Unavailable("occupations", err)
		}
		var o occupation.Occupation
		if err := json.Unmarshal(doc, &o); err != nil {
			return nil, storeutil.Unavailable("occupations", fmt.Errorf("decode occupation: %w", err))
		}
		out = append(out, o)
	}
	return out, storeutil.Unavailable("occupations", rows.Err())
}
