package issuer

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"certd/issuer/credential"
	"certd/issuer/occupation"
	"certd/issuer/render"
	"certd/issuer/roster"
	"certd/issuer/statuslist"
	"certd/issuer/tlog"
)

// IssueRequest is one roster to issue.
type IssueRequest struct {
	InstitutionID string
	Roster        []byte
	Filename      string
	DryRun        bool
	// Photos are the holders' photos, found by document number or 学号;
	// a holder without one gets an empty frame on the certificate.
	Photos *Photos
	// Progress, when set, is told how the printing of the batch goes.
	Progress PrintProgress
}

// IssueReport says what happened to a roster. When Problems is not empty
// nothing was issued.
type IssueReport struct {
	InstitutionID string           `json:"institution"`
	Source        string           `json:"source"`
	Format        string           `json:"format,omitempty"`
	Rows          int              `json:"rows"`
	Problems      []roster.Problem `json:"problems"`
	DryRun        bool             `json:"dry_run,omitempty"`
	AlreadyIssued bool             `json:"already_issued,omitempty"`
	Batch         *Batch           `json:"batch,omitempty"`
	Issued        []Certificate    `json:"-"`
	Numbers       []string         `json:"numbers,omitempty"`
	// Printing is what became of the batch's PDFs, when the batch has a
	// print job: made now, or still pending (PrintError says why). A
	// roster issued again resumes the printing it left unfinished.
	Printing   *PrintOutcome `json:"printing,omitempty"`
	PrintError *PrintFailure `json:"print_error,omitempty"`
}

// ruleProblem reports a rule broken by a row, pointing at the cell the
// roster read the field from (roster.Column names the header even when the
// file lacked the column).
func ruleProblem(r *roster.Roster, e roster.Entry, field, value, code, zh, en string) roster.Problem {
	col, header := r.Column(field)
	return roster.Problem{Row: e.Row, Col: col, Column: header, Field: field, Value: value, Code: code, Zh: zh, En: en}
}

// Issue parses a roster, checks every row against the rules, and issues the
// whole roster or nothing. The error is nil when the report carries row
// problems (the caller shows them); it is an *Error for whole-roster
// failures such as a suspended institution or an unreadable file.
func (s *Service) Issue(ctx context.Context, actor Actor, req IssueRequest) (*IssueReport, error) {
	if err := actor.MayActFor(req.InstitutionID); err != nil {
		return nil, err
	}
	rep := &IssueReport{InstitutionID: req.InstitutionID, Source: req.Filename, DryRun: req.DryRun}
	in, err := s.store.Institution(ctx, req.InstitutionID)
	if err != nil {
		return nil, notFoundInstitution(err, req.InstitutionID)
	}
	today := Day(s.now())
	if err := issuable(in, today); err != nil {
		return nil, err
	}
	r, err := roster.Parse(req.Roster, req.Filename, today)
	if err != nil {
		return nil, err
	}
	rep.Format, rep.Rows = r.Format, len(r.Entries)+countRows(r.Problems)
	rep.Problems = append(rep.Problems, r.Problems...)
	// The same roster again: say so before its rows are reported as
	// duplicates of themselves.
	if r.Fingerprint != "" {
		if b, err := s.store.BatchByFingerprint(ctx, in.ID, r.Fingerprint); err == nil {
			rep.AlreadyIssued, rep.Batch = true, &b
			if !req.DryRun {
				// The same roster again finishes what its first import
				// left unprinted, with the inputs recorded then.
				s.resumeInto(ctx, rep, b.ID, req.Progress)
			}
			return rep, nil
		} else if !Is(err, ErrNotFound) {
			return nil, err
		}
	}
	cat, err := s.catalogue(ctx)
	if err != nil {
		return nil, err
	}
	certs := make([]Certificate, 0, len(r.Entries))
	entryOf := map[HoldingKey]roster.Entry{}
	if err := s.namePrintable(in); err != nil {
		return nil, err
	}
	for _, e := range r.Entries {
		c, probs := s.checkRow(r, e, in, cat, today, req.Photos)
		rep.Problems = append(rep.Problems, probs...)
		if len(probs) == 0 {
			certs = append(certs, c)
			entryOf[c.Key()] = e
		}
	}
	for _, e := range r.Incomplete {
		_, probs := s.checkRow(r, e, in, cat, today, req.Photos)
		rep.Problems = append(rep.Problems, probs...)
	}
	// Duplicates against what is already issued, in one query.
	keys := make([]HoldingKey, len(certs))
	for i, c := range certs {
		keys[i] = c.Key()
	}
	held, err := s.store.ValidHoldings(ctx, keys)
	if err != nil {
		return nil, err
	}
	for k, number := range held {
		e := entryOf[k]
		zh, en := heldElsewhere(in, number)
		rep.Problems = append(rep.Problems, ruleProblem(r, e, "doc_number", e.DocNumber, "duplicate_holding", zh, en))
	}
	if len(rep.Problems) > 0 {
		sortProblems(rep.Problems)
		return rep, nil
	}
	if len(certs) == 0 {
		return nil, Errorf(ErrInvalid, "roster_empty", "名单中没有任何考生", "the roster has no candidates")
	}
	if req.DryRun {
		return rep, nil
	}
	issued, batch, err := s.issue(ctx, actor, in, certs, r.Fingerprint, req.Filename, req.Photos, rep, req.Progress)
	if err != nil {
		if Is(err, ErrConflict) {
			// Lost a race with a concurrent import of the same roster or
			// the same person: nothing was issued; say which.
			if b, e2 := s.store.BatchByFingerprint(ctx, in.ID, r.Fingerprint); e2 == nil {
				rep.AlreadyIssued, rep.Batch = true, &b
				return rep, nil
			}
		}
		return nil, err
	}
	rep.Batch, rep.Issued = &batch, issued
	for _, c := range issued {
		rep.Numbers = append(rep.Numbers, c.Number)
	}
	return rep, nil
}

