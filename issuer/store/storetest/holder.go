package storetest

import (
	"context"
	"testing"
	"time"

	"certd/issuer"
)

// Holder codes: no row means generation 0 and unclaimed; a reset keeps the
// claim; the first claim's time stays; each change has its audit line.
func testHolderCodes(t *testing.T, s issuer.Store) {
	ctx := context.Background()
	setup(t, s)
	numbers := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))
	a, b := numbers[0], numbers[1]
	m, err := s.HolderCodes(ctx, numbers)
	must(t, err)
	if len(m) != 0 {
		t.Fatalf("fresh certificates have holder-code rows: %+v", m)
	}
	must(t, s.ClaimCertificate(ctx, a, t0, event("holder.sign_in", "alpha", a)))
	must(t, s.ClaimCertificate(ctx, a, t0.Add(time.Hour), event("holder.sign_in", "alpha", a)))
	must(t, s.SetHolderCode(ctx, issuer.HolderCode{Number: a, Generation: 1, CodeHash: "h1"}, event("holder.code_reset", "alpha", a)))
	must(t, s.SetHolderCode(ctx, issuer.HolderCode{Number: b, Generation: 2, CodeHash: "h2"}, event("holder.code_reset", "alpha", b)))
	m, err = s.HolderCodes(ctx, append(numbers, "J220100000001269999999"))
	must(t, err)
	equal(t, "holder code a", m[a], issuer.HolderCode{Number: a, Generation: 1, CodeHash: "h1", ClaimedAt: t0})
	equal(t, "holder code b", m[b], issuer.HolderCode{Number: b, Generation: 2, CodeHash: "h2"})
	if len(m) != 2 {
		t.Fatalf("rows = %d, want 2", len(m))
	}
	if n := countAudit(t, s, issuer.AuditFilter{Subject: a, Action: "holder.sign_in"}); n != 2 {
		t.Fatalf("sign-in events = %d, want 2", n)
	}
	if n := countAudit(t, s, issuer.AuditFilter{Action: "holder.code_reset"}); n != 2 {
		t.Fatalf("reset events = %d, want 2", n)
	}
}

// Failures count per key and day; a new day drops the old rows.
func testHolderFailures(t *testing.T, s issuer.Store) {
	ctx := context.Background()
	const day = 20640
	for i := 1; i <= 3; i++ {
		n, err := s.AddHolderFailure(ctx, "n:X", day)
		must(t, err)
		if n != i {
			t.Fatalf("count %d, want %d", n, i)
		}
	}
	n, err := s.HolderFailures(ctx, "c:1.2.3.4", day)
	must(t, err)
	if n != 0 {
		t.Fatal("another key shares the count")
	}
	_, err = s.AddHolderFailure(ctx, "c:1.2.3.4", day+1)
	must(t, err)
	if n, _ := s.HolderFailures(ctx, "n:X", day); n != 0 {
		t.Fatalf("yesterday's row survived a new day: %d", n)
	}
}

// Share links round-trip; update, end-all and views change only what they
// should; an unknown link is ErrNotFound.
func testShareLinks(t *testing.T, s issuer.Store) {
	ctx := context.Background()
	setup(t, s)
	numbers := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))
	a, b := numbers[0], numbers[1]
	l1 := issuer.ShareLink{TokenHash: "aa", Number: a, Label: "某公司招聘", Reveal: issuer.RevealHidden, CreatedAt: t0, ExpiresAt: t0.Add(7 * 24 * time.Hour)}
	l2 := issuer.ShareLink{TokenHash: "bb", Number: a, Label: "", Reveal: issuer.RevealMasked, CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(30 * 24 * time.Hour)}
	l3 := issuer.ShareLink{TokenHash: "cc", Number: b, Label: "x", Reveal: issuer.RevealMasked, CreatedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour)}
	for _, l := range []issuer.ShareLink{l1, l2, l3} {
		must(t, s.PutShareLink(ctx, l, event("holder.share_create", "alpha", l.Number)))
	}
	wantErr(t, s.PutShareLink(ctx, l1, event("holder.share_create", "alpha", a)), issuer.ErrConflict, "")
	got, err := s.ShareLink(ctx, "aa")
	must(t, err)
	equal(t, "link", got, l1)
	_, err = s.ShareLink(ctx, "zz")
	wantErr(t, err, issuer.ErrNotFound, "")
	list, err := s.ShareLinks(ctx, a)
	must(t, err)
	if len(list) != 2 || list[0].TokenHash != "bb" || list[1].TokenHash != "aa" {
		t.Fatalf("links of a = %+v, want bb then aa", list)
	}
	l1.ExpiresAt = l1.ExpiresAt.Add(24 * time.Hour)
	must(t, s.UpdateShareLink(ctx, l1, event("holder.share_extend", "alpha", a)))
	wantErr(t, s.UpdateShareLink(ctx, issuer.ShareLink{TokenHash: "zz", ExpiresAt: t0}, event("holder.share_extend", "alpha", a)), issuer.ErrNotFound, "")
	v1, v2 := t0.Add(2*time.Hour), t0.Add(time.Hour)
	must(t, s.AddShareViews(ctx, []issuer.ShareView{{TokenHash: "aa", N: 3, At: v1}, {TokenHash: "aa", N: 2, At: v2}, {TokenHash: "zz", N: 1, At: v1}}))
	got, err = s.ShareLink(ctx, "aa")
	must(t, err)
	l1.Views, l1.LastViewAt = 5, v1
	equal(t, "link after views", got, l1)
	n, err := s.EndShareLinks(ctx, a, t0.Add(3*time.Hour), event("holder.share_end_all", "alpha", a))
	must(t, err)
	if n != 2 {
		t.Fatalf("ended %d, want 2", n)
	}
	n, err = s.EndShareLinks(ctx, a, t0.Add(4*time.Hour), event("holder.share_end_all", "alpha", a))
	must(t, err)
	if n != 0 {
		t.Fatalf("ended %d again, want 0", n)
	}
	got, _ = s.ShareLink(ctx, "aa")
	if !got.EndedAt.Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("ended at %v", got.EndedAt)
	}
	if got, _ := s.ShareLink(ctx, "cc"); !got.EndedAt.IsZero() {
		t.Fatal("ending a's links ended b's")
	}
	if n := countAudit(t, s, issuer.AuditFilter{Subject: a}); n < 5 {
		t.Fatalf("audit lines for a = %d", n)
	}
}
