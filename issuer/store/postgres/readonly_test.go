package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"certd/issuer"
	"certd/issuer/store/postgres"
	"certd/issuer/store/postgres/pgtest"
)

// TestReadOnlySession: a database that refuses writes (here a session with
// default_transaction_read_only, as on a standby) is reported as read-only,
// with what to check, not as "unavailable; try again later".
func TestReadOnlySession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := pgtest.URL(t)
	s, err := postgres.Open(ctx, base) // applies the migrations
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	// %20, not the "+" url.Values would write: pgx reads "+" as itself.
	ro, err := postgres.Open(ctx, base+"&options=-c%20default_transaction_read_only%3Don")
	if err == nil {
		defer ro.Close()
		err = ro.AppendAudit(ctx, issuer.AuditEvent{At: time.Now(), Actor: "test", Action: "test.write", Subject: "x", Detail: "{}"})
	}
	e, ok := issuer.AsError(err)
	if !ok || e.Kind != issuer.ErrUnavailable || e.Code != "database_read_only" || !strings.Contains(e.Zh, "只读") || !strings.Contains(e.En, "read-only") {
		t.Fatalf("write in a read-only session: %#v", err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" {
		t.Errorf("the engine's error is not kept for the log: %v", e.Err)
	}
	t.Logf("%s (cause: %v)", e, e.Err)
}
