package web

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/ident"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

func decodeView(t *testing.T, body string) verify.View {
	t.Helper()
	var v verify.View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not a view: %v\n%s", err, body)
	}
	return v
}

// TestWhatAViewerSees checks the privacy rules: the number alone shows a
// masked name and no ID number; the QR's code shows the full name and a
// masked ID number; a confirmed name shows the full name; no answer
// carries the signed record.
func TestWhatAViewerSees(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 3)
	a := newApp(t, w.Store, Deps{})
	c := w.Certs[0] // 欧阳娜娜
	masked := ident.MaskDoc(c.Holder.DocNumber)
	api := "/api/v1/certificates/" + c.Number
	tests := []struct {
		name       string
		target     string
		status     int
		access     verify.Access
		holder     string
		doc        string
		codeOK     string // "", "true", "false"
		matchName  string // "", "true", "false"
		wantInBody []string
		notInBody  []string
	}{
		{name: "number only", target: api, status: 200, access: verify.Public, holder: "欧**娜", notInBody: []string{"欧阳娜娜", c.Holder.DocNumber, masked, c.Token[:40]}},
		{name: "lower-case number", target: "/api/v1/certificates/" + strings.ToLower(c.Number), status: 200, access: verify.Public, holder: "欧**娜"},
		{name: "QR code", target: api + "?c=" + c.VerifyCode, status: 200, access: verify.Holder, holder: "欧阳娜娜", doc: masked, notInBody: []string{c.Holder.DocNumber}},
		{name: "QR code typed in lower case", target: api + "?c=" + strings.ToLower(c.VerifyCode), status: 200, access: verify.Holder, holder: "欧阳娜娜", doc: masked},
		{name: "another certificate's code", target: api + "?c=" + w.Certs[1].VerifyCode, status: 200, access: verify.Public, holder: "欧**娜", codeOK: "false", notInBody: []string{"欧阳娜娜"}},
		{name: "name confirmed", target: api + "?name=" + url.QueryEscape("欧阳娜娜"), status: 200, access: verify.Confirmed, holder: "欧阳娜娜", matchName: "true", notInBody: []string{masked}},
		{name: "name with spaces confirmed", target: api + "?name=" + url.QueryEscape(" 欧阳 娜娜 "), status: 200, access: verify.Confirmed, holder: "欧阳娜娜", matchName: "true"},
		{name: "wrong name, right ID is not even compared", target: api + "?name=" + url.QueryEscape("欧阳娜") + "&id_number=" + c.Holder.DocNumber, status: 200, access: verify.Public, holder: "欧**娜", matchName: "false", notInBody: []string{`"id_number"`, "欧阳娜娜"}},
		{name: "wrong name", target: api + "?name=" + url.QueryEscape("欧阳娜"), status: 200, access: verify.Public, holder: "欧**娜", matchName: "false", notInBody: []string{"欧阳娜娜"}},
		{name: "right name wrong ID", target: api + "?name=" + url.QueryEscape("欧阳娜娜") + "&id_number=" + ident.CompleteResidentID("22010219990101001"), status: 200, access: verify.Public, holder: "欧**娜", matchName: "true", wantInBody: []string{`"id_number":false`}, notInBody: []string{"欧阳娜娜"}},
		{name: "right name right ID", target: api + "?name=" + url.QueryEscape("欧阳娜娜") + "&id_number=" + strings.ToLower(c.Holder.DocNumber), status: 200, access: verify.Confirmed, holder: "欧阳娜娜", doc: masked, matchName: "true", wantInBody: []string{`"id_number":true`}},
		{name: "unknown number", target: "/api/v1/certificates/Y000022000001263999999", status: 404, wantInBody: []string{`"verdict":"not_found"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, "GET", tt.target, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			for _, s := range tt.wantInBody {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q: %s", s, body)
				}
			}
			for _, s := range tt.notInBody {
				if strings.Contains(body, s) {
					t.Errorf("body reveals %q", s)
				}
			}
			if tt.status != 200 {
				return
			}
			v := decodeView(t, body)
			if v.Access != tt.access || v.Certificate == nil || v.Certificate.HolderName != tt.holder || v.Certificate.DocMasked != tt.doc {
				t.Errorf("access %s holder %q doc %q, want %s %q %q", v.Access, v.Certificate.HolderName, v.Certificate.DocMasked, tt.access, tt.holder, tt.doc)
			}
			if sig := c.Token[strings.LastIndexByte(c.Token, '.')+1:]; strings.Contains(body, sig) || strings.Contains(body, `"record"`) {
				t.Error("the answer carries the signed record")
			}
			if got := fmtBool(v.CodeOK); got != tt.codeOK {
				t.Errorf("verification_code_ok = %q, want %q", got, tt.codeOK)
			}
			var mn *bool
			if v.Match != nil {
				mn = &v.Match.Name
			}
			if got := fmtBool(mn); got != tt.matchName {
				t.Errorf("match.name = %q, want %q", got, tt.matchName)
			}
			if v.Verdict != verify.Valid {
				t.Errorf("verdict %s, checks %+v", v.Verdict, v.Checks)
			}
			if strings.Contains(body, "photo") {
				t.Error("a photo field appeared")
			}
		})
	}
	// The page follows the same rules.
	_, page := a.do(t, "GET", "/v/"+c.Number, nil)
	if strings.Contains(page, "欧阳娜娜") || !strings.Contains(page, "欧**娜") || strings.Contains(page, masked) {
		t.Error("public page shows more than the masked name")
	}
	_, page = a.do(t, "GET", "/v/"+c.Number+"?c="+c.VerifyCode, nil)
	if !strings.Contains(page, "欧阳娜娜") || !strings.Contains(page, masked) || strings.Contains(page, c.Holder.DocNumber) {
		t.Error("the QR page does not show the full name and masked ID number, or shows the full ID number")
	}
	_, page = a.do(t, "GET", "/v/"+c.Number+"?c="+w.Certs[1].VerifyCode, nil)
	if !strings.Contains(page, "验证码不符") || strings.Contains(page, "欧阳娜娜") {
		t.Error("a wrong code is not flagged, or unlocks the name")
	}
	resp, page := a.do(t, "POST", "/v/"+c.Number, strings.NewReader("name="+url.QueryEscape("欧阳娜娜")), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 200 || !strings.Contains(page, "一致") || !strings.Contains(page, "欧阳娜娜") {
		t.Errorf("confirmation form: %d", resp.StatusCode)
	}
	if resp.Header.Get("Cache-Control") != "private, no-store" {
		t.Errorf("a confirmed page may be cached: %q", resp.Header.Get("Cache-Control"))
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return ""
	}
	return fmt.Sprint(*b)
}

// TestBadInput: every malformed or hostile input gets a clear 4xx with a
// reason and nothing else.
func TestBadInput(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{})
	n := w.Certs[0].Number
	long := strings.Repeat("Y", 1000)
	tests := []struct {
		name, method, target, ctype, body string
		status                            int
		reason                            string
	}{
		{"short number", "GET", "/api/v1/certificates/Y0000220", "", "", 400, "bad_request"},
		{"letters in serial", "GET", "/api/v1/certificates/Y00002200000126300000A", "", "", 400, "bad_request"},
		{"level 9", "GET", "/api/v1/certificates/Y000022000001269000001", "", "", 400, "bad_request"},
		{"serial zero", "GET", "/api/v1/certificates/Y000022000001263000000", "", "", 400, "bad_request"},
		{"over-long number", "GET", "/api/v1/certificates/" + long, "", "", 400, "bad_request"},
		{"SQL in number", "GET", "/api/v1/certificates/" + url.PathEscape("Y0' OR '1'='1"), "", "", 400, "bad_request"},
		{"HTML in number", "GET", "/api/v1/certificates/" + url.PathEscape("<script>alert(1)</script>"), "", "", 400, "bad_request"},
		{"malformed code", "GET", "/api/v1/certificates/" + n + "?c=0O1I0O1I0O1I0O1I", "", "", 400, "bad_request"},
		{"short code", "GET", "/api/v1/certificates/" + n + "?c=ABC", "", "", 400, "bad_request"},
		{"over-long name", "GET", "/api/v1/certificates/" + n + "?name=" + strings.Repeat("张", 100), "", "", 400, "bad_request"},
		{"JSON garbage", "POST", "/api/v1/verify", "application/json", "{", 400, "bad_request"},
		{"JSON unknown field", "POST", "/api/v1/verify", "application/json", `{"items":[],"drop":"table"}`, 400, "bad_request"},
		{"JSON empty", "POST", "/api/v1/verify", "application/json", `{}`, 400, "bad_request"},
		{"JSON both", "POST", "/api/v1/verify", "application/json", `{"items":[{"number":"x","name":"y"}],"token":"a.b.c"}`, 400, "bad_request"},
		{"JSON trailing", "POST", "/api/v1/verify", "application/json", `{"token":"a"} {"token":"b"}`, 400, "bad_request"},
		{"too many items", "POST", "/api/v1/verify", "application/json", manyItems(1001), 400, "bad_request"},
		{"huge JSON", "POST", "/api/v1/verify", "application/json", `{"token":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "too_large"},
		{"not a PDF", "POST", "/api/v1/verify", "application/pdf", "GIF89a not a pdf", 400, "bad_request"},
		{"PDF without record", "POST", "/api/v1/verify", "application/pdf", "%PDF-1.4\n1 0 obj << >> endobj\n%%EOF", 400, "bad_request"},
		{"XML", "POST", "/api/v1/verify", "application/xml", "<a/>", 415, "unsupported_media_type"},
		{"huge PDF", "POST", "/api/v1/verify", "application/pdf", "%PDF-1.4\n" + strings.Repeat("x", verify.MaxPDFSize), 413, "too_large"},
		{"huge token", "POST", "/api/v1/verify", "application/jose", strings.Repeat("a", 65<<10), 413, "too_large"},
		{"huge token in JSON", "POST", "/api/v1/verify", "application/json", `{"token":"` + strings.Repeat("a", 65<<10) + `"}`, 413, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			resp, body := a.do(t, tt.method, tt.target, strings.NewReader(tt.body), hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.status, body)
			}
			var e apiError
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Reason != tt.reason || !strings.Contains(e.Error, " / ") || e.Code == "" {
				t.Errorf("error body %.300s, want reason %s with a bilingual message and a code", body, tt.reason)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
				t.Errorf("body echoes input or a stack trace: %.300s", body)
			}
		})
	}
	// Pages answer the same inputs with a page, escaped.
	resp, body := a.do(t, "GET", "/v/"+url.PathEscape("<script>alert(1)</script>"), nil)
	if resp.StatusCode != 400 || strings.Contains(body, "<script>alert") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page for HTML input: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func manyItems(n int) string {
	items := make([]item, n)
	for i := range items {
		items[i] = item{Number: "Y000022000001263000001", Name: "张三"}
	}
	b, _ := json.Marshal(verifyRequest{Items: items})
	return string(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestForgedTokens: altered and forged signed records are invalid, whatever
// trick they use; a genuine one is valid, and a revoked one revoked.
func TestForgedTokens(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	a := newApp(t, w.Store, Deps{})
	genuine := w.Certs[0].Token
	parts := strings.Split(genuine, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]any
	_ = json.Unmarshal(header, &hdr)
	kid := hdr["kid"].(string)

	edited := strings.Replace(string(payload), w.Certs[0].Holder.Name, "李四", 1)
	noneTok := b64([]byte(`{"alg":"none","typ":"vc+jwt","kid":"`+kid+`"}`)) + "." + parts[1] + "."
	var claims credential.CertificateClaims
	_ = json.Unmarshal(payload, &claims)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, &claims)
	hs.Header["typ"], hs.Header["kid"] = "vc+jwt", kid
	ins, err := w.Store.Institution(w.Ctx, "jlvtc")
	if err != nil {
		t.Fatal(err)
	}
	hsTok, _ := hs.SignedString([]byte(ins.Keys[0].PublicKey))
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherTok, _ := credential.Sign(&claims, credential.TypeCertificate, priv)

	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, w.Certs[1].Number, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token string
		verdict     verify.Verdict
		failed      string
	}{
		{"genuine", genuine, verify.Valid, ""},
		{"revoked", w.Certs[1].Token, verify.Revoked, verify.CheckStatus},
		{"edited payload", parts[0] + "." + b64([]byte(edited)) + "." + parts[2], verify.Invalid, verify.CheckSignature},
		{"alg none", noneTok, verify.Invalid, verify.CheckFormat},
		{"HS256 with the public key", hsTok, verify.Invalid, verify.CheckFormat},
		{"unknown kid", otherTok, verify.Invalid, verify.CheckIssuer},
		{"swapped signature", parts[0] + "." + parts[1] + "." + strings.Split(w.Certs[1].Token, ".")[2], verify.Invalid, verify.CheckSignature},
		{"garbage", "not.a.token", verify.Invalid, verify.CheckFormat},
		{"two parts", parts[0] + "." + parts[1], verify.Invalid, verify.CheckFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, how := range []string{"json", "text"} {
				var resp *http.Response
				var body string
				if how == "json" {
					b, _ := json.Marshal(verifyRequest{Token: tt.token})
					resp, body = a.do(t, "POST", "/api/v1/verify", strings.NewReader(string(b)), "Content-Type", "application/json")
				} else {
					resp, body = a.do(t, "POST", "/api/v1/verify", strings.NewReader(tt.token), "Content-Type", "application/jose")
				}
				var r verify.TokenResult
				if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &r) != nil {
					t.Fatalf("%s: %d %s", how, resp.StatusCode, body)
				}
				if r.Verdict != tt.verdict {
					t.Fatalf("%s: verdict %s, want %s: %+v", how, r.Verdict, tt.verdict, r.Checks)
				}
				if tt.failed != "" {
					res := verify.Result{Checks: r.Checks}
					if res.Outcome(tt.failed) != verify.Fail {
						t.Errorf("%s: check %s is %s, want fail", how, tt.failed, res.Outcome(tt.failed))
					}
				}
				if tt.verdict == verify.Invalid && r.Certificate != nil {
					t.Errorf("%s: facts of an invalid record were shown", how)
				}
			}
		})
	}
}

