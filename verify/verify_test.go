package verify_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/store/sqlite"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

// registryOf is the registry a third party builds from the world's
// published trust bundle.
func registryOf(t *testing.T, w *verifytest.World) *verify.Registry {
	t.Helper()
	tb, err := w.Iss.TrustBundle(w.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := verify.NewRegistry(&tb)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// edit renames the holder in a record without re-signing it.
func edit(token, from, to string) string {
	parts := strings.Split(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), from, to, 1))) + "." + parts[2]
}

// TestRecords: stored records are checked as one batch; one edited record
// fails the batch, and then it alone is invalid, its signature named.
func TestRecords(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 5)
	v := &verify.Verifier{Registry: registryOf(t, w)}
	recs, batchOK := v.Records(w.Certs)
	if !batchOK || len(recs) != len(w.Certs) {
		t.Fatalf("genuine records: batch ok %v, %d records", batchOK, len(recs))
	}
	for i, r := range recs {
		if r.Number != w.Certs[i].Number || r.Verdict != verify.Valid || r.Facts == nil || r.Facts.Name != w.Certs[i].Holder.Name ||
			!r.CodeMatches(w.Certs[i].VerifyCode) || r.CodeMatches(w.Certs[(i+1)%len(w.Certs)].VerifyCode) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	certs := append([]issuer.Certificate(nil), w.Certs...)
	certs[3].Token = edit(certs[3].Token, certs[3].Holder.Name, "李四")
	recs, batchOK = v.Records(certs)
	if batchOK {
		t.Fatal("a batch with an edited record verified")
	}
	for i, r := range recs {
		sig := verify.Result{Checks: r.Checks}.Outcome(verify.CheckSignature)
		switch {
		case i == 3 && (r.Verdict != verify.Invalid || sig != verify.Fail || r.Facts != nil):
			t.Errorf("edited record: verdict %s, signature %s, facts %v", r.Verdict, sig, r.Facts)
		case i != 3 && r.Verdict != verify.Valid:
			t.Errorf("record %d beside the edited one: %s", i, r.Verdict)
		}
	}
	if nf := verify.NotFoundRecord("Y000022000001263999999", time.Now()); nf.Found || nf.Verdict != verify.NotFound || nf.StatusInfo().Found {
		t.Errorf("not-found record: %+v", nf)
	}
}

// TestNewTokenResult: whoever presents a genuine record sees its facts,
// name included, but no ID number; a revoked one also its revocation; an
// altered one nothing from it.
func TestNewTokenResult(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 2)
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, w.Certs[1].Number, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	reg := registryOf(t, w)
	v := &verify.Verifier{Registry: reg, Status: verify.StoreStatus{Store: w.Store}}
	c := w.Certs[0]
	got := verify.NewTokenResult(v.VerifyToken(w.Ctx, c.Token), reg)
	if got.Verdict != verify.Valid || got.Number != c.Number || got.Certificate == nil || got.Certificate.HolderName != c.Holder.Name ||
		got.Certificate.DocMasked != "" || got.Status == nil || got.Status.Status != "valid" || got.Institution == nil || got.Institution.ID != "jlvtc" {
		t.Errorf("genuine record: %+v", got)
	}
	if b, _ := json.Marshal(got); strings.Contains(string(b), c.Holder.DocNumber) {
		t.Error("the answer carries the ID number")
	}
	got = verify.NewTokenResult(v.VerifyToken(w.Ctx, w.Certs[1].Token), reg)
	if got.Verdict != verify.Revoked || got.Status == nil || got.Status.RevokedOn == "" || got.Status.ReasonZh == "" {
		t.Errorf("revoked record: %+v", got.Status)
	}
	got = verify.NewTokenResult(v.VerifyToken(w.Ctx, edit(c.Token, c.Holder.Name, "李四")), reg)
	if got.Verdict != verify.Invalid || got.Certificate != nil || got.Number != "" {
		t.Errorf("altered record: %+v", got)
	}
}

// TestVerifierWithoutRegistry: without a registry nothing can be checked,
// and the verdict says so rather than "invalid".
func TestVerifierWithoutRegistry(t *testing.T) {
	res := (&verify.Verifier{}).VerifyToken(context.Background(), "eyJhbGciOiJFZERTQSJ9.e30.c2ln")
	if res.Verdict != verify.Undecided || len(res.Checks) != 7 {
		t.Fatalf("verdict %s with %d checks", res.Verdict, len(res.Checks))
	}
	for _, c := range res.Checks {
		if c.Outcome != verify.Unknown {
			t.Errorf("check %s: %s, want unknown", c.ID, c.Outcome)
		}
	}
}

