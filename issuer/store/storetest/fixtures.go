// Package storetest is the conformance suite every issuer.Store backend
// must pass. A backend's own test calls Run with a function that opens an
// empty store; the suite then checks the contract written in the doc
// comments of issuer.Store against the real engine — numbering, the
// all-or-nothing batch, the one-valid-certificate rule, concurrent
// revocations and edits, paging and time round-trips — so that the SQLite
// and PostgreSQL backends cannot drift apart.
//
// The suite is deliberately black-box: it never looks at tables, only at
// what the interface returns. It is also usable from a benchmark
// (BenchmarkIssueBatch) so that the backends are measured on the same work.
package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/occupation"
)

// Prefixes of the two fixture institutions: a letter and twelve digits.
const (
	prefixA = "J220100000001"
	prefixB = "J220200000002"
)

var (
	// t0 is a microsecond-aligned UTC instant: what a store returns for it
	// must be identical, field for field.
	t0      = time.Date(2026, 3, 1, 8, 0, 0, 123456000, time.UTC)
	june30  = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
	july15  = time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC)
	dec2025 = time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC)
)

func key(seed byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize)).Public().(ed25519.PublicKey)
}

func bytesOf(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func institution(id, prefix string, version int, effective time.Time) issuer.Institution {
	return issuer.Institution{
		ID: id, Version: version, Name: "吉林" + id + "职业技术学院", USCC: "12220000MB0000000X", Prefix: prefix,
		FilingNo: "JL-2026-" + id, ValidFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		ValidUntil: time.Date(2028, 12, 31, 0, 0, 0, 0, time.UTC), Status: issuer.Active,
		Contact: "0431-00000000", City: "长春市", Kind: "高职",
		Scope: []issuer.ScopeEntry{
			{Occupation: "6-18-02-04", Levels: []occupation.Level{5, 4, 3}},
			{Occupation: "4-04-05-04", Specialty: "网络安全管理员", Levels: []occupation.Level{4}},
		},
		Fees:        []issuer.Fee{{Occupation: "6-18-02-04", Level: 3, AmountFen: 0, Basis: "吉发改收费〔2026〕1号"}},
		Keys:        []issuer.InstitutionKey{{KID: id + "-k1", PublicKey: key(1), NotBefore: t0}},
		EffectiveAt: effective, RecordedBy: "admin", Token: "eyJ." + id + "." + fmt.Sprint(version),
	}
}

func signingKey(id, kid string, seed byte, created time.Time) issuer.SigningKey {
	return issuer.SigningKey{InstitutionID: id, KID: kid, PublicKey: key(seed), Sealed: bytesOf(seed+100, 48), CreatedAt: created}
}

func event(action, inst, subject string) issuer.AuditEvent {
	return issuer.AuditEvent{At: t0, Actor: "tester", Action: action, InstitutionID: inst, Subject: subject, Detail: `{"n":1}`}
}

// setup registers the two fixture institutions, alpha (prefixA) and beta
// (prefixB).
func setup(t testing.TB, s issuer.Store) {
	t.Helper()
	for _, in := range []issuer.Institution{institution("alpha", prefixA, 1, t0), institution("beta", prefixB, 1, t0)} {
		if err := s.PutInstitution(context.Background(), in, nil, event("institution.register", in.ID, in.ID)); err != nil {
			t.Fatalf("setup: PutInstitution(%s): %v", in.ID, err)
		}
	}
}

// cert builds an unnumbered certificate for person i of institution inst.
func cert(inst string, i int, occ string, level occupation.Level, issuedOn time.Time) issuer.Certificate {
	return issuer.Certificate{
		InstitutionID: inst, InstitutionVer: 1,
		Holder: issuer.Holder{
			Name: fmt.Sprintf("张%03d", i), DocType: ident.ResidentID, DocNumber: fmt.Sprintf("22010119900101%04d", i),
			StudentNo: fmt.Sprintf("S%05d", i), Major: "智能焊接技术", CandidateType: issuer.Graduating,
		},
		Occupation: occ, OccupationName: "焊工", Level: level,
		AssessedOn: issuedOn.AddDate(0, 0, -10), IssuedOn: issuedOn, IssuedAt: issuedOn.Add(9 * time.Hour),
	}
}

func batch(id, inst, fingerprint string) issuer.Batch {
	return issuer.Batch{ID: id, InstitutionID: inst, Fingerprint: fingerprint, Source: id + ".xlsx", CreatedAt: t0, CreatedBy: "teacher"}
}

// seal stands in for the signer: it fills what a signature would and
// returns the per-certificate audit event.
func seal(c *issuer.Certificate) (issuer.AuditEvent, error) {
	c.KID = c.InstitutionID + "-k1"
	c.Token = "jws." + c.Number
	c.VerifyCode = "vc-" + c.Number
	return event("certificate.issue", c.InstitutionID, c.Number), nil
}

// failingSeal fails on its nth call (1-based).
func failingSeal(n int) (func(*issuer.Certificate) (issuer.AuditEvent, error), *atomic.Int32, error) {
	boom := errors.New("key store offline")
	var calls atomic.Int32
	return func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		if int(calls.Add(1)) == n {
			return issuer.AuditEvent{}, boom
		}
		return seal(c)
	}, &calls, boom
}

