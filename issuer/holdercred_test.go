package issuer_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/credential/sdjwt"
	"certd/verify"
)

// institutionKey opens an institution's current signing key, as only a
// forger holding it could.
func (f *fixture) institutionKey(id string) ed25519.PrivateKey {
	f.t.Helper()
	ks, err := f.store.SigningKeys(f.ctx, id)
	if err != nil || len(ks) == 0 {
		f.t.Fatalf("signing keys of %s: %v", id, err)
	}
	k := ks[len(ks)-1]
	priv, err := f.kek.Open(k.Sealed, "institution", k.KID)
	if err != nil {
		f.t.Fatal(err)
	}
	return priv
}

func credentialOf(t *testing.T, f *fixture, actor issuer.Actor, number string) string {
	t.Helper()
	b, err := f.svc.HolderCredential(f.ctx, actor, number)
	if err != nil {
		t.Fatalf("HolderCredential(%s, %s): %v", actor.Name, number, err)
	}
	return string(b)
}

func present(t *testing.T, cred string, claims ...string) string {
	t.Helper()
	p, err := issuer.PresentCredential([]byte(cred), claims...)
	if err != nil {
		t.Fatalf("PresentCredential(%v): %v", claims, err)
	}
	return string(p)
}

// TestHolderCredential: every certificate is issued with an SD-JWT VC
// signed by the record's key at the record's time; its holder gets it and
// shows what they choose; the verifier applies every check of the record
// and learns only what was disclosed.
func TestHolderCredential(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		c := f.issue(clerk, roster(2)).Issued[0]
		if c.Credential == "" {
			t.Fatal("issued without a holder credential")
		}
		cred := credentialOf(t, f, issuer.HolderActor(c.Number), c.Number)
		if cred != c.Credential {
			t.Fatal("the holder got another credential than the one issued")
		}
		if got := credentialOf(t, f, clerk, c.Number); got != cred {
			t.Fatal("the college got another credential")
		}
		v := f.verifier(true)
		rec := v.VerifyToken(f.ctx, c.Token)
		for _, tc := range []struct {
			disclose []string
			want     []string
		}{
			{nil, []string{}},
			{[]string{"name"}, []string{"name"}},
			{[]string{"documentHash", "birthDate"}, []string{"birthDate", "documentHash", "documentType"}},
			{[]string{"name", "documentHash", "birthDate"}, []string{"birthDate", "documentHash", "documentType", "name"}},
		} {
			p := present(t, cred, tc.disclose...)
			res := v.VerifyCredential(f.ctx, p)
			if res.Verdict != verify.Valid {
				t.Fatalf("presentation of %v: %s %+v", tc.disclose, res.Verdict, res.Checks)
			}
			if len(res.Checks) != len(rec.Checks) {
				t.Errorf("%d checks, the record gets %d", len(res.Checks), len(rec.Checks))
			}
			if !slices.Equal(res.Disclosed.Claims, tc.want) {
				t.Errorf("disclosed %v, want %v", res.Disclosed.Claims, tc.want)
			}
			tr := verify.NewTokenResult(res, v.Registry)
			if tr.Number != c.Number || tr.Certificate == nil || tr.Certificate.OccupationCode != c.Occupation || tr.Certificate.Level != int(c.Level) {
				t.Errorf("always-visible facts: %+v", tr)
			}
			shown := slices.Contains(tc.disclose, "name")
			if (tr.Certificate.HolderName != "") != shown || shown && tr.Certificate.HolderName != c.Holder.Name {
				t.Errorf("disclosing %v shows the name %q", tc.disclose, tr.Certificate.HolderName)
			}
			b, _ := json.Marshal(tr)
			if !shown && strings.Contains(string(b), c.Holder.Name) {
				t.Errorf("an undisclosed name is in the answer: %s", b)
			}
			if slices.Contains(tc.disclose, "birthDate") != (tr.Credential.BirthDate == issuer.BirthDate(c.Holder.DocType, c.Holder.DocNumber)) {
				t.Errorf("birth date %q", tr.Credential.BirthDate)
			}
			if slices.Contains(tc.disclose, "documentHash") && !res.Claims.CredentialSubject.DocHash.Matches(string(c.Holder.DocType), c.Holder.DocNumber) {
				t.Error("the disclosed document hash does not match the ID number")
			}
		}
		// Same kid and signing time as the record.
		var rc credential.CertificateClaims
		u, _ := credential.Decode(c.Token, credential.TypeCertificate, &rc)
		r, err := sdjwt.Verify(cred, func(kid string) (ed25519.PublicKey, error) {
			if kid != u.Header.Kid {
				t.Errorf("credential kid %s, record kid %s", kid, u.Header.Kid)
			}
			return f.institutionKey("jlvtc").Public().(ed25519.PublicKey), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if iat, _ := r.Claims["iat"].(json.Number).Int64(); iat != rc.IssuedAt.Unix() {
			t.Errorf("credential iat %d, record iat %d", iat, rc.IssuedAt.Unix())
		}

		// Revocation reaches the credential like the record.
		if _, err := f.svc.Revoke(f.ctx, clerk, c.Number, issuer.ReasonError, "错录"); err != nil {
			t.Fatal(err)
		}
		if res := v.VerifyCredential(f.ctx, present(t, cred, "name")); res.Verdict != verify.Revoked {
			t.Errorf("revoked certificate's credential: %s", res.Verdict)
		}
	})
}

