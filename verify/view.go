package verify

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"
	"unicode"

	"certd/issuer"
	"certd/issuer/certno"
	"certd/issuer/credential"
	"certd/issuer/ident"
	"certd/issuer/occupation"
)

// Record is the ready verification view of one certificate number: the
// verdict, the checks and everything any viewer may be shown, computed once
// and cached. What one particular viewer sees is cut from it by [Record.For],
// so the cache never depends on who asks.
//
// It holds personal data (the full name, the signed record), so it is only
// ever kept in the in-process cache and the deployment's own Redis; the
// verification code is kept only as a hash.
type Record struct {
	Number string `json:"number"`
	// Seq is the audit sequence up to which the instance that built this
	// record had applied every invalidation before it read the store. An
	// instance that has since applied an invalidation of this number at a
	// later sequence does not trust the record from Redis: it may have been
	// read before that change committed and written to Redis after it.
	Seq     int64   `json:"seq,omitempty"`
	Found   bool    `json:"found"`
	Verdict Verdict `json:"verdict"`
	Checks  []Check `json:"checks"`

	// Facts come from the signed record, and only when its signature
	// verified: nothing in a tampered record may be shown as if it were
	// true.
	Facts *Facts `json:"facts,omitempty"`

	Status       string `json:"status,omitempty"` // valid, revoked, superseded
	RevokedOn    string `json:"revoked_on,omitempty"`
	RevokedAt    int64  `json:"revoked_at,omitempty"`
	ReasonZh     string `json:"reason_zh,omitempty"`
	ReasonEn     string `json:"reason_en,omitempty"`
	SupersededBy string `json:"superseded_by,omitempty"`
	Supersedes   string `json:"supersedes,omitempty"`

	Institution *InstitutionView `json:"institution,omitempty"`

	CodeHash string `json:"code_hash,omitempty"` // hex SHA-256 of the verification code
	Token    string `json:"token,omitempty"`     // the signed record (personal data)
	// CredentialHash names the holder credential ([CredentialHash]); the
	// credential itself is the holder's and never part of a view.
	CredentialHash string `json:"credential_hash,omitempty"`
	// BuiltAt is when the view was read from the register (unix seconds);
	// in an [Record.Unconfirmed] copy, when its status was last known.
	BuiltAt int64 `json:"built_at"`
	// LogPending: the public log could not vouch for the record yet (in
	// the seconds after issuing, before a cosigned checkpoint covers it).
	// Such a view is answered but not cached, so the next lookup checks
	// again.
	LogPending bool `json:"-"`
}

// Facts are the certificate's printed facts as signed.
type Facts struct {
	Name           string             `json:"name"`
	DocType        string             `json:"doc_type"`
	DocMasked      string             `json:"doc_masked"`
	DocHash        credential.DocHash `json:"doc_hash"`
	OccupationCode string             `json:"occupation_code"`
	OccupationName string             `json:"occupation_name"`
	Specialty      string             `json:"specialty"`
	Level          int                `json:"level"`
	LevelZh        string             `json:"level_zh"`
	LevelEn        string             `json:"level_en"`
	IssuedOn       string             `json:"issued_on"`
	IssuerName     string             `json:"issuer_name"`
}

// InstitutionView is the issuing college as the authority registered it:
// the registration in force on the issue date, and the current status.
type InstitutionView struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	FilingNo      string `json:"filing_no"`
	ValidFrom     string `json:"valid_from"`
	ValidUntil    string `json:"valid_until"`
	StatusAtIssue string `json:"status_at_issue"`
	InScope       string `json:"in_scope"` // pass, fail or unknown: the scope check's outcome
	Current       string `json:"current_status"`
}

// hashCode is how a verification code is kept in a Record.
func hashCode(code string) string {
	s := sha256.Sum256([]byte(code))
	return hex.EncodeToString(s[:])
}

