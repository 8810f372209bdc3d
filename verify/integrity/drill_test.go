package integrity_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"certd/issuer"
	"certd/issuer/store/postgres"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/sqlite"
	"certd/verify/integrity"
	"certd/verify/internal/verifytest"
)

// drillStore is a backend under test: how to back it up while it serves,
// how to restore the copy into a fresh database, and how to reach the
// restored database underneath certd (to tamper with it).
type drillStore struct {
	name    string
	open    func(t *testing.T) (st verifytest.Store, schema string)
	backup  func(t *testing.T, st verifytest.Store, schema string) string
	restore func(t *testing.T, copy string) (verifytest.Store, func(t *testing.T, stmt string))
}

var drillStores = []drillStore{
	{
		name: "sqlite",
		open: func(t *testing.T) (verifytest.Store, string) { return verifytest.Open(t, sqlite.Open), "" },
		backup: func(t *testing.T, st verifytest.Store, _ string) string {
			path := filepath.Join(t.TempDir(), "backup.db")
			if err := st.(*sqlite.Store).Backup(context.Background(), path); err != nil {
				t.Fatal(err)
			}
			return path
		},
		restore: func(t *testing.T, copy string) (verifytest.Store, func(*testing.T, string)) {
			// Restoring is placing the file in a fresh data directory.
			dir := t.TempDir()
			path := filepath.Join(dir, "certd.db")
			if out, err := exec.Command("cp", copy, path).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if err := st.IntegrityCheck(context.Background()); err != nil {
				t.Fatalf("restored file: %v", err)
			}
			return st, func(t *testing.T, stmt string) {
				db, err := sql.Open("sqlite", path)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
		},
	},
	{
		name: "postgres",
		open: func(t *testing.T) (verifytest.Store, string) {
			u := pgtest.URL(t)
			st, err := postgres.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			parsed, _ := url.Parse(u)
			return st, parsed.Query().Get("search_path")
		},
		backup: func(t *testing.T, _ verifytest.Store, schema string) string {
			// The documented procedure (docs/operations.md): pg_dump's
			// custom format, one consistent snapshot taken while certd
			// keeps writing.
			path := filepath.Join(t.TempDir(), "backup.dump")
			args := append(pgArgs(t, pgtest.BaseURL()), "--format=custom", "--no-owner", "--schema="+schema, "--file="+path)
			if out, err := exec.Command("pg_dump", args...).CombinedOutput(); err != nil {
				t.Fatalf("pg_dump: %v %s", err, out)
			}
			return path
		},
		restore: func(t *testing.T, copy string) (verifytest.Store, func(*testing.T, string)) {
			ctx := context.Background()
			base := pgtest.BaseURL()
			db := "certd_restore_" + verifytest.RandHex()
			admin, err := pgx.Connect(ctx, base)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close(ctx)
			if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				c, err := pgx.Connect(context.Background(), base)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close(context.Background())
				if _, err := c.Exec(context.Background(), "DROP DATABASE "+db+" WITH (FORCE)"); err != nil {
					t.Errorf("drop %s: %v", db, err)
				}
			})
			u, _ := url.Parse(base)
			u.Path = "/" + db
			args := append(pgArgs(t, u.String()), "--no-owner", "--exit-on-error", copy)
			if out, err := exec.Command("pg_restore", args...).CombinedOutput(); err != nil {
				t.Fatalf("pg_restore: %v %s", err, out)
			}
			// The dump names its schema; the restored database has it.
			conn, err := pgx.Connect(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			var schema string
			if err := conn.QueryRow(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'certd_test_%'`).Scan(&schema); err != nil {
				t.Fatal(err)
			}
			_ = conn.Close(ctx)
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			st, err := postgres.Open(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st, func(t *testing.T, stmt string) {
				c, err := pgx.Connect(context.Background(), u.String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(context.Background())
				if _, err := c.Exec(context.Background(), stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
		},
	},
}

// pgArgs turns a PostgreSQL URL into pg_dump/pg_restore connection flags
// (libpq refuses the search_path query parameter certd's URLs carry).
func pgArgs(t *testing.T, raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--host=" + u.Hostname(), "--dbname=" + strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		args = append(args, "--port="+p)
	}
	if u.User != nil {
		args = append(args, "--username="+u.User.Username())
	}
	return args
}

// TestRestoreDrill backs a database up while certificates are issued,
// revoked and reissued, restores the copy into a fresh database, and shows
// that every certificate in it verifies with its status and PDF, that the
// audit log is whole and is exactly the source's up to the snapshot, and
// that the check catches a record, a PDF and an audit line tampered with
// after the restore.
func TestRestoreDrill(t *testing.T) {
	for _, ds := range drillStores {
		t.Run(ds.name, func(t *testing.T) {
			src, schema := ds.open(t)
			w := verifytest.NewWorld(t, src, 30)
			ctx := w.Ctx
			storePDFs(t, w, w.Certs)
			for _, c := range w.Certs[:4] {
				if _, err := w.Iss.Revoke(ctx, verifytest.Authority, c.Number, issuer.ReasonError, "drill"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Iss.Reissue(ctx, verifytest.Authority, w.Certs[5].Number, issuer.Correction{Reason: "drill", Name: "李四"}); err != nil {
				t.Fatal(err)
			}
			tb, err := w.Iss.TrustBundle(ctx)
			if err != nil {
				t.Fatal(err)
			}

			// Write load for the whole backup: issue, print, revoke.
			var stop atomic.Bool
			var wg sync.WaitGroup
			var writes atomic.Int64
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := 1000
				for !stop.Load() {
					certs := w.Issue(3, next)
					next += 3
					storePDFs(t, w, certs)
					if _, err := w.Iss.Revoke(ctx, verifytest.Authority, certs[0].Number, issuer.ReasonRequest, "drill load"); err != nil {
						t.Error(err)
						return
					}
					writes.Add(1)
				}
			}()
			for writes.Load() < 3 {
				time.Sleep(10 * time.Millisecond)
			}
			copy := ds.backup(t, src, schema)
			for n := writes.Load(); writes.Load() < n+3; {
				time.Sleep(10 * time.Millisecond) // writes went on after the snapshot
			}
			stop.Store(true)
			wg.Wait()
			if t.Failed() {
				return
			}

			dst, exec := ds.restore(t, copy)
			rep, err := integrity.Check(ctx, dst, &tb, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("restored copy: %d problems, first %+v", len(rep.Problems), rep.Problems[0])
			}
			if rep.Certificates < 30+1+9 || rep.Revoked < 4+3 || rep.Superseded != 1 || rep.PDFs+rep.WithoutPDF != rep.Certificates || rep.WithoutPDF > 4 {
				t.Errorf("restored copy counts: %+v", rep)
			}
			// The reissued certificate has no PDF, and those issued in the
			// last round before the snapshot may not have theirs yet, as in
			// any running service.
			t.Logf("%s: %d certificates (%d valid, %d revoked, %d superseded), %d PDFs, %d audit events in the copy; %d load rounds",
				ds.name, rep.Certificates, rep.Valid, rep.Revoked, rep.Superseded, rep.PDFs, rep.AuditEvents, writes.Load())
			compareWithSource(t, ctx, src, dst, rep.LastAuditSeq)

			// The check must be able to fail: tamper underneath certd.
			var valid, printed, revoked string
			all, _ := dst.Certificates(ctx, issuer.CertificateFilter{})
			for _, c := range all {
				switch {
				case c.Status == issuer.Valid && valid == "":
					valid = c.Number
				case c.Status == issuer.Valid && printed == "":
					printed = c.Number
				case c.Status == issuer.Revoked && revoked == "":
					revoked = c.Number
				}
			}
			exec(t, fmt.Sprintf(`UPDATE certificates SET token = replace(token, '.', '.x') WHERE number = '%s'`, valid))
			exec(t, fmt.Sprintf(`UPDATE pdfs SET bytes = bytes || 'x' WHERE number = '%s'`, printed))
			exec(t, fmt.Sprintf(`UPDATE certificates SET status = 'valid', revoked_reason = NULL, revoked_note = NULL, revoked_at = NULL, revoked_by = NULL WHERE number = '%s'`, revoked))
			rep, err = integrity.Check(ctx, dst, &tb, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{valid: "record_", printed: "pdf_hash", revoked: "audit_revoke"}
			for _, p := range rep.Problems {
				if strings.HasPrefix(p.Kind, want[p.Number]) && want[p.Number] != "" {
					delete(want, p.Number)
				}
			}
			if len(want) != 0 || len(rep.Problems) != 3 {
				t.Errorf("tampering not reported as expected: missing %v; problems %+v", want, rep.Problems)
			}
		})
	}
}

func storePDFs(t *testing.T, w *verifytest.World, certs []issuer.Certificate) {
	for _, c := range certs {
		if err := w.Store.PutPDF(w.Ctx, c.Number, verifytest.FakePDF(c.Token, c.Number)); err != nil {
			t.Error(err)
		}
	}
}

// compareWithSource shows the copy is the source as it was at one instant:
// its audit log is the source's, event for event, up to its last sequence,
// and each of its certificates is the source's, with the same signed record
// and PDF, and the same status unless the source's audit log changed it
// after the snapshot.
func compareWithSource(t *testing.T, ctx context.Context, src, dst verifytest.Store, last int64) {
	t.Helper()
	srcEv, err := src.Audit(ctx, issuer.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	dstEv, err := dst.Audit(ctx, issuer.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	changedLater := map[string]bool{}
	var prefix []issuer.AuditEvent
	for _, ev := range srcEv {
		if ev.Seq <= last {
			prefix = append(prefix, ev)
		} else {
			changedLater[ev.Subject] = true
		}
	}
	if len(prefix) != len(dstEv) || len(srcEv) == len(dstEv) {
		t.Fatalf("audit: copy has %d events, the source %d up to seq %d and %d in all", len(dstEv), len(prefix), last, len(srcEv))
	}
	for i := range dstEv {
		a, b := dstEv[i], prefix[i]
		if a.Seq != b.Seq || !a.At.Equal(b.At) || a.Action != b.Action || a.Subject != b.Subject || a.Detail != b.Detail || a.Actor != b.Actor {
			t.Fatalf("audit event %d differs: copy %+v, source %+v", i, a, b)
		}
	}
	certs, err := dst.Certificates(ctx, issuer.CertificateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		s, err := src.Certificate(ctx, c.Number)
		if err != nil {
			t.Fatalf("%s in the copy, not in the source: %v", c.Number, err)
		}
		// A PDF stored after the snapshot is not in the copy.
		if s.Token != c.Token || (c.PDFSHA256 != "" && s.PDFSHA256 != c.PDFSHA256) {
			t.Errorf("%s: record or PDF differs from the source's", c.Number)
		}
		if s.Status != c.Status && !changedLater[c.Number] {
			t.Errorf("%s: %s in the copy, %s in the source, with no later change", c.Number, c.Status, s.Status)
		}
	}
}
