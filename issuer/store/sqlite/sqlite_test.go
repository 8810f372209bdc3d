package sqlite_test

import (
	"database/sql"
	"os"
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

func TestLogOutbox(t *testing.T) {
	storetest.RunLogOutbox(t, func(t *testing.T) storetest.LogOutboxStore { return open(t) })
}

// TestReopen closes a store and opens the same file again: the data and the
// migration history survive, and the second Open applies nothing.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certd.db")
	storetest.Reopen(t, func(t *testing.T) storetest.AccountStore {
		s, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var applied []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	storetest.CheckMigrations(t, os.DirFS("migrations"), applied)
}

func TestOpenRejectsMemory(t *testing.T) {
	if _, err := sqlite.Open(t.Context(), ":memory:"); err == nil {
		t.Fatal("in-memory database accepted")
	}
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
		dir := t.TempDir()
		path := filepath.Join(dir, "certd.db")
		var st storetest.PDFDirStores
		for _, keep := range []bool{false, true} {
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if keep {
				st.PDFDir = filepath.Join(dir, "pdfs")
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

func TestExpectedCollegesConformance(t *testing.T) {
	storetest.RunExpectedColleges(t, func(t *testing.T) storetest.ExpectedStore { return open(t) })
}