// CodeMatches reports whether code is this certificate's verification code.
func (r *Record) CodeMatches(code string) bool {
	if r.CodeHash == "" || code == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hashCode(code)), []byte(r.CodeHash)) == 1
}

// Records verifies stored certificates and builds their views. The status
// comes from the same rows, so one read answers everything. Every record is
// verified again, signature included: that is what catches a record edited
// in the database. The signatures are checked as one batch, at about a
// third of the cost of checking them one by one; if the batch fails, each
// record is checked on its own, so that the one that does not verify fails
// alone and says why, and batchOK is false: a stored record that does not
// verify is worth an alert.
func (v *Verifier) Records(certs []issuer.Certificate) (recs []*Record, batchOK bool) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	recs = make([]*Record, len(certs))
	batched := *v
	batched.batch = credential.NewBatch(len(certs))
	for i := range certs {
		recs[i] = buildRecord(&batched, certs[i], now)
	}
	if batched.batch.Verify() {
		return recs, true
	}
	for i := range certs {
		recs[i] = buildRecord(v, certs[i], now)
	}
	return recs, false
}

// buildRecord verifies a stored certificate with the registry and turns the
// result into a Record.
func buildRecord(v *Verifier, c issuer.Certificate, now time.Time) *Record {
	rec := &Record{Number: c.Number, Found: true, BuiltAt: now.Unix(), CodeHash: hashCode(c.VerifyCode), Token: c.Token,
		CredentialHash: CredentialHash(c.Credential)}
	st := StatusOf(c)
	vv := *v
	vv.Status = fixedStatus{st}
	res := vv.VerifyToken(context.Background(), c.Token)
	if v.PublicLog != nil && res.Claims != nil {
		ch := v.PublicLog.LogCheck(context.Background(), c)
		res = res.With(ch)
		rec.LogPending = ch.Outcome == Unknown
	}
	rec.Verdict, rec.Checks = res.Verdict, res.Checks
	// A record whose number differs from the row it was stored under is
	// not this certificate, however well it verifies.
	if res.Claims != nil && res.Claims.CredentialSubject.Achievement.Number != c.Number {
		rec.Verdict = Invalid
		res.Claims = nil
	}
	rec.Status = st.Status
	if !st.RevokedAt.IsZero() {
		rec.RevokedOn = revokedOn(st.RevokedAt)
		rec.RevokedAt = st.RevokedAt.Unix()
	}
	rec.ReasonZh, rec.ReasonEn, rec.SupersededBy, rec.Supersedes = st.ReasonZh, st.Reason, c.SupersededBy, c.Supersedes
	if cl := res.Claims; cl != nil {
		rec.Facts = factsOf(cl)
		rec.Facts.DocMasked = ident.MaskDoc(c.Holder.DocNumber)
	}
	rec.Institution = institutionView(res, v.Registry)
	return rec
}

// factsOf is the printed facts of a record whose signature verified.
func factsOf(cl *credential.CertificateClaims) *Facts {
	a := cl.CredentialSubject.Achievement
	spec := a.Specialty
	if spec == "--" {
		spec = ""
	}
	return &Facts{
		Name: cl.CredentialSubject.Name, DocType: cl.CredentialSubject.DocType, DocHash: cl.CredentialSubject.DocHash,
		OccupationCode: a.OccupationCode, OccupationName: a.OccupationName, Specialty: spec,
		Level: a.Level, LevelZh: a.LevelName, LevelEn: occupation.Level(a.Level).English(), IssuedOn: a.IssuedOn, IssuerName: cl.Issuer.Name,
	}
}

// revokedOn is the date of a revocation as the viewer reads it: in China.
func revokedOn(t time.Time) string { return t.In(issuer.ChinaTime).Format(issuer.DateLayout) }

// NotFoundRecord is the view of a number the register does not hold.
func NotFoundRecord(number string, now time.Time) *Record {
	return &Record{Number: number, Verdict: NotFound, BuiltAt: now.Unix()}
}

