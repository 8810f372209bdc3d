package issuer

import (
	"context"
	"time"

	"certd/issuer/ident"
	"certd/issuer/occupation"
)

// Store is the persistence the issuing side needs. It has two native
// implementations, store/sqlite (the embedded default) and store/postgres
// (for scale-out), held to one conformance suite in store/storetest.
//
// Every method that changes data also appends the audit events it is given,
// in the same transaction: a change without its audit line cannot exist.
// Errors are classified with the Kind sentinels: ErrNotFound for a missing
// record, ErrConflict for a uniqueness or state clash, ErrUnavailable when
// the database itself failed.
type Store interface {
	// Authority returns the deployment's authority, ErrNotFound before init.
	Authority(ctx context.Context) (Authority, error)
	// CreateAuthority stores the authority; ErrConflict if one exists.
	CreateAuthority(ctx context.Context, a Authority, ev AuditEvent) error

	// PutInstitution stores a new version of an institution together with
	// any new signing keys. in.Version must be exactly one more than the
	// latest stored version (1 for a new institution), otherwise
	// ErrConflict: two concurrent edits cannot both win. The certificate
	// prefix must not belong to another institution (ErrConflict).
	PutInstitution(ctx context.Context, in Institution, newKeys []SigningKey, ev AuditEvent) error
	// Institution returns the latest version.
	Institution(ctx context.Context, id string) (Institution, error)
	// InstitutionAt returns the version in force at t: the one with the
	// latest EffectiveAt not after t. ErrNotFound if none was.
	InstitutionAt(ctx context.Context, id string, t time.Time) (Institution, error)
	// InstitutionVersions returns every version, oldest first.
	InstitutionVersions(ctx context.Context, id string) ([]Institution, error)
	// Institutions returns the latest version of every institution, by ID.
	Institutions(ctx context.Context) ([]Institution, error)
	// SigningKeys returns an institution's keys, current and retired,
	// oldest first.
	SigningKeys(ctx context.Context, institutionID string) ([]SigningKey, error)

	// PutOccupations inserts or replaces catalogue entries by code.
	PutOccupations(ctx context.Context, occ []occupation.Occupation, ev AuditEvent) error
	// Occupations returns the whole catalogue ordered by code.
	Occupations(ctx context.Context) ([]occupation.Occupation, error)

	// IssueBatch issues a roster all or nothing. In one transaction it
	// records the batch (ErrConflict if the institution already has a batch
	// with the same Fingerprint), gives each certificate the next unused
	// number prefix + YY + level + 6-digit serial (serials counted per
	// prefix, year of IssuedOn and level, never reused), calls seal on it
	// (which signs it and returns its audit event), and inserts it as
	// valid. A person may hold only one valid certificate per occupation,
	// 工种 and level: a clash is ErrConflict. Any error rolls back all.
	//
	// When job is not nil the same transaction records the batch's print
	// job: one pending item per certificate, holding the holder's photo
	// (job.Photo, read after numbering; nil or an empty answer means none)
	// until every PDF of the batch exists. A batch is never committed
	// without the job that will print it, so an interruption after the
	// commit leaves work to resume, not certificates without PDFs.
	IssueBatch(ctx context.Context, b Batch, prefix string, certs []Certificate, seal func(*Certificate) (AuditEvent, error), job *PrintJob) error
	// BatchByFingerprint finds an institution's batch by roster fingerprint.
	BatchByFingerprint(ctx context.Context, institutionID, fingerprint string) (Batch, error)
	// Batch returns one batch.
	Batch(ctx context.Context, id string) (Batch, error)

	// Certificate returns one certificate by number.
	Certificate(ctx context.Context, number string) (Certificate, error)
	// Certificates lists certificates matching f, ordered by number.
	Certificates(ctx context.Context, f CertificateFilter) ([]Certificate, error)
	// ValidHoldings returns, for each key that a valid certificate already
	// holds, that certificate's number.
	ValidHoldings(ctx context.Context, keys []HoldingKey) (map[HoldingKey]string, error)

	// Revoke marks a valid certificate revoked. ErrNotFound if unknown,
	// ErrConflict if it is not valid any more (already revoked or
	// superseded): of two concurrent revocations exactly one succeeds.
	Revoke(ctx context.Context, number string, r Revocation, ev AuditEvent) error
	// Reissue replaces the valid certificate old with a corrected one, in
	// one transaction: old becomes superseded (SupersededBy = new number),
	// repl is numbered and sealed like IssueBatch does and stored with
	// Supersedes = old, with its print job when job is not nil (as
	// IssueBatch records a batch's), so that its PDF is made and finished
	// like any batch's. ErrConflict if old is not valid. A correction filed
	// under an existing batch comes without a job (ErrInvalid otherwise).
	Reissue(ctx context.Context, old string, b Batch, prefix string, repl Certificate, seal func(*Certificate) (AuditEvent, error), job *PrintJob) (Certificate, error)

	// PutPDF stores the rendered PDF of a certificate and its SHA-256.
	PutPDF(ctx context.Context, number string, pdf []byte) error
	// PDF returns the stored PDF, ErrNotFound if none was rendered.
	PDF(ctx context.Context, number string) ([]byte, error)

	// Status lists. IssueBatch and Reissue give every new certificate a
	// status index drawn at random among the free ones of its
	// institution's list (unique per institution). FillStatusIndexes does
	// the same for the institution's certificates that have none (issued
	// before lists existed) and returns how many it filled. StatusBits
	// reads what the list is made of: the indexes of every certificate
	// that is not valid. PutStatusList stores a signed version, whose
	// Version must be exactly one more than the latest (ErrConflict
	// otherwise, so two publishers cannot both win); StatusList reads a
	// version, the latest for 0 (ErrNotFound before the first). Publishing
	// a list writes no audit line: the list is derived from changes that
	// were audited, and is itself signed and kept.
	FillStatusIndexes(ctx context.Context, institutionID string) (int, error)
	StatusBits(ctx context.Context, institutionID string) (StatusBits, error)
	PutStatusList(ctx context.Context, l StatusList) error
	StatusList(ctx context.Context, institutionID string, version int) (StatusList, error)
	// PutPrinted stores a certificate's PDF as PutPDF does and, in the
	// same transaction, marks its print item done; the item that completes
	// its job marks the job done and drops the job's items and photos.
	PutPrinted(ctx context.Context, number string, pdf []byte) error
	// PrintJob returns a batch's print job with its counts, ErrNotFound if
	// the batch has none.
	PrintJob(ctx context.Context, batchID string) (PrintJob, error)
	// PendingPrintJobs lists the jobs not yet done, oldest first.
	PendingPrintJobs(ctx context.Context) ([]PrintJob, error)
	// PendingPrints returns up to limit items of a job not yet printed,
	// with their photos, ordered by number, after the number after.
	PendingPrints(ctx context.Context, batchID, after string, limit int) ([]PrintItem, error)
	// PendingPrint returns the pending print item of one certificate,
	// ErrNotFound when there is none (printed, or never part of a job).
	PendingPrint(ctx context.Context, number string) (PrintItem, error)
	// ClaimPrintJob gives owner the lease of a batch's unfinished print
	// job until until, and reports whether owner holds it: it does when
	// the job had no lease, when the lease was owner's own (a renewal), or
	// when it had run out before now (its holder crashed). Of any number
	// of concurrent claimers at most one holds a job at a time. Taking a
	// job (not renewing it) starts a run: RunStarted is now and RunFrom
	// the items then pending.
	ClaimPrintJob(ctx context.Context, batchID, owner string, now, until time.Time) (bool, error)
	// ReleasePrintJob ends owner's lease of a job (nothing when another
	// holds it) and records why the run stopped: failure is the reason's
	// JSON (PrintFailure), "" when it did not fail.
	ReleasePrintJob(ctx context.Context, batchID, owner string, now time.Time, failure string) error

	// HolderCodes returns the holder-code rows of the numbers that have one
	// (a reset code or a claim); numbers without a row are absent.
	HolderCodes(ctx context.Context, numbers []string) (map[string]HolderCode, error)
	// SetHolderCode stores a reset holder code (generation and hash),
	// keeping the claim, with its audit event.
	SetHolderCode(ctx context.Context, hc HolderCode, ev AuditEvent) error
	// ClaimCertificate records a holder's sign-in: the first sets the
	// claim time, later ones keep it. The event is appended either way.
	ClaimCertificate(ctx context.Context, number string, at time.Time, ev AuditEvent) error
	// HolderFailures and AddHolderFailure count failed holder sign-ins per
	// key (a certificate or a client) per day (days since 1970-01-01 UTC);
	// Add returns the day's total and drops earlier days' rows.
	HolderFailures(ctx context.Context, key string, day int64) (int, error)
	AddHolderFailure(ctx context.Context, key string, day int64) (int, error)
	// PutShareLink stores a new share link with its audit event.
	PutShareLink(ctx context.Context, l ShareLink, ev AuditEvent) error
	// ShareLink returns a link by token hash, ErrNotFound if unknown.
	ShareLink(ctx context.Context, tokenHash string) (ShareLink, error)
	// ShareLinks returns a certificate's links, newest first.
	ShareLinks(ctx context.Context, number string) ([]ShareLink, error)
	// UpdateShareLink stores a link's new expiry and end, with its audit
	// event; ErrNotFound if unknown.
	UpdateShareLink(ctx context.Context, l ShareLink, ev AuditEvent) error
	// EndShareLinks ends every live link of a certificate at at and
	// returns how many it ended; the event is appended either way.
	EndShareLinks(ctx context.Context, number string, at time.Time, ev AuditEvent) (int, error)
	// AddShareViews adds counted views to links (no audit: views are
	// counted, never attributed). Unknown links are skipped.
	AddShareViews(ctx context.Context, views []ShareView) error

	// SetCredential stores cred as the holder credential (SD-JWT VC) of a
	// certificate that has none yet, with ev in the same transaction, and
	// returns it. A certificate that already has one keeps it: that one is
	// returned and nothing is written (of two concurrent first requests,
	// exactly one stores). ErrNotFound for an unknown number.
	SetCredential(ctx context.Context, number, cred string, ev AuditEvent) (string, error)

	// AppendAudit appends an event that is not part of another change.
	AppendAudit(ctx context.Context, ev AuditEvent) error
	// Audit lists events matching f, in sequence order.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// HoldingKey identifies what a person may hold only once while valid.
type HoldingKey struct {
	DocType    ident.DocType
	DocNumber  string
	Occupation string
	Specialty  string
	Level      occupation.Level
}

// Key returns the holding key of a certificate.
func (c Certificate) Key() HoldingKey {
	return HoldingKey{c.Holder.DocType, c.Holder.DocNumber, c.Occupation, c.Specialty, c.Level}
}

// CertificateFilter selects certificates for the ledger (台账). Zero fields
// do not filter.
type CertificateFilter struct {
	InstitutionID string
	BatchID       string
	Status        Status
	Occupation    string
	Level         occupation.Level
	// Name finds holders whose name contains it, ignoring spaces, case
	// and full-width forms (see ident.NormalizeName): "李 四", "李四" and
	// "四" all find 李四. Callers bound the answer with Limit.
	Name      string
	DocNumber string // exact document number
	// Numbers, when not empty, keeps only these certificate numbers: the
	// public lookup reads a batch of cache misses in one query.
	Numbers    []string
	IssuedFrom time.Time
	IssuedTo   time.Time // inclusive
	After      string    // number to continue after (keyset paging)
	Limit      int       // 0 means no limit
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	InstitutionID string
	Subject       string
	Action        string
	// Actor selects the events of one account (exact login name, or the
	// name an API token acted under, which starts with it).
	Actor    string
	AfterSeq int64
	// BeforeSeq, when not zero, keeps events with a smaller Seq: the next
	// page of a newest-first listing.
	BeforeSeq int64
	// From and Until bound At: From <= At < Until; zero leaves the side
	// open.
	From, Until time.Time
	// Newest lists the latest events first (Seq descending).
	Newest bool
	Limit  int
}

// PrintJob is the durable job that makes the PDFs of one batch: recorded
// with the batch, it holds what printing needs beyond the records (the
// photos, the public address of the QR codes) until every PDF exists.
type PrintJob struct {
	BatchID       string    `json:"batch"`
	InstitutionID string    `json:"institution"`
	PublicURL     string    `json:"public_url"`
	CreatedAt     time.Time `json:"created_at"`
	DoneAt        time.Time `json:"done_at,omitzero"`
	Items         int       `json:"items"`   // certificates of the job
	Pending       int       `json:"pending"` // of which without their PDF
	// LeaseOwner is the process printing the job until LeaseUntil (see
	// ClaimPrintJob); empty when none is.
	LeaseOwner string    `json:"lease_owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	// RunStarted is when the lease's holder took the job, with RunFrom
	// certificates then pending: the rate of the run in progress.
	RunStarted time.Time `json:"run_started,omitzero"`
	RunFrom    int       `json:"run_from,omitempty"`
	// Failure is why the last run stopped (JSON of a PrintFailure), at
	// FailedAt; empty when it did not fail.
	Failure  string    `json:"failure,omitempty"`
	FailedAt time.Time `json:"failed_at,omitzero"`
	// Photo gives IssueBatch each holder's photo; it is not stored.
	Photo func(Certificate) []byte `json:"-"`
}

// PrintItem is one certificate still to print, with the photo it was
// issued with (nil when none).
type PrintItem struct {
	Number  string
	BatchID string
	Photo   []byte
}

// LastAuditSeq finds the newest audit seq of src with O(log n) one-row
// reads, as the stores offer no "latest" query and the log can be long.
// Whatever tails the audit log (the public cache, the status-list
// publisher) starts from it.
func LastAuditSeq(ctx context.Context, src interface {
	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}) (int64, error) {
	after := func(x int64) (int64, error) {
		evs, err := src.Audit(ctx, AuditFilter{AfterSeq: x, Limit: 1})
		if err != nil || len(evs) == 0 {
			return 0, err
		}
		return evs[0].Seq, nil
	}
	lo, err := after(0)
	if err != nil || lo == 0 {
		return 0, err
	}
	step := int64(1)
	for {
		n, err := after(lo + step)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		lo, step = n, step*2
	}
	hi := lo + step
	for lo < hi {
		mid := lo + (hi-lo)/2
		n, err := after(mid)
		if err != nil {
			return 0, err
		}
		if n != 0 {
			lo = n
		} else {
			hi = mid
		}
	}
	return lo, nil
}