// heldElsewhere explains a duplicate holding. The number is named only when
// the certificate is the institution's own: a college must not learn which
// certificates other colleges issued by probing ID numbers with dry runs.
func heldElsewhere(in Institution, number string) (string, string) {
	if strings.HasPrefix(number, in.Prefix) {
		return fmt.Sprintf("此人已持有本机构颁发的同一职业、工种和等级的有效证书%s（更正请使用补发）", number),
			fmt.Sprintf("this person already holds valid certificate %s of this institution for the same occupation, 工种 and level (use reissue to correct it)", number)
	}
	return "此人已持有其他认定机构颁发的同一职业、工种和等级的有效证书",
		"this person already holds a valid certificate from another institution for the same occupation, 工种 and level"
}

func sortProblems(ps []roster.Problem) {
	slices.SortStableFunc(ps, func(a, b roster.Problem) int {
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return a.Col - b.Col
	})
}

func countRows(ps []roster.Problem) int {
	seen := map[int]bool{}
	for _, p := range ps {
		if p.Row > 0 {
			seen[p.Row] = true
		}
	}
	return len(seen)
}

// issuable checks the institution may issue on day.
func issuable(in Institution, day time.Time) error {
	switch in.Status {
	case Suspended:
		return Errorf(ErrInvalid, "institution_suspended", "认定机构“%s”已被暂停，不能发证", "institution %s is suspended and cannot issue certificates", in.Name)
	case Withdrawn:
		return Errorf(ErrInvalid, "institution_withdrawn", "认定机构“%s”已撤销备案，不能发证", "institution %s has been withdrawn and cannot issue certificates", in.Name)
	}
	if !in.RegisteredOn(day) {
		return Errorf(ErrInvalid, "registration_expired", "认定机构备案有效期为%s至%s，发证日期%s不在有效期内", "the registration is valid %s to %s; issue date %s is outside it",
			in.ValidFrom.Format(DateLayout), in.ValidUntil.Format(DateLayout), day.Format(DateLayout))
	}
	return nil
}

// checkRow applies to one row that passed the roster's own checks every
// rule of the issuing side: catalogue, scope and level (checkEntry), font
// and photo (checkPrintable). An import and a correction both go through
// it.
func (s *Service) checkRow(r *roster.Roster, e roster.Entry, in Institution, cat occupation.Catalogue, today time.Time, photos *Photos) (Certificate, []roster.Problem) {
	c, probs := s.checkEntry(r, e, in, cat, today)
	return c, append(probs, s.checkPrintable(r, e, c, photos)...)
}

