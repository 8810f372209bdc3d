// Package sqlite is the embedded default implementation of issuer.Store, on
// modernc.org/sqlite (pure Go, no cgo): one database file, nothing to run
// beside certd.
//
// # Concurrency
//
// SQLite allows one writer at a time. Rather than letting concurrent
// transactions collide and fail with SQLITE_BUSY, the store funnels every
// write through a dedicated *sql.DB limited to one connection whose
// transactions start with BEGIN IMMEDIATE: writers queue in Go, in order,
// and each one owns the write lock from its first statement, so a
// read-then-write inside a transaction (the serial counter, the version
// check of an institution) can never be overtaken. Reads go through a
// separate pool of query-only connections; in WAL mode they see the last
// committed state and never wait for the writer.
//
// # Representation
//
// Instants are stored as fixed-width UTC text with microseconds
// (2006-01-02T15:04:05.000000Z), so text order is time order and values
// match the PostgreSQL backend exactly; civil dates are 'YYYY-MM-DD'. The
// schema lives in migrations/ and is applied with goose at Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an issuer.Store on one SQLite file.
type Store struct {
	w    *sql.DB // exactly one connection: the writer
	r    *sql.DB // query-only readers
	path string
	pdfs *storeutil.PDFDir // nil: PDFs in the database
}

// KeepPDFsIn keeps PDFs rendered from now on as files in dir instead of in
// the database; see storeutil.PDFDir. Call it before the store is used.
func (s *Store) KeepPDFsIn(dir string) error {
	d, err := storeutil.OpenPDFDir(dir)
	if err != nil {
		return err
	}
	s.pdfs = d
	return nil
}

var _ issuer.Store = (*Store)(nil)

// Open opens or creates the database file at path and brings its schema up
// to date. path is a file name; an in-memory database is not supported
// because the reader pool would not see the writer's database.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.Contains(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, issuer.Errorf(issuer.ErrInvalid, "sqlite_path", "SQLite 数据库路径 %q 无效，应为文件名", "invalid SQLite database path %q: want a file name", path)
	}
	// busy_timeout only matters when another process holds the file (a
	// backup, the sqlite3 shell): inside certd writers queue on w.
	common := url.Values{}
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "synchronous(NORMAL)")

	wq := cloneValues(common)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, storeutil.Unavailable("open sqlite", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// On the failure paths below the error being returned is the one that
	// matters; a failed Close of a half-opened handle adds nothing to it.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, storeutil.Unavailable("open sqlite "+path, err)
	}
	if err := migrate(ctx, w); err != nil {
		_ = w.Close()
		return nil, err
	}

	rq := cloneValues(common)
	rq.Set("_query_only", "1")
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, storeutil.Unavailable("open sqlite", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &Store{w: w, r: r, path: path}, nil
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return fmt.Errorf("sqlite migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return storeutil.Unavailable("sqlite migrate", err)
	}
	return nil
}

// Ping checks that both pools can reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return storeutil.Unavailable("ping", err)
	}
	return storeutil.Unavailable("ping", s.r.PingContext(ctx))
}

// Close closes the readers, then the writer, whose close checkpoints the WAL.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// write runs fn in one immediate transaction on the writer. An *issuer.Error
// returned by fn passes through; anything else is classified.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return storeutil.Unavailable(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // fn's error is the one the caller needs
		return classify(op, err)
	}
	if err := tx.Commit(); err != nil {
		return classify(op, err)
	}
	return nil
}

// classify maps what escaped a statement onto the issuer kinds. Call sites
// that know which constraint a statement can break translate it themselves
// into a precise error; this is the backstop.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := issuer.AsError(err); ok {
		return err
	}
	switch constraintCode(err) {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return storeutil.Conflict(fmt.Errorf("%s: %w", op, err))
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		e := storeutil.NotFound(storeutil.Reference, "").(*issuer.Error)
		e.Err = fmt.Errorf("%s: %w", op, err)
		return e
	}
	return storeutil.Unavailable(op, err)
}

func init() { storeutil.RegisterCause(causeOf) }

// causeOf names what an SQLite error says an operator must act on: a full
// disk, a read-only file, a failing disk, a file that cannot be opened or
// is not a database (storeutil.Unavailable words it).
func causeOf(err error) storeutil.Cause {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return storeutil.NoCause
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return storeutil.DiskFull
	case sqlite3.SQLITE_READONLY:
		return storeutil.ReadOnly
	case sqlite3.SQLITE_IOERR:
		return storeutil.DiskIO
	case sqlite3.SQLITE_CANTOPEN:
		return storeutil.CannotOpen
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return storeutil.Corrupt
	case sqlite3.SQLITE_NOMEM:
		return storeutil.OutOfMemory
	}
	return storeutil.NoCause
}

// constraintCode returns the extended SQLite result code of a constraint
// violation, or 0.
func constraintCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return se.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := constraintCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

const instantLayout = "2006-01-02T15:04:05.000000Z"

// instant is the stored form of a moment: NULL for the zero time.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func instant(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return storeutil.Instant(t).Format(instantLayout)
}

func parseInstant(ns sql.NullString) (time.Time, error) {
	if !ns.Valid || ns.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(instantLayout, ns.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored instant %q: %w", ns.String, err)
	}
	return t.UTC(), nil
}

// date is the stored form of a civil date: NULL for the zero time.
func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return storeutil.Date(t)
}

