package storetest

import (
	"context"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/occupation"
)

// Reopen checks that a database outlives the store that wrote it. Through a
// store from open it writes one record of every kind (authority,
// institution with a signing key, catalogue entry, batch, certificates, a
// revocation, a PDF, a user, a token, the session key, audit events), reads
// them all back and closes the store. It then opens the same database
// again, which reruns the migrations with nothing left to do, and expects
// every record field for field, and numbering that continues where it
// stopped rather than starting over.
//
// open must return a new store on the same database at each call and leave
// closing it to Reopen.
func Reopen(t *testing.T, open func(t *testing.T) AccountStore) {
	ctx := context.Background()
	s := open(t)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close() // the test has failed already
		}
	})
	must(t, s.CreateAuthority(ctx, issuer.Authority{Name: "吉林省人力资源和社会保障厅", KID: "jlrs-1", PublicKey: key(9), Sealed: bytesOf(7, 64), CreatedAt: t0},
		event("authority.init", "", "jlrs-1")))
	must(t, s.PutInstitution(ctx, institution("alpha", prefixA, 1, t0), []issuer.SigningKey{signingKey("alpha", "alpha-k1", 1, t0)},
		event("institution.register", "alpha", "alpha")))
	must(t, s.PutOccupations(ctx, []occupation.Occupation{{Code: weld, Name: "焊工", Edition: "2022", Levels: []occupation.Level{5, 4, 3, 2, 1}}},
		event("catalogue.import", "", "1")))
	numbers := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))
	must(t, s.Revoke(ctx, numbers[1], issuer.Revocation{Reason: issuer.ReasonError, Note: "录入错误", At: t0.Add(time.Hour), By: "admin"},
		event("certificate.revoke", "alpha", numbers[1])))
	must(t, s.PutPDF(ctx, numbers[0], []byte("%PDF-1.7\n\x00\xff")))
	addUser(t, s, user("u1", "op.alpha", account.CollegeOperator, "alpha"))
	must(t, s.CreateToken(ctx, account.Token{ID: "t1", UserID: "u1", Label: "教务系统", Hash: "ab12", Scopes: []account.Scope{account.ScopeLedgerRead},
		CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour)}, event("token.create", "alpha", "t1")))
	sessionKey, err := s.SessionKey(ctx, bytesOf(40, 40), t0)
	must(t, err)
	before := snapshotOf(t, s, numbers[0])
	closed = true
	must(t, s.Close())

	s = open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close the reopened store: %v", err)
		}
	})
	equal(t, "records after reopening", snapshotOf(t, s, numbers[0]), before)
	again, err := s.SessionKey(ctx, bytesOf(80, 40), t0)
	must(t, err)
	equal(t, "session key after reopening", again, sessionKey)
	next := issue(t, s, batch("b2", "alpha", "fp2"), prefixA, cert("alpha", 3, weld, 3, june30))
	equal(t, "number issued after reopening", next, []string{no(prefixA, "26", 3, 3)})
}

// snapshot is everything Reopen wrote, as the store returns it.
type snapshot struct {
	Authority    issuer.Authority
	Institutions []issuer.Institution
	Keys         []issuer.SigningKey
	Occupations  []occupation.Occupation
	Batch        issuer.Batch
	Certificates []issuer.Certificate
	PDF          []byte
	Users        []account.User
	Tokens       []account.Token
	Audit        []issuer.AuditEvent
}

func snapshotOf(t *testing.T, s AccountStore, withPDF string) snapshot {
	t.Helper()
	ctx := context.Background()
	var sn snapshot
	var err error
	sn.Authority, err = s.Authority(ctx)
	must(t, err)
	sn.Institutions, err = s.InstitutionVersions(ctx, "alpha")
	must(t, err)
	sn.Keys, err = s.SigningKeys(ctx, "alpha")
	must(t, err)
	sn.Occupations, err = s.Occupations(ctx)
	must(t, err)
	sn.Batch, err = s.Batch(ctx, "b1")
	must(t, err)
	sn.Certificates = allCerts(t, s)
	sn.PDF, err = s.PDF(ctx, withPDF)
	must(t, err)
	sn.Users, err = s.Users(ctx, account.UserFilter{})
	must(t, err)
	sn.Tokens, err = s.Tokens(ctx, "u1")
	must(t, err)
	sn.Audit, err = s.Audit(ctx, issuer.AuditFilter{})
	must(t, err)
	// A store that lost everything would compare equal to one that lost
	// everything; make sure there was something to lose.
	if len(sn.Institutions) != 1 || len(sn.Keys) != 1 || len(sn.Occupations) != 1 || len(sn.Certificates) != 2 ||
		len(sn.Users) != 1 || len(sn.Tokens) != 1 || len(sn.Audit) < 7 {
		t.Fatalf("snapshot is missing records: %+v", sn)
	}
	return sn
}

// CheckMigrations compares the versions a backend's goose_db_version table
// lists as applied, in the order they were applied, with the migration
// files in dir: goose's initial version 0, then every file's version once.
// A migration rerun by a later Open would appear twice.
func CheckMigrations(t *testing.T, dir fs.FS, applied []int64) {
	t.Helper()
	names, err := fs.Glob(dir, "*.sql")
	must(t, err)
	want := []int64{0}
	for _, n := range names {
		v, err := strconv.ParseInt(n[:strings.IndexByte(n+"_", '_')], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: its name does not start with a version: %v", n, err)
		}
		want = append(want, v)
	}
	slices.Sort(want)
	if len(want) < 2 {
		t.Fatalf("no migrations found in %v", dir)
	}
	equal(t, "applied migrations", applied, want)
}
