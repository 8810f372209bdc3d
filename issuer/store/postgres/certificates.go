package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/occupation"
	"certd/issuer/store/internal/storeutil"
)

var certColumnList = []string{"number", "institution_id", "institution_ver", "batch_id", "holder_name", "doc_type", "doc_number",
	"student_no", "major", "candidate_type", "occupation", "occupation_name", "specialty", "level", "assessed_on",
	"issued_on", "issued_at", "kid", "token", "verify_code", "status", "supersedes", "credential", "status_index"}

const certColumns = `number, institution_id, institution_ver, batch_id, holder_name, doc_type, doc_number,
	student_no, major, candidate_type, occupation, occupation_name, specialty, level, assessed_on,
	issued_on, issued_at, kid, token, verify_code, status, revoked_reason, revoked_note, revoked_at,
	revoked_by, superseded_by, supersedes, pdf_sha256, credential, status_index`

// certRow is a new certificate in the order of certColumnList.
func certRow(c *issuer.Certificate) []any {
	h := &c.Holder
	return []any{c.Number, c.InstitutionID, c.InstitutionVer, c.BatchID, h.Name, string(h.DocType), h.DocNumber,
		h.StudentNo, h.Major, string(h.CandidateType), c.Occupation, c.OccupationName, c.Specialty, int(c.Level),
		date(c.AssessedOn), date(c.IssuedOn), instant(c.IssuedAt), c.KID, c.Token, c.VerifyCode, string(c.Status),
		nullString(c.Supersedes), nullString(c.Credential), nullIndex(c.StatusIndex)}
}

func nullIndex(i int) any {
	if i < 0 {
		return nil
	}
	return int32(i) // #nosec G115 -- below statuslist.MaxBits
}

func scanCert(row pgx.Row) (issuer.Certificate, error) {
	var c issuer.Certificate
	var docType, candidate, status string
	var level int
	var assessed, issuedOn, issuedAt, revokedAt *time.Time
	var reason, note, revokedBy, supBy, sup, pdf, cred *string
	var statusIndex *int32
	err := row.Scan(&c.Number, &c.InstitutionID, &c.InstitutionVer, &c.BatchID, &c.Holder.Name, &docType,
		&c.Holder.DocNumber, &c.Holder.StudentNo, &c.Holder.Major, &candidate, &c.Occupation, &c.OccupationName,
		&c.Specialty, &level, &assessed, &issuedOn, &issuedAt, &c.KID, &c.Token, &c.VerifyCode, &status,
		&reason, &note, &revokedAt, &revokedBy, &supBy, &sup, &pdf, &cred, &statusIndex)
	if err != nil {
		return c, err
	}
	c.StatusIndex = -1
	if statusIndex != nil {
		c.StatusIndex = int(*statusIndex)
	}
	c.Holder.DocType = ident.DocType(docType)
	c.Holder.CandidateType = issuer.CandidateType(candidate)
	c.Level = occupation.Level(level)
	c.Status = issuer.Status(status)
	c.AssessedOn, c.IssuedOn, c.IssuedAt = fromDB(assessed), fromDB(issuedOn), fromDB(issuedAt)
	if reason != nil {
		c.Revocation = &issuer.Revocation{Reason: issuer.RevocationReason(*reason), Note: str(note), At: fromDB(revokedAt), By: str(revokedBy)}
	}
	c.SupersededBy, c.Supersedes, c.PDFSHA256, c.Credential = str(supBy), str(sup), str(pdf), str(cred)
	return c, nil
}

