package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"certd/issuer"
	"certd/issuer/occupation"
	"certd/issuer/store/internal/storeutil"
)

// Authority returns the deployment's authority.
func (s *Store) Authority(ctx context.Context) (issuer.Authority, error) {
	var a issuer.Authority
	var created sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT name, kid, public_key, sealed, created_at FROM authority WHERE id = 1`).
		Scan(&a.Name, &a.KID, &a.PublicKey, &a.Sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.Authority{}, storeutil.NotFound(storeutil.Authority, "")
	}
	if err != nil {
		return issuer.Authority{}, storeutil.Unavailable("authority", err)
	}
	if a.CreatedAt, err = parseInstant(created); err != nil {
		return issuer.Authority{}, storeutil.Unavailable("authority", err)
	}
	return a, nil
}

// CreateAuthority stores the authority once; the table holds a single row
// (id = 1), so a second call is a primary-key clash.
func (s *Store) CreateAuthority(ctx context.Context, a issuer.Authority, ev issuer.AuditEvent) error {
	return s.write(ctx, "create authority", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO authority (id, name, kid, public_key, sealed, created_at) VALUES (1, ?, ?, ?, ?, ?)`,
			a.Name, a.KID, []byte(a.PublicKey), a.Sealed, instant(a.CreatedAt))
		if isUnique(err) {
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
// The version check and the prefix check run inside the writer's immediate
// transaction, so nothing can slip between them and the insert. newKeys are
// the sealed private keys that came with this version; a key whose KID is
// already stored for this institution is not inserted again: only its
// RetiredAt is updated. That is how a rotation is recorded in one call:
// pass the new key and the old one with RetiredAt set. A KID stored for a
// different institution is ErrConflict ("kid_taken").
func (s *Store) PutInstitution(ctx context.Context, in issuer.Institution, newKeys []issuer.SigningKey, ev issuer.AuditEvent) error {
	in = storeutil.NormalizeInstitution(in)
	doc, err := storeutil.EncodeInstitution(in)
	if err != nil {
		return err
	}
	return s.write(ctx, "put institution", func(tx *sql.Tx) error {
		var latest int
		err := tx.QueryRowContext(ctx, `SELECT latest_version FROM institutions WHERE id = ?`, in.ID).Scan(&latest)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if in.Version != latest+1 {
			return storeutil.VersionConflict(in.ID, in.Version, latest)
		}
		var owner string
		err = tx.QueryRowContext(ctx, `SELECT id FROM institutions WHERE prefix = ? AND id <> ?`, in.Prefix, in.ID).Scan(&owner)
		if err == nil {
			return storeutil.PrefixTaken(in.Prefix, owner)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if latest == 0 {
			_, err = tx.ExecContext(ctx, `INSERT INTO institutions (id, prefix, latest_version) VALUES (?, ?, ?)`, in.ID, in.Prefix, in.Version)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE institutions SET prefix = ?, latest_version = ? WHERE id = ?`, in.Prefix, in.Version, in.ID)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO institution_versions (id, version, effective_at, doc, token) VALUES (?, ?, ?, ?, ?)`,
			in.ID, in.Version, instant(in.EffectiveAt), string(doc), in.Token); err != nil {
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

func putKey(ctx context.Context, tx *sql.Tx, institutionID string, k issuer.SigningKey) error {
	var owner string
	err := tx.QueryRowContext(ctx, `SELECT institution_id FROM signing_keys WHERE kid = ?`, k.KID).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, institution_id, public_key, sealed, created_at, retired_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.KID, institutionID, []byte(k.PublicKey), k.Sealed, instant(k.CreatedAt), instant(k.RetiredAt))
		return err
	case err != nil:
		return err
	case owner != institutionID:
		return storeutil.KeyTaken(k.KID)
	}
	_, err = tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE kid = ?`, instant(k.RetiredAt), k.KID)
	return err
}

const versionColumns = `doc, token`

func scanInstitution(row interface{ Scan(...any) error }) (issuer.Institution, error) {
	var doc, token string
	if err := row.Scan(&doc, &token); err != nil {
		return issuer.Institution{}, err
	}
	return storeutil.DecodeInstitution([]byte(doc), token)
}

func (s *Store) oneInstitution(ctx context.Context, id, query string, args ...any) (issuer.Institution, error) {
	in, err := scanInstitution(s.r.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.Institution{}, storeutil.NotFound(storeutil.Institution, id)
	}
	if err != nil {
		return issuer.Institution{}, storeutil.Unavailable("institution", err)
	}
	return in, nil
}

// Institution returns the latest version.
func (s *Store) Institution(ctx context.Context, id string) (issuer.Institution, error) {
	return s.oneInstitution(ctx, id, `SELECT `+versionColumns+` FROM institution_versions v
		JOIN institutions i ON i.id = v.id AND i.latest_version = v.version WHERE i.id = ?`, id)
}

// InstitutionAt returns the version in force at t. Ties on EffectiveAt go
// to the higher version: a correction recorded for the same moment wins.
func (s *Store) InstitutionAt(ctx context.Context, id string, t time.Time) (issuer.Institution, error) {
	return s.oneInstitution(ctx, id, `SELECT `+versionColumns+` FROM institution_versions
		WHERE id = ? AND effective_at <= ? ORDER BY effective_at DESC, version DESC LIMIT 1`, id, instant(t))
}

func (s *Store) institutions(ctx context.Context, query string, args ...any) ([]issuer.Institution, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
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
	out, err := s.institutions(ctx, `SELECT `+versionColumns+` FROM institution_versions WHERE id = ? ORDER BY version`, id)
	if err == nil && len(out) == 0 {
		return nil, storeutil.NotFound(storeutil.Institution, id)
	}
	return out, err
}

// Institutions returns the latest version of every institution, by ID.
func (s *Store) Institutions(ctx context.Context) ([]issuer.Institution, error) {
	return s.institutions(ctx, `SELECT `+versionColumns+` FROM institution_versions v
		JOIN institutions i ON i.id = v.id AND i.latest_version = v.version ORDER BY i.id`)
}

// SigningKeys returns an institution's keys, oldest first; an empty list
// for an institution without keys or an unknown one.
func (s *Store) SigningKeys(ctx context.Context, institutionID string) ([]issuer.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT institution_id, kid, public_key, sealed, created_at, retired_at
		FROM signing_keys WHERE institution_id = ? ORDER BY created_at, kid`, institutionID)
	if err != nil {
		return nil, storeutil.Unavailable("signing keys", err)
	}
	defer rows.Close()
	out := []issuer.SigningKey{}
	for rows.Next() {
		var k issuer.SigningKey
		var pub []byte
		var created, retired sql.NullString
		if err := rows.Scan(&k.InstitutionID, &k.KID, &pub, &k.Sealed, &created, &retired); err != nil {
			return nil, storeutil.Unavailable("signing keys", err)
		}
		k.PublicKey = pub
		if k.CreatedAt, err = parseInstant(created); err != nil {
			return nil, storeutil.Unavailable("signing keys", err)
		}
		if k.RetiredAt, err = parseInstant(retired); err != nil {
			return nil, storeutil.Unavailable("signing keys", err)
		}
		out = append(out, k)
	}
	return out, storeutil.Unavailable("signing keys", rows.Err())
}

// PutOccupations inserts or replaces catalogue entries by code.
func (s *Store) PutOccupations(ctx context.Context, occ []occupation.Occupation, ev issuer.AuditEvent) error {
	return s.write(ctx, "put occupations", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO occupations (code, doc) VALUES (?, ?)
			ON CONFLICT (code) DO UPDATE SET doc = excluded.doc`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, o := range occ {
			doc, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("encode occupation %s: %w", o.Code, err)
			}
			if _, err := stmt.ExecContext(ctx, o.Code, string(doc)); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, ev)
	})
}

// Occupations returns the catalogue ordered by code.
func (s *Store) Occupations(ctx context.Context) ([]occupation.Occupation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT doc FROM occupations ORDER BY code`)
	if err != nil {
		return nil, storeutil.Unavailable("occupations", err)
	}
	defer rows.Close()
	out := []occupation.Occupation{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, storeutil.Unavailable("occupations", err)
		}
		var o occupation.Occupation
		if err := json.Unmarshal([]byte(doc), &o); err != nil {
			return nil, storeutil.Unavailable("occupations", fmt.Errorf("decode occupation: %w", err))
		}
		out = append(out, o)
	}
	return out, storeutil.Unavailable("occupations", rows.Err())
}
