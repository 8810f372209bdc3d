package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/occupation"
	"certd/issuer/store/internal/storeutil"
)

const certColumns = `number, institution_id, institution_ver, batch_id, holder_name, doc_type, doc_number,
	student_no, major, candidate_type, occupation, occupation_name, specialty, level, assessed_on,
	issued_on, issued_at, kid, token, verify_code, status, revoked_reason, revoked_note, revoked_at,
	revoked_by, superseded_by, supersedes, pdf_sha256, credential, status_index`

const insertCert = `INSERT INTO certificates (` + certColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?, NULL, ?, ?)`

func certArgs(c *issuer.Certificate) []any {
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
	return i
}

func scanCert(row interface{ Scan(...any) error }) (issuer.Certificate, error) {
	var c issuer.Certificate
	var docType, candidate, status string
	var level int
	var assessed, issuedOn, issuedAt sql.NullString
	var reason, note, revokedAt, revokedBy, supBy, sup, pdf, cred sql.NullString
	var statusIndex sql.NullInt64
	err := row.Scan(&c.Number, &c.InstitutionID, &c.InstitutionVer, &c.BatchID, &c.Holder.Name, &docType,
		&c.Holder.DocNumber, &c.Holder.StudentNo, &c.Holder.Major, &candidate, &c.Occupation, &c.OccupationName,
		&c.Specialty, &level, &assessed, &issuedOn, &issuedAt, &c.KID, &c.Token, &c.VerifyCode, &status,
		&reason, &note, &revokedAt, &revokedBy, &supBy, &sup, &pdf, &cred, &statusIndex)
	if err != nil {
		return c, err
	}
	c.StatusIndex = -1
	if statusIndex.Valid {
		c.StatusIndex = int(statusIndex.Int64)
	}
	c.Holder.DocType = ident.DocType(docType)
	c.Holder.CandidateType = issuer.CandidateType(candidate)
	c.Level = occupation.Level(level)
	c.Status = issuer.Status(status)
	if c.AssessedOn, err = parseDate(assessed); err != nil {
		return c, err
	}
	if c.IssuedOn, err = parseDate(issuedOn); err != nil {
		return c, err
	}
	if c.IssuedAt, err = parseInstant(issuedAt); err != nil {
		return c, err
	}
	if reason.Valid {
		r := &issuer.Revocation{Reason: issuer.RevocationReason(reason.String), Note: note.String, By: revokedBy.String}
		if r.At, err = parseInstant(revokedAt); err != nil {
			return c, err
		}
		c.Revocation = r
	}
	c.SupersededBy, c.Supersedes, c.PDFSHA256, c.Credential = supBy.String, sup.String, pdf.String, cred.String
	return c, nil
}

// insertBatch records a roster's batch. The fingerprint is looked up first
// so that the error can name the batch that already issued this roster.
func insertBatch(ctx context.Context, tx *sql.Tx, b issuer.Batch, count int) error {
	if b.Fingerprint != "" {
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT id FROM batches WHERE institution_id = ? AND fingerprint = ?`,
			b.InstitutionID, b.Fingerprint).Scan(&existing)
		if err == nil {
			return storeutil.BatchExists(b.Fingerprint, existing)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO batches (id, institution_id, fingerprint, source, count, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, b.ID, b.InstitutionID, nullString(b.Fingerprint), b.Source, count, instant(b.CreatedAt), b.CreatedBy)
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
	return s.write(ctx, "issue batch", func(tx *sql.Tx) error {
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

// insertPrintJob records the print job of a batch just inserted in tx.
func insertPrintJob(ctx context.Context, tx *sql.Tx, b issuer.Batch, certs []issuer.Certificate, job *issuer.PrintJob) error {
	created := job.CreatedAt
	if created.IsZero() {
		created = b.CreatedAt
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO print_jobs (batch_id, institution_id, public_url, items, created_at)
		VALUES (?, ?, ?, ?, ?)`, b.ID, b.InstitutionID, job.PublicURL, len(certs), instant(created)); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO print_items (number, batch_id, photo) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i := range certs {
		var photo []byte
		if job.Photo != nil {
			photo = job.Photo(certs[i])
		}
		if len(photo) == 0 {
			photo = nil
		}
		if _, err := ins.ExecContext(ctx, certs[i].Number, b.ID, photo); err != nil {
			return err
		}
	}
	return nil
}

// issue numbers, seals and inserts certs inside tx. It checks the holdings
// before sealing anything, so a clash is reported with the certificate
// already held and without the cost of signing the whole roster.
func issue(ctx context.Context, tx *sql.Tx, b issuer.Batch, prefix string, certs []issuer.Certificate, supersedes string, seal func(*issuer.Certificate) (issuer.AuditEvent, error)) error {
	held, err := tx.PrepareContext(ctx, `SELECT number FROM certificates
		WHERE doc_type = ? AND doc_number = ? AND occupation = ? AND specialty = ? AND level = ? AND status = 'valid'`)
	if err != nil {
		return err
	}
	defer held.Close()
	for i := range certs {
		k := certs[i].Key()
		var number string
		err := held.QueryRowContext(ctx, string(k.DocType), k.DocNumber, k.Occupation, k.Specialty, int(k.Level)).Scan(&number)
		if err == nil {
			return storeutil.DuplicateHolding(k, number)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}

	// One upsert per counter reserves a contiguous block; the writer's
	// immediate transaction makes the read-modify-write atomic, and a
	// rollback returns the block.
	for _, g := range storeutil.GroupSerials(certs) {
		n := int64(len(g.Index))
		var last int64
		err := tx.QueryRowContext(ctx, `INSERT INTO serials (prefix, year, level, last) VALUES (?, ?, ?, ?)
			ON CONFLICT (prefix, year, level) DO UPDATE SET last = last + excluded.last RETURNING last`,
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

	insCert, err := tx.PrepareContext(ctx, insertCert)
	if err != nil {
		return err
	}
	defer insCert.Close()
	insAudit, err := tx.PrepareContext(ctx, insertAudit)
	if err != nil {
		return err
	}
	defer insAudit.Close()
	var insLog *sql.Stmt
	for i := range certs {
		c := &certs[i]
		prepare(c, b, supersedes)
		ev, err := seal(c)
		if err != nil {
			return err
		}
		// seal must not renumber or re-status what it signs.
		if _, err := insCert.ExecContext(ctx, certArgs(c)...); err != nil {
			if constraintCode(err) != 0 && isUnique(err) && !strings.Contains(err.Error(), "certificates.number") {
				return storeutil.DuplicateHolding(c.Key(), "")
			}
			return err
		}
		if _, err := insAudit.ExecContext(ctx, auditArgs(ev)...); err != nil {
			return err
		}
		for _, it := range ev.Log {
			if insLog == nil {
				if insLog, err = tx.PrepareContext(ctx, insertLog); err != nil {
					return err
				}
				defer insLog.Close()
			}
			if _, err := insLog.ExecContext(ctx, logArgs(it, ev.At)...); err != nil {
				return err
			}
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

func (s *Store) oneBatch(ctx context.Context, key, query string, args ...any) (issuer.Batch, error) {
	var b issuer.Batch
	var fp, created sql.NullString
	err := s.r.QueryRowContext(ctx, query, args...).Scan(&b.ID, &b.InstitutionID, &fp, &b.Source, &b.Count, &created, &b.CreatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.Batch{}, storeutil.NotFound(storeutil.BatchNoun, key)
	}
	if err != nil {
		return issuer.Batch{}, storeutil.Unavailable("batch", err)
	}
	b.Fingerprint = fp.String
	if b.CreatedAt, err = parseInstant(created); err != nil {
		return issuer.Batch{}, storeutil.Unavailable("batch", err)
	}
	return b, nil
}

const batchColumns = `id, institution_id, fingerprint, source, count, created_at, created_by`

// BatchByFingerprint finds an institution's batch by roster fingerprint.
func (s *Store) BatchByFingerprint(ctx context.Context, institutionID, fingerprint string) (issuer.Batch, error) {
	return s.oneBatch(ctx, fingerprint, `SELECT `+batchColumns+` FROM batches WHERE institution_id = ? AND fingerprint = ?`, institutionID, fingerprint)
}

// Batch returns one batch.
func (s *Store) Batch(ctx context.Context, id string) (issuer.Batch, error) {
	return s.oneBatch(ctx, id, `SELECT `+batchColumns+` FROM batches WHERE id = ?`, id)
}

// Certificate returns one certificate by number.
func (s *Store) Certificate(ctx context.Context, number string) (issuer.Certificate, error) {
	c, err := scanCert(s.r.QueryRowContext(ctx, `SELECT `+certColumns+` FROM certificates WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
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
	q.WriteString(`SELECT ` + certColumns + ` FROM certificates WHERE number > ?`)
	args := []any{f.After}
	add := func(cond string, v any) {
		q.WriteString(" AND " + cond)
		args = append(args, v)
	}
	if f.InstitutionID != "" {
		add("institution_id = ?", f.InstitutionID)
	}
	if f.BatchID != "" {
		add("batch_id = ?", f.BatchID)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.Occupation != "" {
		add("occupation = ?", f.Occupation)
	}
	if f.Level != 0 {
		add("level = ?", int(f.Level))
	}
	if like := storeutil.NameLike(f.Name); like != "" {
		add(`lower(replace(holder_name, ' ', '')) LIKE ? ESCAPE '\'`, like)
	}
	if f.DocNumber != "" {
		add("doc_number = ?", f.DocNumber)
	}
	if len(f.Numbers) > 0 {
		q.WriteString(" AND number IN (?" + strings.Repeat(",?", len(f.Numbers)-1) + ")")
		for _, n := range f.Numbers {
			args = append(args, n)
		}
	}
	if !f.IssuedFrom.IsZero() {
		add("issued_on >= ?", storeutil.Date(f.IssuedFrom))
	}
	if !f.IssuedTo.IsZero() {
		add("issued_on <= ?", storeutil.Date(f.IssuedTo))
	}
	q.WriteString(" ORDER BY number")
	if f.Limit > 0 {
		q.WriteString(" LIMIT ?")
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q.String(), args...)
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
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return nil, storeutil.Unavailable("valid holdings", err)
	}
	defer conn.Close()
	stmt, err := conn.PrepareContext(ctx, `SELECT number FROM certificates
		WHERE doc_type = ? AND doc_number = ? AND occupation = ? AND specialty = ? AND level = ? AND status = 'valid'`)
	if err != nil {
		return nil, storeutil.Unavailable("valid holdings", err)
	}
	defer stmt.Close()
	for _, k := range keys {
		if _, done := out[k]; done {
			continue
		}
		var number string
		err := stmt.QueryRowContext(ctx, string(k.DocType), k.DocNumber, k.Occupation, k.Specialty, int(k.Level)).Scan(&number)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, storeutil.Unavailable("valid holdings", err)
		}
		out[k] = number
	}
	return out, nil
}

// notValid explains why a conditional update on a valid certificate
// touched nothing: the certificate is unknown, or no longer valid.
func notValid(ctx context.Context, tx *sql.Tx, number string) error {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM certificates WHERE number = ?`, number).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return storeutil.NotFound(storeutil.Certificate, number)
	}
	if err != nil {
		return err
	}
	return storeutil.NotValid(number, issuer.Status(status))
}

// Revoke marks a valid certificate revoked. The status condition in the
// UPDATE is what makes exactly one of two concurrent revocations win. A
// zero r.At is stamped with the current time.
func (s *Store) Revoke(ctx context.Context, number string, r issuer.Revocation, ev issuer.AuditEvent) error {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	return s.write(ctx, "revoke", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET status = 'revoked', revoked_reason = ?, revoked_note = ?,
			revoked_at = ?, revoked_by = ? WHERE number = ? AND status = 'valid'`,
			string(r.Reason), r.Note, instant(r.At), r.By, number)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notValid(ctx, tx, number)
		}
		return appendAudit(ctx, tx, ev)
	})
}

