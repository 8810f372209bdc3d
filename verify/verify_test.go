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

// staticStatus is a status source with one fixed answer.
type staticStatus struct{ st verify.StatusInfo }

func (s staticStatus) Status(context.Context, string) (verify.StatusInfo, error) { return s.st, nil }

// TestUnconfirmedStatus: a source that cannot vouch for its status being
// current turns "valid" and "not found" into "stale", with the time of what
// it knew, and never anything else: a revocation, a correction or a record
// that differs from the registered one stand however old the knowledge.
func TestUnconfirmedStatus(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 2)
	reg := registryOf(t, w)
	c := w.Certs[0]
	asOf := time.Date(2026, 12, 2, 8, 30, 5, 0, time.UTC) // 16:30:05 in China
	revoked := verify.StatusOf(c)
	revoked.Status, revoked.RevokedAt, revoked.ReasonZh, revoked.Reason = "revoked", asOf.Add(-time.Hour), "考核舞弊", "misconduct"
	other := verify.StatusOf(w.Certs[1])
	tests := []struct {
		name string
		st   verify.StatusInfo
		want verify.Verdict
	}{
		{"valid, current", verify.StatusOf(c), verify.Valid},
		{"valid, unconfirmed", with(verify.StatusOf(c), asOf), verify.Stale},
		{"not found, unconfirmed", with(verify.StatusInfo{}, asOf), verify.Stale},
		{"not found, current", verify.StatusInfo{}, verify.Invalid},
		{"revoked, unconfirmed", with(revoked, asOf), verify.Revoked},
		{"another record registered, unconfirmed", with(verify.StatusInfo{Found: true, Status: "valid", Token: other.Token}, asOf), verify.Invalid},
	}
	for _, tt := range tests {
		v := &verify.Verifier{Registry: reg, Status: staticStatus{tt.st}}
		res := v.VerifyToken(context.Background(), c.Token)
		if res.Verdict != tt.want {
			t.Errorf("%s: verdict %s, want %s", tt.name, res.Verdict, tt.want)
			continue
		}
		tr := verify.NewTokenResult(res, reg)
		if tt.want != verify.Stale {
			continue
		}
		var st verify.Check
		for _, ch := range res.Checks {
			if ch.ID == verify.CheckStatus {
				st = ch
			}
		}
		if st.Outcome != verify.Unknown || !strings.Contains(st.DetailZh, "状态截至2026-12-02 16:30:05") || !strings.Contains(st.DetailEn, "status as of 2026-12-02 16:30:05") ||
			!strings.Contains(st.DetailZh, "不表示证书无效") {
			t.Errorf("%s: status check %+v", tt.name, st)
		}
		if tr.Status != nil || tr.VerdictZh != "无法确认当前状态" || tr.VerdictEn != "cannot confirm the current status" {
			t.Errorf("%s: answer %+v", tt.name, tr)
		}
	}
}

func with(st verify.StatusInfo, asOf time.Time) verify.StatusInfo {
	st.Unconfirmed, st.AsOf = true, asOf
	return st
}

// TestUnconfirmedRecord: the stale form of a cached view. Valid and not
// found become stale, as of the time given, the status check saying so and
// no status shown; the rest is the view as it was. Revoked, superseded and
// invalid views come back unchanged.
func TestUnconfirmedRecord(t *testing.T) {
	w := verifytest.NewWorld(t, verifytest.Open(t, sqlite.Open), 2)
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, w.Certs[1].Number, issuer.ReasonRequest, ""); err != nil {
		t.Fatal(err)
	}
	c1, err := w.Store.Certificate(w.Ctx, w.Certs[1].Number)
	if err != nil {
		t.Fatal(err)
	}
	v := &verify.Verifier{Registry: registryOf(t, w)}
	recs, _ := v.Records([]issuer.Certificate{w.Certs[0], c1})
	valid, revoked := recs[0], recs[1]
	asOf := time.Now().Add(-3 * time.Second)
	for _, r := range []*verify.Record{valid, verify.NotFoundRecord("Y000022000001263999999", time.Now())} {
		u := r.Unconfirmed(asOf)
		view := u.For(verify.Holder)
		if u == r || u.Verdict != verify.Stale || r.Verdict == verify.Stale || view.Status != nil || u.Found != r.Found ||
			view.AsOf != asOf.In(issuer.ChinaTime).Format(time.RFC3339) || len(u.Checks) == 0 {
			t.Errorf("%s: unconfirmed %+v, view %+v", r.Verdict, u, view)
			continue
		}
		if last := u.Checks[len(u.Checks)-1]; last.ID != verify.CheckStatus || last.Outcome != verify.Unknown {
			t.Errorf("%s: status check %+v", r.Verdict, last)
		}
		if st := u.StatusInfo(); !st.Unconfirmed || st.AsOf.Unix() != asOf.Unix() || st.Found != r.Found {
			t.Errorf("%s: status info %+v", r.Verdict, st)
		}
		if r.Found && (view.Certificate == nil || len(u.Checks) != len(r.Checks)) {
			t.Errorf("the stale form lost what the view holds: %+v", view)
		}
	}
	if u := revoked.Unconfirmed(asOf); u != revoked || u.Verdict != verify.Revoked {
		t.Errorf("a revoked view became %s", u.Verdict)
	}
}
