package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/occupation"
)

// Run runs the conformance suite. open must return a new, empty, migrated
// store for the calling test and arrange for it to be closed and removed
// with t.Cleanup. Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) issuer.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, issuer.Store)
	}{
		{"Ping", testPing},
		{"Authority", testAuthority},
		{"InstitutionVersions", testInstitutionVersions},
		{"InstitutionConcurrentEdit", testInstitutionConcurrentEdit},
		{"InstitutionPrefix", testInstitutionPrefix},
		{"InstitutionRoundTrip", testInstitutionRoundTrip},
		{"SigningKeys", testSigningKeys},
		{"Occupations", testOccupations},
		{"Numbering", testNumbering},
		{"Seal", testSeal},
		{"AllOrNothing", testAllOrNothing},
		{"ConcurrentIssue", testConcurrentIssue},
		{"Batches", testBatches},
		{"ValidHoldings", testValidHoldings},
		{"OneValidPerHolding", testOneValidPerHolding},
		{"Revoke", testRevoke},
		{"ConcurrentRevoke", testConcurrentRevoke},
		{"Reissue", testReissue},
		{"PDF", testPDF},
		{"PrintJob", testPrintJob},
		{"PrintJobLease", testPrintJobLease},
		{"Credential", testCredential},
		{"ConcurrentCredential", testConcurrentCredential},
		{"CertificateFilter", testCertificateFilter},
		{"Paging", testPaging},
		{"Audit", testAudit},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"StatusIndexes", testStatusIndexes},
		{"ConcurrentStatusIndexes", testConcurrentStatusIndexes},
		{"StatusListVersions", testStatusListVersions},
		{"StatusListResigns", testStatusListResigns},
		{"HolderCodes", testHolderCodes},
		{"HolderFailures", testHolderFailures},
		{"ShareLinks", testShareLinks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func testPing(t *testing.T, s issuer.Store) {
	must(t, s.Ping(t.Context()))
}

func testAuthority(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	_, err := s.Authority(ctx)
	wantErr(t, err, issuer.ErrNotFound, "")

	a := issuer.Authority{Name: "吉林省人力资源和社会保障厅", KID: "jlrs-1", PublicKey: key(9), Sealed: bytesOf(7, 64), CreatedAt: t0}
	must(t, s.CreateAuthority(ctx, a, event("authority.init", "", "jlrs-1")))
	got, err := s.Authority(ctx)
	must(t, err)
	equal(t, "authority", got, a)

	b := a
	b.Name, b.KID = "usurper", "other"
	wantErr(t, s.CreateAuthority(ctx, b, event("authority.init", "", "other")), issuer.ErrConflict, "")
	got, err = s.Authority(ctx)
	must(t, err)
	equal(t, "authority after second create", got, a)
	if n := countAudit(t, s, issuer.AuditFilter{Action: "authority.init"}); n != 1 {
		t.Fatalf("authority.init events = %d, want 1 (the failed create must not leave one)", n)
	}
}

func testInstitutionVersions(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	_, err := s.Institution(ctx, "alpha")
	wantErr(t, err, issuer.ErrNotFound, "")
	_, err = s.InstitutionAt(ctx, "alpha", t0)
	wantErr(t, err, issuer.ErrNotFound, "")
	_, err = s.InstitutionVersions(ctx, "alpha")
	wantErr(t, err, issuer.ErrNotFound, "")

	v1 := institution("alpha", prefixA, 1, t0)
	v2 := institution("alpha", prefixA, 2, t0.Add(48*time.Hour))
	v2.Status = issuer.Suspended
	v3 := institution("alpha", prefixA, 3, t0.Add(96*time.Hour))
	v3.Name = "吉林某某职业技术大学"

	for _, bad := range []int{0, 2, -1} {
		in := institution("alpha", prefixA, bad, t0)
		wantErr(t, s.PutInstitution(ctx, in, nil, event("institution.register", "alpha", "alpha")), issuer.ErrConflict, "version_conflict")
	}
	must(t, s.PutInstitution(ctx, v1, nil, event("institution.register", "alpha", "alpha")))
	for _, bad := range []int{1, 3} {
		in := institution("alpha", prefixA, bad, t0)
		wantErr(t, s.PutInstitution(ctx, in, nil, event("institution.update", "alpha", "alpha")), issuer.ErrConflict, "version_conflict")
	}
	must(t, s.PutInstitution(ctx, v2, nil, event("institution.suspend", "alpha", "alpha")))
	must(t, s.PutInstitution(ctx, v3, nil, event("institution.update", "alpha", "alpha")))

	got, err := s.Institution(ctx, "alpha")
	must(t, err)
	equal(t, "latest", got, v3)
	all, err := s.InstitutionVersions(ctx, "alpha")
	must(t, err)
	equal(t, "versions", all, []issuer.Institution{v1, v2, v3})

	at := []struct {
		name string
		t    time.Time
		want int // 0: ErrNotFound
	}{
		{"before first", t0.Add(-time.Microsecond), 0},
		{"exactly first", t0, 1},
		{"between", t0.Add(47 * time.Hour), 1},
		{"exactly second", t0.Add(48 * time.Hour), 2},
		{"after last", t0.Add(1000 * time.Hour), 3},
		{"other zone", t0.Add(50 * time.Hour).In(issuer.ChinaTime), 2},
	}
	for _, tc := range at {
		got, err := s.InstitutionAt(ctx, "alpha", tc.t)
		if tc.want == 0 {
			wantErr(t, err, issuer.ErrNotFound, "")
			continue
		}
		must(t, err)
		if got.Version != tc.want {
			t.Errorf("InstitutionAt(%s) = version %d, want %d", tc.name, got.Version, tc.want)
		}
	}

	must(t, s.PutInstitution(ctx, institution("beta", prefixB, 1, t0), nil, event("institution.register", "beta", "beta")))
	list, err := s.Institutions(ctx)
	must(t, err)
	equal(t, "Institutions", list, []issuer.Institution{v3, institution("beta", prefixB, 1, t0)})
	if n := countAudit(t, s, issuer.AuditFilter{InstitutionID: "alpha"}); n != 3 {
		t.Fatalf("alpha audit events = %d, want 3 (rejected edits leave none)", n)
	}
}

func testInstitutionConcurrentEdit(t *testing.T, s issuer.Store) {
	setup(t, s)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			in := institution("alpha", prefixA, 2, t0.Add(time.Hour))
			in.Contact = fmt.Sprint(i)
			errs[i] = s.PutInstitution(t.Context(), in, nil, event("institution.update", "alpha", "alpha"))
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantErr(t, err, issuer.ErrConflict, "version_conflict")
	}
	if won != 1 {
		t.Fatalf("%d concurrent edits of version 2 succeeded, want exactly 1", won)
	}
	all, err := s.InstitutionVersions(t.Context(), "alpha")
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("stored %d versions, want 2", len(all))
	}
}