func TestPDFUpload(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	a := newApp(t, w.Store, Deps{})
	issued := verifytest.FakePDF(w.Certs[0].Token, "")
	if err := w.Store.PutPDF(w.Ctx, w.Certs[0].Number, issued); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pdf     []byte
		verdict verify.Verdict
		pdfOut  verify.Outcome
	}{
		{"the issued file", issued, verify.Valid, verify.Pass},
		{"same record, edited pages", verifytest.FakePDF(w.Certs[0].Token, "% edited\n"), verify.Invalid, verify.Fail},
		{"no PDF on record", verifytest.FakePDF(w.Certs[1].Token, ""), verify.Undecided, verify.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, "POST", "/api/v1/verify", strings.NewReader(string(tt.pdf)), "Content-Type", "application/pdf")
			var r verify.TokenResult
			if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &r) != nil {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			res := verify.Result{Checks: r.Checks}
			if r.Verdict != tt.verdict || res.Outcome(verify.CheckPDF) != tt.pdfOut {
				t.Errorf("verdict %s, pdf check %s; want %s, %s", r.Verdict, res.Outcome(verify.CheckPDF), tt.verdict, tt.pdfOut)
			}
		})
	}
	sum := sha256.Sum256(issued)
	if hex.EncodeToString(sum[:]) == "" {
		t.Fatal("unreachable")
	}
}

