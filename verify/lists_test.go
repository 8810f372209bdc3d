package verify_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/keys"
	"certd/issuer/statuslist"
	"certd/issuer/store/sqlite"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

const listBase = "https://certd.example.cn/status"

// privateKey opens an institution's current key as the service does: a
// test forges what only the key's holder could sign.
func privateKey(t *testing.T, w *verifytest.World, inst string) ed25519.PrivateKey {
	t.Helper()
	ks, err := w.Store.SigningKeys(w.Ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keys.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k := ks[len(ks)-1]
	priv, err := kek.Open(k.Sealed, "institution", k.KID)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// resign changes a record's claims and signs it again with priv.
func resign(t *testing.T, token string, priv ed25519.PrivateKey, change func(*credential.CertificateClaims)) string {
	t.Helper()
	var cl credential.CertificateClaims
	if _, err := credential.Decode(token, credential.TypeCertificate, &cl); err != nil {
		t.Fatal(err)
	}
	change(&cl)
	tok, err := credential.Sign(&cl, credential.TypeCertificate, priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawList signs a list payload of our own making (a broken encodedList).
func rawList(t *testing.T, priv ed25519.PrivateKey, inst, encoded string, from time.Time) string {
	t.Helper()
	id := listBase + "/" + inst
	m := jwt.MapClaims{
		"@context": []string{"https://www.w3.org/ns/credentials/v2"}, "id": id,
		"type": []string{"VerifiableCredential", "BitstringStatusListCredential"}, "issuer": credential.InstitutionURN(inst),
		"validFrom": from.UTC().Format("2006-01-02T15:04:05.000Z"),
		"credentialSubject": map[string]any{"id": id + "#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
			"encodedList": encoded, "ttl": 600000},
	}
	tok, err := credential.Sign(m, statuslist.TokenType, priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestOfflineStatusFromLists: the offline verifier's answer for every case
// the issue names, with the bundle's lists.
func TestOfflineStatusFromLists(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 0)
	w.Iss.StatusBase = listBase
	certs := w.Issue(4, 0)
	if _, err := w.Iss.AddInstitution(w.Ctx, verifytest.Authority, issuer.InstitutionSpec{
		ID: "jlqc", Name: "吉林汽车测试学院", USCC: "12220000MB0123457W", Prefix: "Y000022000077", FilingNo: "吉人社认备〔2026〕077号",
		ValidFrom: "2026-01-01", Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"3"}}},
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // lists cover records signed a full second before
	before, err := w.Iss.PublishStatusList(w.Ctx, "jlvtc", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, certs[1].Number, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Iss.Reissue(w.Ctx, verifytest.Authority, certs[2].Number, issuer.Correction{Name: "张四", Reason: "姓名有误"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	after, err := w.Iss.PublishStatusList(w.Ctx, "jlvtc", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	reg := registryOf(t, w)
	priv := privateKey(t, w, "jlvtc")
	other := privateKey(t, w, "jlqc")
	now := after.ValidFrom.Add(time.Minute)
	stale := after.ValidFrom.Add(11 * time.Minute)

	// A list made by the real key with a broken encodedList, and one made
	// with another institution's key claiming to be jlvtc's.
	good, _ := statuslist.New(statuslist.MinBits)
	enc := good.Encode()
	gz, _ := base64.RawURLEncoding.DecodeString(enc[1:])
	truncated := rawList(t, priv, "jlvtc", "u"+base64.RawURLEncoding.EncodeToString(gz[:len(gz)/2]), after.ValidFrom)
	notGzip := rawList(t, priv, "jlvtc", "u"+base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0}, 16384)), after.ValidFrom)
	foreignKey := rawList(t, other, "jlvtc", enc, after.ValidFrom)

	outside := resign(t, certs[0].Token, priv, func(c *credential.CertificateClaims) {
		e := credential.StatusEntry(statuslist.NewEntry(listBase+"/jlvtc", statuslist.MinBits+5))
		c.CredentialStatus = &e
	})
	foreignList := resign(t, certs[0].Token, priv, func(c *credential.CertificateClaims) {
		e := credential.StatusEntry(statuslist.NewEntry(listBase+"/jlqc", certs[0].StatusIndex))
		c.CredentialStatus = &e
	})
	withList := func(tok string) map[string]verify.StatusList {
		return map[string]verify.StatusList{"jlvtc": reg.StatusList("jlvtc", tok, "test")}
	}
	cases := []struct {
		name    string
		token   string
		lists   map[string]verify.StatusList
		now     time.Time
		maxAge  time.Duration
		want    verify.Verdict
		outcome verify.Outcome
		detail  string
	}{
		{"valid", certs[0].Token, withList(after.Token), now, 0, verify.Valid, verify.Pass, "not revoked"},
		{"revoked", certs[1].Token, withList(after.Token), now, 0, verify.Revoked, verify.Fail, "revoked or superseded"},
		{"superseded", certs[2].Token, withList(after.Token), now, 0, verify.Revoked, verify.Fail, "revoked or superseded"},
		{"revoked, stale list: still revoked", certs[1].Token, withList(after.Token), stale, 0, verify.Revoked, verify.Fail, "revoked"},
		{"tampered", edit(certs[0].Token, certs[0].Holder.Name, "李四"), withList(after.Token), now, 0, verify.Invalid, verify.Unknown, ""},
		{"list past its ttl", certs[0].Token, withList(after.Token), stale, 0, verify.Undecided, verify.Unknown, "status as of"},
		{"list past its ttl, within --max-age", certs[0].Token, withList(after.Token), stale, time.Hour, verify.Valid, verify.Pass, ""},
		{"list before the revocation", certs[1].Token, withList(before.Token), now, time.Hour, verify.Valid, verify.Pass, ""},
		{"no list", certs[0].Token, map[string]verify.StatusList{}, now, 0, verify.Undecided, verify.Unknown, "no status list"},
		{"list signed with another institution's key", certs[0].Token, withList(foreignKey), now, 0, verify.Undecided, verify.Unknown, "not the institution's"},
		{"truncated list", certs[0].Token, withList(truncated), now, 0, verify.Undecided, verify.Unknown, "encoding"},
		{"list that is not gzip", certs[0].Token, withList(notGzip), now, 0, verify.Undecided, verify.Unknown, "encoding"},
		{"index outside the list", outside, withList(after.Token), now, 0, verify.Invalid, verify.Fail, "outside the list"},
		{"entry pointing at another institution's list", foreignList, withList(after.Token), now, 0, verify.Invalid, verify.Fail, "another institution"},
		// The holder credential carries the record's entry: the same answers.
		{"holder credential", certs[0].Credential, withList(after.Token), now, 0, verify.Valid, verify.Pass, "not revoked"},
		{"holder credential, nothing disclosed", presentation(t, certs[0].Credential), withList(after.Token), now, 0, verify.Valid, verify.Pass, "not revoked"},
		{"holder credential, revoked", certs[1].Credential, withList(after.Token), now, 0, verify.Revoked, verify.Fail, "revoked or superseded"},
		{"holder credential, list before the revocation", certs[1].Credential, withList(before.Token), now, time.Hour, verify.Valid, verify.Pass, ""},
	}
	// A bundle older than the certificate: its list predates the record.
	later := w.Issue(1, 10)[0]
	cases = append(cases, struct {
		name    string
		token   string
		lists   map[string]verify.StatusList
		now     time.Time
		maxAge  time.Duration
		want    verify.Verdict
		outcome verify.Outcome
		detail  string
	}{"list older than the certificate", later.Token, withList(before.Token), later.IssuedAt.Add(time.Second), time.Hour, verify.Undecided, verify.Unknown, "before the certificate was signed"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := &verify.Verifier{Registry: reg, Lists: tc.lists, MaxAge: tc.maxAge, Now: func() time.Time { return tc.now }}
			res := v.VerifyPresented(w.Ctx, tc.token)
			b, _ := json.Marshal(res.Checks)
			if res.Verdict != tc.want || res.Outcome(verify.CheckStatus) != tc.outcome {
				t.Fatalf("verdict %s, status %s, want %s, %s: %s", res.Verdict, res.Outcome(verify.CheckStatus), tc.want, tc.outcome, b)
			}
			if !strings.Contains(string(b), tc.detail) {
				t.Fatalf("checks do not say %q: %s", tc.detail, b)
			}
			if tc.want == verify.Valid && len(res.Inputs) == 0 {
				t.Fatalf("a valid answer names no list time")
			}
		})
	}
}

func presentation(t *testing.T, cred string, claims ...string) string {
	t.Helper()
	p, err := issuer.PresentCredential([]byte(cred), claims...)
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}