func testInstitutionPrefix(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	gamma := institution("gamma", prefixA, 1, t0)
	wantErr(t, s.PutInstitution(ctx, gamma, []issuer.SigningKey{signingKey("gamma", "gamma-k1", 3, t0)}, event("institution.register", "gamma", "gamma")),
		issuer.ErrConflict, "prefix_taken")
	_, err := s.Institution(ctx, "gamma")
	wantErr(t, err, issuer.ErrNotFound, "")
	keys, err := s.SigningKeys(ctx, "gamma")
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("rejected registration stored %d keys", len(keys))
	}

	// A new version may not take another institution's prefix either, but
	// may move to a free one, which frees the old one.
	beta2 := institution("beta", prefixA, 2, t0.Add(time.Hour))
	wantErr(t, s.PutInstitution(ctx, beta2, nil, event("institution.update", "beta", "beta")), issuer.ErrConflict, "prefix_taken")
	const free = "J229900000009"
	beta2.Prefix = free
	must(t, s.PutInstitution(ctx, beta2, nil, event("institution.update", "beta", "beta")))
	gamma.Prefix = prefixB
	must(t, s.PutInstitution(ctx, gamma, nil, event("institution.register", "gamma", "gamma")))
}

func testInstitutionRoundTrip(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	in := institution("alpha", prefixA, 1, t0)
	in.Keys = []issuer.InstitutionKey{
		{KID: "alpha-k1", PublicKey: key(1), NotBefore: t0, NotAfter: t0.Add(24 * time.Hour)},
		{KID: "alpha-k2", PublicKey: key(2), NotBefore: t0.Add(24 * time.Hour)},
	}
	in.Fees = append(in.Fees, issuer.Fee{Occupation: "4-04-05-04", Level: 4, AmountFen: 12050})
	must(t, s.PutInstitution(ctx, in, nil, event("institution.register", "alpha", "alpha")))
	got, err := s.Institution(ctx, "alpha")
	must(t, err)
	equal(t, "institution", got, in)
	if !got.Keys[1].NotAfter.IsZero() {
		t.Fatalf("zero NotAfter came back as %v", got.Keys[1].NotAfter)
	}
	k, ok := got.KeyAt(t0.Add(25 * time.Hour))
	if !ok || k.KID != "alpha-k2" || !k.PublicKey.Equal(key(2)) {
		t.Fatalf("KeyAt after round trip = %+v, %v", k, ok)
	}
	if !got.Allows("4-04-05-04", "网络安全管理员", 4) || got.Allows("4-04-05-04", "", 4) {
		t.Fatal("scope with 工种 did not survive the round trip")
	}
}