// TestResultWith: a check added from outside counts in the verdict, and
// the result it was added to stays as it was.
func TestResultWith(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 1)
	valid := (&verify.Verifier{Registry: registryOf(t, w), Status: verify.StoreStatus{Store: w.Store}}).VerifyToken(w.Ctx, w.Certs[0].Token)
	if valid.Verdict != verify.Valid {
		t.Fatalf("verdict %s", valid.Verdict)
	}
	for _, tt := range []struct {
		outcome verify.Outcome
		want    verify.Verdict
	}{{verify.Pass, verify.Valid}, {verify.Unknown, verify.Undecided}, {verify.Fail, verify.Invalid}} {
		got := valid.With(verify.Check{ID: verify.CheckPDF, Outcome: tt.outcome})
		if got.Verdict != tt.want || got.Outcome(verify.CheckPDF) != tt.outcome {
			t.Errorf("with a %s PDF check: %s, want %s", tt.outcome, got.Verdict, tt.want)
		}
	}
	if valid.Verdict != verify.Valid || len(valid.Checks) != 7 {
		t.Errorf("the original result changed: %s, %d checks", valid.Verdict, len(valid.Checks))
	}
}

// TestPDFCheck: a file passes only when its bytes are the issued ones; when
// that cannot be told, it is "could not check", never a failure.
func TestPDFCheck(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 1)
	c := w.Certs[0]
	pdf := verifytest.FakePDF(c.Token, "")
	sum := sha256.Sum256(pdf)
	issued := func(digest string, err error) func(context.Context, string) (issuer.Certificate, error) {
		return func(_ context.Context, number string) (issuer.Certificate, error) {
			if number != c.Number {
				t.Errorf("looked up %s for a record of %s", number, c.Number)
			}
			return issuer.Certificate{Number: number, PDFSHA256: digest}, err
		}
	}
	tests := []struct {
		name  string
		token string
		pdf   []byte
		look  func(context.Context, string) (issuer.Certificate, error)
		want  verify.Outcome
	}{
		{"the issued file", c.Token, pdf, issued(hex.EncodeToString(sum[:]), nil), verify.Pass},
		{"digest in upper case", c.Token, pdf, issued(strings.ToUpper(hex.EncodeToString(sum[:])), nil), verify.Pass},
		{"edited pages", c.Token, verifytest.FakePDF(c.Token, "% edited\n"), issued(hex.EncodeToString(sum[:]), nil), verify.Fail},
		{"no digest on record", c.Token, pdf, issued("", nil), verify.Unknown},
		{"not in the register", c.Token, pdf, issued("", issuer.Errorf(issuer.ErrNotFound, "not_found", "没有", "none")), verify.Unknown},
		{"register unreachable", c.Token, pdf, issued("", errors.New("connection refused")), verify.Unknown},
		{"no number in the record", "a.b.c", pdf, nil, verify.Unknown},
	}
	for _, tt := range tests {
		chk := verify.PDFCheck(w.Ctx, tt.token, tt.pdf, tt.look)
		if chk.ID != verify.CheckPDF || chk.Outcome != tt.want || chk.Zh == "" || (tt.want != verify.Pass && chk.DetailZh == "") {
			t.Errorf("%s: %+v, want %s", tt.name, chk, tt.want)
		}
	}
}

// TestJWKS: the key set holds the authority key and every institution key,
// retired ones included, a retired key with the end of its window.
func TestJWKS(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 0)
	if _, err := w.Iss.RotateKey(w.Ctx, verifytest.Authority, "jlvtc"); err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid         string `json:"kid"`
			Role        string `json:"certd_role"`
			Institution string `json:"certd_institution"`
			NotAfter    int64  `json:"certd_not_after"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(registryOf(t, w).JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 3 || set.Keys[0].Role != "authority" {
		t.Fatalf("key set: %+v", set.Keys)
	}
	retired := 0
	for _, k := range set.Keys[1:] {
		if k.Role != "institution" || k.Institution != "jlvtc" || k.Kid == "" {
			t.Errorf("institution key: %+v", k)
		}
		if k.NotAfter != 0 {
			retired++
		}
	}
	if retired != 1 {
		t.Errorf("%d keys with a closed window after one rotation, want 1", retired)
	}
}
