package issuer_test

import (
	"strings"
	"testing"

	"certd/issuer"
)

// The holder's sign-in: the code printed nowhere on the certificate, the
// number and the full name, all three; a reset code ends the old one at
// once; the per-certificate cap locks and says so; a college reaches only
// its own certificates' codes; the audit lines carry no personal data.
func TestHolderSignIn(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rep := f.issue(clerk, roster(2))
		c, other := rep.Issued[0], rep.Issued[1]
		code, hc, err := f.svc.HolderCode(f.ctx, clerk, c.Number)
		if err != nil {
			t.Fatal(err)
		}
		if len(code) < 10 || hc.Claimed() || strings.ContainsAny(code, "01OI") {
			t.Fatalf("code %q claimed %v", code, hc.Claimed())
		}
		if _, _, err := f.svc.HolderCode(f.ctx, issuer.Actor{Name: "x", InstitutionID: "other"}, c.Number); !issuer.Is(err, issuer.ErrNotFound) {
			t.Fatalf("another college read the holder code: %v", err)
		}
		if _, _, err := f.svc.HolderCode(f.ctx, issuer.Actor{Name: "aud", InstitutionID: "jlvtc", ReadOnly: true}, c.Number); err == nil {
			t.Fatal("an auditor read the holder code")
		}
		otherCode, _, _ := f.svc.HolderCode(f.ctx, clerk, other.Number)
		if otherCode == code {
			t.Fatal("two certificates share a holder code")
		}
		typed := strings.ToLower(issuer.FormatHolderCode(code))
		for _, tc := range []struct {
			name, number, code, holder string
		}{
			{"wrong code", c.Number, otherCode, c.Holder.Name},
			{"wrong name", c.Number, code, "张三丰"},
			{"other's code", other.Number, code, other.Holder.Name},
			{"unknown number", "Y000022000001263999999", code, c.Holder.Name},
			{"garbage code", c.Number, "<script>", c.Holder.Name},
		} {
			_, err := f.svc.HolderSignIn(f.ctx, tc.number, tc.code, tc.holder, "10.0.0.1")
			if !issuer.Is(err, issuer.ErrInvalid) {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		got, err := f.svc.HolderSignIn(f.ctx, c.Number, typed, " "+c.Holder.Name+" ", "10.0.0.2")
		if err != nil {
			t.Fatalf("right code (typed in lower case with hyphens): %v", err)
		}
		if got.Number != c.Number {
			t.Fatal(got.Number)
		}
		if _, hc, _ := f.svc.HolderCode(f.ctx, clerk, c.Number); !hc.Claimed() {
			t.Fatal("not claimed after sign-in")
		}
		fresh, err := f.svc.ResetHolderCode(f.ctx, clerk, c.Number)
		if err != nil || fresh == code {
			t.Fatalf("reset: %q %v", fresh, err)
		}
		if _, err := f.svc.HolderSignIn(f.ctx, c.Number, code, c.Holder.Name, "10.0.0.3"); !issuer.Is(err, issuer.ErrInvalid) {
			t.Fatalf("the old code works after a reset: %v", err)
		}
		if _, err := f.svc.HolderSignIn(f.ctx, c.Number, fresh, c.Holder.Name, "10.0.0.3"); err != nil {
			t.Fatalf("new code: %v", err)
		}
		if _, hc, _ := f.svc.HolderCode(f.ctx, clerk, c.Number); !hc.Claimed() {
			t.Fatal("a reset lost the claim")
		}
		// The per-certificate cap, from many clients.
		for i := 0; i < issuer.HolderFailuresPerCertificate; i++ {
			_, _ = f.svc.HolderSignIn(f.ctx, other.Number, "AAAAAAAAAAAA", other.Holder.Name, "192.0.2."+string(rune('a'+i)))
		}
		if _, err := f.svc.HolderSignIn(f.ctx, other.Number, otherCode, other.Holder.Name, "10.0.0.9"); !issuer.Is(err, issuer.ErrForbidden) || !strings.Contains(err.Error(), "锁定") {
			t.Fatalf("a locked certificate let the right code in or did not say so: %v", err)
		}
		evs, _ := f.store.Audit(f.ctx, issuer.AuditFilter{Subject: c.Number})
		for _, ev := range evs {
			if strings.HasPrefix(ev.Action, "holder.") && (strings.Contains(ev.Detail, c.Holder.Name) || strings.Contains(ev.Detail, code) || strings.Contains(ev.Detail, c.Holder.DocNumber)) {
				t.Fatalf("audit line with personal data or the code: %+v", ev)
			}
		}
	})
}

// The per-client cap across many certificates.
func TestHolderSignInClientCap(t *testing.T) {
	f := newFixture(t)
	rep := f.issue(clerk, roster(1))
	c := rep.Issued[0]
	code, _, _ := f.svc.HolderCode(f.ctx, clerk, c.Number)
	for i := 0; i < issuer.HolderFailuresPerClient; i++ {
		_, _ = f.svc.HolderSignIn(f.ctx, "Y000022000001263"+strings.Repeat("9", 6), code, "某某", "203.0.113.0/24")
	}
	if _, err := f.svc.HolderSignIn(f.ctx, c.Number, code, c.Holder.Name, "203.0.113.0/24"); !issuer.Is(err, issuer.ErrForbidden) {
		t.Fatalf("client over its cap got through: %v", err)
	}
	if _, err := f.svc.HolderSignIn(f.ctx, c.Number, code, c.Holder.Name, "198.51.100.0/24"); err != nil {
		t.Fatalf("another client: %v", err)
	}
}