func TestBulkItems(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 3)
	a := newApp(t, w.Store, Deps{})
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, w.Certs[2].Number, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	items := []item{
		{Number: w.Certs[0].Number, Name: w.Certs[0].Holder.Name, IDNumber: w.Certs[0].Holder.DocNumber},
		{Number: w.Certs[1].Number, Name: "王五"},
		{Number: w.Certs[2].Number, Name: w.Certs[2].Holder.Name},
		{Number: "Y000022000001263999999", Name: "张三"},
		{Number: "bad", Name: "张三"},
		{Number: w.Certs[0].Number, Name: ""},
	}
	b, _ := json.Marshal(verifyRequest{Items: items})
	resp, body := a.do(t, "POST", "/api/v1/verify", strings.NewReader(string(b)), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var out struct {
		Results []itemResult `json:"results"`
	}
	_ = json.Unmarshal([]byte(body), &out)
	want := []struct {
		verdict   verify.Verdict
		confirmed bool
		err       bool
	}{{verify.Valid, true, false}, {verify.Valid, false, false}, {verify.Revoked, false, false}, {verify.NotFound, false, false}, {"", false, true}, {"", false, true}}
	for i, wnt := range want {
		r := out.Results[i]
		if r.Verdict != wnt.verdict || r.Confirmed != wnt.confirmed || (r.Error != "") != wnt.err {
			t.Errorf("item %d: %+v, want %+v", i, r, wnt)
		}
	}
	if strings.Contains(body, w.Certs[0].Holder.DocNumber) {
		t.Error("the bulk answer echoes an ID number")
	}
}

