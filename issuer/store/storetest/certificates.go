package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/ident"
)

const weld = "6-18-02-04"

func testConcurrentIssue(t *testing.T, s issuer.Store) {
	setup(t, s)
	const workers, per = 4, 25
	var wg sync.WaitGroup
	errs := make([]error, workers)
	got := make([][]issuer.Certificate, workers)
	for w := range workers {
		wg.Go(func() {
			certs := make([]issuer.Certificate, per)
			for i := range certs {
				certs[i] = cert("alpha", w*per+i, weld, 3, june30)
			}
			errs[w] = s.IssueBatch(t.Context(), batch(fmt.Sprint("b", w), "alpha", fmt.Sprint("fp", w)), prefixA, certs, seal, nil)
			got[w] = certs
		})
	}
	wg.Wait()
	var numbers []string
	for w := range workers {
		must(t, errs[w])
		numbers = append(numbers, numbersOf(got[w])...)
	}
	slices.Sort(numbers)
	want := make([]string, workers*per)
	for i := range want {
		want[i] = no(prefixA, "26", 3, i+1)
	}
	equal(t, "numbers of concurrent batches", numbers, want)
	equal(t, "stored", numbersOf(allCerts(t, s)), want)
}

func testBatches(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	_, err := s.Batch(ctx, "b1")
	wantErr(t, err, issuer.ErrNotFound, "")
	b := batch("b1", "alpha", "fp1")
	issue(t, s, b, prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))
	b.Count = 2
	got, err := s.Batch(ctx, "b1")
	must(t, err)
	equal(t, "batch", got, b)
	got, err = s.BatchByFingerprint(ctx, "alpha", "fp1")
	must(t, err)
	equal(t, "batch by fingerprint", got, b)
	_, err = s.BatchByFingerprint(ctx, "beta", "fp1")
	wantErr(t, err, issuer.ErrNotFound, "")
	// The same roster may be issued by another institution.
	issue(t, s, batch("b2", "beta", "fp1"), prefixB, cert("beta", 3, weld, 3, june30))
	got, err = s.BatchByFingerprint(ctx, "beta", "fp1")
	must(t, err)
	if got.ID != "b2" {
		t.Fatalf("beta's batch = %s, want b2", got.ID)
	}
}

func holding(i int, level int) issuer.HoldingKey {
	return cert("", i, weld, issuerLevel(level), june30).Key()
}

func testValidHoldings(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	got, err := s.ValidHoldings(ctx, nil)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("ValidHoldings(nil) = %v", got)
	}
	n := issue(t, s, batch("b1", "alpha", "fp1"), prefixA,
		cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30), cert("alpha", 2, weld, 4, june30))
	must(t, s.Revoke(ctx, n[1], issuer.Revocation{Reason: issuer.ReasonRequest, At: t0, By: "admin"}, event("certificate.revoke", "alpha", n[1])))

	other := holding(1, 3)
	other.DocType = ident.Passport // same number, other document: another person
	spec := holding(1, 3)
	spec.Specialty = "手工焊"
	got, err = s.ValidHoldings(ctx, []issuer.HoldingKey{holding(1, 3), holding(2, 3), holding(2, 4), holding(3, 3), other, spec, holding(1, 3)})
	must(t, err)
	equal(t, "valid holdings", got, map[issuer.HoldingKey]string{holding(1, 3): n[0], holding(2, 4): n[2]})
}

