package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

// DeploymentValue returns the deployment's value named name ("" when none
// is set). The deployment's named values (the console's sealed session
// key, the public address printed in QR codes) share the secrets table:
// each is set once and read by every process of the deployment.
func (s *Store) DeploymentValue(ctx context.Context, name string) (string, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, "deployment:"+name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", storeutil.Unavailable("deployment value", err)
	}
	return string(v), nil
}

// SetDeploymentValue sets the value named name. Without ev it sets it only
// when none is set yet, and returns the value stored either way (two
// processes setting it at once agree on the first). With ev it replaces
// the value and appends ev, a deliberate and audited change.
func (s *Store) SetDeploymentValue(ctx context.Context, name, value string, at time.Time, ev *issuer.AuditEvent) (string, error) {
	var out []byte
	err := s.write(ctx, "deployment value", func(tx *sql.Tx) error {
		q := `INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`
		if ev != nil {
			q = `INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at`
		}
		if _, err := tx.ExecContext(ctx, q, "deployment:"+name, []byte(value), instant(at)); err != nil {
			return err
		}
		if ev != nil {
			if err := appendAudit(ctx, tx, *ev); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, "deployment:"+name).Scan(&out)
	})
	return string(out), err
}