// StatusInfo is the register's word on the certificate as this view holds
// it, for a [Verifier] checking a presented copy against a cached view. An
// unconfirmed view gives an unconfirmed status.
func (r *Record) StatusInfo() StatusInfo {
	var st StatusInfo
	if r.Found {
		st = StatusInfo{Found: true, Status: r.Status, Reason: r.ReasonEn, ReasonZh: r.ReasonZh, SupersededBy: r.SupersededBy, Token: r.Token, CredentialHash: r.CredentialHash}
		if r.RevokedAt != 0 {
			st.RevokedAt = time.Unix(r.RevokedAt, 0)
		}
	}
	if r.Verdict == Stale {
		st.Unconfirmed, st.AsOf = true, time.Unix(r.BuiltAt, 0)
	}
	return st
}

// Unconfirmed is the record as answered by a service that cannot vouch
// that its view of the register is current: a copy whose verdict is
// [Stale] where it was valid or not found, whose status check gives the
// time of what was known ([UnconfirmedCheck]), and which is as of asOf.
// Any other verdict comes back as it is: a revocation or a correction is
// never undone, so a view that is behind can miss one but never show one
// that did not happen, and an invalid record stays invalid.
func (r *Record) Unconfirmed(asOf time.Time) *Record {
	if r.Verdict != Valid && r.Verdict != NotFound {
		return r
	}
	c := *r
	c.Verdict, c.BuiltAt = Stale, asOf.Unix()
	chk := UnconfirmedCheck(asOf)
	c.Checks = make([]Check, 0, len(r.Checks)+1)
	for _, x := range r.Checks {
		if x.ID != CheckStatus {
			c.Checks = append(c.Checks, x)
		}
	}
	c.Checks = append(c.Checks, chk)
	return &c
}

// institutionView is the issuing institution as a verdict shows it: its
// registration on the issue date, and its status now. Nil when the issuer
// is not registered.
func institutionView(res Result, reg *Registry) *InstitutionView {
	r := res.Registration
	if r == nil {
		return nil
	}
	iv := &InstitutionView{ID: r.InstitutionID, Name: r.Name, FilingNo: r.FilingNo, ValidFrom: r.ValidFrom,
		ValidUntil: r.ValidUntil, StatusAtIssue: r.Status, InScope: string(res.Outcome(CheckScope))}
	if latest, ok := reg.Latest(r.InstitutionID); ok {
		iv.Current = latest.Status
	}
	return iv
}

type fixedStatus struct{ st StatusInfo }

func (f fixedStatus) Status(context.Context, string) (StatusInfo, error) { return f.st, nil }

// Access is what a viewer proved.
type Access string

const (
	// Public viewers know only the number: masked name, no ID number.
	Public Access = "public"
	// Holder viewers presented the verification code from the QR: full
	// name and masked ID number. QR links get forwarded, so this is not
	// proof of being the holder: no public answer carries the signed
	// record, whose slow hash of the ID number would let anyone holding
	// the masked number try the eight hidden digits (a birth date) offline.
	Holder Access = "code"
	// Confirmed viewers supplied the holder's full name (and perhaps the
	// ID number) and it matched.
	Confirmed Access = "confirmed"
)

// Match is the answer to a number + name (+ ID number) confirmation.
type Match struct {
	Name     bool  `json:"name"`
	IDNumber *bool `json:"id_number,omitempty"` // nil: not asked, or not checkable
	// IDNotChecked: an ID number was given but not checked, because the
	// certificate shows a guessing pattern today (verify/web's caps): the
	// hidden digits of a masked ID number are a birth date, which fresh
	// clients must not be able to try one each.
	IDNotChecked bool `json:"id_number_not_checked,omitempty"`
}