func testOneValidPerHolding(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	first := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30))[0]
	err := s.IssueBatch(ctx, batch("b2", "alpha", "fp2"), prefixA, []issuer.Certificate{cert("alpha", 1, weld, 3, july15)}, seal, nil)
	wantErr(t, err, issuer.ErrConflict, "duplicate_holding")
	// Other levels, other 工种 and other documents are other holdings.
	c := cert("alpha", 1, weld, 3, june30)
	c.Specialty = "手工焊"
	d := cert("alpha", 1, weld, 3, june30)
	d.Holder.DocType = ident.Passport
	issue(t, s, batch("b3", "alpha", "fp3"), prefixA, cert("alpha", 1, weld, 4, june30), c, d)

	// A revoked certificate no longer blocks its holding.
	must(t, s.Revoke(ctx, first, issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "admin"}, event("certificate.revoke", "alpha", first)))
	again := issue(t, s, batch("b4", "alpha", "fp4"), prefixA, cert("alpha", 1, weld, 3, july15))[0]
	got, err := s.ValidHoldings(ctx, []issuer.HoldingKey{holding(1, 3)})
	must(t, err)
	equal(t, "holding after reissue", got, map[issuer.HoldingKey]string{holding(1, 3): again})
	// Nor does a superseded one.
	repl := cert("alpha", 1, weld, 3, july15)
	repl.Holder.Name = "张一"
	newer, err := s.Reissue(ctx, again, batch("r1", "alpha", ""), prefixA, repl, seal, nil)
	must(t, err)
	third := issue(t, s, batch("b5", "alpha", "fp5"), prefixA, cert("alpha", 1, weld, 2, july15))[0]
	_ = third
	err = s.IssueBatch(ctx, batch("b6", "alpha", "fp6"), prefixA, []issuer.Certificate{cert("alpha", 1, weld, 3, july15)}, seal, nil)
	wantErr(t, err, issuer.ErrConflict, "duplicate_holding")
	if !strings.Contains(err.Error(), newer.Number) {
		t.Fatalf("clash does not name the valid certificate %s: %v", newer.Number, err)
	}
}

func testRevoke(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	r := issuer.Revocation{Reason: issuer.ReasonMisconduct, Note: "替考", At: t0.Add(time.Hour), By: "admin"}
	wantErr(t, s.Revoke(ctx, "J220100000001263999999", r, event("certificate.revoke", "alpha", "x")), issuer.ErrNotFound, "")
	n := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))
	must(t, s.Revoke(ctx, n[0], r, event("certificate.revoke", "alpha", n[0])))
	got, err := s.Certificate(ctx, n[0])
	must(t, err)
	if got.Status != issuer.Revoked || got.Revocation == nil {
		t.Fatalf("after revoke: status %q, revocation %v", got.Status, got.Revocation)
	}
	equal(t, "revocation", *got.Revocation, r)
	wantErr(t, s.Revoke(ctx, n[0], r, event("certificate.revoke", "alpha", n[0])), issuer.ErrConflict, "not_valid")
	other, err := s.Certificate(ctx, n[1])
	must(t, err)
	if other.Status != issuer.Valid || other.Revocation != nil {
		t.Fatalf("revoking %s touched %s: %+v", n[0], n[1], other)
	}
	if c := countAudit(t, s, issuer.AuditFilter{Action: "certificate.revoke"}); c != 1 {
		t.Fatalf("revoke events = %d, want 1", c)
	}
}

func testConcurrentRevoke(t *testing.T, s issuer.Store) {
	setup(t, s)
	n := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30))[0]
	const racers = 8
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			r := issuer.Revocation{Reason: issuer.ReasonError, Note: fmt.Sprint(i), At: t0, By: fmt.Sprint("admin", i)}
			errs[i] = s.Revoke(t.Context(), n, r, event("certificate.revoke", "alpha", n))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantErr(t, err, issuer.ErrConflict, "not_valid")
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent revocations succeeded, want exactly 1", won, racers)
	}
	if c := countAudit(t, s, issuer.AuditFilter{Action: "certificate.revoke"}); c != 1 {
		t.Fatalf("revoke events = %d, want 1", c)
	}
}

