package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/store/storetest"
)

// TestEngineFailuresNamed: what an operator must act on is named, with what
// to do, never "the database is unavailable; try again later": a full disk
// (here a database capped with max_page_count), a read-only database (the
// tests run as root, who ignores file modes, so the writer is switched to
// query_only, and the file is opened with mode=ro as SQLite opens a file or
// a mount it cannot write), a data directory that is not there, and a file
// that is not a database.
func TestEngineFailuresNamed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev := func(detail string) issuer.AuditEvent {
		return issuer.AuditEvent{At: time.Now(), Actor: "test", Action: "test.fill", Subject: "x", Detail: detail}
	}
	big := `{"x":"` + strings.Repeat("满", 200_000) + `"}`
	pragma := func(p string) {
		t.Helper()
		// The writer has exactly one connection, so this is the one
		// every write uses.
		if _, err := s.w.ExecContext(ctx, "PRAGMA "+p); err != nil {
			t.Fatal(err)
		}
	}
	var pages int
	if err := s.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	pragma("max_page_count = " + itoa(pages+2))
	want(t, "disk full", s.AppendAudit(ctx, ev(big)), "disk_full", "磁盘已满", "disk is full")
	pragma("max_page_count = 1073741823")
	if err := s.AppendAudit(ctx, ev(big)); err != nil {
		t.Fatalf("after space was freed: %v", err)
	}

	pragma("query_only = 1")
	want(t, "read-only", s.AppendAudit(ctx, ev("{}")), "database_read_only", "只读", "read-only")
	pragma("query_only = 0")
	// A file SQLite could open only for reading (as it does when the file
	// or a mount is not writable) gives the same.
	ro, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "certd.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	want(t, "read-only file", (&Store{w: ro, r: ro}).AppendAudit(ctx, ev("{}")), "database_read_only", "只读", "read-only")

	_, err = Open(ctx, filepath.Join(dir, "not-mounted", "certd.db"))
	want(t, "missing directory", err, "database_cannot_open", "无法打开数据库文件", "cannot open the database file")

	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("this is not an SQLite database\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, junk)
	want(t, "not a database", err, "database_corrupt", "损坏", "corrupt")
}

func want(t *testing.T, what string, err error, code, zh, en string) {
	t.Helper()
	e, ok := issuer.AsError(err)
	if !ok || e.Kind != issuer.ErrUnavailable || e.Code != code || !strings.Contains(e.Zh, zh) || !strings.Contains(e.En, en) || e.Err == nil {
		t.Errorf("%s: %#v, want code %s", what, err, code)
		return
	}
	t.Logf("%s: %s (cause: %v)", what, e, e.Err)
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPrintJobSurvivesFullDisk: a PDF that does not fit on a full disk is
// not stored, its print item stays pending with its photo and the error
// names the full disk; once space is freed the job finishes and drops the
// photos. (The engine's own SQLITE_FULL, from a database capped with
// max_page_count.)
func TestPrintJobSurvivesFullDisk(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Seed(t, s)
	numbers := storetest.IssueWithPrintJob(t, s, "b1", 1, 3)
	var pages int
	if err := s.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, "PRAGMA max_page_count = "+itoa(pages+2)); err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.7 " + strings.Repeat("x", 400_000))
	want(t, "PutPrinted on a full disk", s.PutPrinted(ctx, numbers[0], pdf), "disk_full", "磁盘已满", "disk is full")
	if _, err := s.PDF(ctx, numbers[0]); !issuer.Is(err, issuer.ErrNotFound) {
		t.Fatalf("a PDF was stored on a full disk: %v", err)
	}
	it, err := s.PendingPrint(ctx, numbers[0])
	if err != nil || string(it.Photo) != "photo of "+numbers[0] {
		t.Fatalf("the item or its photo was lost: %+v %v", it, err)
	}
	if j, err := s.PrintJob(ctx, "b1"); err != nil || j.Pending != 3 {
		t.Fatalf("job after the failure: %+v %v", j, err)
	}
	if _, err := s.w.ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	for _, n := range numbers {
		if err := s.PutPrinted(ctx, n, pdf); err != nil {
			t.Fatalf("after space was freed: %v", err)
		}
	}
	if j, err := s.PrintJob(ctx, "b1"); err != nil || j.Pending != 0 || j.DoneAt.IsZero() {
		t.Fatalf("job after freeing space: %+v %v", j, err)
	}
	if items, _ := s.PendingPrints(ctx, "b1", "", 10); len(items) != 0 {
		t.Fatal("photos kept after the job finished")
	}
}