func TestHeadersAndRevalidation(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{})
	c := w.Certs[0]
	for _, target := range []string{"/v/" + c.Number, "/api/v1/certificates/" + c.Number} {
		resp, _ := a.do(t, "GET", target, nil)
		for h, want := range map[string]string{
			"Cache-Control": ccPublic, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s %s = %q, want %q", target, h, got, want)
			}
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: CSP %q", target, resp.Header.Get("Content-Security-Policy"))
		}
		etag := resp.Header.Get("ETag")
		resp2, body := a.do(t, "GET", target, nil, "If-None-Match", etag)
		if resp2.StatusCode != 304 || body != "" {
			t.Errorf("%s: revalidation gave %d", target, resp2.StatusCode)
		}
		resp3, _ := a.do(t, "GET", target+"?c="+c.VerifyCode, nil)
		if resp3.Header.Get("Cache-Control") != ccPrivate {
			t.Errorf("%s with code: Cache-Control %q", target, resp3.Header.Get("Cache-Control"))
		}
	}
	// After a revocation the old ETag must not revalidate.
	resp, _ := a.do(t, "GET", "/api/v1/certificates/"+c.Number, nil)
	etag := resp.Header.Get("ETag")
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, c.Number, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, time.Second, "revocation seen", func() bool {
		r, body := a.do(t, "GET", "/api/v1/certificates/"+c.Number, nil, "If-None-Match", etag)
		return r.StatusCode == 200 && strings.Contains(body, `"verdict":"revoked"`)
	})
}