func testReissue(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	n := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))

	repl := cert("alpha", 1, weld, 3, june30)
	repl.Holder.Name = "张壹" // the correction

	_, err := s.Reissue(ctx, "J220100000001263999999", batch("r0", "alpha", ""), prefixA, repl, seal, nil)
	wantErr(t, err, issuer.ErrNotFound, "")

	// A failing seal leaves the old certificate valid and stores nothing.
	sealer, _, boom := failingSeal(1)
	_, err = s.Reissue(ctx, n[0], batch("r0", "alpha", ""), prefixA, repl, sealer, &issuer.PrintJob{CreatedAt: t0})
	if !errors.Is(err, boom) {
		t.Fatalf("Reissue with failing seal: %v", err)
	}
	old, err := s.Certificate(ctx, n[0])
	must(t, err)
	if old.Status != issuer.Valid || old.SupersededBy != "" {
		t.Fatalf("failed reissue changed the old certificate: %+v", old)
	}
	_, err = s.Batch(ctx, "r0")
	wantErr(t, err, issuer.ErrNotFound, "")

	got, err := s.Reissue(ctx, n[0], batch("r1", "alpha", ""), prefixA, repl, seal, &issuer.PrintJob{CreatedAt: t0, PublicURL: "https://certd.example.cn"})
	must(t, err)
	// The correction has its print job, as a batch has: its PDF is made
	// and finished by the same path.
	job, err := s.PrintJob(ctx, "r1")
	must(t, err)
	if job.Items != 1 || job.Pending != 1 || job.PublicURL != "https://certd.example.cn" || job.InstitutionID != "alpha" {
		t.Fatalf("reissue print job: %+v", job)
	}
	pend, err := s.PendingPrints(ctx, "r1", "", 10)
	must(t, err)
	if len(pend) != 1 || pend[0].Number != got.Number || pend[0].Photo != nil {
		t.Fatalf("reissue print items: %+v", pend)
	}
	if want := no(prefixA, "26", 3, 3); got.Number != want {
		t.Fatalf("replacement number %s, want %s (the counter is shared with batches)", got.Number, want)
	}
	if got.Supersedes != n[0] || got.Status != issuer.Valid || got.Holder.Name != "张壹" || got.BatchID != "r1" || got.Token != "jws."+got.Number {
		t.Fatalf("replacement: %+v", got)
	}
	stored, err := s.Certificate(ctx, got.Number)
	must(t, err)
	equal(t, "stored replacement", stored, got)
	old, err = s.Certificate(ctx, n[0])
	must(t, err)
	if old.Status != issuer.Superseded || old.SupersededBy != got.Number || old.Holder.Name != "张001" {
		t.Fatalf("old after reissue: %+v", old)
	}
	rb, err := s.Batch(ctx, "r1")
	must(t, err)
	if rb.Count != 1 {
		t.Fatalf("reissue batch count %d, want 1", rb.Count)
	}
	if c := countAudit(t, s, issuer.AuditFilter{Subject: got.Number}); c != 1 {
		t.Fatalf("audit events for the replacement = %d, want 1", c)
	}

	// Neither a superseded nor a revoked certificate can be reissued.
	_, err = s.Reissue(ctx, n[0], batch("r2", "alpha", ""), prefixA, repl, seal, nil)
	wantErr(t, err, issuer.ErrConflict, "not_valid")
	must(t, s.Revoke(ctx, n[1], issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "admin"}, event("certificate.revoke", "alpha", n[1])))
	_, err = s.Reissue(ctx, n[1], batch("r3", "alpha", ""), prefixA, cert("alpha", 2, weld, 3, june30), seal, nil)
	wantErr(t, err, issuer.ErrConflict, "not_valid")

	// A correction may be filed under an existing batch, without a job of
	// its own.
	_, err = s.Reissue(ctx, got.Number, batch("b1", "alpha", "fp1"), prefixA, repl, seal, &issuer.PrintJob{CreatedAt: t0})
	wantErr(t, err, issuer.ErrInvalid, "print_job_existing_batch")
	again, err := s.Reissue(ctx, got.Number, batch("b1", "alpha", "fp1"), prefixA, repl, seal, nil)
	must(t, err)
	if again.BatchID != "b1" || again.Supersedes != got.Number {
		t.Fatalf("reissue under existing batch: %+v", again)
	}
}

func testPDF(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	n := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30))[0]
	_, err := s.PDF(ctx, n)
	wantErr(t, err, issuer.ErrNotFound, "")
	wantErr(t, s.PutPDF(ctx, "J220100000001263999999", []byte("%PDF")), issuer.ErrNotFound, "")

	for _, pdf := range [][]byte{[]byte("%PDF-1.7\n\x00\xff binary"), []byte("%PDF-1.7 re-rendered")} {
		must(t, s.PutPDF(ctx, n, pdf))
		got, err := s.PDF(ctx, n)
		must(t, err)
		equal(t, "pdf", got, pdf)
		c, err := s.Certificate(ctx, n)
		must(t, err)
		if c.PDFSHA256 != hexSHA(pdf) {
			t.Fatalf("PDFSHA256 = %q, want %q", c.PDFSHA256, hexSHA(pdf))
		}
	}
}