// TestHolderCredentialAccess: a holder reaches their own certificate only,
// a college its own; everything else is "no such certificate", and every
// download is audited without personal data.
func TestHolderCredentialAccess(t *testing.T) {
	f := newFixture(t)
	cs := f.issue(clerk, roster(2)).Issued
	f.register("other", "Y000022000002")
	for _, tc := range []struct {
		name   string
		actor  issuer.Actor
		number string
	}{
		{"another holder", issuer.HolderActor(cs[1].Number), cs[0].Number},
		{"another college", issuer.Actor{Name: "o", InstitutionID: "other"}, cs[0].Number},
		{"unknown number", issuer.HolderActor("Y000022000001263999999"), "Y000022000001263999999"},
		{"no one", issuer.Actor{}, cs[0].Number},
	} {
		_, err := f.svc.HolderCredential(f.ctx, tc.actor, tc.number)
		if e, ok := issuer.AsError(err); !ok || e.Kind != issuer.ErrNotFound || e.Code != "certificate_unknown" {
			t.Errorf("%s: %v, want certificate_unknown", tc.name, err)
		}
	}
	if a := issuer.HolderActor(cs[0].Number); a.MayRead("jlvtc") == nil || a.MayActFor("jlvtc") == nil {
		t.Error("a holder actor acts for the institution")
	}
	credentialOf(t, f, issuer.HolderActor(cs[0].Number), cs[0].Number)
	credentialOf(t, f, clerk, cs[0].Number)
	if evs := mustAudit(t, f, issuer.AuditFilter{Action: "credential.download"}); len(evs) != 1 || evs[0].Actor != clerk.Name {
		t.Errorf("operator download audit: %+v", evs)
	}
	evs, err := f.store.Audit(f.ctx, issuer.AuditFilter{Action: "holder.credential_download"})
	if err != nil || len(evs) != 1 || evs[0].Subject != cs[0].Number || evs[0].Actor != "holder:"+cs[0].Number {
		t.Fatalf("download audit: %v %+v", err, evs)
	}
	b, _ := json.Marshal(evs)
	if strings.Contains(string(b), cs[0].Holder.Name) || strings.Contains(string(b), cs[0].Holder.DocNumber) {
		t.Errorf("personal data in the audit: %s", b)
	}
}

// legacyStore issues as certd did before holder credentials: records only.
type legacyStore struct{ issuer.Store }

func (s legacyStore) IssueBatch(ctx context.Context, b issuer.Batch, prefix string, certs []issuer.Certificate, seal func(*issuer.Certificate) (issuer.AuditEvent, error), job *issuer.PrintJob) error {
	return s.Store.IssueBatch(ctx, b, prefix, certs, func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		ev, err := seal(c)
		c.Credential = ""
		return ev, err
	}, job)
}

// TestLegacyCertificateGetsCredentialOnFirstRequest: a certificate issued
// before this change gets its credential on the holder's first request,
// once, with the record's key and time even after a key rotation, and it
// verifies with every check; a revoked one gets none.
func TestLegacyCertificateGetsCredentialOnFirstRequest(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		legacy := &fixture{}
		*legacy = *f
		legacy.store = legacyStore{f.store}
		legacy.svc = issuer.New(legacy.store, f.kek)
		legacy.svc.Now, legacy.svc.Log = f.svc.Now, f.svc.Log
		cs := legacy.issue(clerk, roster(2)).Issued
		stored, err := f.store.Certificate(f.ctx, cs[0].Number)
		if err != nil || stored.Credential != "" {
			t.Fatalf("legacy certificate has a credential: %v", err)
		}
		// The key is rotated before the first request: the credential is
		// still signed with the record's key.
		f.now = f.now.Add(time.Hour)
		if _, err := f.svc.RotateKey(f.ctx, authority, "jlvtc"); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Hour)
		cred := credentialOf(t, f, issuer.HolderActor(cs[0].Number), cs[0].Number)
		if again := credentialOf(t, f, issuer.HolderActor(cs[0].Number), cs[0].Number); again != cred {
			t.Fatal("a second request made another credential")
		}
		v := f.verifier(true)
		if res := v.VerifyCredential(f.ctx, present(t, cred, "name")); res.Verdict != verify.Valid {
			t.Fatalf("backfilled credential: %s %+v", res.Verdict, res.Checks)
		}
		if n := len(mustAudit(t, f, issuer.AuditFilter{Action: "certificate.credential", Subject: cs[0].Number})); n != 1 {
			t.Errorf("%d certificate.credential events, want 1", n)
		}
		if _, err := f.svc.Revoke(f.ctx, clerk, cs[1].Number, issuer.ReasonError, ""); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.HolderCredential(f.ctx, issuer.HolderActor(cs[1].Number), cs[1].Number)
		if e, ok := issuer.AsError(err); !ok || e.Code != "not_valid" || !strings.Contains(e.Zh, "已撤销") {
			t.Errorf("revoked legacy certificate: %v", err)
		}
	})
}