func testSigningKeys(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	k1 := signingKey("alpha", "alpha-k1", 1, t0)
	must(t, s.PutInstitution(ctx, institution("alpha", prefixA, 1, t0), []issuer.SigningKey{k1}, event("institution.register", "alpha", "alpha")))
	got, err := s.SigningKeys(ctx, "alpha")
	must(t, err)
	equal(t, "keys after v1", got, []issuer.SigningKey{k1})

	// Rotation: v2 brings k2 and retires k1 in the same call.
	rotated := t0.Add(24 * time.Hour)
	k2 := signingKey("alpha", "alpha-k2", 2, rotated)
	k1r := k1
	k1r.RetiredAt = rotated
	must(t, s.PutInstitution(ctx, institution("alpha", prefixA, 2, rotated), []issuer.SigningKey{k2, k1r}, event("institution.rotate", "alpha", "alpha-k2")))
	got, err = s.SigningKeys(ctx, "alpha")
	must(t, err)
	equal(t, "keys after rotation", got, []issuer.SigningKey{k1r, k2})

	// A key id belongs to one institution only, and a rejected version
	// stores nothing.
	wantErr(t, s.PutInstitution(ctx, institution("beta", prefixB, 1, t0), []issuer.SigningKey{signingKey("beta", "alpha-k1", 5, t0)}, event("institution.register", "beta", "beta")),
		issuer.ErrConflict, "")
	_, err = s.Institution(ctx, "beta")
	wantErr(t, err, issuer.ErrNotFound, "")
	got, err = s.SigningKeys(ctx, "alpha")
	must(t, err)
	equal(t, "alpha keys after beta's clash", got, []issuer.SigningKey{k1r, k2})

	none, err := s.SigningKeys(ctx, "nobody")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("keys of unknown institution: %v", none)
	}
}

func testOccupations(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	got, err := s.Occupations(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("new store has %d occupations", len(got))
	}
	weld := occupation.Occupation{Code: "6-18-02-04", Name: "焊工", Edition: "2022", Levels: []occupation.Level{5, 4, 3, 2, 1}}
	net := occupation.Occupation{Code: "4-04-05-04", Name: "信息安全测试员", Edition: "2022", Marks: "S",
		Levels: []occupation.Level{4, 3}, Specialties: []occupation.Specialty{{Name: "网络安全管理员", Levels: []occupation.Level{4}}}}
	must(t, s.PutOccupations(ctx, []occupation.Occupation{weld, net}, event("catalogue.import", "", "2")))
	got, err = s.Occupations(ctx)
	must(t, err)
	equal(t, "catalogue", got, []occupation.Occupation{net, weld})

	weld.Name, weld.Regulated = "焊工（修订）", true
	cook := occupation.Occupation{Code: "4-03-02-01", Name: "中式烹调师", Edition: "2022", Levels: []occupation.Level{5, 4}}
	must(t, s.PutOccupations(ctx, []occupation.Occupation{weld, cook}, event("catalogue.import", "", "2")))
	got, err = s.Occupations(ctx)
	must(t, err)
	equal(t, "catalogue after upsert", got, []occupation.Occupation{cook, net, weld})
	if n := countAudit(t, s, issuer.AuditFilter{Action: "catalogue.import"}); n != 2 {
		t.Fatalf("catalogue.import events = %d, want 2", n)
	}
}