// Share links: bounds on days, label and reveal; only the holder actor of
// that number reaches them; end, end-all and extend; a revoked certificate
// cannot be shared anew.
func TestShareLinks(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		rep := f.issue(clerk, roster(2))
		c, other := rep.Issued[0], rep.Issued[1]
		h := issuer.HolderActor(c.Number)
		bad := []issuer.ShareSpec{
			{Days: 6, Reveal: issuer.RevealHidden},
			{Days: 181, Reveal: issuer.RevealHidden},
			{Days: 30, Reveal: "full"},
			{Days: 30, Reveal: issuer.RevealHidden, Label: strings.Repeat("长", 41)},
			{Days: 30, Reveal: issuer.RevealHidden, Label: "a\x00b"},
		}
		for _, spec := range bad {
			if _, _, err := f.svc.CreateShareLink(f.ctx, h, c.Number, spec); !issuer.Is(err, issuer.ErrInvalid) {
				t.Fatalf("%+v accepted: %v", spec, err)
			}
		}
		if _, _, err := f.svc.CreateShareLink(f.ctx, h, other.Number, issuer.ShareSpec{Reveal: issuer.RevealHidden}); !issuer.Is(err, issuer.ErrNotFound) {
			t.Fatalf("a holder shared another's certificate: %v", err)
		}
		if _, _, err := f.svc.CreateShareLink(f.ctx, clerk, c.Number, issuer.ShareSpec{Reveal: issuer.RevealHidden}); !issuer.Is(err, issuer.ErrNotFound) {
			t.Fatalf("a college operator made a holder's link: %v", err)
		}
		tok, l, err := f.svc.CreateShareLink(f.ctx, h, c.Number, issuer.ShareSpec{Label: "某公司招聘", Days: 7, Reveal: issuer.RevealHidden})
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != issuer.ShareTokenLen || l.TokenHash != issuer.ShareTokenHash(tok) || strings.Contains(l.TokenHash, tok) {
			t.Fatalf("token %q hash %q", tok, l.TokenHash)
		}
		if d := l.ExpiresAt.Sub(f.now); d.Hours() < 7*24-1 || d.Hours() > 7*24 {
			t.Fatalf("expiry %v", d)
		}
		tok2, _, err := f.svc.CreateShareLink(f.ctx, h, c.Number, issuer.ShareSpec{Reveal: issuer.RevealMasked})
		if err != nil {
			t.Fatal(err)
		}
		if tok2 == tok {
			t.Fatal("two links share a token")
		}
		ext, err := f.svc.ExtendShareLink(f.ctx, h, c.Number, l.TokenHash, 90)
		if err != nil || ext.ExpiresAt.Sub(f.now).Hours() != 90*24 {
			t.Fatalf("extend: %v %v", ext.ExpiresAt, err)
		}
		if err := f.svc.EndShareLink(f.ctx, h, c.Number, l.TokenHash); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ExtendShareLink(f.ctx, h, c.Number, l.TokenHash, 30); !issuer.Is(err, issuer.ErrConflict) {
			t.Fatalf("an ended link was extended: %v", err)
		}
		if err := f.svc.EndShareLink(f.ctx, issuer.HolderActor(other.Number), other.Number, l.TokenHash); !issuer.Is(err, issuer.ErrNotFound) {
			t.Fatalf("another holder ended the link: %v", err)
		}
		n, err := f.svc.EndAllShareLinks(f.ctx, h, c.Number)
		if err != nil || n != 1 {
			t.Fatalf("end all: %d %v", n, err)
		}
		links, _ := f.svc.HolderShareLinks(f.ctx, h, c.Number)
		for _, l := range links {
			if l.Active(f.now) {
				t.Fatalf("live after end-all: %+v", l)
			}
		}
		if _, err := f.svc.Revoke(f.ctx, clerk, c.Number, issuer.ReasonMisconduct, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.CreateShareLink(f.ctx, h, c.Number, issuer.ShareSpec{Reveal: issuer.RevealHidden}); !issuer.Is(err, issuer.ErrConflict) {
			t.Fatalf("a revoked certificate was shared: %v", err)
		}
		for _, a := range []string{"holder.share_create", "holder.share_extend", "holder.share_end", "holder.share_end_all"} {
			evs, _ := f.store.Audit(f.ctx, issuer.AuditFilter{Subject: c.Number, Action: a})
			if len(evs) == 0 {
				t.Fatalf("no %s audit line", a)
			}
			if strings.Contains(evs[0].Detail, "某公司") || strings.Contains(evs[0].Detail, tok) {
				t.Fatalf("audit line carries the label or the token: %s", evs[0].Detail)
			}
		}
	})
}