// ledger issues a small mixed ledger and returns the numbers by name.
func ledger(t *testing.T, s issuer.Store) map[string]string {
	setup(t, s)
	const net = "4-04-05-04"
	a := issue(t, s, batch("b1", "alpha", "fp1"), prefixA,
		cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30), cert("alpha", 3, weld, 4, june30))
	c := cert("alpha", 4, net, 4, july15)
	c.Holder.Name = "李四"
	d := cert("alpha", 5, weld, 3, july15)
	d.Holder.Name = "John SMITH"
	bb := issue(t, s, batch("b2", "alpha", "fp2"), prefixA, c, d)
	e := issue(t, s, batch("b3", "beta", "fp1"), prefixB, cert("beta", 6, weld, 3, dec2025))
	must(t, s.Revoke(t.Context(), a[1], issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "admin"}, event("certificate.revoke", "alpha", a[1])))
	return map[string]string{"a1": a[0], "a2": a[1], "a3": a[2], "b1": bb[0], "b2": bb[1], "e1": e[0]}
}

func testCertificateFilter(t *testing.T, s issuer.Store) {
	m := ledger(t, s)
	all := []string{m["e1"], m["a1"], m["a2"], m["b2"], m["a3"], m["b1"]}
	slices.Sort(all)
	zhang := []string{m["e1"], m["a1"], m["a2"], m["a3"]}
	slices.Sort(zhang)
	cases := []struct {
		name string
		f    issuer.CertificateFilter
		want []string
	}{
		{"all", issuer.CertificateFilter{}, all},
		{"institution", issuer.CertificateFilter{InstitutionID: "beta"}, []string{m["e1"]}},
		{"batch", issuer.CertificateFilter{BatchID: "b2"}, []string{m["b2"], m["b1"]}},
		{"status revoked", issuer.CertificateFilter{Status: issuer.Revoked}, []string{m["a2"]}},
		{"status valid", issuer.CertificateFilter{Status: issuer.Valid, InstitutionID: "alpha", Level: 3}, []string{m["a1"], m["b2"]}},
		{"occupation", issuer.CertificateFilter{Occupation: "4-04-05-04"}, []string{m["b1"]}},
		{"level", issuer.CertificateFilter{Level: 4}, []string{m["a3"], m["b1"]}},
		{"name", issuer.CertificateFilter{Name: "李四"}, []string{m["b1"]}},
		{"part of a name", issuer.CertificateFilter{Name: "四"}, []string{m["b1"]}},
		{"name with spaces", issuer.CertificateFilter{Name: " 李　四 "}, []string{m["b1"]}},
		{"foreign name, any case, full-width", issuer.CertificateFilter{Name: "ｓｍｉｔｈ"}, []string{m["b2"]}},
		{"name with spaces inside", issuer.CertificateFilter{Name: "johnsm"}, []string{m["b2"]}},
		{"name part and institution", issuer.CertificateFilter{Name: "张", InstitutionID: "beta"}, []string{m["e1"]}},
		{"name wildcards are literal", issuer.CertificateFilter{Name: "%"}, []string{}},
		{"name underscore is literal", issuer.CertificateFilter{Name: "张_0"}, []string{}},
		{"name part, limited", issuer.CertificateFilter{Name: "张", Limit: 2}, zhang[:2]},
		{"doc number", issuer.CertificateFilter{DocNumber: "220101199001010006"}, []string{m["e1"]}},
		{"issued from", issuer.CertificateFilter{IssuedFrom: july15}, []string{m["b2"], m["b1"]}},
		{"issued to is inclusive", issuer.CertificateFilter{IssuedTo: june30}, []string{m["e1"], m["a1"], m["a2"], m["a3"]}},
		{"issued window", issuer.CertificateFilter{IssuedFrom: june30, IssuedTo: june30}, []string{m["a1"], m["a2"], m["a3"]}},
		{"after", issuer.CertificateFilter{After: m["a2"], InstitutionID: "alpha"}, []string{m["b2"], m["a3"], m["b1"]}},
		{"limit", issuer.CertificateFilter{Limit: 2}, all[:2]},
		{"numbers", issuer.CertificateFilter{Numbers: []string{m["b1"], m["a2"], "Y000000000000000000000"}}, []string{m["b1"], m["a2"]}},
		{"numbers with other filters", issuer.CertificateFilter{Numbers: []string{m["b1"], m["a2"]}, Status: issuer.Valid}, []string{m["b1"]}},
		{"one number", issuer.CertificateFilter{Numbers: []string{m["e1"]}}, []string{m["e1"]}},
		{"no match", issuer.CertificateFilter{InstitutionID: "alpha", Occupation: "4-04-05-04", Level: 3}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Certificates(t.Context(), tc.f)
			must(t, err)
			want := append([]string{}, tc.want...)
			slices.Sort(want)
			equal(t, "numbers (ordered by number)", numbersOf(got), want)
		})
	}
	// The ledger carries complete records, revocation included.
	got, err := s.Certificates(t.Context(), issuer.CertificateFilter{Status: issuer.Revoked})
	must(t, err)
	one, err := s.Certificate(t.Context(), m["a2"])
	must(t, err)
	equal(t, "listed record", got[0], one)
}

