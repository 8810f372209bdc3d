package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

// PutReceipt keeps a verification receipt, dropping the receipts expired
// by its creation time on the way (so storage holds only the receipts of
// the keeping period). A reference taken already is ErrConflict; a body
// over issuer.MaxReceiptBody is ErrInvalid. It appends no audit event: no
// record changes, and the receipt is the public side's own note.
func (s *Store) PutReceipt(ctx context.Context, r issuer.Receipt) error {
	if err := storeutil.CheckReceipt(r); err != nil {
		return err
	}
	return s.write(ctx, "put receipt", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM receipts WHERE expires_at < ?`, instant(r.CreatedAt)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO receipts (ref, kind, created_at, expires_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (ref) DO NOTHING`,
			r.Ref, r.Kind, instant(r.CreatedAt), instant(r.ExpiresAt), r.Body)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storeutil.ErrReceiptTaken
		}
		return nil
	})
}

// Receipt reads a receipt by its reference; an unknown one (or one
// dropped after expiring) is ErrNotFound. An expired receipt not yet
// dropped is returned: the caller compares ExpiresAt with its clock.
func (s *Store) Receipt(ctx context.Context, ref string) (issuer.Receipt, error) {
	r := issuer.Receipt{Ref: ref}
	var created, expires sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT kind, created_at, expires_at, body FROM receipts WHERE ref = ?`, ref).Scan(&r.Kind, &created, &expires, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, issuer.ErrNotFound
	}
	if err != nil {
		return r, storeutil.Unavailable("receipt", err)
	}
	if r.CreatedAt, err = parseInstant(created); err != nil {
		return r, storeutil.Unavailable("receipt", err)
	}
	if r.ExpiresAt, err = parseInstant(expires); err != nil {
		return r, storeutil.Unavailable("receipt", err)
	}
	return r, nil
}