func testNumbering(t *testing.T, s issuer.Store) {
	setup(t, s)
	const w = "6-18-02-04"
	type issue1 struct {
		prefix, inst string
		certs        []issuer.Certificate
		want         []string
	}
	steps := []issue1{
		{prefixA, "alpha", []issuer.Certificate{
			cert("alpha", 1, w, 3, june30), cert("alpha", 2, w, 3, june30), cert("alpha", 3, w, 4, june30),
			cert("alpha", 4, w, 3, dec2025), cert("alpha", 5, w, 3, july15),
		}, []string{no(prefixA, "26", 3, 1), no(prefixA, "26", 3, 2), no(prefixA, "26", 4, 1), no(prefixA, "25", 3, 1), no(prefixA, "26", 3, 3)}},
		// A second batch continues each counter.
		{prefixA, "alpha", []issuer.Certificate{cert("alpha", 6, w, 4, june30), cert("alpha", 7, w, 3, june30)},
			[]string{no(prefixA, "26", 4, 2), no(prefixA, "26", 3, 4)}},
		// Another prefix has counters of its own.
		{prefixB, "beta", []issuer.Certificate{cert("beta", 101, w, 3, june30)}, []string{no(prefixB, "26", 3, 1)}},
		{prefixA, "alpha", []issuer.Certificate{cert("alpha", 8, w, 5, june30)}, []string{no(prefixA, "26", 5, 1)}},
	}
	for i, st := range steps {
		got := issue(t, s, batch(fmt.Sprintf("b%d", i), st.inst, fmt.Sprintf("fp%d", i)), st.prefix, st.certs...)
		equal(t, fmt.Sprintf("numbers of batch %d", i), got, st.want)
		for _, n := range got {
			if len(n) != 22 {
				t.Fatalf("number %q has %d characters, want 22", n, len(n))
			}
		}
	}
	// A revoked number is never handed out again.
	must(t, s.Revoke(t.Context(), no(prefixA, "26", 5, 1), issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "admin"}, event("certificate.revoke", "alpha", "x")))
	got := issue(t, s, batch("b9", "alpha", "fp9"), prefixA, cert("alpha", 8, w, 5, june30))
	equal(t, "number after a revocation", got, []string{no(prefixA, "26", 5, 2)})
}

func testSeal(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	b := batch("b1", "alpha", "fp1")
	var seen []issuer.Certificate
	certs := []issuer.Certificate{cert("alpha", 1, "6-18-02-04", 3, june30), cert("alpha", 2, "6-18-02-04", 4, june30)}
	err := s.IssueBatch(ctx, b, prefixA, certs, func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		seen = append(seen, *c)
		if c.Number == "" || c.Status != issuer.Valid || c.BatchID != "b1" {
			return issuer.AuditEvent{}, fmt.Errorf("seal called with number %q, status %q, batch %q", c.Number, c.Status, c.BatchID)
		}
		ev, err := seal(c)
		ev.Detail = `{"row":` + fmt.Sprint(len(seen)) + `}`
		return ev, err
	}, nil)
	must(t, err)
	if len(seen) != 2 {
		t.Fatalf("seal called %d times, want 2", len(seen))
	}
	for i, c := range certs {
		got, err := s.Certificate(ctx, c.Number)
		must(t, err)
		equal(t, "stored certificate", got, c)
		if got.Token != "jws."+c.Number || got.KID != "alpha-k1" || got.VerifyCode != "vc-"+c.Number {
			t.Fatalf("what seal set was not stored: %+v", got)
		}
		evs, err := s.Audit(ctx, issuer.AuditFilter{Subject: c.Number})
		must(t, err)
		want := event("certificate.issue", "alpha", c.Number)
		want.Detail = fmt.Sprintf(`{"row":%d}`, i+1)
		if len(evs) != 1 {
			t.Fatalf("audit for %s: %d events, want 1", c.Number, len(evs))
		}
		want.Seq = evs[0].Seq
		equal(t, "audit event from seal", evs[0], want)
	}
}