// issue issues certs as one batch and returns their numbers.
func issue(t testing.TB, s issuer.Store, b issuer.Batch, prefix string, certs ...issuer.Certificate) []string {
	t.Helper()
	if err := s.IssueBatch(context.Background(), b, prefix, certs, seal, nil); err != nil {
		t.Fatalf("IssueBatch(%s): %v", b.ID, err)
	}
	numbers := make([]string, len(certs))
	for i, c := range certs {
		numbers[i] = c.Number
	}
	return numbers
}

func no(prefix, yy string, level int, serial int) string {
	return fmt.Sprintf("%s%s%d%06d", prefix, yy, level, serial)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantErr checks the kind of err and, if code is not empty, its Code.
func wantErr(t testing.TB, err error, kind issuer.Kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v (%s)", kind, code)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("got %v, want kind %v", err, kind)
	}
	if code == "" {
		return
	}
	e, ok := issuer.AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("got %v (code %q), want code %q", err, codeOf(err), code)
	}
	if e.Zh == "" || e.En == "" {
		t.Fatalf("error %q lacks a bilingual message", code)
	}
}

func codeOf(err error) string {
	if e, ok := issuer.AsError(err); ok {
		return e.Code
	}
	return ""
}

func equal[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func numbersOf(cs []issuer.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Number
	}
	return out
}

func countAudit(t testing.TB, s issuer.Store, f issuer.AuditFilter) int {
	t.Helper()
	evs, err := s.Audit(context.Background(), f)
	must(t, err)
	return len(evs)
}

func allCerts(t testing.TB, s issuer.Store) []issuer.Certificate {
	t.Helper()
	cs, err := s.Certificates(context.Background(), issuer.CertificateFilter{})
	must(t, err)
	return cs
}

func hexSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum)
}

func issuerLevel(l int) occupation.Level { return occupation.Level(l) }

// Seed registers the fixture institution alpha on s, for tests of what is
// built on a store (replica routing, backups) rather than of the store.
func Seed(t testing.TB, s issuer.Store) {
	t.Helper()
	in := institution("alpha", prefixA, 1, t0)
	if err := s.PutInstitution(context.Background(), in, nil, event("institution.register", in.ID, in.ID)); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// IssueN issues persons first to first+n-1 of alpha as batch id and returns
// their numbers (after Seed).
func IssueN(t testing.TB, s issuer.Store, id string, first, n int) []string {
	t.Helper()
	certs := make([]issuer.Certificate, n)
	for i := range certs {
		certs[i] = cert("alpha", first+i, "6-18-02-04", 3, june30)
	}
	return issue(t, s, batch(id, "alpha", id), prefixA, certs...)
}

// RevokeNow revokes a certificate of alpha with its audit event.
func RevokeNow(t testing.TB, s issuer.Store, number string) {
	t.Helper()
	r := issuer.Revocation{Reason: issuer.ReasonError, At: time.Now().UTC().Truncate(time.Microsecond), By: "tester"}
	if err := s.Revoke(context.Background(), number, r, event("certificate.revoke", "alpha", number)); err != nil {
		t.Fatalf("revoke %s: %v", number, err)
	}
}

// IssueWithPrintJob issues persons first to first+n-1 of alpha as batch id
// with a print job whose photo for person i is "photo of <number>", and
// returns their numbers (after Seed).
func IssueWithPrintJob(t testing.TB, s issuer.Store, id string, first, n int) []string {
	t.Helper()
	certs := make([]issuer.Certificate, n)
	for i := range certs {
		certs[i] = cert("alpha", first+i, "6-18-02-04", 3, june30)
	}
	job := &issuer.PrintJob{PublicURL: "https://verify.example.cn", Photo: func(c issuer.Certificate) []byte { return []byte("photo of " + c.Number) }}
	if err := s.IssueBatch(context.Background(), batch(id, "alpha", id), prefixA, certs, seal, job); err != nil {
		t.Fatalf("IssueBatch(%s): %v", id, err)
	}
	numbers := make([]string, n)
	for i, c := range certs {
		numbers[i] = c.Number
	}
	return numbers
}