// Confirm checks a supplied full name and optional ID number against the
// signed record. The ID number is checked against the record's salted slow
// hash, never against a stored plain number, so what is confirmed is what
// the institution signed.
func (r *Record) Confirm(name, idNumber string) Match {
	var m Match
	if r.Facts == nil {
		return m
	}
	got := nameKey(name)
	m.Name = got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(nameKey(r.Facts.Name))) == 1
	// The ID number is compared only once the name matched: otherwise a
	// caller could test ID numbers against a certificate without knowing
	// whose it is.
	if idNumber = strings.TrimSpace(idNumber); idNumber != "" && m.Name {
		ok := r.Facts.DocHash.Matches(r.Facts.DocType, ident.NormalizeDocNumber(idNumber))
		m.IDNumber = &ok
	}
	return m
}

// nameKey is what two spellings of a name must share to match: spaces and
// letter case are how people type names, not part of them.
func nameKey(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(ident.NormalizeName(s)), ""))
}

// View is what one viewer is shown: the JSON of the certificate API and the
// data of the page.
type View struct {
	Number    string  `json:"number"`
	Verdict   Verdict `json:"verdict"`
	VerdictZh string  `json:"verdict_zh"`
	VerdictEn string  `json:"verdict_en"`
	// Conclusion is the answer to act on: the verdict with what this
	// viewer presented (a wrong code, a name that does not match) and the
	// institution's standing now (Conclude). It differs from the verdict
	// exactly when the verdict alone would mislead.
	Conclusion   Conclusion       `json:"conclusion"`
	ConclusionZh string           `json:"conclusion_zh"`
	ConclusionEn string           `json:"conclusion_en"`
	Access       Access           `json:"access"`
	CodeOK       *bool            `json:"verification_code_ok,omitempty"`
	Match        *Match           `json:"match,omitempty"`
	Certificate  *CertView        `json:"certificate,omitempty"`
	Status       *StatusView      `json:"status,omitempty"`
	Institution  *InstitutionView `json:"institution,omitempty"`
	Checks       []Check          `json:"checks"`
	AsOf         string           `json:"as_of"`
}

// CertView is the certificate's facts as one viewer may see them.
type CertView struct {
	HolderName     string `json:"holder_name"`
	NameMasked     bool   `json:"holder_name_masked"`
	DocTypeZh      string `json:"document_type_zh,omitempty"`
	DocTypeEn      string `json:"document_type_en,omitempty"`
	DocMasked      string `json:"document_number_masked,omitempty"`
	OccupationCode string `json:"occupation_code"`
	OccupationName string `json:"occupation_name"`
	Specialty      string `json:"specialty,omitempty"`
	Level          int    `json:"level"`
	LevelZh        string `json:"level_zh"`
	LevelEn        string `json:"level_en"`
	IssuedOn       string `json:"issued_on"`
	IssuerName     string `json:"issuer_name"`
}

// StatusView is the register's status of a found certificate.
type StatusView struct {
	Status       string `json:"status"`
	RevokedOn    string `json:"revoked_on,omitempty"`
	ReasonZh     string `json:"reason_zh,omitempty"`
	ReasonEn     string `json:"reason_en,omitempty"`
	SupersededBy string `json:"superseded_by,omitempty"`
	Supersedes   string `json:"supersedes,omitempty"`
}

// Conclude sets the view's conclusion from its verdict, the institution's
// current status and what the viewer presented (see [Conclude]).
func (v *View) Conclude(codeGiven, codeOK bool, m *Match) {
	cur := ""
	if v.Institution != nil {
		cur = v.Institution.Current
	}
	v.Conclusion = Conclude(v.Verdict, codeGiven, codeOK, m, cur)
	v.ConclusionZh, v.ConclusionEn = v.Conclusion.Chinese(), v.Conclusion.English()
}

// ForMatch is For for a viewer who also confirmed the ID number: they
// already know it, so the masked form may be shown back.
func (r *Record) ForMatch(a Access, m *Match) *View {
	v := r.For(a)
	if a == Confirmed && m != nil && m.IDNumber != nil && *m.IDNumber && v.Certificate != nil && r.Facts != nil {
		v.Certificate.DocMasked = r.Facts.DocMasked
	}
	return v
}

