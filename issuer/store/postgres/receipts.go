package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

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
	return s.write(ctx, "put receipt", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM receipts WHERE expires_at < $1`, storeutil.Instant(r.CreatedAt)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO receipts (ref, kind, created_at, expires_at, body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ref) DO NOTHING`,
			r.Ref, r.Kind, storeutil.Instant(r.CreatedAt), storeutil.Instant(r.ExpiresAt), r.Body)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
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
	err := s.pool.QueryRow(ctx, `SELECT kind, created_at, expires_at, body FROM receipts WHERE ref = $1`, ref).Scan(&r.Kind, &r.CreatedAt, &r.ExpiresAt, &r.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, issuer.ErrNotFound
	}
	if err != nil {
		return r, storeutil.Unavailable("receipt", err)
	}
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return r, nil
}