func testAllOrNothing(t *testing.T, s issuer.Store) {
	const w = "6-18-02-04"
	// The cases share one store and run in order: each must leave it
	// exactly as it found it, which is the property under test.
	cases := []struct {
		name string
		run  func(t *testing.T) error
		kind issuer.Kind // 0: any error
		code string
	}{
		{"seal fails on third", func(t *testing.T) error {
			sealer, calls, boom := failingSeal(3)
			certs := []issuer.Certificate{cert("alpha", 10, w, 3, june30), cert("alpha", 11, w, 3, june30), cert("alpha", 12, w, 3, june30), cert("alpha", 13, w, 3, june30)}
			err := s.IssueBatch(t.Context(), batch("bad", "alpha", "fp-bad"), prefixA, certs, sealer, nil)
			if !errors.Is(err, boom) {
				t.Errorf("seal error lost: got %v", err)
			}
			if calls.Load() != 3 {
				t.Errorf("seal called %d times, want 3", calls.Load())
			}
			return err
		}, 0, ""},
		{"duplicate holding", func(t *testing.T) error {
			// Person 1 already holds the level-3 certificate from setup.
			err := s.IssueBatch(t.Context(), batch("bad", "alpha", "fp-bad"), prefixA,
				[]issuer.Certificate{cert("alpha", 20, w, 3, june30), cert("alpha", 1, w, 3, july15)}, seal, nil)
			if err != nil && !strings.Contains(err.Error(), no(prefixA, "26", 3, 1)) {
				t.Errorf("duplicate_holding does not name the certificate held: %v", err)
			}
			return err
		}, issuer.ErrConflict, "duplicate_holding"},
		{"duplicate holding from another institution", func(t *testing.T) error {
			return s.IssueBatch(t.Context(), batch("bad", "beta", "fp-bad"), prefixB,
				[]issuer.Certificate{cert("beta", 1, w, 3, june30)}, seal, nil)
		}, issuer.ErrConflict, "duplicate_holding"},
		{"duplicate in roster", func(t *testing.T) error {
			return s.IssueBatch(t.Context(), batch("bad", "alpha", "fp-bad"), prefixA,
				[]issuer.Certificate{cert("alpha", 30, w, 3, june30), cert("alpha", 31, w, 3, june30), cert("alpha", 30, w, 3, june30)}, seal, nil)
		}, issuer.ErrConflict, ""},
		{"same fingerprint", func(t *testing.T) error {
			return s.IssueBatch(t.Context(), batch("bad", "alpha", "fp-setup"), prefixA,
				[]issuer.Certificate{cert("alpha", 40, w, 3, june30)}, seal, nil)
		}, issuer.ErrConflict, "batch_exists"},
		{"empty roster", func(t *testing.T) error {
			return s.IssueBatch(t.Context(), batch("bad", "alpha", "fp-bad"), prefixA, nil, seal, nil)
		}, issuer.ErrInvalid, ""},
	}
	setup(t, s)
	issue(t, s, batch("setup", "alpha", "fp-setup"), prefixA, cert("alpha", 1, w, 3, june30))
	baseCerts := len(allCerts(t, s))
	baseAudit := countAudit(t, s, issuer.AuditFilter{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run(t)
			if c.kind == 0 {
				if err == nil {
					t.Fatal("no error")
				}
			} else {
				wantErr(t, err, c.kind, c.code)
			}
			if n := len(allCerts(t, s)); n != baseCerts {
				t.Errorf("%d certificates stored, want %d", n, baseCerts)
			}
			if n := countAudit(t, s, issuer.AuditFilter{}); n != baseAudit {
				t.Errorf("%d audit events, want %d", n, baseAudit)
			}
			if _, err := s.Batch(t.Context(), "bad"); !errors.Is(err, issuer.ErrNotFound) {
				t.Errorf("failed batch was recorded (err %v)", err)
			}
		})
	}
	// No case advanced a counter visibly: the next good batch continues
	// right after setup's certificate, and untouched counters start at 1.
	got := issue(t, s, batch("good", "alpha", "fp-good"), prefixA, cert("alpha", 50, w, 3, june30), cert("alpha", 51, w, 4, june30))
	equal(t, "numbers after failed batches", got, []string{no(prefixA, "26", 3, 2), no(prefixA, "26", 4, 1)})
	got = issue(t, s, batch("good-b", "beta", "fp-good"), prefixB, cert("beta", 60, w, 3, june30))
	equal(t, "beta numbers after failed batches", got, []string{no(prefixB, "26", 3, 1)})
}