// insertBatch records a roster's batch. The fingerprint is looked up first
// so that the error can name the batch that already issued this roster;
// the unique constraint catches the concurrent case.
func insertBatch(ctx context.Context, tx pgx.Tx, b issuer.Batch, count int) error {
	if b.Fingerprint != "" {
		var existing string
		err := tx.QueryRow(ctx, `SELECT id FROM batches WHERE institution_id = $1 AND fingerprint = $2`,
			b.InstitutionID, b.Fingerprint).Scan(&existing)
		if err == nil {
			return storeutil.BatchExists(b.Fingerprint, existing)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO batches (id, institution_id, fingerprint, source, count, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, b.ID, b.InstitutionID, nullString(b.Fingerprint), b.Source, count, instant(b.CreatedAt), b.CreatedBy)
	if constraint, _ := pgConstraint(err); constraint == "batches_fingerprint_key" {
		return storeutil.BatchExists(b.Fingerprint, "")
	}
	return err
}

// IssueBatch issues a roster all or nothing; see issuer.Store.
//
// Numbers, Status and BatchID are written into certs in place, so that on
// success the caller holds exactly what was stored (including what seal
// added). On error nothing is stored and the numbers left in certs mean
// nothing: the serial counters roll back with the transaction.
func (s *Store) IssueBatch(ctx context.Context, b issuer.Batch, prefix string, certs []issuer.Certificate, seal func(*issuer.Certificate) (issuer.AuditEvent, error), job *issuer.PrintJob) error {
	if err := storeutil.CheckRoster(certs); err != nil {
		return err
	}
	return s.write(ctx, "issue batch", func(tx pgx.Tx) error {
		if err := insertBatch(ctx, tx, b, len(certs)); err != nil {
			return err
		}
		if err := issue(ctx, tx, b, prefix, certs, "", seal); err != nil {
			return err
		}
		if job == nil {
			return nil
		}
		return insertPrintJob(ctx, tx, b, certs, job)
	})
}

// insertPrintJob records the print job of a batch just inserted in tx. The
// items go in with COPY in slices, so that a roster's photos are never all
// in memory at once.
func insertPrintJob(ctx context.Context, tx pgx.Tx, b issuer.Batch, certs []issuer.Certificate, job *issuer.PrintJob) error {
	created := job.CreatedAt
	if created.IsZero() {
		created = b.CreatedAt
	}
	if _, err := tx.Exec(ctx, `INSERT INTO print_jobs (batch_id, institution_id, public_url, items, created_at)
		VALUES ($1, $2, $3, $4, $5)`, b.ID, b.InstitutionID, job.PublicURL, len(certs), instant(created)); err != nil {
		return err
	}
	const slice = 256
	for start := 0; start < len(certs); start += slice {
		part := certs[start:min(start+slice, len(certs))]
		rows := make([][]any, len(part))
		for i := range part {
			var photo []byte
			if job.Photo != nil {
				photo = job.Photo(part[i])
			}
			if len(photo) == 0 {
				photo = nil
			}
			rows[i] = []any{part[i].Number, b.ID, photo}
		}
		if err := copyRows(ctx, tx, "print_items", []string{"number", "batch_id", "photo"}, rows); err != nil {
			return err
		}
	}
	return nil
}

// holdingsQuery finds the valid certificates among many holding keys in one
// round trip; the join on unnest() uses the partial unique index.
const holdingsQuery = `SELECT k.i, c.number
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[]) WITH ORDINALITY
		AS k(doc_type, doc_number, occupation, specialty, level, i)
	JOIN certificates c ON c.doc_type = k.doc_type AND c.doc_number = k.doc_number
		AND c.occupation = k.occupation AND c.specialty = k.specialty AND c.level = k.level AND c.status = 'valid'
	ORDER BY k.i`

func holdingArgs(keys []issuer.HoldingKey) []any {
	dt, dn, occ, spec, lvl := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]int, len(keys))
	for i, k := range keys {
		dt[i], dn[i], occ[i], spec[i], lvl[i] = string(k.DocType), k.DocNumber, k.Occupation, k.Specialty, int(k.Level)
	}
	return []any{dt, dn, occ, spec, lvl}
}

