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

// HolderCodes returns the holder-code rows of numbers; see issuer.Store.
func (s *Store) HolderCodes(ctx context.Context, numbers []string) (map[string]issuer.HolderCode, error) {
	out := map[string]issuer.HolderCode{}
	const chunk = 500
	for start := 0; start < len(numbers); start += chunk {
		part := numbers[start:min(start+chunk, len(numbers))]
		if err := s.holderCodesPart(ctx, part, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// holderCodesPart reads the rows of up to 500 numbers into out.
func (s *Store) holderCodesPart(ctx context.Context, part []string, out map[string]issuer.HolderCode) error {
	args := make([]any, len(part))
	for i, n := range part {
		args[i] = n
	}
	// #nosec G202 -- only "?" placeholders are joined in; the numbers are arguments
	q := `SELECT number, generation, code_hash, claimed_at FROM holder_codes WHERE number IN (?` + strings.Repeat(",?", len(part)-1) + `)`
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return storeutil.Unavailable("holder codes", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var hc issuer.HolderCode
		var claimed sql.NullString
		if err := rows.Scan(&hc.Number, &hc.Generation, &hc.CodeHash, &claimed); err != nil {
			return storeutil.Unavailable("holder codes", err)
		}
		if hc.ClaimedAt, err = parseInstant(claimed); err != nil {
			return err
		}
		out[hc.Number] = hc
	}
	if err := rows.Err(); err != nil {
		return storeutil.Unavailable("holder codes", err)
	}
	return nil
}

// SetHolderCode stores a reset holder code; see issuer.Store.
func (s *Store) SetHolderCode(ctx context.Context, hc issuer.HolderCode, ev issuer.AuditEvent) error {
	return s.write(ctx, "set holder code", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO holder_codes (number, generation, code_hash) VALUES (?, ?, ?)
			ON CONFLICT (number) DO UPDATE SET generation = excluded.generation, code_hash = excluded.code_hash`,
			hc.Number, hc.Generation, hc.CodeHash); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// ClaimCertificate records a holder's sign-in; see issuer.Store.
func (s *Store) ClaimCertificate(ctx context.Context, number string, at time.Time, ev issuer.AuditEvent) error {
	return s.write(ctx, "claim certificate", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO holder_codes (number, claimed_at) VALUES (?, ?)
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
	err := s.r.QueryRowContext(ctx, `SELECT failures FROM holder_failures WHERE key = ? AND day = ?`, key, day).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
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
	err := s.write(ctx, "add holder failure", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM holder_failures WHERE day < ?`, day); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO holder_failures (key, day, failures) VALUES (?, ?, 1)
			ON CONFLICT (key, day) DO UPDATE SET failures = failures + 1 RETURNING failures`, key, day).Scan(&n)
	})
	return n, err
}

const shareColumns = `token_hash, number, label, reveal, created_at, expires_at, ended_at, views, last_view_at`

func scanShare(row interface{ Scan(...any) error }) (issuer.ShareLink, error) {
	var l issuer.ShareLink
	var reveal string
	var created, expires, ended, last sql.NullString
	if err := row.Scan(&l.TokenHash, &l.Number, &l.Label, &reveal, &created, &expires, &ended, &l.Views, &last); err != nil {
		return l, err
	}
	l.Reveal = issuer.Reveal(reveal)
	var err error
	for _, p := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&l.CreatedAt, created}, {&l.ExpiresAt, expires}, {&l.EndedAt, ended}, {&l.LastViewAt, last}} {
		if *p.dst, err = parseInstant(p.src); err != nil {
			return l, err
		}
	}
	return l, nil
}

// PutShareLink stores a new share link; see issuer.Store.
func (s *Store) PutShareLink(ctx context.Context, l issuer.ShareLink, ev issuer.AuditEvent) error {
	return s.write(ctx, "put share link", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO share_links (`+shareColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL)`,
			l.TokenHash, l.Number, l.Label, string(l.Reveal), instant(l.CreatedAt), instant(l.ExpiresAt), instant(l.EndedAt)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// ShareLink returns a link by token hash.
func (s *Store) ShareLink(ctx context.Context, tokenHash string) (issuer.ShareLink, error) {
	l, err := scanShare(s.r.QueryRowContext(ctx, `SELECT `+shareColumns+` FROM share_links WHERE token_hash = ?`, tokenHash))
	if errors.Is(err, sql.ErrNoRows) {
		return l, issuer.ErrNotFound
	}
	if err != nil {
		return l, storeutil.Unavailable("share link", err)
	}
	return l, nil
}

// ShareLinks returns a certificate's links, newest first.
func (s *Store) ShareLinks(ctx context.Context, number string) ([]issuer.ShareLink, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+shareColumns+` FROM share_links WHERE number = ? ORDER BY created_at DESC, token_hash`, number)
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
	return s.write(ctx, "update share link", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE share_links SET expires_at = ?, ended_at = ? WHERE token_hash = ?`,
			instant(l.ExpiresAt), instant(l.EndedAt), l.TokenHash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return issuer.ErrNotFound
		}
		return appendAudit(ctx, tx, ev)
	})
}

// EndShareLinks ends every live link of a certificate; see issuer.Store.
func (s *Store) EndShareLinks(ctx context.Context, number string, at time.Time, ev issuer.AuditEvent) (int, error) {
	var n int64
	err := s.write(ctx, "end share links", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE share_links SET ended_at = ? WHERE number = ? AND ended_at IS NULL AND expires_at > ?`,
			instant(at), number, instant(at))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return appendAudit(ctx, tx, ev)
	})
	return int(n), err
}

// AddShareViews adds counted views; see issuer.Store.
func (s *Store) AddShareViews(ctx context.Context, views []issuer.ShareView) error {
	if len(views) == 0 {
		return nil
	}
	return s.write(ctx, "add share views", func(tx *sql.Tx) error {
		for _, v := range views {
			if _, err := tx.ExecContext(ctx, `UPDATE share_links SET views = views + ?,
				last_view_at = CASE WHEN last_view_at IS NULL OR last_view_at < ? THEN ? ELSE last_view_at END WHERE token_hash = ?`,
				v.N, instant(v.At), instant(v.At), v.TokenHash); err != nil {
				return err
			}
		}
		return nil
	})
}
