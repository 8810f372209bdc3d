package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

// HolderCodes returns the holder-code rows of numbers; see issuer.Store.
func (s *Store) HolderCodes(ctx context.Context, numbers []string) (map[string]issuer.HolderCode, error) {
	out := map[string]issuer.HolderCode{}
	if len(numbers) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT number, generation, code_hash, claimed_at FROM holder_codes WHERE number = ANY($1)`, numbers)
	if err != nil {
		return nil, storeutil.Unavailable("holder codes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hc issuer.HolderCode
		var claimed *time.Time
		if err := rows.Scan(&hc.Number, &hc.Generation, &hc.CodeHash, &claimed); err != nil {
			return nil, storeutil.Unavailable("holder codes", err)
		}
		hc.ClaimedAt = fromDB(claimed)
		out[hc.Number] = hc
	}
	if err := rows.Err(); err != nil {
		return nil, storeutil.Unavailable("holder codes", err)
	}
	return out, nil
}

// SetHolderCode stores a reset holder code; see issuer.Store.
func (s *Store) SetHolderCode(ctx context.Context, hc issuer.HolderCode, ev issuer.AuditEvent) error {
	return s.write(ctx, "set holder code", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO holder_codes (number, generation, code_hash) VALUES ($1, $2, $3)
			ON CONFLICT (number) DO UPDATE SET generation = excluded.generation, code_hash = excluded.code_hash`,
			hc.Number, hc.Generation, hc.CodeHash); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// ClaimCertificate records a holder's sign-in; see issuer.Store.
func (s *Store) ClaimCertificate(ctx context.Context, number string, at time.Time, ev issuer.AuditEvent) error {
	return s.write(ctx, "claim certificate", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO holder_codes (number, claimed_at) VALUES ($1, $2)
			ON CONFLICT (number) DO UPDATE SET claimed_at = COALESCE(holder_codes.claimed_at, excluded.claimed_at)`,
			number, instant(at)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// HolderFailures returns a key's failed holder sign-ins on day.
func (s *Store) HolderFailures(ctx context.Context, key string, day int64) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT failures FROM holder_failures WHERE key = $1 AND day = $2`, key, day).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, storeutil.Unavailable("holder failures", err)
	}
	return n, nil
}

// AddHolderFailure counts one more failed sign-in of key on day.
func (s *Store) AddHolderFailure(ctx context.Context, key string, day int64) (int, error) {
	var n int
	err := s.write(ctx, "add holder failure", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM holder_failures WHERE day < $1`, day); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO holder_failures (key, day, failures) VALUES ($1, $2, 1)
			ON CONFLICT (key, day) DO UPDATE SET failures = holder_failures.failures + 1 RETURNING failures`, key, day).Scan(&n)
	})
	return n, err
}

const shareColumns = `token_hash, number, label, reveal, created_at, expires_at, ended_at, views, last_view_at`

func scanShare(row pgx.Row) (issuer.ShareLink, error) {
	var l issuer.ShareLink
	var reveal string
	var created, expires, ended, last *time.Time
	if err := row.Scan(&l.TokenHash, &l.Number, &l.Label, &reveal, &created, &expires, &ended, &l.Views, &last); err != nil {
		return l, err
	}
	l.Reveal = issuer.Reveal(reveal)
	l.CreatedAt, l.ExpiresAt, l.EndedAt, l.LastViewAt = fromDB(created), fromDB(expires), fromDB(ended), fromDB(last)
	return l, nil
}

// PutShareLink stores a new share link; see issuer.Store.
func (s *Store) PutShareLink(ctx context.Context, l issuer.ShareLink, ev issuer.AuditEvent) error {
	return s.write(ctx, "put share link", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO share_links (`+shareColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL)`,
			l.TokenHash, l.Number, l.Label, string(l.Reveal), instant(l.CreatedAt), instant(l.ExpiresAt), instant(l.EndedAt)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// ShareLink returns a link by token hash.
func (s *Store) ShareLink(ctx context.Context, tokenHash string) (issuer.ShareLink, error) {
	l, err := scanShare(s.pool.QueryRow(ctx, `SELECT `+shareColumns+` FROM share_links WHERE token_hash = $1`, tokenHash))
	if errors.Is(err, pgx.ErrNoRows) {
		return l, issuer.ErrNotFound
	}
	if err != nil {
		return l, storeutil.Unavailable("share link", err)
	}
	return l, nil
}

// ShareLinks returns a certificate's links, newest first.
func (s *Store) ShareLinks(ctx context.Context, number string) ([]issuer.ShareLink, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+shareColumns+` FROM share_links WHERE number = $1 ORDER BY created_at DESC, token_hash`, number)
	if err != nil {
		return nil, storeutil.Unavailable("share links", err)
	}
	defer rows.Close()
	var out []issuer.ShareLink
	for rows.Next() {
		l, err := scanShare(rows)
		if err != nil {
			return nil, storeutil.Unavailable("share links", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, storeutil.Unavailable("share links", err)
	}
	return out, nil
}

// UpdateShareLink stores a link's expiry and end; see issuer.Store.
func (s *Store) UpdateShareLink(ctx context.Context, l issuer.ShareLink, ev issuer.AuditEvent) error {
	return s.write(ctx, "update share link", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE share_links SET expires_at = $1, ended_at = $2 WHERE token_hash = $3`,
			instant(l.ExpiresAt), instant(l.EndedAt), l.TokenHash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return issuer.ErrNotFound
		}
		return appendAudit(ctx, tx, ev)
	})
}

// EndShareLinks ends every live link of a certificate; see issuer.Store.
func (s *Store) EndShareLinks(ctx context.Context, number string, at time.Time, ev issuer.AuditEvent) (int, error) {
	var n int64
	err := s.write(ctx, "end share links", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE share_links SET ended_at = $1 WHERE number = $2 AND ended_at IS NULL AND expires_at > $1`,
			instant(at), number)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return appendAudit(ctx, tx, ev)
	})
	return int(n), err
}

// AddShareViews adds counted views; see issuer.Store.
func (s *Store) AddShareViews(ctx context.Context, views []issuer.ShareView) error {
	if len(views) == 0 {
		return nil
	}
	return s.write(ctx, "add share views", func(tx pgx.Tx) error {
		for _, v := range views {
			if _, err := tx.Exec(ctx, `UPDATE share_links SET views = views + $1,
				last_view_at = GREATEST(COALESCE(last_view_at, $2), $2) WHERE token_hash = $3`,
				v.N, instant(v.At), v.TokenHash); err != nil {
				return err
			}
		}
		return nil
	})
}
