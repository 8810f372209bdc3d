package storetest

import (
	"sync"
	"testing"

	"certd/issuer"
)

// testCredential: a credential sealed at issuance is stored with the
// certificate; a certificate without one gets it once through
// SetCredential, with its audit event, and keeps it: a second call returns
// the first credential and writes nothing.
func testCredential(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	withCred := func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		ev, err := seal(c)
		c.Credential = "sdjwt-of-" + c.Number + "~d1~"
		return ev, err
	}
	certs := []issuer.Certificate{cert("alpha", 1, weld, 3, june30)}
	must(t, s.IssueBatch(ctx, batch("b1", "alpha", "fp1"), prefixA, certs, withCred, nil))
	got, err := s.Certificate(ctx, certs[0].Number)
	must(t, err)
	equal(t, "credential sealed at issuance", got.Credential, "sdjwt-of-"+certs[0].Number+"~d1~")

	old := issue(t, s, batch("b2", "alpha", "fp2"), prefixA, cert("alpha", 2, weld, 4, june30))[0]
	got, err = s.Certificate(ctx, old)
	must(t, err)
	equal(t, "credential of a certificate issued without one", got.Credential, "")
	if all, err := s.Certificates(ctx, issuer.CertificateFilter{Numbers: []string{old}}); err != nil || len(all) != 1 || all[0].Credential != "" {
		t.Fatalf("Certificates: %v %+v", err, all)
	}

	out, err := s.SetCredential(ctx, old, "first~", event("certificate.credential", "alpha", old))
	must(t, err)
	equal(t, "SetCredential", out, "first~")
	out, err = s.SetCredential(ctx, old, "second~", event("certificate.credential", "alpha", old))
	must(t, err)
	equal(t, "SetCredential again", out, "first~")
	got, err = s.Certificate(ctx, old)
	must(t, err)
	equal(t, "stored credential", got.Credential, "first~")
	if n := countAudit(t, s, issuer.AuditFilter{Action: "certificate.credential", Subject: old}); n != 1 {
		t.Fatalf("certificate.credential events = %d, want 1 (only the call that stored)", n)
	}
	all, err := s.Certificates(ctx, issuer.CertificateFilter{Numbers: []string{old, certs[0].Number}})
	must(t, err)
	for _, c := range all {
		if c.Credential == "" {
			t.Errorf("Certificates lost the credential of %s", c.Number)
		}
	}

	_, err = s.SetCredential(ctx, no(prefixA, "26", 3, 999999), "x~", event("certificate.credential", "alpha", "x"))
	wantErr(t, err, issuer.ErrNotFound, "")

	// A certificate that is revoked keeps its credential (the verdict, not
	// the credential, says it was revoked).
	must(t, s.Revoke(ctx, old, issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "admin"}, event("certificate.revoke", "alpha", old)))
	got, err = s.Certificate(ctx, old)
	must(t, err)
	equal(t, "credential after revocation", got.Credential, "first~")
}

// testConcurrentCredential: of concurrent first requests exactly one
// stores, and every caller gets the stored credential.
func testConcurrentCredential(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	n := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30))[0]
	const callers = 6
	outs := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			outs[i], errs[i] = s.SetCredential(ctx, n, "abcdef"[i:i+1]+"~", event("certificate.credential", "alpha", n))
		})
	}
	wg.Wait()
	for i := range callers {
		must(t, errs[i])
		if outs[i] != outs[0] {
			t.Fatalf("caller %d got %q, caller 0 %q", i, outs[i], outs[0])
		}
	}
	got, err := s.Certificate(ctx, n)
	must(t, err)
	equal(t, "stored", got.Credential, outs[0])
	if c := countAudit(t, s, issuer.AuditFilter{Action: "certificate.credential"}); c != 1 {
		t.Fatalf("%d certificate.credential events, want 1", c)
	}
}