// checkEntry applies the catalogue, scope and level rules to one row.
func (s *Service) checkEntry(r *roster.Roster, e roster.Entry, in Institution, cat occupation.Catalogue, today time.Time) (Certificate, []roster.Problem) {
	var probs []roster.Problem
	add := func(field, value, code, zh, en string) {
		probs = append(probs, ruleProblem(r, e, field, value, code, zh, en))
	}
	// A row with problems of its own (e.Bad) is checked here too, on the
	// fields that could be read, so an upload reports every problem of a row
	// at once; such a row is never issued.
	if e.Unread("occupation_code") {
		return Certificate{}, probs
	}
	occ, ok := cat[e.Occupation]
	if !ok {
		add("occupation_code", e.Occupation, "occupation_unknown", "职业编码"+e.Occupation+"不在职业目录中", "occupation code "+e.Occupation+" is not in the catalogue")
		return Certificate{}, probs
	}
	if e.OccupationName != "" && !e.Unread("occupation_name") && e.OccupationName != occ.Name {
		add("occupation_name", e.OccupationName, "occupation_name_mismatch", "职业名称与职业编码不符（"+e.Occupation+"应为“"+occ.Name+"”），请核对编码和名称哪一个有误", "occupation name does not match code "+e.Occupation+" ("+occ.Name+"); check which of the two is wrong")
	}
	specOK, levelOK := !e.Unread("specialty"), !e.Unread("level")
	if specOK {
		if _, ok := occ.LevelsFor(e.Specialty); !ok {
			add("specialty", e.Specialty, "specialty_unknown", occ.Name+"没有工种“"+e.Specialty+"”", occ.Name+" has no 工种 "+e.Specialty)
			specOK = false
		} else if levelOK && !occ.HasLevel(e.Specialty, e.Level) {
			add("level", e.Level.Chinese(), "level_undefined", occ.Name+"未设"+e.Level.Chinese(), e.Level.English()+" is not defined for "+occ.Name)
			levelOK = false
		}
	}
	if levelOK && !e.Unread("candidate_type") && CandidateType(e.CandidateType).Student() && !e.Level.AtMost(occupation.StudentMax) {
		add("level", e.Level.Chinese(), "student_level_cap", "在校学生只能认定三级/高级工及以下等级", "students may be certified at level 3 (senior worker) or below only")
	}
	if specOK && levelOK && !in.Allows(e.Occupation, e.Specialty, e.Level) {
		what, whatEn := occ.Name, occ.Name
		if e.Specialty != "" {
			what, whatEn = occ.Name+"（工种："+e.Specialty+"）", occ.Name+" (工种 "+e.Specialty+")"
		}
		add("level", e.Level.Chinese(), "out_of_scope", fmt.Sprintf("本机构备案的认定范围不包括%s %s", what, e.Level.Chinese()),
			fmt.Sprintf("%s at %s is outside the institution's registered scope", whatEn, e.Level.English()))
	}
	if len(e.Bad) > 0 {
		return Certificate{}, probs
	}
	if len(probs) > 0 {
		return Certificate{}, probs
	}
	return Certificate{
		InstitutionID: in.ID, InstitutionVer: in.Version,
		Holder:     Holder{Name: e.Name, DocType: e.DocType, DocNumber: e.DocNumber, StudentNo: e.StudentNo, Major: e.Major, CandidateType: CandidateType(e.CandidateType)},
		Occupation: occ.Code, OccupationName: occ.Name, Specialty: e.Specialty, Level: e.Level,
		AssessedOn: e.AssessedOn, IssuedOn: today,
	}, nil
}

// namePrintable checks the font has every character of the institution's
// registered name, which every certificate prints.
func (s *Service) namePrintable(in Institution) error {
	if s.Printer == nil {
		return nil
	}
	if err := s.Printer.Check(in.Name); err != nil {
		zh, en := halves(err)
		return &Error{Kind: ErrInvalid, Code: "glyph_missing", Zh: "机构名称无法打印：" + zh, En: "the institution name cannot be printed: " + en}
	}
	return nil
}

// checkPrintable checks a row can be printed: every character of every
// printed field is in the font, and the holder's photo, if given, is a
// usable image.
func (s *Service) checkPrintable(r *roster.Roster, e roster.Entry, c Certificate, photos *Photos) []roster.Problem {
	if s.Printer == nil {
		return nil
	}
	var probs []roster.Problem
	for _, f := range []struct{ field, value string }{{"name", e.Name}, {"specialty", e.Specialty}, {"occupation_code", c.OccupationName}} {
		if f.value == "" {
			continue
		}
		if err := s.Printer.Check(f.value); err != nil {
			zh, en := halves(err)
			probs = append(probs, ruleProblem(r, e, f.field, f.value, "glyph_missing",
				zh+"（请联系管理员更换或补充字体）", en+" (ask the administrator for a font that has it)"))
		}
	}
	if name, b := photoKey(e.DocNumber, e.StudentNo, photos); b != nil {
		if err := render.CheckImage(b, "photo"); err != nil {
			zh, en := halves(err)
			p := ruleProblem(r, e, "photo", name, "photo_invalid", "照片无效："+zh, "the photo is not usable: "+en)
			p.Col, p.Column = -1, "照片"
			probs = append(probs, p)
		}
	}
	return probs
}

