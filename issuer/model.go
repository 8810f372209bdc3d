package issuer

import (
	"crypto/ed25519"
	"time"

	"certd/issuer/ident"
	"certd/issuer/occupation"
	"certd/issuer/statuslist"
)

// Dates on certificates (assessment, issue) are civil dates in China
// Standard Time. They are held as time.Time at midnight UTC of that date, so
// that formatting with "2006-01-02" and comparing is exact.

// Day returns the civil date of t in China Standard Time, as midnight UTC.
func Day(t time.Time) time.Time {
	t = t.In(ChinaTime)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// ChinaTime is UTC+8 without relying on the system tz database.
var ChinaTime = time.FixedZone("CST", 8*3600)

// DateLayout formats civil dates.
const DateLayout = "2006-01-02"

// Authority is the provincial HR department (人社厅) of this deployment. It
// signs institutions' registrations and nothing else.
type Authority struct {
	Name      string
	KID       string
	PublicKey ed25519.PublicKey
	Sealed    []byte // private key sealed with the key-encryption key
	CreatedAt time.Time
}

// InstitutionStatus is the catalogue status of a registered institution.
type InstitutionStatus string

const (
	Active    InstitutionStatus = "active"    // 正常
	Suspended InstitutionStatus = "suspended" // 暂停
	Withdrawn InstitutionStatus = "withdrawn" // 撤销备案
)

// Chinese returns the status label shown to users.
func (s InstitutionStatus) Chinese() string {
	switch s {
	case Active:
		return "正常"
	case Suspended:
		return "暂停"
	case Withdrawn:
		return "已撤销备案"
	}
	return string(s)
}

// ScopeEntry is one line of an institution's registered scope: an occupation,
// optionally one 工种 of it (Specialty "" means the occupation without a
// 工种), and the levels it may certify.
type ScopeEntry struct {
	Occupation string             `json:"occupation"`
	Specialty  string             `json:"specialty,omitempty"`
	Levels     []occupation.Level `json:"levels"`
}

// Fee is one line of the published fee schedule (收费标准): fees must be
// public and at cost or free for the college's own students.
type Fee struct {
	Occupation string           `json:"occupation"`
	Level      occupation.Level `json:"level"`
	AmountFen  int64            `json:"amount_fen"` // in 分; 0 means free
	Basis      string           `json:"basis,omitempty"`
}

// InstitutionKey is a public signing key of an institution with the window
// in which it may sign. NotAfter is zero for the current key.
type InstitutionKey struct {
	KID       string            `json:"kid"`
	PublicKey ed25519.PublicKey `json:"public_key"`
	NotBefore time.Time         `json:"not_before"`
	NotAfter  time.Time         `json:"not_after,omitzero"`
}

// Covers reports whether the key could sign at t.
func (k InstitutionKey) Covers(t time.Time) bool {
	return !t.Before(k.NotBefore) && (k.NotAfter.IsZero() || t.Before(k.NotAfter))
}

// Institution is one version of a registered skill certification institution
// (职业技能等级认定机构). Versions are never overwritten: every change
// (renewal, scope change, suspension, key rotation) stores a new version with
// Version+1 and a new authority-signed Token, so that a verifier can ask what
// was registered at any moment.
type Institution struct {
	ID          string // short stable identifier, e.g. "demo" or "jlvtc"
	Version     int
	Name        string // registered name, printed verbatim on certificates
	USCC        string // 统一社会信用代码
	Prefix      string // 13-character certificate number prefix
	FilingNo    string // 备案编号
	ValidFrom   time.Time
	ValidUntil  time.Time // last day of the registration, inclusive
	Status      InstitutionStatus
	Contact     string
	City        string // 市州
	Kind        string // 高职 / 应用型本科 / other
	Scope       []ScopeEntry
	Fees        []Fee
	Keys        []InstitutionKey
	Print       PrintSettings // seal, layout, calibration; not signed
	EffectiveAt time.Time     // when this version took effect
	RecordedBy  string
	Token       string // registration JWS signed by the authority
}

// RegisteredOn reports whether the registration window covers the civil date d.
func (in Institution) RegisteredOn(d time.Time) bool {
	return !d.Before(in.ValidFrom) && !d.After(in.ValidUntil)
}

// Allows reports whether the scope covers occupation, 工种 and level.
func (in Institution) Allows(occ, specialty string, level occupation.Level) bool {
	for _, s := range in.Scope {
		if s.Occupation != occ || s.Specialty != specialty {
			continue
		}
		for _, l := range s.Levels {
			if l == level {
				return true
			}
		}
	}
	return false
}

// KeyAt returns the key that could sign at t.
func (in Institution) KeyAt(t time.Time) (InstitutionKey, bool) {
	for _, k := range in.Keys {
		if k.Covers(t) {
			return k, true
		}
	}
	return InstitutionKey{}, false
}

// SigningKey is an institution's private key, sealed with the key-encryption
// key. It never leaves the store unsealed.
type SigningKey struct {
	InstitutionID string
	KID           string
	PublicKey     ed25519.PublicKey
	Sealed        []byte
	CreatedAt     time.Time
	RetiredAt     time.Time // zero while current
}

// CandidateType is the holder's category (考生类别).
type CandidateType string

const (
	Graduating CandidateType = "graduating" // 毕业年度学生
	Enrolled   CandidateType = "enrolled"   // 在校生
	Social     CandidateType = "social"     // 社会人员
)

// Student reports whether the holder is one of the college's students, to
// whom the 高级工 cap applies.
func (c CandidateType) Student() bool { return c == Graduating || c == Enrolled }

// Chinese returns the printed label.
func (c CandidateType) Chinese() string {
	switch c {
	case Graduating:
		return "毕业年度学生"
	case Enrolled:
		return "在校生"
	case Social:
		return "社会人员"
	}
	return string(c)
}

// Status is a certificate's status.
type Status string

const (
	Valid      Status = "valid"      // 有效
	Revoked    Status = "revoked"    // 已撤销
	Superseded Status = "superseded" // 已更正 (replaced by a corrected reissue)
)

// Chinese returns the status as users see it.
func (s Status) Chinese() string {
	switch s {
	case Valid:
		return "有效"
	case Revoked:
		return "已撤销"
	case Superseded:
		return "已更正"
	}
	return string(s)
}

// RevocationReason is why a certificate was revoked.
type RevocationReason string

const (
	ReasonError      RevocationReason = "error"      // issued in error or with wrong data
	ReasonMisconduct RevocationReason = "misconduct" // cheating or fraud in the assessment
	ReasonRequest    RevocationReason = "request"    // at the holder's request
	ReasonOther      RevocationReason = "other"
)

// Reasons lists the revocation reasons in display order.
var Reasons = []RevocationReason{ReasonError, ReasonMisconduct, ReasonRequest, ReasonOther}

// Chinese returns the label shown to users.
func (r RevocationReason) Chinese() string {
	switch r {
	case ReasonError:
		return "证书信息有误或误发"
	case ReasonMisconduct:
		return "考核中存在舞弊等违规行为"
	case ReasonRequest:
		return "持证人申请撤销"
	case ReasonOther:
		return "其他原因"
	}
	return string(r)
}

// English returns the English label.
func (r RevocationReason) English() string {
	switch r {
	case ReasonError:
		return "issued in error or with wrong data"
	case ReasonMisconduct:
		return "misconduct in the assessment"
	case ReasonRequest:
		return "at the holder's request"
	case ReasonOther:
		return "other reason"
	}
	return string(r)
}

// Valid reports whether r is a known reason.
func (r RevocationReason) Valid() bool {
	switch r {
	case ReasonError, ReasonMisconduct, ReasonRequest, ReasonOther:
		return true
	}
	return false
}

// Revocation records who revoked a certificate, when and why.
type Revocation struct {
	Reason RevocationReason
	Note   string
	At     time.Time
	By     string
}

// Holder is the person a certificate is issued to.
type Holder struct {
	Name          string
	DocType       ident.DocType
	DocNumber     string
	StudentNo     string // 学号
	Major         string // 专业
	CandidateType CandidateType
}

// Certificate is an issued certificate record. Everything printed on the
// certificate is covered by Token, the institution's signature; the other
// fields (status, links, hashes) are the store's bookkeeping.
type Certificate struct {
	Number         string // 22 characters, see package certno
	InstitutionID  string
	InstitutionVer int // registration version in force at issuance
	BatchID        string
	Holder         Holder
	Occupation     string // code
	OccupationName string
	Specialty      string // 工种; "" is printed as "--"
	Level          occupation.Level
	AssessedOn     time.Time
	IssuedOn       time.Time
	IssuedAt       time.Time
	KID            string
	Token          string // compact JWS (vc+jwt)
	VerifyCode     string // unguessable code printed in the QR
	Status         Status
	Revocation     *Revocation
	SupersededBy   string
	Supersedes     string
	PDFSHA256      string // hex; set when the PDF is rendered
	// Credential is the holder's SD-JWT VC (typ dc+sd-jwt) with every
	// disclosure, signed with the record's key; "" for a certificate issued
	// before it existed until the holder first asks for it.
	Credential string
	// StatusIndex is the certificate's index in its institution's status
	// list, drawn at random among the free ones when it is issued; -1 for
	// a record issued before status lists that has not been given one yet.
	StatusIndex int
}

// StatusList is one version of an institution's signed status list (a W3C
// BitstringStatusListCredential as a compact JWS). Versions are never
// changed once stored; the latest is the one published at the list's
// stable address.
type StatusList struct {
	InstitutionID string
	Version       int
	ValidFrom     time.Time // to the millisecond, as signed
	TTL           time.Duration
	Size          int // entries
	Revoked       int // bits set
	Token         string
	// BitsDigest names the bits the list carries (StatusBitsDigest); a
	// version whose digest equals the latest's is a re-signing, and the
	// store keeps only the first and the latest of a run of those. Empty
	// for versions stored before digests were kept.
	BitsDigest string
}

// StatusBits is what a status list is made from: which indexes are set
// (revoked or superseded certificates) and how many are allocated.
type StatusBits struct {
	Allocated int
	MaxIndex  int // -1 when none is allocated
	Set       []int
}

// Batch is one roster issued in one go, all or nothing.
type Batch struct {
	ID            string
	InstitutionID string
	Fingerprint   string // SHA-256 of the normalised rows: same roster, same fingerprint
	Source        string // file name as uploaded
	Count         int
	CreatedAt     time.Time
	CreatedBy     string
}

// AuditEvent is one append-only line of the audit trail.
type AuditEvent struct {
	Seq           int64 // assigned by the store
	At            time.Time
	Actor         string
	Action        string // e.g. "certificate.issue", "institution.suspend"
	InstitutionID string
	Subject       string // certificate number, batch id, key id...
	Detail        string // JSON, never containing private keys or full ID numbers
	// Log are the entries of the public log this change makes. The store
	// writes them to the log outbox in the same transaction as the change
	// and the event, so nothing is committed without being logged; the
	// sequencer appends them to the log afterwards (see LogStore).
	Log []LogItem
}

// StatusListSize is the number of entries of an institution's status list
// that holds allocated indexes, the largest being maxIndex (-1 for none):
// at least statuslist.MinBits (131,072, for herd privacy), and doubled as
// long as the list would be more than half allocated, so a random draw
// finds a free index at the second try on average. Growing keeps every
// index where it was; the list stays at its address.
func StatusListSize(allocated, maxIndex int) int {
	n := statuslist.MinBits
	for (n < 2*allocated || n <= maxIndex) && n < statuslist.MaxBits {
		n *= 2
	}
	return n
}
