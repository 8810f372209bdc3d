// Package issuer is what a college and the provincial authority do with
// certd: register institutions, keep the occupation catalogue, issue signed
// certificate records from assessment rosters, revoke and correct them, and
// keep an append-only audit trail of all of it.
//
// Start with [Service]: main builds one with [New] from a [Store] and a
// key-encryption key, and every command and console page goes through it,
// for reading as much as for changing. Each method takes an [Actor], and
// the service (never the caller) decides what that actor reaches: a college
// operator can only ever touch its own college's records, and another
// college's record is "not found", exactly like one that does not exist.
//
// # Rules
//
// Issuing enforces the rules of 吉人社联〔2026〕9号 and 人社鉴发〔2021〕1号: the
// institution is active and its registration valid on the issue date; the
// occupation, 工种 and level are inside its registered scope; students are
// certified at 三级/高级工 or below; document numbers are valid; a person
// holds at most one valid certificate per occupation, 工种 and level (a
// correction is a reissue, not a duplicate). A roster is issued all or
// nothing, and importing the same roster twice issues nothing new.
//
// # Errors
//
// Failures a user can act on are [*Error] values with a bilingual message
// and a [Kind] (ErrInvalid, ErrConflict...) that the edge maps to an exit
// status or HTTP status. It is the one error type of the issuing side
// (package fault), so what ident, roster or render report reaches the edge
// as they said it. Row-level problems of a roster are reported all at once
// in [IssueReport.Problems].
package issuer

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"certd/issuer/keys"
)

// Service carries out issuing and registration, and is the one door to the
// records for every actor. Build it with New; it is safe for concurrent use.
type Service struct {
	// store is where the records live. It is unexported so that nothing
	// outside this package can reach past the methods, which scope what
	// each actor reaches.
	store Store
	KEK   *keys.KEK
	// Now is the clock; nil means time.Now. Tests inject a fixed clock.
	Now func() time.Time
	// Printer, when set, renders each certificate's PDF right after its
	// roster is committed (stored with its SHA-256), and checks at import
	// that the font has every character of every printed field, so that
	// nothing is ever printed with a missing character.
	Printer *Printer
	// NoPrinter, when Printer is nil, says why (a public address that
	// may not be printed, say); nil: no usable font.
	NoPrinter error
	Log       *slog.Logger
	// LogPolicy is the public log's tlog-policy, exported in the trust
	// bundle (empty when the deployment runs no log).
	LogPolicy string
	// StatusBase is the address under which institutions' status lists
	// are published (the public URL + "/status"); an institution's list is
	// StatusBase/ID. When set, every record signed carries a
	// credentialStatus entry pointing at its index there. Empty: records
	// are signed without one (tests that do not publish lists).
	StatusBase string
	// PublicURL is the base of the public pages (no trailing slash), for
	// the links in the ledger; empty: the printer's.
	PublicURL string
	// PrintLease is how long this process's lease of a print job lasts
	// unless renewed; 0 means DefaultPrintLease.
	PrintLease time.Duration

	instanceOnce sync.Once
	instanceID   string
}

// StatusListURL is the stable address of institution id's status list.
func (s *Service) StatusListURL(id string) string { return s.StatusBase + "/" + id }

// New returns a service over st that opens private keys with kek. Set
// Printer, Log and Now before first use to print PDFs, log elsewhere than
// slog.Default, or fix the clock.
func New(st Store, kek *keys.KEK) *Service { return &Service{store: st, KEK: kek} }

// Actor is who is acting: a person (or an API token) with a role. The
// console and API set it from the authenticated session; the command line
// acts as the authority's operator on the local data directory.
type Actor struct {
	Name string
	// Authority actors act for the province: register institutions, and
	// act for any institution.
	Authority bool
	// InstitutionID scopes a college actor to its own institution.
	InstitutionID string
	// ReadOnly actors (auditors) may read but change nothing.
	ReadOnly bool
	// Holder is the certificate number of a holder actor (HolderActor):
	// it reaches that certificate's holder side and acts for no
	// institution.
	Holder string
}

// MayActFor reports whether the actor may change records of institution id.
func (a Actor) MayActFor(id string) error {
	if a.ReadOnly || (!a.Authority && a.InstitutionID != id) {
		return errForbidden()
	}
	return nil
}

// mayAdminister reports whether the actor may act as the authority:
// register institutions, change their registrations, keep the catalogue.
// A province-wide auditor reads everything but administers nothing.
func (a Actor) mayAdminister() error {
	if !a.Authority || a.ReadOnly {
		return errForbidden()
	}
	return nil
}

// MayRead reports whether the actor may read records of institution id.
func (a Actor) MayRead(id string) error {
	if !a.Authority && a.InstitutionID != id {
		return errForbidden()
	}
	return nil
}

func errForbidden() error {
	return Errorf(ErrForbidden, "forbidden", "无权为该机构执行此操作", "not allowed to act for this institution")
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Second)
	}
	// JWT times have second precision; keeping every stored time at whole
	// seconds keeps "registered when signed" comparisons exact.
	return time.Now().UTC().Truncate(time.Second)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) event(actor Actor, action, institutionID, subject string, detail map[string]any) AuditEvent {
	ev := AuditEvent{At: s.now(), Actor: actor.Name, Action: action, InstitutionID: institutionID, Subject: subject}
	if detail != nil {
		b, _ := json.Marshal(detail)
		ev.Detail = string(b)
	}
	return ev
}

var codeEncoding = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// newVerifyCode returns a 16-character code with 80 random bits, from an
// alphabet without 0/O and 1/I so that it can be typed from paper.
func newVerifyCode() string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return codeEncoding.EncodeToString(b)
}

// newID returns a random identifier for batches.
func newID(prefix string) string {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + codeEncoding.EncodeToString(b)
}