// Reissue replaces a valid certificate with a corrected one. The old
// certificate leaves the valid state first, so that the replacement may
// carry the same holding key. b is recorded as the replacement's batch
// unless a batch with its ID already exists (a caller may file corrections
// under the original batch); a reissue batch may have an empty Fingerprint,
// which is exempt from the one-roster-one-batch rule.
func (s *Store) Reissue(ctx context.Context, old string, b issuer.Batch, prefix string, repl issuer.Certificate, seal func(*issuer.Certificate) (issuer.AuditEvent, error), job *issuer.PrintJob) (issuer.Certificate, error) {
	certs := []issuer.Certificate{repl}
	if err := storeutil.CheckRoster(certs); err != nil {
		return issuer.Certificate{}, err
	}
	err := s.write(ctx, "reissue", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET status = 'superseded' WHERE number = ? AND status = 'valid'`, old)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notValid(ctx, tx, old)
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM batches WHERE id = ?)`, b.ID).Scan(&exists); err != nil {
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
		_, err = tx.ExecContext(ctx, `UPDATE certificates SET superseded_by = ? WHERE number = ?`, certs[0].Number, old)
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
	return s.write(ctx, "put pdf", func(tx *sql.Tx) error { return s.putPDF(ctx, tx, number, pdf, sum) })
}

// putPDF records a PDF's hash and, without a PDF directory, its bytes.
func (s *Store) putPDF(ctx context.Context, tx *sql.Tx, number string, pdf []byte, sum [32]byte) error {
	res, err := tx.ExecContext(ctx, `UPDATE certificates SET pdf_sha256 = ? WHERE number = ?`, hex.EncodeToString(sum[:]), number)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return storeutil.NotFound(storeutil.Certificate, number)
	}
	if s.pdfs != nil {
		// The file is the PDF now; an older copy in the database would be
		// a second, stale truth.
		_, err = tx.ExecContext(ctx, `DELETE FROM pdfs WHERE number = ?`, number)
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO pdfs (number, bytes) VALUES (?, ?)
		ON CONFLICT (number) DO UPDATE SET bytes = excluded.bytes`, number, pdf)
	return err
}

// PutPrinted stores a PDF and marks its print item done; see issuer.Store.
// The single writer makes "was this the last pending item" race-free.
func (s *Store) PutPrinted(ctx context.Context, number string, pdf []byte) error {
	if s.pdfs != nil {
		if err := s.pdfs.Put(number, pdf); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(pdf)
	return s.write(ctx, "put printed", func(tx *sql.Tx) error {
		if err := s.putPDF(ctx, tx, number, pdf, sum); err != nil {
			return err
		}
		var batch string
		err := tx.QueryRowContext(ctx, `UPDATE print_items SET done = 1 WHERE number = ? RETURNING batch_id`, number).Scan(&batch)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // not part of a job, or the job is done
		}
		if err != nil {
			return err
		}
		var left bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM print_items WHERE batch_id = ? AND done = 0)`, batch).Scan(&left); err != nil || left {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM print_items WHERE batch_id = ?`, batch); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE print_jobs SET done_at = ? WHERE batch_id = ?`, instant(time.Now()), batch)
		return err
	})
}

