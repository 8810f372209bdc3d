// Package postgres implements issuer.Store on PostgreSQL through pgx and
// pgxpool, for deployments that outgrow one SQLite file or run several
// certd processes behind a load balancer.
//
// # Concurrency
//
// Transactions run at READ COMMITTED, and every rule that two sessions
// could race on is decided by a row lock or a constraint rather than by a
// read: the serial counter is an INSERT … ON CONFLICT DO UPDATE … RETURNING
// on its row (the second batch waits for the first to commit or roll back,
// so serials are never skipped visibly nor reused); a revocation is an
// UPDATE conditioned on status = 'valid' (the loser re-evaluates the
// condition after the winner commits and matches nothing); an institution
// edit locks the institution row before checking the version. The unique
// indexes (one valid certificate per holding, one batch per roster) are the
// final word and are mapped to issuer.ErrConflict.
//
// # Bulk issuance
//
// IssueBatch checks all holdings with one query over unnest()ed arrays and
// writes certificates and their audit events with COPY, so a 10,000-person
// roster costs a handful of round trips, not 30,000.
//
// # Schema
//
// The schema lives in migrations/ and is applied with goose at Open, under
// an advisory lock derived from the current schema so that several
// processes starting at once do not race, while separate schemas (one per
// test) do not wait for each other. Unqualified table names follow the
// connection's search_path.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an issuer.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	pdfs *storeutil.PDFDir // nil: PDFs in the database
}

// KeepPDFsIn keeps PDFs rendered from now on as files in dir instead of in
// the database; see storeutil.PDFDir. With several instances dir must be
// one shared filesystem. Call it before the store is used.
func (s *Store) KeepPDFsIn(dir string) error {
	d, err := storeutil.OpenPDFDir(dir)
	if err != nil {
		return err
	}
	s.pdfs = d
	return nil
}

var _ issuer.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value
// string understood by pgx), checks that it is reachable and applies the
// migrations. An unreachable server is issuer.ErrUnavailable.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, issuer.Errorf(issuer.ErrInvalid, "database_url", "数据库连接串无效：%v", "invalid database URL: %v", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, unreachable(cfg, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, unreachable(cfg, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// unreachable names the server but never the password.
func unreachable(cfg *pgxpool.Config, err error) error {
	c := cfg.ConnConfig
	// A server that answered with a reason (starting up, no free
	// connections) was reached: say the reason.
	if causeOf(err) != storeutil.NoCause {
		return storeutil.Unavailable(fmt.Sprintf("connect to PostgreSQL at %s:%d/%s", c.Host, c.Port, c.Database), err)
	}
	return &issuer.Error{
		Kind: issuer.ErrUnavailable, Code: "database_unreachable",
		Zh:  fmt.Sprintf("无法连接 PostgreSQL 数据库 %s:%d/%s", c.Host, c.Port, c.Database),
		En:  fmt.Sprintf("cannot reach PostgreSQL at %s:%d/%s", c.Host, c.Port, c.Database),
		Err: err,
	}
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	var schema string
	if err := pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return storeutil.Unavailable("current schema", err)
	}
	if schema == "" {
		return issuer.Errorf(issuer.ErrInvalid, "no_schema", "search_path 中没有可用的模式", "no usable schema in search_path")
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("certd migrations " + schema)) // a hash.Hash never fails
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() >> 1)))
	if err != nil {
		return err
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("postgres migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return storeutil.Unavailable("postgres migrate", err)
	}
	return nil
}

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	return storeutil.Unavailable("ping", s.pool.Ping(ctx))
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// write runs fn in one transaction. An *issuer.Error returned by fn passes
// through; anything else is classified.
func (s *Store) write(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return storeutil.Unavailable(op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return classify(op, err)
	}
	return classify(op, tx.Commit(ctx))
}

// classify is the backstop mapping of engine errors onto issuer kinds;
// call sites that know which constraint a statement can break translate it
// into a precise error first.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := issuer.AsError(err); ok {
		return err
	}
	switch constraint, code := pgConstraint(err); code {
	case "23505":
		if constraint == "certificates_valid_holding" {
			return storeutil.DuplicateHolding(issuer.HoldingKey{}, "")
		}
		return storeutil.Conflict(fmt.Errorf("%s: %w", op, err))
	case "23503":
		e := storeutil.NotFound(storeutil.Reference, "").(*issuer.Error)
		e.Err = fmt.Errorf("%s: %w", op, err)
		return e
	}
	return storeutil.Unavailable(op, err)
}

func init() { storeutil.RegisterCause(causeOf) }

