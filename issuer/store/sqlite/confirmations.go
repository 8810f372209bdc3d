package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"certd/issuer/store/internal/storeutil"
)

// FailedConfirmations returns how many failed confirmations of its holder
// (a wrong name, or the right name with a wrong ID number) the certificate
// number has had on day (days since 1970-01-01 UTC): from client (the
// public side's hashed client key), and from everyone. It and
// AddFailedConfirmation keep the public side's caps on guessing across
// restarts and instances; they are the one write verify.Store allows, and
// append no audit event: no record changes.
func (s *Store) FailedConfirmations(ctx context.Context, number, client string, day int64) (mine, total int, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(failures), 0), COALESCE(SUM(CASE WHEN client = ?3 THEN failures ELSE 0 END), 0) FROM failed_confirmations WHERE number = ?1 AND day = ?2`, number, day, client).Scan(&total, &mine)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, storeutil.Unavailable("failed confirmations", err)
	}
	return mine, total, nil
}

// AddFailedConfirmation counts one more failed confirmation of number by
// client on day and returns the day's counts, the client's and everyone's;
// rows of earlier days go on the way. An unknown number is ErrNotFound.
func (s *Store) AddFailedConfirmation(ctx context.Context, number, client string, day int64) (mine, total int, err error) {
	err = s.write(ctx, "add failed confirmation", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM failed_confirmations WHERE day < ?`, day); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO failed_confirmations (number, day, client, failures) VALUES (?, ?, ?, 1) ON CONFLICT (number, day, client) DO UPDATE SET failures = failures + 1 RETURNING failures`, number, day, client).Scan(&mine); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT SUM(failures) FROM failed_confirmations WHERE number = ? AND day = ?`, number, day).Scan(&total)
	})
	return mine, total, err
}