// issue numbers, seals and inserts certs inside tx. Holdings are checked
// before anything is sealed, so a clash is reported with the certificate
// already held and without the cost of signing the whole roster.
func issue(ctx context.Context, tx pgx.Tx, b issuer.Batch, prefix string, certs []issuer.Certificate, supersedes string, seal func(*issuer.Certificate) (issuer.AuditEvent, error)) error {
	keys := make([]issuer.HoldingKey, len(certs))
	for i := range certs {
		keys[i] = certs[i].Key()
	}
	var at int64
	var number string
	err := tx.QueryRow(ctx, holdingsQuery+` LIMIT 1`, holdingArgs(keys)...).Scan(&at, &number)
	if err == nil {
		return storeutil.DuplicateHolding(keys[at-1], number)
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}

	// The upsert takes the counter row's lock until commit: a concurrent
	// batch on the same counter waits, then continues after our block.
	for _, g := range storeutil.GroupSerials(certs) {
		n := int64(len(g.Index))
		var last int64
		err := tx.QueryRow(ctx, `INSERT INTO serials AS s (prefix, year, level, last) VALUES ($1, $2, $3, $4)
			ON CONFLICT (prefix, year, level) DO UPDATE SET last = s.last + excluded.last RETURNING last`,
			prefix, g.Year, int(g.Level), n).Scan(&last)
		if err != nil {
			return err
		}
		if last > storeutil.MaxSerial {
			return storeutil.SerialExhausted(prefix, g.Year, int(g.Level))
		}
		for j, i := range g.Index {
			certs[i].Number = storeutil.Number(prefix, certs[i].IssuedOn, g.Level, last-n+1+int64(j))
		}
	}

	if err := allocStatus(ctx, tx, b.InstitutionID, certs); err != nil {
		return err
	}

	certRows := make([][]any, len(certs))
	auditRows := make([][]any, len(certs))
	var logRows [][]any
	for i := range certs {
		c := &certs[i]
		prepare(c, b, supersedes)
		ev, err := seal(c)
		if err != nil {
			return err
		}
		certRows[i] = certRow(c)
		auditRows[i] = auditRow(ev)
		for _, it := range ev.Log {
			logRows = append(logRows, logRow(it, ev.At))
		}
	}
	if err := copyRows(ctx, tx, "certificates", certColumnList, certRows); err != nil {
		return err
	}
	if err := copyRows(ctx, tx, "audit", auditColumns, auditRows); err != nil {
		return err
	}
	return copyRows(ctx, tx, "tlog_outbox", logColumns, logRows)
}

// copyRows inserts rows with COPY when there are enough of them to pay for
// it, and with a plain INSERT otherwise (a reissue, a small class).
func copyRows(ctx context.Context, tx pgx.Tx, table string, columns []string, rows [][]any) error {
	if len(rows) >= 8 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows))
		return err
	}
	ph := make([]string, len(columns))
	for i := range ph {
		ph[i] = fmt.Sprintf("$%d", i+1)
	}
	q := `INSERT INTO ` + table + ` (` + strings.Join(columns, ", ") + `) VALUES (` + strings.Join(ph, ", ") + `)`
	for _, r := range rows {
		if _, err := tx.Exec(ctx, q, r...); err != nil {
			return err
		}
	}
	return nil
}

// prepare sets the bookkeeping fields a new certificate starts with, before
// it is sealed.
func prepare(c *issuer.Certificate, b issuer.Batch, supersedes string) {
	c.BatchID = b.ID
	if c.InstitutionID == "" {
		c.InstitutionID = b.InstitutionID
	}
	c.Status = issuer.Valid
	c.Revocation = nil
	c.SupersededBy = ""
	c.Supersedes = supersedes
	c.PDFSHA256 = ""
}

const batchColumns = `id, institution_id, fingerprint, source, count, created_at, created_by`

func (s *Store) oneBatch(ctx context.Context, key, query string, args ...any) (issuer.Batch, error) {
	var b issuer.Batch
	var fp *string
	var created *time.Time
	err := s.pool.QueryRow(ctx, query, args...).Scan(&b.ID, &b.InstitutionID, &fp, &b.Source, &b.Count, &created, &b.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return issuer.Batch{}, storeutil.NotFound(storeutil.BatchNoun, key)
	}
	if err != nil {
		return issuer.Batch{}, storeutil.Unavailable("batch", err)
	}
	b.Fingerprint, b.CreatedAt = str(fp), fromDB(created)
	return b, nil
}

// BatchByFingerprint finds an institution's batch by roster fingerprint.
func (s *Store) BatchByFingerprint(ctx context.Context, institutionID, fingerprint string) (issuer.Batch, error) {
	return s.oneBatch(ctx, fingerprint, `SELECT `+batchColumns+` FROM batches WHERE institution_id = $1 AND fingerprint = $2`, institutionID, fingerprint)
}

// Batch returns one batch.
func (s *Store) Batch(ctx context.Context, id string) (issuer.Batch, error) {
	return s.oneBatch(ctx, id, `SELECT `+batchColumns+` FROM batches WHERE id = $1`, id)
}