const printJobQuery = `SELECT j.batch_id, j.institution_id, j.public_url, j.items, j.created_at, j.done_at,
	(SELECT COUNT(*) FROM print_items i WHERE i.batch_id = j.batch_id AND i.done = 0),
	j.lease_owner, j.lease_until, j.run_started_at, j.run_from, j.failure, j.failed_at
	FROM print_jobs j`

func scanPrintJob(row interface{ Scan(...any) error }) (issuer.PrintJob, error) {
	var j issuer.PrintJob
	var created, done, owner, until, started, failure, failed sql.NullString
	if err := row.Scan(&j.BatchID, &j.InstitutionID, &j.PublicURL, &j.Items, &created, &done, &j.Pending,
		&owner, &until, &started, &j.RunFrom, &failure, &failed); err != nil {
		return j, err
	}
	j.LeaseOwner, j.Failure = owner.String, failure.String
	for _, t := range []struct {
		to   *time.Time
		from sql.NullString
	}{{&j.CreatedAt, created}, {&j.DoneAt, done}, {&j.LeaseUntil, until}, {&j.RunStarted, started}, {&j.FailedAt, failed}} {
		var err error
		if *t.to, err = parseInstant(t.from); err != nil {
			return j, err
		}
	}
	return j, nil
}

// ClaimPrintJob takes or renews the lease of a job; see issuer.Store. The
// one UPDATE runs in a write transaction, which SQLite runs one at a
// time, so of two claimers the second sees the first's lease. Instants
// are stored in one fixed-width UTC layout, so they compare as text.
func (s *Store) ClaimPrintJob(ctx context.Context, batchID, owner string, now, until time.Time) (bool, error) {
	var n int64
	err := s.write(ctx, "claim print job", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE print_jobs SET
			run_started_at = CASE WHEN lease_owner = ?2 AND lease_until >= ?3 THEN run_started_at ELSE ?3 END,
			run_from = CASE WHEN lease_owner = ?2 AND lease_until >= ?3 THEN run_from
				ELSE (SELECT COUNT(*) FROM print_items i WHERE i.batch_id = ?1 AND i.done = 0) END,
			lease_owner = ?2, lease_until = ?4
			WHERE batch_id = ?1 AND done_at IS NULL AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until < ?3)`,
			batchID, owner, instant(now), instant(until))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// ReleasePrintJob ends owner's lease; see issuer.Store.
func (s *Store) ReleasePrintJob(ctx context.Context, batchID, owner string, now time.Time, failure string) error {
	return s.write(ctx, "release print job", func(tx *sql.Tx) error {
		var at any
		if failure != "" {
			at = instant(now)
		}
		_, err := tx.ExecContext(ctx, `UPDATE print_jobs SET lease_owner = NULL, lease_until = NULL, failure = ?, failed_at = ?
			WHERE batch_id = ? AND lease_owner = ?`, nullString(failure), at, batchID, owner)
		return err
	})
}

// PrintJob returns a batch's print job.
func (s *Store) PrintJob(ctx context.Context, batchID string) (issuer.PrintJob, error) {
	j, err := scanPrintJob(s.r.QueryRowContext(ctx, printJobQuery+` WHERE j.batch_id = ?`, batchID))
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.PrintJob{}, storeutil.NotFound(storeutil.PrintJobNoun, batchID)
	}
	if err != nil {
		return issuer.PrintJob{}, storeutil.Unavailable("print job", err)
	}
	return j, nil
}

// PendingPrintJobs lists the jobs not yet done, oldest first.
func (s *Store) PendingPrintJobs(ctx context.Context) ([]issuer.PrintJob, error) {
	rows, err := s.r.QueryContext(ctx, printJobQuery+` WHERE j.done_at IS NULL ORDER BY j.created_at, j.batch_id`)
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
	rows, err := s.r.QueryContext(ctx, `SELECT number, batch_id, photo FROM print_items
		WHERE batch_id = ? AND done = 0 AND number > ? ORDER BY number LIMIT ?`, batchID, after, limit)
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
	err := s.r.QueryRowContext(ctx, `SELECT number, batch_id, photo FROM print_items WHERE number = ? AND done = 0`, number).
		Scan(&it.Number, &it.BatchID, &it.Photo)
	if errors.Is(err, sql.ErrNoRows) {
		return it, storeutil.NotFound(storeutil.PrintJobNoun, number)
	}
	if err != nil {
		return it, storeutil.Unavailable("pending print", err)
	}
	return it, nil
}

// SetCredential stores the holder credential of a certificate that has none
// and appends ev; see issuer.Store.
func (s *Store) SetCredential(ctx context.Context, number, cred string, ev issuer.AuditEvent) (string, error) {
	var out string
	err := s.write(ctx, "set credential", func(tx *sql.Tx) error {
		var cur sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT credential FROM certificates WHERE number = ?`, number).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return storeutil.NotFound(storeutil.Certificate, number)
		}
		if err != nil {
			return err
		}
		if cur.String != "" {
			out = cur.String
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certificates SET credential = ? WHERE number = ?`, cred, number); err != nil {
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
		var sha sql.NullString
		err := s.r.QueryRowContext(ctx, `SELECT pdf_sha256 FROM certificates WHERE number = ?`, number).Scan(&sha)
		if errors.Is(err, sql.ErrNoRows) {
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
			if !storeutil.Matches(b, sha.String) {
				return nil, issuer.Errorf(issuer.ErrUnavailable, "pdf_mismatch", "证书 %s 的 PDF 文件与记录的哈希值不符（文件被改动或损坏）", "the PDF file of certificate %s does not match its recorded hash (altered or damaged)", number)
			}
			return b, nil
		}
	}
	var pdf []byte
	err := s.r.QueryRowContext(ctx, `SELECT bytes FROM pdfs WHERE number = ?`, number).Scan(&pdf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, storeutil.NotFound(storeutil.PDF, number)
	}
	if err != nil {
		return nil, storeutil.Unavailable("pdf", err)
	}
	return pdf, nil
}
