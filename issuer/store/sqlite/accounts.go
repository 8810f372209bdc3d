package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/store/internal/storeutil"
)

var _ account.Store = (*Store)(nil)

const userColumns = `id, name, display_name, role, institution_id, password_hash, disabled, failed_logins, locked_until, session_gen, must_change, created_at, created_by, last_login_at, totp_sealed, totp_enabled, totp_last_step`

type scanner interface{ Scan(dest ...any) error }

func scanUser(r scanner) (account.User, error) {
	var u account.User
	var inst, locked, created, last sql.NullString
	var role string
	err := r.Scan(&u.ID, &u.Name, &u.DisplayName, &role, &inst, &u.PasswordHash, &u.Disabled, &u.FailedLogins, &locked, &u.SessionGen, &u.MustChange, &created, &u.CreatedBy, &last, &u.TOTPSealed, &u.TOTPEnabled, &u.TOTPStep)
	if err != nil {
		return u, err
	}
	u.Role, u.InstitutionID = account.Role(role), inst.String
	if u.LockedUntil, err = parseInstant(locked); err != nil {
		return u, err
	}
	if u.CreatedAt, err = parseInstant(created); err != nil {
		return u, err
	}
	u.LastLoginAt, err = parseInstant(last)
	return u, err
}

// CreateUser stores a new account.
func (s *Store) CreateUser(ctx context.Context, u account.User, ev issuer.AuditEvent) error {
	return s.write(ctx, "create user", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Name, u.DisplayName, string(u.Role), nullString(u.InstitutionID), u.PasswordHash, u.Disabled, u.FailedLogins,
			instant(u.LockedUntil), u.SessionGen, u.MustChange, instant(u.CreatedAt), u.CreatedBy, instant(u.LastLoginAt), u.TOTPSealed, u.TOTPEnabled, u.TOTPStep)
		if isUnique(err) {
			return account.ErrUserExists(u.Name)
		}
		if err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

func (s *Store) userWhere(ctx context.Context, cond string, arg any) (account.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return u, account.ErrUserNotFound()
	}
	return u, storeutil.Unavailable("user", err)
}

// User returns an account by ID.
func (s *Store) User(ctx context.Context, id string) (account.User, error) {
	return s.userWhere(ctx, `id = ?`, id)
}

// UserByName returns an account by login name.
func (s *Store) UserByName(ctx context.Context, name string) (account.User, error) {
	return s.userWhere(ctx, `name = ?`, name)
}

// Users lists accounts by name.
func (s *Store) Users(ctx context.Context, f account.UserFilter) ([]account.User, error) {
	q := `SELECT ` + userColumns + ` FROM users`
	var args []any
	if f.InstitutionID != "" {
		q += ` WHERE institution_id = ?`
		args = append(args, f.InstitutionID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return nil, storeutil.Unavailable("users", err)
	}
	defer rows.Close()
	var out []account.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, storeutil.Unavailable("users", err)
		}
		out = append(out, u)
	}
	return out, storeutil.Unavailable("users", rows.Err())
}

// updateUser runs update, one whole UPDATE of a single account written out
// at the call, with the account's audit event. A non-zero revokeAt also
// revokes, in the same transaction, every API token of the account id that
// is not revoked yet.
func (s *Store) updateUser(ctx context.Context, op, id string, revokeAt time.Time, update string, ev issuer.AuditEvent, args ...any) error {
	return s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, update, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return account.ErrUserNotFound()
		}
		if !revokeAt.IsZero() {
			if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, instant(revokeAt), id); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, ev)
	})
}

// SetPassword replaces the hash, ends every session and revokes every
// API token.
func (s *Store) SetPassword(ctx context.Context, id, hash string, mustChange bool, at time.Time, ev issuer.AuditEvent) error {
	return s.updateUser(ctx, "set password", id, at, `UPDATE users SET password_hash = ?, must_change = ?, failed_logins = 0, locked_until = NULL, session_gen = session_gen + 1 WHERE id = ?`, ev, hash, mustChange, id)
}

// SetDisabled disables or enables an account and ends its sessions;
// disabling revokes every API token too.
func (s *Store) SetDisabled(ctx context.Context, id string, disabled bool, at time.Time, ev issuer.AuditEvent) error {
	var revokeAt time.Time
	if disabled {
		revokeAt = at
	}
	return s.updateUser(ctx, "set disabled", id, revokeAt, `UPDATE users SET disabled = ?, session_gen = session_gen + 1 WHERE id = ?`, ev, disabled, id)
}

// EndSessions ends every session of an account.
func (s *Store) EndSessions(ctx context.Context, id string, ev issuer.AuditEvent) error {
	return s.updateUser(ctx, "end sessions", id, time.Time{}, `UPDATE users SET session_gen = session_gen + 1 WHERE id = ?`, ev, id)
}