// Certificate returns one certificate by number.
func (s *Store) Certificate(ctx context.Context, number string) (issuer.Certificate, error) {
	c, err := scanCert(s.pool.QueryRow(ctx, `SELECT `+certColumns+` FROM certificates WHERE number = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return issuer.Certificate{}, storeutil.NotFound(storeutil.Certificate, number)
	}
	if err != nil {
		return issuer.Certificate{}, storeutil.Unavailable("certificate", err)
	}
	return c, nil
}

// Certificates lists certificates matching f, ordered by number. Paging is
// by keyset (After), which stays correct while certificates are issued.
func (s *Store) Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error) {
	var q strings.Builder
	q.WriteString(`SELECT ` + certColumns + ` FROM certificates WHERE number > $1`)
	args := []any{f.After}
	add := func(cond string, v any) {
		args = append(args, v)
		fmt.Fprintf(&q, " AND "+cond, len(args))
	}
	if f.InstitutionID != "" {
		add("institution_id = $%d", f.InstitutionID)
	}
	if f.BatchID != "" {
		add("batch_id = $%d", f.BatchID)
	}
	if f.Status != "" {
		add("status = $%d", string(f.Status))
	}
	if f.Occupation != "" {
		add("occupation = $%d", f.Occupation)
	}
	if f.Level != 0 {
		add("level = $%d", int(f.Level))
	}
	if like := storeutil.NameLike(f.Name); like != "" {
		add(`lower(replace(holder_name, ' ', '')) LIKE $%d ESCAPE '\'`, like)
	}
	if f.DocNumber != "" {
		add("doc_number = $%d", f.DocNumber)
	}
	if len(f.Numbers) > 0 {
		add("number = ANY($%d)", f.Numbers)
	}
	if !f.IssuedFrom.IsZero() {
		add("issued_on >= $%d", date(f.IssuedFrom))
	}
	if !f.IssuedTo.IsZero() {
		add("issued_on <= $%d", date(f.IssuedTo))
	}
	q.WriteString(" ORDER BY number")
	if f.Limit > 0 {
		args = append(args, f.Limit)
		fmt.Fprintf(&q, " LIMIT $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, storeutil.Unavailable("certificates", err)
	}
	defer rows.Close()
	out := []issuer.Certificate{}
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, storeutil.Unavailable("certificates", err)
		}
		out = append(out, c)
	}
	return out, storeutil.Unavailable("certificates", rows.Err())
}

// ValidHoldings returns, for each key a valid certificate holds, its number.
func (s *Store) ValidHoldings(ctx context.Context, keys []issuer.HoldingKey) (map[issuer.HoldingKey]string, error) {
	out := map[issuer.HoldingKey]string{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, holdingsQuery, holdingArgs(keys)...)
	if err != nil {
		return nil, storeutil.Unavailable("valid holdings", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var number string
		if err := rows.Scan(&i, &number); err != nil {
			return nil, storeutil.Unavailable("valid holdings", err)
		}
		out[keys[i-1]] = number
	}
	return out, storeutil.Unavailable("valid holdings", rows.Err())
}

// notValid explains why a conditional update on a valid certificate
// touched nothing: the certificate is unknown, or no longer valid.
func notValid(ctx context.Context, tx pgx.Tx, number string) error {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM certificates WHERE number = $1`, number).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return storeutil.NotFound(storeutil.Certificate, number)
	}
	if err != nil {
		return err
	}
	return storeutil.NotValid(number, issuer.Status(status))
}

// Revoke marks a valid certificate revoked. Of two concurrent revocations
// the second blocks on the row, re-checks status = 'valid' once the first
// commits, matches nothing and reports "not_valid". A zero r.At is stamped
// with the current time.
func (s *Store) Revoke(ctx context.Context, number string, r issuer.Revocation, ev issuer.AuditEvent) error {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	return s.write(ctx, "revoke", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE certificates SET status = 'revoked', revoked_reason = $1, revoked_note = $2,
			revoked_at = $3, revoked_by = $4 WHERE number = $5 AND status = 'valid'`,
			string(r.Reason), r.Note, instant(r.At), r.By, number)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notValid(ctx, tx, number)
		}
		return appendAudit(ctx, tx, ev)
	})
}