// For cuts the view a viewer with access a may see. The photo is never part
// of any view.
func (r *Record) For(a Access) *View {
	v := &View{Number: r.Number, Verdict: r.Verdict, VerdictZh: r.Verdict.Chinese(), VerdictEn: r.Verdict.English(),
		Access: a, Checks: r.Checks, Institution: r.Institution,
		AsOf: time.Unix(r.BuiltAt, 0).In(issuer.ChinaTime).Format(time.RFC3339)}
	if v.Checks == nil {
		v.Checks = []Check{}
	}
	v.Conclude(false, false, nil)
	// An unconfirmed view's status is only what was last known: its
	// check says so, with the time; a script must not read "valid" here.
	if r.Found && r.Verdict != Stale {
		v.Status = &StatusView{Status: r.Status, RevokedOn: r.RevokedOn, ReasonZh: r.ReasonZh, ReasonEn: r.ReasonEn,
			SupersededBy: r.SupersededBy, Supersedes: r.Supersedes}
	}
	if f := r.Facts; f != nil {
		cv := &CertView{OccupationCode: f.OccupationCode, OccupationName: f.OccupationName, Specialty: f.Specialty,
			Level: f.Level, LevelZh: f.LevelZh, LevelEn: f.LevelEn, IssuedOn: f.IssuedOn, IssuerName: f.IssuerName}
		switch a {
		case Holder, Confirmed:
			cv.HolderName = f.Name
			dt := ident.DocType(f.DocType)
			cv.DocTypeZh, cv.DocTypeEn = dt.Chinese(), dt.English()
			// Only the QR code shows the masked ID number. The signed
			// record is in no view: with the first 6 and last 4 digits,
			// its slow hash of the ID number would confirm guesses of the
			// birth date offline (36,525 a century). The holder gets the
			// record through the holder pages.
			if a == Holder {
				cv.DocMasked = f.DocMasked
			}
		default:
			cv.HolderName, cv.NameMasked = ident.MaskName(f.Name), true
		}
		v.Certificate = cv
	}
	return v
}

// TokenResult is what the one who presented a signed record (or a PDF
// carrying one) is shown: the verdict, every check, and, once the record
// verified, the facts in it and the register's status.
type TokenResult struct {
	Verdict   Verdict `json:"verdict"`
	VerdictZh string  `json:"verdict_zh"`
	VerdictEn string  `json:"verdict_en"`
	// Conclusion is the verdict with the institution's standing now
	// (a valid record of a suspended institution is
	// valid_institution_suspended); see [Conclude].
	Conclusion   Conclusion       `json:"conclusion"`
	ConclusionZh string           `json:"conclusion_zh"`
	ConclusionEn string           `json:"conclusion_en"`
	Checks       []Check          `json:"checks"`
	Number       string           `json:"number,omitempty"`
	Certificate  *CertView        `json:"certificate,omitempty"`
	Status       *StatusView      `json:"status,omitempty"`
	Institution  *InstitutionView `json:"institution,omitempty"`
	// Credential is set when a holder credential was presented: what the
	// holder disclosed beyond the always-visible claims.
	Credential *CredentialView `json:"credential,omitempty"`
}

// CredentialView is what a presented holder credential disclosed. An
// undisclosed name leaves Certificate.HolderName empty.
type CredentialView struct {
	Type         string   `json:"type"` // "dc+sd-jwt"
	Disclosed    []string `json:"disclosed"`
	NameShown    bool     `json:"name_disclosed"`
	DocHashShown bool     `json:"document_hash_disclosed"`
	BirthDate    string   `json:"birth_date,omitempty"`
	PhotoDigest  string   `json:"photo_digest,omitempty"`
}