// resumeInto finishes a batch's print job, if it has one left unfinished,
// and says so in rep.
func (s *Service) resumeInto(ctx context.Context, rep *IssueReport, batchID string, progress PrintProgress) {
	j, err := s.store.PrintJob(ctx, batchID)
	if err != nil {
		if !Is(err, ErrNotFound) {
			rep.Printing = &PrintOutcome{BatchID: batchID, Err: err}
			rep.PrintError = failureOf(err)
		}
		return
	}
	o := PrintOutcome{BatchID: batchID, Total: j.Items, Printed: j.Items - j.Pending, Pending: j.Pending}
	if j.Pending > 0 && s.Printer != nil {
		o = s.printJob(ctx, batchID, progress, nil)
	}
	rep.Printing = &o
	rep.PrintError = failureOf(o.Err)
}

// issue signs and stores certs as one batch, with its print job, then
// prints it (when a printer is configured). A printing failure leaves the
// records issued and the job pending; rep says so.
func (s *Service) issue(ctx context.Context, actor Actor, in Institution, certs []Certificate, fingerprint, source string, photos *Photos, rep *IssueReport, progress PrintProgress) ([]Certificate, Batch, error) {
	key, priv, err := s.signingKey(ctx, in)
	if err != nil {
		return nil, Batch{}, err
	}
	hashes := hashDocs(certs, photos)
	now := s.now()
	b := Batch{ID: newID("B"), InstitutionID: in.ID, Fingerprint: fingerprint, Source: source, Count: len(certs), CreatedAt: now, CreatedBy: actor.Name}
	_, logged := s.logStore()
	seal := func(c *Certificate) (AuditEvent, error) {
		c.BatchID, c.IssuedAt, c.KID, c.VerifyCode, c.Status = b.ID, now, key.KID, newVerifyCode(), Valid
		h := hashes[c.Key()]
		if err := s.sign(in, c, h.doc, h.photo, priv); err != nil {
			return AuditEvent{}, err
		}
		ev := s.event(actor, "certificate.issue", in.ID, c.Number, map[string]any{"batch": b.ID, "occupation": c.Occupation, "level": int(c.Level)})
		if logged {
			salt, err := tlog.NewSalt()
			if err != nil {
				return AuditEvent{}, err
			}
			it, err := certItem(tlog.Issued, c, salt, tlog.Hash{}, now)
			if err != nil {
				return AuditEvent{}, err
			}
			ev.Log = []LogItem{it}
		}
		return ev, nil
	}
	job := &PrintJob{CreatedAt: now, Photo: photos.For}
	if s.Printer != nil {
		job.PublicURL = s.Printer.publicURL
	}
	if err := s.store.IssueBatch(ctx, b, in.Prefix, certs, seal, job); err != nil {
		return nil, Batch{}, err
	}
	s.log().Info("batch issued", "institution", in.ID, "batch", b.ID, "count", len(certs))
	o := PrintOutcome{BatchID: b.ID, Total: len(certs), Pending: len(certs)}
	if s.Printer != nil {
		at := make(map[string]int, len(certs))
		for i, c := range certs {
			at[c.Number] = i
		}
		o = s.printJob(ctx, b.ID, progress, func(number string, pdf []byte) {
			sum := sha256.Sum256(pdf)
			certs[at[number]].PDFSHA256 = hex.EncodeToString(sum[:])
		})
		if o.Err != nil {
			s.log().Error("printing after issue did not finish; the print job stays pending", "batch", b.ID,
				"printed", o.Printed, "pending", o.Pending, "error", o.Err)
		}
	}
	rep.Printing, rep.PrintError = &o, failureOf(o.Err)
	return certs, b, nil
}

// hashes are what is computed of a holder before signing: the document
// hash and the photo digest.
type hashes struct {
	doc   credential.DocHash
	photo string
}

