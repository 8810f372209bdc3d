package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/store/postgres"
	"certd/issuer/store/storetest"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func baseURL() string {
	if u := os.Getenv("CERTD_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultURL
}

// open gives the test a store in a schema of its own, dropped afterwards,
// so tests run in parallel against one database without seeing each other.
// Without a server the test fails under CI=true and is skipped otherwise.
func open(t testing.TB) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	base := baseURL()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at CERTD_TEST_DATABASE_URL (%v); CI requires it", err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set CERTD_TEST_DATABASE_URL or start a server to run these tests", err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "certd_test_" + hex.EncodeToString(rnd[:])
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) issuer.Store { return open(t) })
}

func TestUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Port 1 is never a PostgreSQL server.
	_, err := postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, issuer.ErrUnavailable) {
		t.Fatalf("Open(unreachable) = %v, want ErrUnavailable", err)
	}
	if e, ok := issuer.AsError(err); !ok || e.Code != "database_unreachable" {
		t.Fatalf("Open(unreachable) = %v, want code database_unreachable", err)
	}
}

func TestReopen(t *testing.T) {
	s := open(t)
	if err := s.AppendAudit(t.Context(), issuer.AuditEvent{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Audit(t.Context(), issuer.AuditFilter{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", err, evs)
	}
}

func BenchmarkIssueBatch10k(b *testing.B) {
	storetest.BenchmarkIssueBatch(b, open(b), 10_000)
}
