// Package pgtest gives tests a PostgreSQL store of their own: a fresh schema
// in the test database, dropped when the test ends, so tests run in parallel
// against one server without seeing each other.
//
// The server is CERTD_TEST_DATABASE_URL, by default the local test database.
// Without a server the test fails when CI=true and is skipped otherwise.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"certd/issuer/store/postgres"
)

// DefaultURL is the test database on the machines certd is developed on.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL is the server tests use.
func BaseURL() string {
	if u := os.Getenv("CERTD_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// URL creates a fresh schema and returns a URL whose search_path selects it.
func URL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	base := BaseURL()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at CERTD_TEST_DATABASE_URL (%v); CI requires it", err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set CERTD_TEST_DATABASE_URL or start a server to run these tests", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "certd_test_" + hex.EncodeToString(rnd[:])
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		_ = admin.Close(ctx) // the CREATE error is the one to report
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer admin.Close(context.Background())
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
	return u.String()
}

// Open returns a store in a fresh schema, closed when the test ends.
func Open(t testing.TB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}
