package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"certd/issuer/store/internal/storeutil"
)

// FailedConfirmations returns how many failed confirmations of its holder
// (a wrong name, or the right name with a wrong ID number) the certificate
// number has had on day (days since 1970-01-01 UTC). It and
// AddFailedConfirmation keep the public side's cap on guessing across
// restarts and instances; they are the one write verify.Store allows, and
// append no audit event: no record changes.
func (s *Store) FailedConfirmations(ctx context.Context, number string, day int64) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT failures FROM failed_confirmations WHERE number = $1 AND day = $2`, number, day).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, storeutil.Unavailable("failed confirmations", err)
	}
	return n, nil
}

// AddFailedConfirmation counts one more failed confirmation of number on
// day and returns the day's total; rows of earlier days go on the way. An
// unknown number is ErrNotFound.
func (s *Store) AddFailedConfirmation(ctx context.Context, number string, day int64) (int, error) {
	var n int
	err := s.write(ctx, "add failed confirmation", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM failed_confirmations WHERE day < $1`, day); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO failed_confirmations (number, day, failures) VALUES ($1, $2, 1)
			ON CONFLICT (number, day) DO UPDATE SET failures = failed_confirmations.failures + 1 RETURNING failures`, number, day).Scan(&n)
	})
	return n, err
}