// hashDocs computes the slow document hashes (and the photo digests) on
// every core before the database transaction starts, so the transaction
// stays short.
func hashDocs(certs []Certificate, photos *Photos) map[HoldingKey]hashes {
	out := make(map[HoldingKey]hashes, len(certs))
	var mu sync.Mutex
	work := make(chan Certificate)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for c := range work {
				h := hashes{doc: credential.HashDoc(string(c.Holder.DocType), c.Holder.DocNumber), photo: PhotoDigest(photos.For(c))}
				mu.Lock()
				out[c.Key()] = h
				mu.Unlock()
			}
		})
	}
	for _, c := range certs {
		work <- c
	}
	close(work)
	wg.Wait()
	return out
}

// sign makes the certificate's signed record (Token) and, from the same
// claims with the same key, its holder credential (Credential).
func (s *Service) sign(in Institution, c *Certificate, h credential.DocHash, photoDigest string, priv ed25519.PrivateKey) error {
	spec := c.Specialty
	if spec == "" {
		spec = "--"
	}
	sub := credential.CredentialSubject{
		Name: c.Holder.Name, DocType: string(c.Holder.DocType), DocHash: h,
		Achievement: credential.Achievement{
			Number: c.Number, OccupationCode: c.Occupation, OccupationName: c.OccupationName, Specialty: spec,
			Level: int(c.Level), LevelName: c.Level.Chinese(), IssuedOn: c.IssuedOn.Format(DateLayout),
		},
	}
	iss := credential.Issuer{ID: credential.InstitutionURN(in.ID), Name: in.Name, USCC: in.USCC}
	rc := credential.NewCertificateClaims(iss, sub, c.IssuedAt)
	if s.StatusBase != "" && c.StatusIndex >= 0 {
		e := credential.StatusEntry(statuslist.NewEntry(s.StatusListURL(in.ID), c.StatusIndex))
		rc.CredentialStatus = &e
	}
	tok, err := credential.Sign(rc, credential.TypeCertificate, priv)
	if err != nil {
		return err
	}
	cred, err := issueHolderCredential(rc, c.Holder, photoDigest, priv)
	if err != nil {
		return err
	}
	c.Token, c.Credential = tok, cred
	return nil
}

// Certificate returns one certificate, if the actor may read it.
func (s *Service) Certificate(ctx context.Context, actor Actor, number string) (Certificate, error) {
	c, err := s.store.Certificate(ctx, number)
	if err != nil {
		if Is(err, ErrNotFound) {
			return c, Errorf(ErrNotFound, "certificate_unknown", "证书%s不存在", "no certificate %s", number)
		}
		return c, err
	}
	if err := actor.MayRead(c.InstitutionID); err != nil {
		// Same answer as for a number that does not exist: a college must
		// not learn which numbers another college has issued.
		return Certificate{}, Errorf(ErrNotFound, "certificate_unknown", "证书%s不存在", "no certificate %s", number)
	}
	return c, nil
}

// Batch returns one batch (one issued roster), if the actor may read its
// institution's records; another college's batch is "not found".
func (s *Service) Batch(ctx context.Context, actor Actor, id string) (Batch, error) {
	b, err := s.store.Batch(ctx, id)
	if err == nil && actor.MayRead(b.InstitutionID) != nil {
		err = ErrNotFound
	}
	if Is(err, ErrNotFound) {
		return Batch{}, Errorf(ErrNotFound, "batch_unknown", "批次%s不存在", "no batch %s", id)
	}
	return b, err
}

// batchCertificates returns a batch the actor may read and its
// certificates, in number order.
func (s *Service) batchCertificates(ctx context.Context, actor Actor, id string) (Batch, []Certificate, error) {
	b, err := s.Batch(ctx, actor, id)
	if err != nil {
		return b, nil, err
	}
	certs, err := s.Certificates(ctx, actor, CertificateFilter{InstitutionID: b.InstitutionID, BatchID: b.ID})
	return b, certs, err
}

// Certificates lists the ledger; a college actor sees only its own.
func (s *Service) Certificates(ctx context.Context, actor Actor, f CertificateFilter) ([]Certificate, error) {
	if !actor.Authority {
		f.InstitutionID = actor.InstitutionID
	}
	return s.store.Certificates(ctx, f)
}