func TestDirectoryAndKeys(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{})
	resp, body := a.do(t, "GET", "/trust.json", nil)
	tb, err := credential.ParseTrustBundle([]byte(body))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("trust.json: %d %v", resp.StatusCode, err)
	}
	reg, err := verify.NewRegistry(tb)
	if err != nil {
		t.Fatal(err)
	}
	if res := (&verify.Verifier{Registry: reg}).VerifyToken(w.Ctx, w.Certs[0].Token); res.Outcome(verify.CheckSignature) != verify.Pass {
		t.Errorf("offline verification with the published bundle: %+v", res.Checks)
	}
	_, body = a.do(t, "GET", "/.well-known/jwks.json", nil)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("jwks: %v %s", err, body)
	}
	resp, body = a.do(t, "GET", "/institutions/jlvtc", nil)
	for _, s := range []string{"吉林测试职业技术学院", "吉人社认备〔2026〕007号", "收费标准", "免费", "本校学生免费", "人工智能训练师"} {
		if !strings.Contains(body, s) {
			t.Errorf("institution page lacks %q", s)
		}
	}
	if resp.StatusCode != 200 {
		t.Errorf("institution page %d", resp.StatusCode)
	}
	resp, _ = a.do(t, "GET", "/institutions/nope", nil)
	if resp.StatusCode != 404 {
		t.Errorf("unknown institution: %d", resp.StatusCode)
	}
	// A suspension is published within the second.
	if _, err := w.Iss.SetStatus(w.Ctx, verifytest.Authority, "jlvtc", issuer.Suspended, "test"); err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, time.Second, "suspension visible", func() bool {
		_, body := a.do(t, "GET", "/api/v1/institutions/jlvtc", nil)
		_, page := a.do(t, "GET", "/api/v1/certificates/"+w.Certs[0].Number, nil)
		return strings.Contains(body, `"status":"suspended"`) && strings.Contains(page, `"current_status":"suspended"`)
	})
	resp, body = a.do(t, "GET", "/api/openapi.json", nil)
	var doc map[string]any
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &doc) != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("openapi: %d", resp.StatusCode)
	}
}