// Reissue replaces a valid certificate with a corrected one. The old
// certificate leaves the valid state first (taking its row lock), so that
// the replacement may carry the same holding key. b is recorded as the
// replacement's batch unless a batch with its ID already exists (a caller
// may file corrections under the original batch); a reissue batch may have
// an empty Fingerprint, which is exempt from the one-roster-one-batch rule.
func (s *Store) Reissue(ctx context.Context, old string, b issuer.Batch, prefix string, repl issuer.Certificate, seal func(*issuer.Certificate) (issuer.AuditEvent, error), job *issuer.PrintJob) (issuer.Certificate, error) {
	certs := []issuer.Certificate{repl}
	if err := storeutil.CheckRoster(certs); err != nil {
		return issuer.Certificate{}, err
	}
	err := s.write(ctx, "reissue", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE certificates SET status = 'superseded' WHERE number = $1 AND status = 'valid'`, old)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notValid(ctx, tx, old)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM batches WHERE id = $1)`, b.ID).Scan(&exists); err != nil {
			return err
		}
		if exists && job != nil {
			return storeutil.JobWithOldBatch(b.ID)
		}
		if !exists {
			if err := insertBatch(ctx, tx, b, 1); err != nil {
				return err
			}
		}
		if err := issue(ctx, tx, b, prefix, certs, old, seal); err != nil {
			return err
		}
		if job != nil {
			if err := insertPrintJob(ctx, tx, b, certs, job); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE certificates SET superseded_by = $1 WHERE number = $2`, certs[0].Number, old)
		return err
	})
	if err != nil {
		return issuer.Certificate{}, err
	}
	return certs[0], nil
}

// PutPDF stores the rendered PDF and its SHA-256, replacing an earlier one.
// With a PDF directory (KeepPDFsIn) the bytes go to a file, written before
// the hash is recorded: a crash between the two leaves a file no record
// points to, which the next rendering replaces.
func (s *Store) PutPDF(ctx context.Context, number string, pdf []byte) error {
	if s.pdfs != nil {
		if err := s.pdfs.Put(number, pdf); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(pdf)
	return s.write(ctx, "put pdf", func(tx pgx.Tx) error { return s.putPDF(ctx, tx, number, pdf, sum) })
}

// putPDF records a PDF's hash and, without a PDF directory, its bytes.
func (s *Store) putPDF(ctx context.Context, tx pgx.Tx, number string, pdf []byte, sum [32]byte) error {
	tag, err := tx.Exec(ctx, `UPDATE certificates SET pdf_sha256 = $1 WHERE number = $2`, hex.EncodeToString(sum[:]), number)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return storeutil.NotFound(storeutil.Certificate, number)
	}
	if s.pdfs != nil {
		// The file is the PDF now; an older copy in the database would be
		// a second, stale truth.
		_, err = tx.Exec(ctx, `DELETE FROM pdfs WHERE number = $1`, number)
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO pdfs (number, bytes) VALUES ($1, $2)
		ON CONFLICT (number) DO UPDATE SET bytes = excluded.bytes`, number, pdf)
	return err
}