func testPaging(t *testing.T, s issuer.Store) {
	setup(t, s)
	certs := make([]issuer.Certificate, 23)
	for i := range certs {
		certs[i] = cert("alpha", i, weld, issuerLevel(3+i%3), june30)
	}
	want := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, certs...)
	slices.Sort(want)
	for _, limit := range []int{1, 5, 23, 50} {
		var got []string
		f := issuer.CertificateFilter{InstitutionID: "alpha", Limit: limit}
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatal("paging does not terminate")
			}
			page, err := s.Certificates(t.Context(), f)
			must(t, err)
			if len(page) > limit {
				t.Fatalf("page of %d with limit %d", len(page), limit)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, numbersOf(page)...)
			f.After = page[len(page)-1].Number
		}
		equal(t, fmt.Sprint("paged with limit ", limit), got, want)
	}
}

func testAudit(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	evs := []issuer.AuditEvent{
		event("login", "alpha", "teacher"),
		event("roster.upload", "alpha", "b1"),
		event("login", "beta", "teacher2"),
		event("roster.upload", "beta", "b2"),
		event("login", "alpha", "teacher"),
	}
	evs[4].Detail = `{"ip":"10.0.0.1","ua":"浏览器"}`
	// An hour apart, for the date range; clerk_1 acts in person and with
	// a token; clerkx1 only matches clerk_1 if "_" were a wildcard.
	for i := range evs {
		evs[i].At = t0.Add(time.Duration(i) * time.Hour)
	}
	evs[1].Actor, evs[3].Actor, evs[2].Actor = "clerk_1", "clerk_1 (token tabc)", "clerkx1"
	for _, ev := range evs {
		must(t, s.AppendAudit(ctx, ev))
	}
	got, err := s.Audit(ctx, issuer.AuditFilter{})
	must(t, err)
	if len(got) != len(evs) {
		t.Fatalf("%d events, want %d", len(got), len(evs))
	}
	for i := range got {
		if i > 0 && got[i].Seq <= got[i-1].Seq {
			t.Fatalf("Seq not increasing: %d then %d", got[i-1].Seq, got[i].Seq)
		}
		want := evs[i]
		want.Seq = got[i].Seq
		equal(t, "event", got[i], want)
	}
	seqs := func(f issuer.AuditFilter) []int64 {
		evs, err := s.Audit(ctx, f)
		must(t, err)
		out := []int64{}
		for _, ev := range evs {
			out = append(out, ev.Seq)
		}
		return out
	}
	s0 := func(i int) int64 { return got[i].Seq }
	cases := []struct {
		name string
		f    issuer.AuditFilter
		want []int64
	}{
		{"institution", issuer.AuditFilter{InstitutionID: "alpha"}, []int64{s0(0), s0(1), s0(4)}},
		{"subject", issuer.AuditFilter{Subject: "teacher"}, []int64{s0(0), s0(4)}},
		{"action", issuer.AuditFilter{Action: "roster.upload"}, []int64{s0(1), s0(3)}},
		{"action and institution", issuer.AuditFilter{Action: "login", InstitutionID: "beta"}, []int64{s0(2)}},
		{"after", issuer.AuditFilter{AfterSeq: s0(2)}, []int64{s0(3), s0(4)}},
		{"limit", issuer.AuditFilter{Limit: 2}, []int64{s0(0), s0(1)}},
		{"after and limit", issuer.AuditFilter{AfterSeq: s0(0), Limit: 1, Action: "login"}, []int64{s0(2)}},
		{"none", issuer.AuditFilter{Subject: "nobody"}, []int64{}},
		{"newest first", issuer.AuditFilter{Newest: true}, []int64{s0(4), s0(3), s0(2), s0(1), s0(0)}},
		{"newest first, next page", issuer.AuditFilter{Newest: true, BeforeSeq: s0(3), Limit: 2}, []int64{s0(2), s0(1)}},
		{"actor", issuer.AuditFilter{Actor: "clerk_1"}, []int64{s0(1), s0(3)}},
		{"actor is not a pattern", issuer.AuditFilter{Actor: "clerk%"}, []int64{}},
		{"from", issuer.AuditFilter{From: t0.Add(2 * time.Hour)}, []int64{s0(2), s0(3), s0(4)}},
		{"until (exclusive)", issuer.AuditFilter{Until: t0.Add(2 * time.Hour)}, []int64{s0(0), s0(1)}},
		{"from and until", issuer.AuditFilter{From: t0.Add(time.Hour), Until: t0.Add(3*time.Hour + time.Second), Newest: true}, []int64{s0(3), s0(2), s0(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "seqs", seqs(tc.f), tc.want)
		})
	}
	// Events appended later get larger sequence numbers.
	must(t, s.AppendAudit(ctx, event("logout", "alpha", "teacher")))
	last, err := s.Audit(ctx, issuer.AuditFilter{AfterSeq: s0(4)})
	must(t, err)
	if len(last) != 1 || last[0].Action != "logout" {
		t.Fatalf("event after the last: %+v", last)
	}
}