// Revoke revokes a valid certificate. The reason is required.
func (s *Service) Revoke(ctx context.Context, actor Actor, number string, reason RevocationReason, note string) (Certificate, error) {
	if !reason.Valid() {
		return Certificate{}, Errorf(ErrInvalid, "reason_unknown", "撤销原因“%s”无效，可选：error、misconduct、request、other", "revocation reason %q is not one of error, misconduct, request, other", reason)
	}
	if utf8.RuneCountInString(note) > maxNoteRunes {
		return Certificate{}, Errorf(ErrInvalid, "note_length", "说明不能超过%d字", "the note must be at most %d characters", maxNoteRunes)
	}
	c, err := s.Certificate(ctx, actor, number)
	if err != nil {
		return c, err
	}
	if err := actor.MayActFor(c.InstitutionID); err != nil {
		return c, err
	}
	rv := Revocation{Reason: reason, Note: note, At: s.now(), By: actor.Name}
	ev := s.event(actor, "certificate.revoke", c.InstitutionID, number, map[string]any{"reason": reason, "note": note})
	if ls, ok := s.logStore(); ok {
		salt, err := saltFor(ctx, ls, number)
		if err != nil {
			return c, err
		}
		it, err := certItem(tlog.Revoked, &c, salt, tlog.Hash{}, rv.At)
		if err != nil {
			return c, err
		}
		ev.Log = []LogItem{it}
	}
	if err := s.store.Revoke(ctx, number, rv, ev); err != nil {
		if Is(err, ErrConflict) {
			cur, _ := s.store.Certificate(ctx, number)
			return cur, &Error{Kind: ErrConflict, Code: "not_valid", Zh: fmt.Sprintf("证书%s当前状态为%s，不能撤销", number, cur.Status.Chinese()), En: fmt.Sprintf("certificate %s is %s and cannot be revoked", number, cur.Status)}
		}
		return c, err
	}
	c.Status, c.Revocation = Revoked, &rv
	return c, nil
}

// maxNoteRunes bounds the free text kept in the audit trail with a
// revocation or a correction.
const maxNoteRunes = 500

// Correction holds the corrected fields of a reissue; empty fields keep the
// old value.
type Correction struct {
	Name       string
	DocType    string
	DocNumber  string
	StudentNo  string
	Major      string
	Occupation string // occupation code; checked against the catalogue and the scope
	Specialty  *string
	Level      string
	AssessedOn string
	Reason     string
}

// FieldChange is one field a correction changes, as the preview shows it.
type FieldChange struct {
	Field    string `json:"field"`
	Zh       string `json:"zh"`
	En       string `json:"en"`
	Old, New string
}

// ReissuePreview is what a reissue would do, for a confirmation step: the
// certificate now, the corrected record (not yet numbered or signed) and
// the fields that differ. Nothing is written to make it.
type ReissuePreview struct {
	Old     Certificate
	New     Certificate
	Changes []FieldChange
}

// PreviewReissue checks a correction exactly as Reissue does (the actor,
// the status, the roster rules, scope, font, duplicates) and says what it
// would change, without changing anything. A correction that changes no
// field is refused: it would only make a second number for the same
// certificate.
func (s *Service) PreviewReissue(ctx context.Context, actor Actor, number string, fix Correction) (ReissuePreview, error) {
	p, _, err := s.prepareReissue(ctx, actor, number, fix)
	return p, err
}

// prepareReissue is every check of a reissue, and its preview.
func (s *Service) prepareReissue(ctx context.Context, actor Actor, number string, fix Correction) (ReissuePreview, Institution, error) {
	old, err := s.Certificate(ctx, actor, number)
	if err != nil {
		return ReissuePreview{}, Institution{}, err
	}
	p := ReissuePreview{Old: old}
	if err := actor.MayActFor(old.InstitutionID); err != nil {
		return p, Institution{}, err
	}
	if old.Status != Valid {
		return p, Institution{}, &Error{Kind: ErrConflict, Code: "not_valid", Zh: fmt.Sprintf("证书%s当前状态为%s，不能补发更正", number, old.Status.Chinese()), En: fmt.Sprintf("certificate %s is %s and cannot be reissued", number, old.Status)}
	}
	if utf8.RuneCountInString(fix.Reason) > maxNoteRunes {
		return p, Institution{}, Errorf(ErrInvalid, "reason_length", "更正原因不能超过%d字", "the reason must be at most %d characters", maxNoteRunes)
	}
	in, err := s.store.Institution(ctx, old.InstitutionID)
	if err != nil {
		return p, in, err
	}
	today := Day(s.now())
	if err := issuable(in, today); err != nil {
		return p, in, err
	}
	if err := s.namePrintable(in); err != nil {
		return p, in, err
	}
	cat, err := s.catalogue(ctx)
	if err != nil {
		return p, in, err
	}
	r := roster.Row(fix.onto(old), today)
	probs := r.Problems
	var repl Certificate
	for _, e := range r.Entries { // one, unless the row has problems
		var pr []roster.Problem
		repl, pr = s.checkRow(r, e, in, cat, today, nil)
		probs = append(probs, pr...)
	}
	if len(probs) > 0 {
		return p, in, correctionError(probs)
	}
	p.New, p.Changes = repl, changes(old, repl)
	if !slices.ContainsFunc(p.Changes, func(c FieldChange) bool { return c.Field != "issued_on" }) {
		return p, in, Errorf(ErrInvalid, "no_change", "更正内容与原证书相同，没有需要更正的项目", "the correction changes nothing on the certificate")
	}
	if repl.Key() != old.Key() {
		held, err := s.store.ValidHoldings(ctx, []HoldingKey{repl.Key()})
		if err != nil {
			return p, in, err
		}
		for _, n := range held {
			zh, en := heldElsewhere(in, n)
			return p, in, &Error{Kind: ErrConflict, Code: "duplicate_holding", Zh: zh, En: en}
		}
	}
	return p, in, nil
}