// LoginFailed counts a failure; the single writer makes read-then-write safe.
func (s *Store) LoginFailed(ctx context.Context, id string, at time.Time, max int, lockFor time.Duration, failed, locked issuer.AuditEvent) (account.User, error) {
	var u account.User
	err := s.write(ctx, "login failed", func(tx *sql.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return account.ErrUserNotFound()
		}
		if err != nil {
			return err
		}
		u.FailedLogins++
		if err := appendAudit(ctx, tx, failed); err != nil {
			return err
		}
		if u.FailedLogins >= max {
			u.FailedLogins, u.LockedUntil = 0, storeutil.Instant(at.Add(lockFor))
			if err := appendAudit(ctx, tx, locked); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?`, u.FailedLogins, instant(u.LockedUntil), id)
		return err
	})
	return u, err
}

// LoginSucceeded clears failures and records the time.
func (s *Store) LoginSucceeded(ctx context.Context, id string, at time.Time, ev issuer.AuditEvent) error {
	return s.updateUser(ctx, "login", id, time.Time{}, `UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ? WHERE id = ?`, ev, instant(at), id)
}

// #nosec G101 -- column names of the API token table, not a credential.
const tokenColumns = `id, user_id, label, hash, scopes, created_at, expires_at, revoked_at`

func scanToken(r scanner) (account.Token, error) {
	var t account.Token
	var scopes string
	var created, expires, revoked sql.NullString
	if err := r.Scan(&t.ID, &t.UserID, &t.Label, &t.Hash, &scopes, &created, &expires, &revoked); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return t, err
	}
	var err error
	if t.CreatedAt, err = parseInstant(created); err != nil {
		return t, err
	}
	if t.ExpiresAt, err = parseInstant(expires); err != nil {
		return t, err
	}
	t.RevokedAt, err = parseInstant(revoked)
	return t, err
}

// CreateToken stores an API token.
func (s *Store) CreateToken(ctx context.Context, t account.Token, ev issuer.AuditEvent) error {
	scopes, err := json.Marshal(t.Scopes)
	if err != nil {
		return err
	}
	return s.write(ctx, "create token", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.UserID, t.Label, t.Hash, string(scopes), instant(t.CreatedAt), instant(t.ExpiresAt), instant(t.RevokedAt)); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}

// TokenByHash finds a token by its hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (account.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, account.ErrTokenNotFound()
	}
	return t, storeutil.Unavailable("token", err)
}

// Token returns a token by ID.
func (s *Store) Token(ctx context.Context, id string) (account.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, account.ErrTokenNotFound()
	}
	return t, storeutil.Unavailable("token", err)
}

// TokensOf lists the tokens of every account f selects, oldest first.
func (s *Store) TokensOf(ctx context.Context, f account.UserFilter) ([]account.Token, error) {
	q := `SELECT ` + prefixed("t.", tokenColumns) + ` FROM api_tokens t JOIN users u ON u.id = t.user_id`
	var args []any
	if f.InstitutionID != "" {
		q += ` WHERE u.institution_id = ?`
		args = append(args, f.InstitutionID)
	}
	return s.tokenRows(ctx, q+` ORDER BY t.created_at, t.id`, args...)
}

// Tokens lists a user's tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, userID string) ([]account.Token, error) {
	return s.tokenRows(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = ? ORDER BY created_at, id`, userID)
}

func (s *Store) tokenRows(ctx context.Context, q string, args ...any) ([]account.Token, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, storeutil.Unavailable("tokens", err)
	}
	defer rows.Close()
	var out []account.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, storeutil.Unavailable("tokens", err)
		}
		out = append(out, t)
	}
	return out, storeutil.Unavailable("tokens", rows.Err())
}

// prefixed qualifies every column of a column list with a table alias.
func prefixed(alias, columns string) string {
	return alias + strings.ReplaceAll(columns, ", ", ", "+alias)
}

// RevokeToken revokes a token once.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, ev issuer.AuditEvent) error {
	return s.write(ctx, "revoke token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, instant(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_tokens WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return account.ErrTokenNotFound()
			}
			return account.ErrTokenRevoked()
		}
		return appendAudit(ctx, tx, ev)
	})
}

// SessionKey stores the first sealed session key and returns the stored one.
func (s *Store) SessionKey(ctx context.Context, sealed []byte, at time.Time) ([]byte, error) {
	var out []byte
	err := s.write(ctx, "session key", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value, created_at) VALUES ('session', ?, ?) ON CONFLICT (name) DO NOTHING`, sealed, instant(at)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = 'session'`).Scan(&out)
	})
	return out, err
}

// SetTOTP stores the account's sealed TOTP secret (nil removes it), whether
// it is enabled, and the step last used; removing it also ends the
// account's sessions.
func (s *Store) SetTOTP(ctx context.Context, id string, sealed []byte, enabled bool, step int64, ev issuer.AuditEvent) error {
	gen := ""
	if sealed == nil {
		gen = ", session_gen = session_gen + 1"
	}
	return s.updateUser(ctx, "set totp", id, time.Time{}, `UPDATE users SET totp_sealed = ?, totp_enabled = ?, totp_last_step = ?`+gen+` WHERE id = ?`, ev, sealed, enabled, step, id)
}

// UseTOTPStep records step as used if it is later than the last one used,
// in one statement, so two requests with the same code cannot both pass.
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	var ok bool
	err := s.write(ctx, "use totp step", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_enabled = 1 AND totp_last_step < ?`, step, id, step)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, err
}