// NewTokenResult turns the verification of a presented record into its
// answer. The caller holds the record, so the facts in it, the name
// included, are theirs to see once it verified; the ID number is not shown
// even masked, since the record holds only a hash of it.
func NewTokenResult(res Result, reg *Registry) TokenResult {
	out := TokenResult{Verdict: res.Verdict, VerdictZh: res.Verdict.Chinese(), VerdictEn: res.Verdict.English(), Checks: res.Checks}
	if cl := res.Claims; cl != nil {
		rec := Record{Found: true, Facts: factsOf(cl)}
		out.Number, out.Certificate = cl.CredentialSubject.Achievement.Number, rec.For(Confirmed).Certificate
	}
	if st := res.Status; st != nil && !st.Unconfirmed {
		out.Status = &StatusView{Status: st.Status, ReasonZh: st.ReasonZh, ReasonEn: st.Reason, SupersededBy: st.SupersededBy}
		if !st.RevokedAt.IsZero() {
			out.Status.RevokedOn = revokedOn(st.RevokedAt)
		}
	}
	out.Institution = institutionView(res, reg)
	if d := res.Disclosed; d != nil {
		out.Credential = &CredentialView{Type: "dc+sd-jwt", Disclosed: d.Claims, NameShown: d.Name != "", DocHashShown: d.DocHash != nil,
			BirthDate: d.BirthDate, PhotoDigest: d.PhotoDigest}
		if out.Certificate != nil && d.DocType == "" {
			out.Certificate.DocTypeZh, out.Certificate.DocTypeEn = "", ""
		}
	}
	cur := ""
	if out.Institution != nil {
		cur = out.Institution.Current
	}
	out.Conclusion = Conclude(out.Verdict, false, false, nil, cur)
	out.ConclusionZh, out.ConclusionEn = out.Conclusion.Chinese(), out.Conclusion.English()
	return out
}

// MaxNumberInput bounds a certificate number as typed or scanned, spaces
// included: anything longer is refused before it is looked at.
const MaxNumberInput = 64

// NormalizeNumber trims and upper-cases a certificate number as typed or
// scanned and checks its structure. The error is an [issuer.Error] of kind
// [issuer.ErrInvalid].
func NormalizeNumber(s string) (string, error) {
	if len(s) > MaxNumberInput {
		return "", ErrInputTooLong
	}
	s = strings.ToUpper(foldTyped(s))
	if _, err := certno.Parse(s); err != nil {
		if e, ok := issuer.AsError(err); ok {
			return "", e
		}
		return "", &issuer.Error{Kind: issuer.ErrInvalid, Code: "certificate_number",
			Zh: "证书编号格式不正确：应为1个大写字母加21位数字", En: "malformed certificate number: one capital letter followed by 21 digits", Err: err}
	}
	return s, nil
}

// ErrInputTooLong refuses an input over its length limit before it is
// looked at; its kind is [issuer.ErrInvalid].
var ErrInputTooLong = issuer.Errorf(issuer.ErrInvalid, "input_too_long", "输入过长", "input too long")

// codeAlphabet is the alphabet of verification codes (no 0/O, 1/I).
const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// CodeLength is the length of a verification code.
const CodeLength = 16

// foldTyped undoes what typing or pasting does to a printed number or code:
// spaces of every kind and hyphens (a number read out in groups, a line
// break in a pasted PDF text) are dropped, and full-width letters and digits
// (Ｙ, ０, typed with a Chinese input method) become ASCII.
func foldTyped(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r) || r == '-' || r == '－' || r == '\u200b' || r == '\ufeff':
			return -1
		case r >= '！' && r <= '～':
			return r - '！' + '!'
		}
		return r
	}, s)
}

// NormalizeCode upper-cases a verification code, folds what typing does to
// it (see foldTyped) and checks its shape.
func NormalizeCode(s string) (string, bool) {
	if len(s) > MaxNumberInput {
		return "", false
	}
	if len(s) != CodeLength {
		s = foldTyped(s)
		if len(s) != CodeLength {
			return "", false
		}
	}
	s = strings.ToUpper(s)
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(codeAlphabet, s[i]) < 0 {
			return "", false
		}
	}
	return s, true
}