// causeOf names what a PostgreSQL error says an operator must act on, by
// its SQLSTATE (storeutil.Unavailable words it).
func causeOf(err error) storeutil.Cause {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return storeutil.NoCause
	}
	switch pe.Code {
	case "53100": // disk_full
		return storeutil.DiskFull
	case "25006": // read_only_sql_transaction: a standby, or default_transaction_read_only
		return storeutil.ReadOnly
	case "58030": // io_error
		return storeutil.DiskIO
	case "58P01": // undefined_file: a file of the data directory is missing
		return storeutil.CannotOpen
	case "XX001", "XX002": // data_corrupted, index_corrupted
		return storeutil.Corrupt
	case "53200": // out_of_memory
		return storeutil.OutOfMemory
	case "53300": // too_many_connections
		return storeutil.TooManyConnections
	case "57P03", "57P01", "57P02": // cannot_connect_now, admin_shutdown, crash_shutdown
		return storeutil.NotAccepting
	}
	return storeutil.NoCause
}

// pgConstraint returns the constraint a statement violated and the
// SQLSTATE, or "" and "".
func pgConstraint(err error) (constraint, code string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName, pe.Code
	}
	return "", ""
}

// instant is the stored form of a moment: NULL for the zero time.
func instant(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return storeutil.Instant(t)
}

// date is the stored form of a civil date; pgx sends the date part of a
// time.Time as is, so it must already be the civil date at UTC midnight.
func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
}

// fromDB turns a scanned nullable timestamptz back into a UTC time.
func fromDB(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

const insertAudit = `INSERT INTO audit (at, actor, action, institution_id, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)`

var auditColumns = []string{"at", "actor", "action", "institution_id", "subject", "detail"}

func auditRow(ev issuer.AuditEvent) []any {
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	return []any{storeutil.Instant(at), ev.Actor, ev.Action, ev.InstitutionID, ev.Subject, ev.Detail}
}

func appendAudit(ctx context.Context, tx pgx.Tx, ev issuer.AuditEvent) error {
	if _, err := tx.Exec(ctx, insertAudit, auditRow(ev)...); err != nil {
		return err
	}
	return appendLog(ctx, tx, ev)
}

// AppendAudit appends an event on its own. A zero At is stamped with the
// current time.
func (s *Store) AppendAudit(ctx context.Context, ev issuer.AuditEvent) error {
	if len(ev.Log) > 0 {
		return s.write(ctx, "append audit", func(tx pgx.Tx) error { return appendAudit(ctx, tx, ev) })
	}
	_, err := s.pool.Exec(ctx, insertAudit, auditRow(ev)...)
	return classify("append audit", err)
}

// Audit lists events in sequence order. Seq comes from a sequence: it
// increases with the order in which events were written, but a long
// transaction may commit an event after a later-numbered one, so a reader
// tailing with AfterSeq should leave a safety margin behind the newest
// event.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Audit lists audit events matching f.
func (s *Store) Audit(ctx context.Context, f issuer.AuditFilter) ([]issuer.AuditEvent, error) {
	var q strings.Builder
	q.WriteString(`SELECT seq, at, actor, action, institution_id, subject, detail FROM audit WHERE seq > $1`)
	args := []any{f.AfterSeq}
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&q, " AND "+cond, len(args))
	}
	if f.InstitutionID != "" {
		add("institution_id = $%d", f.InstitutionID)
	}
	if f.Subject != "" {
		add("subject = $%d", f.Subject)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Actor != "" {
		// The name itself, or the name an API token acted under ("name
		// (token t…)"); LIKE's wildcards in a name are escaped.
		args = append(args, f.Actor, likeEscape(f.Actor)+" (token %")
		fmt.Fprintf(&q, ` AND (actor = $%d OR actor LIKE $%d ESCAPE '\')`, len(args)-1, len(args))
	}
	if f.BeforeSeq > 0 {
		add("seq < $%d", f.BeforeSeq)
	}
	if !f.From.IsZero() {
		add("at >= $%d", f.From.UTC())
	}
	if !f.Until.IsZero() {
		add("at < $%d", f.Until.UTC())
	}
	q.WriteString(" ORDER BY seq")
	if f.Newest {
		q.WriteString(" DESC")
	}
	if f.Limit > 0 {
		args = append(args, f.Limit)
		fmt.Fprintf(&q, " LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, storeutil.Unavailable("audit", err)
	}
	out := []issuer.AuditEvent{}
	for rows.Next() {
		var ev issuer.AuditEvent
		var at *time.Time
		if err := rows.Scan(&ev.Seq, &at, &ev.Actor, &ev.Action, &ev.InstitutionID, &ev.Subject, &ev.Detail); err != nil {
			rows.Close()
			return nil, storeutil.Unavailable("audit", err)
		}
		ev.At = fromDB(at)
		out = append(out, ev)
	}
	return out, storeutil.Unavailable("audit", rows.Err())
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