// changes lists the printed and recorded fields in which repl differs
// from old, in the order of the certificate.
func changes(old, repl Certificate) []FieldChange {
	dash := func(s string) string {
		if s == "" {
			return "--"
		}
		return s
	}
	all := []FieldChange{
		{"name", "姓名", "Name", old.Holder.Name, repl.Holder.Name},
		{"doc_type", "证件类型", "Document type", old.Holder.DocType.Chinese(), repl.Holder.DocType.Chinese()},
		{"doc_number", "证件号码", "Document number", old.Holder.DocNumber, repl.Holder.DocNumber},
		{"student_no", "学号", "Student no.", dash(old.Holder.StudentNo), dash(repl.Holder.StudentNo)},
		{"major", "专业", "Major", dash(old.Holder.Major), dash(repl.Holder.Major)},
		{"occupation", "职业", "Occupation", old.OccupationName + " " + old.Occupation, repl.OccupationName + " " + repl.Occupation},
		{"specialty", "工种", "工种", dash(old.Specialty), dash(repl.Specialty)},
		{"level", "等级", "Level", old.Level.Chinese(), repl.Level.Chinese()},
		{"assessed_on", "考核日期", "Assessed", old.AssessedOn.Format(DateLayout), repl.AssessedOn.Format(DateLayout)},
		{"issued_on", "发证日期", "Issued", old.IssuedOn.Format(DateLayout), repl.IssuedOn.Format(DateLayout)},
	}
	var out []FieldChange
	for _, c := range all {
		if c.Old != c.New {
			out = append(out, c)
		}
	}
	return out
}