func parseDate(ns sql.NullString) (time.Time, error) {
	if !ns.Valid || ns.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(issuer.DateLayout, ns.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored date %q: %w", ns.String, err)
	}
	return t, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const insertAudit = `INSERT INTO audit (at, actor, action, institution_id, subject, detail) VALUES (?, ?, ?, ?, ?, ?)`

func auditArgs(ev issuer.AuditEvent) []any {
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	return []any{instant(at), ev.Actor, ev.Action, ev.InstitutionID, ev.Subject, ev.Detail}
}

func appendAudit(ctx context.Context, tx *sql.Tx, ev issuer.AuditEvent) error {
	if _, err := tx.ExecContext(ctx, insertAudit, auditArgs(ev)...); err != nil {
		return err
	}
	return appendLog(ctx, tx, ev)
}

// AppendAudit appends an event on its own. An event whose At is zero is
// stamped with the current time.
func (s *Store) AppendAudit(ctx context.Context, ev issuer.AuditEvent) error {
	return s.write(ctx, "append audit", func(tx *sql.Tx) error { return appendAudit(ctx, tx, ev) })
}

// Audit lists events in sequence order. Seq is the SQLite rowid of an
// AUTOINCREMENT table: strictly increasing and never reused, and because
// there is a single writer, commit order too, so AfterSeq paging misses
// nothing.
func (s *Store) Audit(ctx context.Context, f issuer.AuditFilter) ([]issuer.AuditEvent, error) {
	q := strings.Builder{}
	q.WriteString(`SELECT seq, at, actor, action, institution_id, subject, detail FROM audit WHERE seq > ?`)
	args := []any{f.AfterSeq}
	if f.InstitutionID != "" {
		q.WriteString(` AND institution_id = ?`)
		args = append(args, f.InstitutionID)
	}
	if f.Subject != "" {
		q.WriteString(` AND subject = ?`)
		args = append(args, f.Subject)
	}
	if f.Action != "" {
		q.WriteString(` AND action = ?`)
		args = append(args, f.Action)
	}
	if f.Actor != "" {
		// The name itself, or the name an API token acted under ("name
		// (token t…)"); LIKE's wildcards in a name are escaped.
		q.WriteString(` AND (actor = ? OR actor LIKE ? ESCAPE '\')`)
		args = append(args, f.Actor, likeEscape(f.Actor)+" (token %")
	}
	if f.BeforeSeq > 0 {
		q.WriteString(` AND seq < ?`)
		args = append(args, f.BeforeSeq)
	}
	if !f.From.IsZero() {
		q.WriteString(` AND at >= ?`)
		args = append(args, instant(f.From))
	}
	if !f.Until.IsZero() {
		q.WriteString(` AND at < ?`)
		args = append(args, instant(f.Until))
	}
	q.WriteString(` ORDER BY seq`)
	if f.Newest {
		q.WriteString(` DESC`)
	}
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, storeutil.Unavailable("audit", err)
	}
	defer rows.Close()
	out := []issuer.AuditEvent{}
	for rows.Next() {
		var ev issuer.AuditEvent
		var at sql.NullString
		if err := rows.Scan(&ev.Seq, &at, &ev.Actor, &ev.Action, &ev.InstitutionID, &ev.Subject, &ev.Detail); err != nil {
			return nil, storeutil.Unavailable("audit", err)
		}
		if ev.At, err = parseInstant(at); err != nil {
			return nil, storeutil.Unavailable("audit", err)
		}
		out = append(out, ev)
	}
	return out, storeutil.Unavailable("audit", rows.Err())
}

// Backup writes a consistent copy of the whole database to path, which
// must not exist, while the store goes on serving. VACUUM INTO reads one
// snapshot (a read transaction: in WAL mode writers are not held up) and
// writes it as a compact, self-contained database file with no WAL beside
// it, so the copy can be moved, checked and opened on its own.
func (s *Store) Backup(ctx context.Context, path string) error {
	if path == "" || strings.Contains(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return issuer.Errorf(issuer.ErrInvalid, "backup_path", "备份路径 %q 无效，应为文件名", "invalid backup path %q: want a file name", path)
	}
	// The copy holds personal data: create it empty, readable by the
	// owner only (and refuse an existing file), and let VACUUM INTO fill
	// it, which SQLite allows for an empty file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator's own backup path
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return issuer.Errorf(issuer.ErrConflict, "backup_exists", "%s 已存在，不会覆盖", "%s exists and is not overwritten", path)
		}
		return storeutil.Unavailable("backup to "+path, err)
	}
	if err := f.Close(); err != nil {
		return storeutil.Unavailable("backup to "+path, err)
	}
	// A connection of its own: the readers are query_only, which SQLite
	// takes to forbid VACUUM INTO, and the writer would hold every write
	// of the service for as long as the copy takes.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", s.path+"?"+q.Encode())
	if err != nil {
		return storeutil.Unavailable("backup", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		_ = os.Remove(path) // a partial copy must not pass for a backup
		return storeutil.Unavailable("backup to "+path, err)
	}
	return nil
}

// IntegrityCheck runs SQLite's own check of the file's structure (every
// page, index and constraint) and returns what it reports; nil means "ok".
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return storeutil.Unavailable("integrity check", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return storeutil.Unavailable("integrity check", err)
		}
		if m != "ok" {
			msgs = append(msgs, m)
		}
	}
	if err := rows.Err(); err != nil {
		return storeutil.Unavailable("integrity check", err)
	}
	if len(msgs) > 0 {
		return issuer.Errorf(issuer.ErrInvalid, "sqlite_corrupt", "数据库文件已损坏：%s", "the database file is damaged: %s", strings.Join(msgs, "; "))
	}
	return nil
}

// StagePDFs writes a batch's PDFs to the PDF directory ahead of the
// PutPDF or PutPrinted calls that record them, so that they reach the disk
// in one flush; without a PDF directory it does nothing.
func (s *Store) StagePDFs(numbers []string, pdfs [][]byte) error {
	if s.pdfs == nil {
		return nil
	}
	return s.pdfs.Stage(numbers, pdfs)
}