// TestObservability: metrics by route pattern, one log line per request
// with no personal data.
func TestObservability(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	reg := prometheus.NewRegistry()
	a := newApp(t, w.Store, Deps{Metrics: reg})
	c := w.Certs[0]
	a.do(t, "GET", "/v/"+c.Number+"?c="+c.VerifyCode, nil)
	a.do(t, "GET", "/api/v1/certificates/"+c.Number+"?name="+url.QueryEscape(c.Holder.Name), nil)
	a.do(t, "GET", "/no/such/route", nil)
	resp, body := a.do(t, "GET", "/readyz", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"store":"ok"`) {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}
	// The public app serves no metrics: they count console login
	// failures, and the command serves them on a private address.
	if resp, _ := a.do(t, "GET", "/metrics", nil); resp.StatusCode != 404 {
		t.Errorf("GET /metrics on the public app: %d", resp.StatusCode)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	metrics := rec.Body.String()
	for _, s := range []string{`route="/v/:number"`, `route="/api/v1/certificates/:number"`, `route="unmatched"`, "certd_verify_cache_total", `certd_verify_verdicts_total{channel="page",verdict="valid"} 1`} {
		if !strings.Contains(metrics, s) {
			t.Errorf("metrics lack %s", s)
		}
	}
	if strings.Contains(metrics, c.Number) {
		t.Error("a certificate number became a metric label")
	}
	logs := a.logs.String()
	if n := strings.Count(logs, "msg=http "); n != 5 {
		t.Errorf("%d request log lines, want 5:\n%s", n, logs)
	}
	for _, s := range []string{c.Number, c.VerifyCode, c.Holder.Name, "127.0.0.1", "0.0.0.0"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
	}
}

func TestRateLimit(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{RateLimit: 5, ConfirmLimit: 2})
	for i := 0; i < 5; i++ {
		if r, _ := a.do(t, "GET", "/api/v1/certificates/"+w.Certs[0].Number, nil); r.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	r, body := a.do(t, "GET", "/api/v1/certificates/"+w.Certs[0].Number, nil)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" || !strings.Contains(body, "rate_limited") {
		t.Errorf("6th request: %d %s", r.StatusCode, body)
	}
	if r, _ := a.do(t, "GET", "/healthz", nil); r.StatusCode != 200 {
		t.Error("health checks are rate limited")
	}
}

// TestAccessLogBuffered: with AccessLog set, every request still gets its
// line, in slog's text format, once the buffer is flushed.
func TestAccessLogBuffered(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	var out verifytest.Log
	a := newApp(t, w.Store, Deps{AccessLog: &out})
	for i := 0; i < 3; i++ {
		a.do(t, "GET", "/api/v1/certificates/"+w.Certs[0].Number, nil)
	}
	a.do(t, "GET", "/v/"+url.PathEscape("bad number"), nil)
	if err := a.app.Shutdown(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if n := strings.Count(got, `msg=http method=GET route=/api/v1/certificates/:number status=200 us=`); n != 3 {
		t.Errorf("%d API lines:\n%s", n, got)
	}
	if !strings.Contains(got, "route=/v/:number status=400") || strings.Contains(got, w.Certs[0].Number) {
		t.Errorf("log:\n%s", got)
	}
}

// TestHomePage: the front page offers the number form and the other ways
// to check, and reads as a start, not as an error.
func TestHomePage(t *testing.T) {
	a := newApp(t, verifytest.NewWorld(t, openSQLite(t), 0).Store, Deps{})
	for _, tc := range []struct{ path, want, notWant string }{
		{"/", "核验一本职业技能等级证书", "无法处理"},
		{"/?lang=en", "Check a skill level certificate", "Cannot process"},
	} {
		resp, body := a.do(t, "GET", tc.path, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) || strings.Contains(body, tc.notWant) ||
			!strings.Contains(body, `action="/v/lookup"`) || !strings.Contains(body, `href="/bulk`) {
			t.Errorf("%s: %d %.400s", tc.path, resp.StatusCode, body)
		}
	}
}

// TestRateLimitReadsEveryForwardedLine: behind a trusted proxy that adds
// its own X-Forwarded-For line (HAProxy's option forwardfor) instead of
// extending the client's, the client's forged first line must not choose
// the address the limit counts: two requests from one real client with
// different forged lines share one budget.
func TestRateLimitReadsEveryForwardedLine(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	// app.Test's connection comes from 0.0.0.0: that is the proxy here.
	a := newApp(t, w.Store, Deps{RateLimit: 2, TrustedProxies: []string{"0.0.0.0/32"}})
	get := func(forged string) int {
		req, err := http.NewRequest("GET", "/api/v1/certificates/"+w.Certs[0].Number, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Add("X-Forwarded-For", forged)        // the client's own line
		req.Header.Add("X-Forwarded-For", "203.0.113.9") // the proxy's line
		resp, err := a.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, forged := range []string{"198.51.100.1", "198.51.100.2"} {
		if code := get(forged); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code := get("198.51.100.3"); code != 429 {
		t.Errorf("a third request from 203.0.113.9 with another forged line: %d, want 429", code)
	}
}