// Reissue replaces a valid certificate with a corrected one: a new number
// and signature, the old one marked superseded and linked both ways. The
// corrected record is checked exactly as a row of a roster is (roster.Row,
// then the catalogue, scope, font and photo rules of Issue), so a
// correction can sign nothing an import would refuse: a name the font
// cannot print, a field over its length, an occupation, 工种 or level
// outside the college's registered scope. The new certificate is recorded
// with a print job, as a batch is, and printed through it: an interrupted
// printing is finished like any batch's.
func (s *Service) Reissue(ctx context.Context, actor Actor, number string, fix Correction) (Certificate, error) {
	p, in, err := s.prepareReissue(ctx, actor, number, fix)
	if err != nil {
		return p.Old, err
	}
	old, repl := p.Old, p.New
	key, priv, err := s.signingKey(ctx, in)
	if err != nil {
		return old, err
	}
	h := credential.HashDoc(string(repl.Holder.DocType), repl.Holder.DocNumber)
	now := s.now()
	b := Batch{ID: newID("R"), InstitutionID: in.ID, Fingerprint: "reissue:" + number, Source: "reissue of " + number, Count: 1, CreatedAt: now, CreatedBy: actor.Name}
	ls, logged := s.logStore()
	var replaces tlog.Hash
	if logged {
		oldSalt, err := saltFor(ctx, ls, number)
		if err != nil {
			return old, err
		}
		if replaces, err = tlog.CommitNumber(oldSalt, number); err != nil {
			return old, err
		}
	}
	seal := func(c *Certificate) (AuditEvent, error) {
		c.BatchID, c.IssuedAt, c.KID, c.VerifyCode, c.Status, c.Supersedes = b.ID, now, key.KID, newVerifyCode(), Valid, number
		// The photo is not carried over from the PDF into a reissue, so
		// the reissued credential has no photo digest.
		if err := s.sign(in, c, h, "", priv); err != nil {
			return AuditEvent{}, err
		}
		detail := map[string]any{"supersedes": number, "reason": fix.Reason}
		if len(p.Changes) > 0 {
			ch := make(map[string][2]string, len(p.Changes))
			for _, x := range p.Changes {
				ch[x.Field] = [2]string{x.Old, x.New}
			}
			detail["changes"] = ch
		}
		ev := s.event(actor, "certificate.reissue", in.ID, c.Number, detail)
		if logged {
			salt, err := tlog.NewSalt()
			if err != nil {
				return AuditEvent{}, err
			}
			it, err := certItem(tlog.Reissued, c, salt, replaces, now)
			if err != nil {
				return AuditEvent{}, err
			}
			ev.Log = []LogItem{it}
		}
		return ev, nil
	}
	job := &PrintJob{CreatedAt: now}
	if s.Printer != nil {
		job.PublicURL = s.Printer.publicURL
	}
	out, err := s.store.Reissue(ctx, number, b, in.Prefix, repl, seal, job)
	if err != nil {
		if Is(err, ErrConflict) {
			return old, Errorf(ErrConflict, "not_valid", "证书%s已被撤销或更正", "certificate %s was revoked or reissued meanwhile", number)
		}
		return old, err
	}
	if s.Printer != nil {
		o := s.printJob(ctx, b.ID, nil, func(_ string, pdf []byte) {
			sum := sha256.Sum256(pdf)
			out.PDFSHA256 = hex.EncodeToString(sum[:])
		})
		if o.Err != nil {
			s.log().Error("printing after reissue did not finish; the print job stays pending", "number", out.Number, "batch", b.ID, "error", o.Err)
		}
	}
	return out, nil
}

// onto is the corrected record as the fields of a roster row: the old
// certificate's, with each corrected one in its place.
func (fix Correction) onto(old Certificate) map[string]string {
	f := map[string]string{
		"name": old.Holder.Name, "doc_type": string(old.Holder.DocType), "doc_number": old.Holder.DocNumber,
		"student_no": old.Holder.StudentNo, "major": old.Holder.Major, "candidate_type": string(old.Holder.CandidateType),
		"occupation_code": old.Occupation, "specialty": old.Specialty, "level": old.Level.String(),
		"assessment_date": old.AssessedOn.Format(DateLayout),
	}
	for field, v := range map[string]string{"name": fix.Name, "doc_type": fix.DocType, "doc_number": fix.DocNumber,
		"student_no": fix.StudentNo, "major": fix.Major, "occupation_code": fix.Occupation, "level": fix.Level, "assessment_date": fix.AssessedOn} {
		if v != "" {
			f[field] = v
		}
	}
	if fix.Specialty != nil {
		f["specialty"] = *fix.Specialty
	}
	return f
}

// correctionError is the refusal of a correction: the problems its row
// would have in a roster, each under its field, in one error whose Code is
// the first problem's.
func correctionError(probs []roster.Problem) error {
	zh, en := make([]string, len(probs)), make([]string, len(probs))
	for i, p := range probs {
		zh[i], en[i] = p.Column+"："+p.Zh, p.Field+": "+p.En
	}
	return &Error{Kind: ErrInvalid, Code: probs[0].Code, Zh: "更正内容有误：" + strings.Join(zh, "；"), En: "the correction is invalid: " + strings.Join(en, "; ")}
}

// Record appends to the audit trail an event that is no part of a change
// the service makes: what an edge saw someone do with what they may read
// (download a print file, export the ledger, check a roster) or what it
// refused them (a forged form). The event is filed under institutionID,
// which the actor must be able to read, and names the actor as who.
func (s *Service) Record(ctx context.Context, actor Actor, action, institutionID, subject string, detail map[string]any) error {
	if err := actor.MayRead(institutionID); err != nil {
		return err
	}
	return s.store.AppendAudit(ctx, s.event(actor, action, institutionID, subject, detail))
}

// Audit lists audit events; a college actor sees only its own institution's.
func (s *Service) Audit(ctx context.Context, actor Actor, f AuditFilter) ([]AuditEvent, error) {
	if !actor.Authority {
		f.InstitutionID = actor.InstitutionID
	}
	return s.store.Audit(ctx, f)
}
