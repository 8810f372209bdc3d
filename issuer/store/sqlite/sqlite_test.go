package sqlite_test

import (
	"path/filepath"
	"testing"

	"certd/issuer"
	"certd/issuer/store/sqlite"
	"certd/issuer/store/storetest"
)

func open(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) issuer.Store { return open(t) })
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certd.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(t.Context(), issuer.AuditEvent{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Migrations are idempotent and data survives.
	s, err = sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.Audit(t.Context(), issuer.AuditFilter{})
	if err != nil || len(evs) != 1 || evs[0].At.IsZero() {
		t.Fatalf("after reopen: %v, %+v", err, evs)
	}
}

func TestOpenRejectsMemory(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), ":memory:"); err == nil {
		t.Fatal("in-memory database accepted")
	}
}

func BenchmarkIssueBatch10k(b *testing.B) {
	storetest.BenchmarkIssueBatch(b, open(b), 10_000)
}
