// Package storeutil holds the few pieces of the storage layer that must be
// identical in every backend: how a certificate number is composed from its
// serial, how an institution version is serialised into its JSON document,
// how instants are normalised, and the bilingual errors the backends return.
//
// Everything else (SQL, placeholders, upserts, error codes of the engine)
// stays native in each backend, following the tessera model: the backends
// share a contract and a conformance suite, not a query builder. Keeping
// these helpers here rather than duplicating them means that a certificate
// numbered by SQLite and one numbered by PostgreSQL can never disagree.
package storeutil

import (
	"certd/issuer/certno"
	"encoding/json"
	"fmt"
	"time"

	"certd/issuer"
	"certd/issuer/occupation"
)

// MaxSerial is the largest serial that fits the six digits of a number.
const MaxSerial = 999_999

// Number composes prefix + YY + level + six-digit serial, YY being the year
// of issuedOn (a civil date held at midnight UTC, so its UTC year is the
// civil year).
func Number(prefix string, issuedOn time.Time, level occupation.Level, serial int64) string {
	return certno.Number{Prefix: prefix, Year: issuedOn.UTC().Year(), Level: int(level), Serial: int(serial)}.String()
}

// SerialGroup is one (year, level) counter that a batch draws from, with the
// indexes of the certificates that draw from it, in roster order.
type SerialGroup struct {
	Year  int
	Level occupation.Level
	Index []int
}

// GroupSerials splits a roster by counter, in order of first appearance, so
// that a backend reserves one block per counter with a single statement and
// hands serials out in roster order.
func GroupSerials(certs []issuer.Certificate) []SerialGroup {
	type key struct {
		year  int
		level occupation.Level
	}
	var groups []SerialGroup
	at := map[key]int{}
	for i := range certs {
		k := key{certs[i].IssuedOn.UTC().Year(), certs[i].Level}
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups = append(groups, SerialGroup{Year: k.year, Level: k.level})
		}
		groups[g].Index = append(groups[g].Index, i)
	}
	return groups
}

// CheckRoster rejects what the database cannot be asked about cheaply before
// anything is written: an empty roster, a level outside 1..5 (it would not
// fit the single level digit), and the same holding twice in one roster.
func CheckRoster(certs []issuer.Certificate) error {
	if len(certs) == 0 {
		return issuer.Errorf(issuer.ErrInvalid, "empty_batch", "批次中没有证书", "the batch holds no certificates")
	}
	seen := make(map[issuer.HoldingKey]int, len(certs))
	for i := range certs {
		if !certs[i].Level.Valid() {
			return issuer.Errorf(issuer.ErrInvalid, "level", "第 %d 条证书的等级 %d 无效", "certificate %d has invalid level %d", i+1, int(certs[i].Level))
		}
		k := certs[i].Key()
		if j, ok := seen[k]; ok {
			return issuer.Errorf(issuer.ErrConflict, "duplicate_in_roster",
				"第 %d 条与第 %d 条是同一人同一职业（工种）同一等级的证书", "rows %d and %d are the same person, occupation and level", j+1, i+1)
		}
		seen[k] = i
	}
	return nil
}

// Instant normalises a moment for storage: UTC, and microseconds, because
// that is what PostgreSQL keeps. Both backends truncate the same way so that
// a value reads back identically whichever engine stored it.
func Instant(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Date is a civil date as it is stored: "YYYY-MM-DD", or "" for the zero time.
func Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(issuer.DateLayout)
}

// institutionDoc is the stored JSON shape of an institution version. It has
// its own tags so that renaming a Go field can never silently orphan stored
// data; Token is kept in its own column because it is the signed original.
type institutionDoc struct {
	ID          string                   `json:"id"`
	Version     int                      `json:"version"`
	Name        string                   `json:"name"`
	USCC        string                   `json:"uscc"`
	Prefix      string                   `json:"prefix"`
	FilingNo    string                   `json:"filing_no"`
	ValidFrom   time.Time                `json:"valid_from"`
	ValidUntil  time.Time                `json:"valid_until"`
	Status      issuer.InstitutionStatus `json:"status"`
	Contact     string                   `json:"contact,omitempty"`
	City        string                   `json:"city,omitempty"`
	Kind        string                   `json:"kind,omitempty"`
	Scope       []issuer.ScopeEntry      `json:"scope"`
	Fees        []issuer.Fee             `json:"fees"`
	Keys        []issuer.InstitutionKey  `json:"keys"`
	Print       *issuer.PrintSettings    `json:"print,omitempty"`
	EffectiveAt time.Time                `json:"effective_at"`
	RecordedBy  string                   `json:"recorded_by,omitempty"`
}