// PutPrinted stores a PDF and marks its print item done; see issuer.Store.
// The job's row is locked first, so that of two instances storing the last
// two PDFs of a batch at once, the second sees the first's item done and
// closes the job (neither could see the other's uncommitted update).
func (s *Store) PutPrinted(ctx context.Context, number string, pdf []byte) error {
	if s.pdfs != nil {
		if err := s.pdfs.Put(number, pdf); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(pdf)
	return s.write(ctx, "put printed", func(tx pgx.Tx) error {
		var batch string
		err := tx.QueryRow(ctx, `SELECT j.batch_id FROM print_items i JOIN print_jobs j ON j.batch_id = i.batch_id
			WHERE i.number = $1 FOR UPDATE OF j`, number).Scan(&batch)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := s.putPDF(ctx, tx, number, pdf, sum); err != nil {
			return err
		}
		if batch == "" {
			return nil // not part of a job, or the job is done
		}
		if _, err := tx.Exec(ctx, `UPDATE print_items SET done = true WHERE number = $1`, number); err != nil {
			return err
		}
		var left bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM print_items WHERE batch_id = $1 AND NOT done)`, batch).Scan(&left); err != nil || left {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM print_items WHERE batch_id = $1`, batch); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE print_jobs SET done_at = now() WHERE batch_id = $1`, batch)
		return err
	})
}

const printJobQuery = `SELECT j.batch_id, j.institution_id, j.public_url, j.items, j.created_at, j.done_at,
	(SELECT COUNT(*) FROM print_items i WHERE i.batch_id = j.batch_id AND NOT i.done),
	j.lease_owner, j.lease_until, j.run_started_at, j.run_from, j.failure, j.failed_at
	FROM print_jobs j`

func scanPrintJob(row pgx.Row) (issuer.PrintJob, error) {
	var j issuer.PrintJob
	var created, done, until, started, failed *time.Time
	var owner, failure *string
	if err := row.Scan(&j.BatchID, &j.InstitutionID, &j.PublicURL, &j.Items, &created, &done, &j.Pending,
		&owner, &until, &started, &j.RunFrom, &failure, &failed); err != nil {
		return j, err
	}
	j.CreatedAt, j.DoneAt = fromDB(created), fromDB(done)
	j.LeaseUntil, j.RunStarted, j.FailedAt = fromDB(until), fromDB(started), fromDB(failed)
	if owner != nil {
		j.LeaseOwner = *owner
	}
	if failure != nil {
		j.Failure = *failure
	}
	return j, nil
}

// ClaimPrintJob takes or renews the lease of a job; see issuer.Store. One
// conditional UPDATE: of two concurrent claimers the second waits for the
// first's row lock and then re-checks the condition against the committed
// lease (READ COMMITTED re-evaluates the WHERE of an updated row), so it
// never takes a lease that is held. The lease is a column with an expiry
// rather than a lock held for the run, so a crashed holder's job is free
// again when its lease runs out, whatever became of its connection.
func (s *Store) ClaimPrintJob(ctx context.Context, batchID, owner string, now, until time.Time) (bool, error) {
	var n int64
	err := s.write(ctx, "claim print job", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE print_jobs SET
			run_started_at = CASE WHEN lease_owner = $2 AND lease_until >= $3 THEN run_started_at ELSE $3 END,
			run_from = CASE WHEN lease_owner = $2 AND lease_until >= $3 THEN run_from
				ELSE (SELECT COUNT(*) FROM print_items i WHERE i.batch_id = $1 AND NOT i.done) END,
			lease_owner = $2, lease_until = $4
			WHERE batch_id = $1 AND done_at IS NULL AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < $3)`,
			batchID, owner, instant(now), instant(until))
		n = tag.RowsAffected()
		return err
	})
	return n == 1, err
}

// ReleasePrintJob ends owner's lease; see issuer.Store.
func (s *Store) ReleasePrintJob(ctx context.Context, batchID, owner string, now time.Time, failure string) error {
	return s.write(ctx, "release print job", func(tx pgx.Tx) error {
		var at any
		if failure != "" {
			at = instant(now)
		}
		_, err := tx.Exec(ctx, `UPDATE print_jobs SET lease_owner = NULL, lease_until = NULL, failure = $1, failed_at = $2
			WHERE batch_id = $3 AND lease_owner = $4`, nullString(failure), at, batchID, owner)
		return err
	})
}

// PrintJob returns a batch's print job.
func (s *Store) PrintJob(ctx context.Context, batchID string) (issuer.PrintJob, error) {
	j, err := scanPrintJob(s.pool.QueryRow(ctx, printJobQuery+` WHERE j.batch_id = $1`, batchID))
	if errors.Is(err, pgx.ErrNoRows) {
		return issuer.PrintJob{}, storeutil.NotFound(storeutil.PrintJobNoun, batchID)
	}
	if err != nil {
		return issuer.PrintJob{}, storeutil.Unavailable("print job", err)
	}
	return j, nil
}

