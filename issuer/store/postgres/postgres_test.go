package postgres_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/store/postgres"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/storetest"
)

func open(t testing.TB) *postgres.Store { return pgtest.Open(t) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) issuer.Store { return open(t) })
}

func TestLogOutbox(t *testing.T) {
	storetest.RunLogOutbox(t, func(t *testing.T) storetest.LogOutboxStore { return open(t) })
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

// TestReopen closes a store and opens a new one on the same schema: the data
// and the migration history survive, and the second Open applies nothing.
func TestReopen(t *testing.T) {
	url := pgtest.URL(t)
	storetest.Reopen(t, func(t *testing.T) storetest.AccountStore {
		s, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckMigrations(t, os.DirFS("migrations"), applied)
}

func BenchmarkIssueBatch10k(b *testing.B) {
	storetest.BenchmarkIssueBatch(b, open(b), 10_000)
}

func BenchmarkNameSearch50k(b *testing.B) {
	storetest.BenchmarkNameSearch(b, open(b), 50_000)
}

func TestFailedConfirmationConformance(t *testing.T) {
	storetest.RunFailedConfirmations(t, func(t *testing.T) storetest.ConfirmationStore { return open(t) })
}

func TestDeploymentValueConformance(t *testing.T) {
	storetest.RunDeploymentValues(t, func(t *testing.T) storetest.DeploymentStore { return open(t) })
}

func TestPDFDir(t *testing.T) {
	storetest.RunPDFDir(t, func(t *testing.T) storetest.PDFDirStores {
		url := pgtest.URL(t)
		var st storetest.PDFDirStores
		for _, keep := range []bool{false, true} {
			s, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if keep {
				st.PDFDir = filepath.Join(t.TempDir(), "pdfs")
				if err := s.KeepPDFsIn(st.PDFDir); err != nil {
					t.Fatal(err)
				}
				st.Dir = s
			} else {
				st.Plain = s
			}
		}
		return st
	})
}

func TestReceipts(t *testing.T) {
	storetest.RunReceipts(t, func(t *testing.T) storetest.ReceiptStore { return open(t) })
}

// TestSequencerLockPerSchema: two deployments in two schemas of one
// database each run their log's sequencer; within one schema only one
// instance holds it. The key was one fixed number for the whole database,
// so the second deployment's log never published (and store tests running
// in parallel against the shared test database took each other's lock).
func TestSequencerLockPerSchema(t *testing.T) {
	ctx := t.Context()
	a, b := pgtest.Open(t), pgtest.Open(t)
	_, relA, err := a.LockSequencer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer relA()
	_, relB, err := b.LockSequencer(ctx)
	if err != nil {
		t.Fatalf("another schema's sequencer: %v", err)
	}
	defer relB()
	if _, rel, err := a.LockSequencer(ctx); !issuer.Is(err, issuer.ErrConflict) {
		if err == nil {
			rel()
		}
		t.Fatalf("a second sequencer in one schema: %v", err)
	}
}

func TestExpectedCollegesConformance(t *testing.T) {
	storetest.RunExpectedColleges(t, func(t *testing.T) storetest.ExpectedStore { return open(t) })
}