func mustAudit(t *testing.T, f *fixture, af issuer.AuditFilter) []issuer.AuditEvent {
	t.Helper()
	evs, err := f.store.Audit(f.ctx, af)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// forge signs any header and payload with priv, with the disclosures.
func forge(t testing.TB, priv ed25519.PrivateKey, header, payload map[string]any, disclosures ...string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	in := enc(header) + "." + enc(payload)
	sig := ""
	if priv != nil {
		sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
	}
	return in + "." + sig + "~" + strings.Join(disclosures, "~") + func() string {
		if len(disclosures) > 0 {
			return "~"
		}
		return ""
	}()
}

func disclosure(t testing.TB, name string, value any) (string, string) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	b, _ := json.Marshal([]any{base64.RawURLEncoding.EncodeToString(salt), name, value})
	d := base64.RawURLEncoding.EncodeToString(b)
	return d, digestOf(d)
}

func digestOf(d string) string {
	sum := sha256.Sum256([]byte(d))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// parts splits an issued credential into its header, payload and
// disclosures, decoded, so that a test can re-sign a variant.
func parts(t testing.TB, cred string) (map[string]any, map[string]any, []string) {
	t.Helper()
	segs := strings.Split(strings.TrimSuffix(cred, "~"), "~")
	jws := strings.Split(segs[0], ".")
	var h, p map[string]any
	for i, dst := range []*map[string]any{&h, &p} {
		b, err := base64.RawURLEncoding.DecodeString(jws[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			t.Fatalf("part %d of %s", i, cred)
		}
	}
	return h, p, segs[1:]
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// TestCredentialBadInput: each way a presentation can be altered or forged
// gets a clear answer (a failed check with a bilingual reason) and never a
// valid verdict, including forgeries signed with the institution's own key
// and with another college's.
func TestCredentialBadInput(t *testing.T) {
	f := newFixture(t)
	c := f.issue(clerk, roster(1)).Issued[0]
	f.register("other", "Y000022000002")
	cred := c.Credential
	priv := f.institutionKey("jlvtc")
	otherPriv := f.institutionKey("other")
	h, p, ds := parts(t, cred)
	nameD, nameDigest := disclosure(t, "name", "李四")
	levelD, levelDigest := disclosure(t, "level", 1)
	sd := func(extra ...string) []any {
		out := slices.Clone(p["_sd"].([]any))
		for _, e := range extra {
			out = append(out, e)
		}
		return out
	}
	with := func(k string, v any) map[string]any {
		m := clone(p)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	noneHeader := map[string]any{"alg": "none", "typ": "dc+sd-jwt", "kid": h["kid"]}
	// The presentation with only the name disclosure, altered.
	var nameOnly string
	for _, d := range ds {
		b, _ := base64.RawURLEncoding.DecodeString(d)
		if strings.Contains(string(b), `"name"`) {
			nameOnly = d
		}
	}
	b, _ := base64.RawURLEncoding.DecodeString(nameOnly)
	altered := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(b), c.Holder.Name, "李四", 1)))
	jwtPart := strings.SplitN(cred, "~", 2)[0]
	levelOnlyDisclosed := with("_sd", sd(levelDigest))
	delete(levelOnlyDisclosed, "level")

	for _, tc := range []struct {
		name   string
		pres   string
		failed string // the check that fails
		says   string // part of the reason
	}{
		{"altered disclosure", jwtPart + "~" + altered + "~", verify.CheckSignature, "披露项"},
		{"disclosure whose digest is absent", jwtPart + "~" + nameD + "~", verify.CheckSignature, "不属于此凭证"},
		{"same disclosure twice", jwtPart + "~" + nameOnly + "~" + nameOnly + "~", verify.CheckSignature, "不止一次"},
		{"same digest twice in _sd", forge(t, priv, h, with("_sd", sd(nameDigest, nameDigest)), nameD), verify.CheckSignature, "不止一次"},
		{"disclosure overwriting level", forge(t, priv, h, with("_sd", sd(levelDigest)), levelD), verify.CheckSignature, "覆盖"},
		{"level only as a disclosure", forge(t, priv, h, levelOnlyDisclosed, levelD), verify.CheckFormat, "level"},
		{"alg none", forge(t, nil, noneHeader, p), verify.CheckFormat, "签名算法"},
		{"alg none with the disclosures", forge(t, nil, noneHeader, p, ds...), verify.CheckFormat, "签名算法"},
		{"HS256", forge(t, nil, map[string]any{"alg": "HS256", "typ": "dc+sd-jwt", "kid": h["kid"]}, p), verify.CheckFormat, "签名算法"},
		{"another college's key", forge(t, otherPriv, map[string]any{"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": credential.KID(otherPriv.Public().(ed25519.PublicKey))}, p, ds...), verify.CheckIssuer, "不属于该机构"},
		{"another college's key under this kid", forge(t, otherPriv, h, p, ds...), verify.CheckSignature, "签名"},
		{"the institution's key, a credential not registered", forge(t, priv, h, with("levelName", "高级工"), ds...), verify.CheckStatus, "不一致"},
		{"another certificate's number", forge(t, priv, h, with("certificateNumber", "Y000022000001263000999"), ds...), verify.CheckFormat, "编号"},
		{"wrong vct", forge(t, priv, h, with("vct", "urn:other"), ds...), verify.CheckFormat, "不是职业技能等级证书"},
		{"record JWS typ", forge(t, priv, map[string]any{"alg": "EdDSA", "typ": "vc+jwt", "kid": h["kid"]}, p, ds...), verify.CheckFormat, "SD-JWT"},
		{"plain record", c.Token, verify.CheckFormat, "SD-JWT"},
		{"key-binding JWT", cred + c.Token, verify.CheckFormat, "密钥绑定"},
		{"truncated", cred[:len(cred)/2], verify.CheckFormat, ""},
		{"too large", cred + strings.Repeat("A", sdjwt.MaxSize) + "~", verify.CheckFormat, "大小"},
		{"empty", "", verify.CheckFormat, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := f.verifier(true)
			res := v.VerifyCredential(f.ctx, tc.pres)
			if res.Verdict != verify.Invalid {
				t.Fatalf("verdict %s, want invalid: %+v", res.Verdict, res.Checks)
			}
			var failed *verify.Check
			for i := range res.Checks {
				if res.Checks[i].Outcome == verify.Fail {
					failed = &res.Checks[i]
					break
				}
			}
			if failed == nil || failed.ID != tc.failed {
				t.Fatalf("failed check %+v, want %s", failed, tc.failed)
			}
			if failed.DetailZh == "" || failed.DetailEn == "" || !strings.Contains(failed.DetailZh+failed.DetailEn, tc.says) {
				t.Errorf("reason %q / %q, want it to say %q", failed.DetailZh, failed.DetailEn, tc.says)
			}
			if strings.Contains(failed.DetailZh+failed.DetailEn, "goroutine") {
				t.Error("a stack trace")
			}
			tr := verify.NewTokenResult(res, v.Registry)
			if b, _ := json.Marshal(tr); strings.Contains(string(b), "李四") {
				t.Errorf("an unverified claim is shown: %s", b)
			}
		})
	}
}