// NormalizeInstitution applies the storage normalisation to every instant
// of in, so that a backend stores exactly what it will later return.
func NormalizeInstitution(in issuer.Institution) issuer.Institution {
	in.ValidFrom = Instant(in.ValidFrom)
	in.ValidUntil = Instant(in.ValidUntil)
	in.EffectiveAt = Instant(in.EffectiveAt)
	if in.Keys != nil {
		keys := make([]issuer.InstitutionKey, len(in.Keys))
		for i, k := range in.Keys {
			k.NotBefore = Instant(k.NotBefore)
			k.NotAfter = Instant(k.NotAfter)
			keys[i] = k
		}
		in.Keys = keys
	}
	return in
}

// EncodeInstitution returns the JSON document of a normalised institution.
func EncodeInstitution(in issuer.Institution) ([]byte, error) {
	return json.Marshal(institutionDoc{
		ID: in.ID, Version: in.Version, Name: in.Name, USCC: in.USCC, Prefix: in.Prefix,
		FilingNo: in.FilingNo, ValidFrom: in.ValidFrom, ValidUntil: in.ValidUntil,
		Status: in.Status, Contact: in.Contact, City: in.City, Kind: in.Kind,
		Scope: in.Scope, Fees: in.Fees, Keys: in.Keys, Print: printDoc(in.Print),
		EffectiveAt: in.EffectiveAt, RecordedBy: in.RecordedBy,
	})
}

// DecodeInstitution rebuilds an institution version from its document and
// its token column.
func DecodeInstitution(doc []byte, token string) (issuer.Institution, error) {
	var d institutionDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return issuer.Institution{}, fmt.Errorf("decode institution document: %w", err)
	}
	in := issuer.Institution{
		ID: d.ID, Version: d.Version, Name: d.Name, USCC: d.USCC, Prefix: d.Prefix,
		FilingNo: d.FilingNo, ValidFrom: d.ValidFrom, ValidUntil: d.ValidUntil,
		Status: d.Status, Contact: d.Contact, City: d.City, Kind: d.Kind,
		Scope: d.Scope, Fees: d.Fees, Keys: d.Keys,
		EffectiveAt: d.EffectiveAt, RecordedBy: d.RecordedBy, Token: token,
	}
	if d.Print != nil {
		in.Print = *d.Print
	}
	// JSON gives back "Z" times in UTC already; normalising again only
	// guards documents written by hand or by an older version.
	return NormalizeInstitution(in), nil
}

// printDoc omits empty print settings from the document.
func printDoc(ps issuer.PrintSettings) *issuer.PrintSettings {
	if ps.Layout == "" && len(ps.Seal) == 0 && len(ps.Template) == 0 && ps.OffsetX == 0 && ps.OffsetY == 0 && !ps.English {
		return nil
	}
	return &ps
}

// ErrReceiptTaken: a receipt's reference is in use already (a random
// reference met another; the caller draws a new one).
var ErrReceiptTaken = issuer.Errorf(issuer.ErrConflict, "receipt_ref_taken", "回执编号已被占用", "the receipt reference is taken")

// CheckReceipt refuses a receipt the stores must not keep: no reference,
// no kind, no expiry after its creation, or a body over the bound.
func CheckReceipt(r issuer.Receipt) error {
	switch {
	case r.Ref == "" || len(r.Ref) > 64 || r.Kind == "" || len(r.Kind) > 32:
		return issuer.Errorf(issuer.ErrInvalid, "receipt_invalid", "回执缺少编号或类型", "the receipt has no reference or kind")
	case r.CreatedAt.IsZero() || !r.ExpiresAt.After(r.CreatedAt):
		return issuer.Errorf(issuer.ErrInvalid, "receipt_invalid", "回执的保存期限无效", "the receipt's expiry is not after its creation")
	case len(r.Body) == 0 || len(r.Body) > issuer.MaxReceiptBody:
		return issuer.Errorf(issuer.ErrInvalid, "receipt_too_large", "回执内容为空或过大", "the receipt's body is empty or too large")
	}
	return nil
}