// PendingPrintJobs lists the jobs not yet done, oldest first.
func (s *Store) PendingPrintJobs(ctx context.Context) ([]issuer.PrintJob, error) {
	rows, err := s.pool.Query(ctx, printJobQuery+` WHERE j.done_at IS NULL ORDER BY j.created_at, j.batch_id`)
	if err != nil {
		return nil, storeutil.Unavailable("print jobs", err)
	}
	defer rows.Close()
	out := []issuer.PrintJob{}
	for rows.Next() {
		j, err := scanPrintJob(rows)
		if err != nil {
			return nil, storeutil.Unavailable("print jobs", err)
		}
		out = append(out, j)
	}
	return out, storeutil.Unavailable("print jobs", rows.Err())
}

// PendingPrints returns up to limit unprinted items of a job after a number.
func (s *Store) PendingPrints(ctx context.Context, batchID, after string, limit int) ([]issuer.PrintItem, error) {
	rows, err := s.pool.Query(ctx, `SELECT number, batch_id, photo FROM print_items
		WHERE batch_id = $1 AND NOT done AND number > $2 ORDER BY number LIMIT $3`, batchID, after, limit)
	if err != nil {
		return nil, storeutil.Unavailable("pending prints", err)
	}
	defer rows.Close()
	out := []issuer.PrintItem{}
	for rows.Next() {
		var it issuer.PrintItem
		if err := rows.Scan(&it.Number, &it.BatchID, &it.Photo); err != nil {
			return nil, storeutil.Unavailable("pending prints", err)
		}
		out = append(out, it)
	}
	return out, storeutil.Unavailable("pending prints", rows.Err())
}

// PendingPrint returns one certificate's pending print item.
func (s *Store) PendingPrint(ctx context.Context, number string) (issuer.PrintItem, error) {
	var it issuer.PrintItem
	err := s.pool.QueryRow(ctx, `SELECT number, batch_id, photo FROM print_items WHERE number = $1 AND NOT done`, number).
		Scan(&it.Number, &it.BatchID, &it.Photo)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, storeutil.NotFound(storeutil.PrintJobNoun, number)
	}
	if err != nil {
		return it, storeutil.Unavailable("pending print", err)
	}
	return it, nil
}

// SetCredential stores the holder credential of a certificate that has none
// and appends ev; see issuer.Store. The row lock makes one of two
// concurrent first requests win; the other gets the winner's credential.
func (s *Store) SetCredential(ctx context.Context, number, cred string, ev issuer.AuditEvent) (string, error) {
	var out string
	err := s.write(ctx, "set credential", func(tx pgx.Tx) error {
		var cur *string
		err := tx.QueryRow(ctx, `SELECT credential FROM certificates WHERE number = $1 FOR UPDATE`, number).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return storeutil.NotFound(storeutil.Certificate, number)
		}
		if err != nil {
			return err
		}
		if str(cur) != "" {
			out = str(cur)
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE certificates SET credential = $1 WHERE number = $2`, cred, number); err != nil {
			return err
		}
		out = cred
		return appendAudit(ctx, tx, ev)
	})
	return out, err
}

// PDF returns the stored PDF. With a PDF directory the file is read and
// must match the recorded hash; a PDF stored in the database before the
// directory was configured is still found there.
func (s *Store) PDF(ctx context.Context, number string) ([]byte, error) {
	if s.pdfs != nil {
		var sha *string
		err := s.pool.QueryRow(ctx, `SELECT pdf_sha256 FROM certificates WHERE number = $1`, number).Scan(&sha)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, storeutil.NotFound(storeutil.PDF, number)
		}
		if err != nil {
			return nil, storeutil.Unavailable("pdf", err)
		}
		b, ok, err := s.pdfs.Get(number)
		if err != nil {
			return nil, err
		}
		if ok {
			if !storeutil.Matches(b, str(sha)) {
				return nil, issuer.Errorf(issuer.ErrUnavailable, "pdf_mismatch", "证书 %s 的 PDF 文件与记录的哈希值不符（文件被改动或损坏）", "the PDF file of certificate %s does not match its recorded hash (altered or damaged)", number)
			}
			return b, nil
		}
	}
	var pdf []byte
	err := s.pool.QueryRow(ctx, `SELECT bytes FROM pdfs WHERE number = $1`, number).Scan(&pdf)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storeutil.NotFound(storeutil.PDF, number)
	}
	if err != nil {
		return nil, storeutil.Unavailable("pdf", err)
	}
	return pdf, nil
}
