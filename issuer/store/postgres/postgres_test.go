package postgres_test

import (
	"certd/issuer/store/postgres/pgtest"
	"context"
	"errors"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/store/postgres"
	"certd/issuer/store/storetest"
)

func open(t testing.TB) *postgres.Store { return pgtest.Open(t) }

func baseURL() string { return pgtest.BaseURL() }

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