func testTimeRoundTrip(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	// Instants in another zone, with nanoseconds: they come back in UTC,
	// truncated to microseconds (PostgreSQL's precision, kept by both
	// backends). Civil dates come back exactly.
	odd := time.Date(2026, 6, 30, 9, 15, 30, 123456789, issuer.ChinaTime)
	want := time.Date(2026, 6, 30, 1, 15, 30, 123456000, time.UTC)
	check := func(what string, got time.Time) {
		t.Helper()
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Fatalf("%s = %v (%v), want %v in UTC", what, got, got.Location(), want)
		}
	}

	a := issuer.Authority{Name: "人社厅", KID: "a1", PublicKey: key(9), Sealed: []byte{1}, CreatedAt: odd}
	must(t, s.CreateAuthority(ctx, a, event("authority.init", "", "a1")))
	ga, err := s.Authority(ctx)
	must(t, err)
	check("Authority.CreatedAt", ga.CreatedAt)

	in := institution("alpha", prefixA, 1, odd)
	in.Keys[0].NotBefore = odd
	must(t, s.PutInstitution(ctx, in, []issuer.SigningKey{signingKey("alpha", "alpha-k1", 1, odd)}, event("institution.register", "alpha", "alpha")))
	gi, err := s.Institution(ctx, "alpha")
	must(t, err)
	check("Institution.EffectiveAt", gi.EffectiveAt)
	check("InstitutionKey.NotBefore", gi.Keys[0].NotBefore)
	if _, err := s.InstitutionAt(ctx, "alpha", want); err != nil {
		t.Fatalf("InstitutionAt its own (truncated) EffectiveAt: %v", err)
	}
	keys, err := s.SigningKeys(ctx, "alpha")
	must(t, err)
	check("SigningKey.CreatedAt", keys[0].CreatedAt)
	if !keys[0].RetiredAt.IsZero() {
		t.Fatalf("zero RetiredAt came back as %v", keys[0].RetiredAt)
	}

	b := batch("b1", "alpha", "fp1")
	b.CreatedAt = odd
	c := cert("alpha", 1, weld, 3, june30)
	c.IssuedAt = odd
	c.AssessedOn = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	must(t, s.IssueBatch(ctx, b, prefixA, []issuer.Certificate{c}, func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		ev, err := seal(c)
		ev.At = odd
		return ev, err
	}, nil))
	gb, err := s.Batch(ctx, "b1")
	must(t, err)
	check("Batch.CreatedAt", gb.CreatedAt)
	n := no(prefixA, "26", 3, 1)
	must(t, s.Revoke(ctx, n, issuer.Revocation{Reason: issuer.ReasonOther, At: odd, By: "admin"}, event("certificate.revoke", "alpha", n)))
	gc, err := s.Certificate(ctx, n)
	must(t, err)
	check("Certificate.IssuedAt", gc.IssuedAt)
	check("Revocation.At", gc.Revocation.At)
	equal(t, "AssessedOn", gc.AssessedOn, c.AssessedOn)
	equal(t, "IssuedOn", gc.IssuedOn, june30)
	evs, err := s.Audit(ctx, issuer.AuditFilter{Subject: n, Action: "certificate.issue"})
	must(t, err)
	check("AuditEvent.At", evs[0].At)
}