// FuzzVerifyCredential: whatever is presented, verification answers (no
// panic), and a valid verdict is given only for a presentation of the
// registered credential whose disclosures are the issued ones.
func FuzzVerifyCredential(f *testing.F) {
	fx := newFixtureOn(f, backends[0].open(f))
	c := fx.issue(clerk, roster(1)).Issued[0]
	v := fx.verifier(true)
	_, _, issued := parts(f, c.Credential)
	f.Add(c.Credential)
	for _, names := range [][]string{nil, {"name"}, {"birthDate", "documentHash"}} {
		p, err := issuer.PresentCredential([]byte(c.Credential), names...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(p))
	}
	f.Add(c.Token)
	f.Add("~")
	f.Add("a.b.c~~")
	f.Fuzz(func(t *testing.T, s string) {
		res := v.VerifyCredential(context.Background(), s)
		if len(res.Checks) == 0 {
			t.Fatal("no checks")
		}
		for _, ch := range res.Checks {
			if ch.Outcome == verify.Fail && (ch.DetailZh == "" || ch.DetailEn == "") {
				t.Fatalf("a failed check without a reason: %+v", ch)
			}
		}
		if res.Verdict != verify.Valid {
			return
		}
		if verify.CredentialHash(s) != verify.CredentialHash(c.Credential) {
			t.Fatalf("valid with another issuer-signed JWT: %q", s)
		}
		_, _, ds := parts(t, strings.TrimSpace(s))
		for _, d := range ds {
			if !slices.Contains(issued, d) {
				t.Fatalf("valid with a disclosure not issued: %q", d)
			}
		}
	})
}
