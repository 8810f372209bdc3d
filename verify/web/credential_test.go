package web

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

// TestHolderCredentialAccepted: POST /api/v1/verify (JSON, text and the
// SD-JWT media type) and the /bulk page take a holder credential, apply
// the record's checks and show only what the holder disclosed; a
// presentation with an altered disclosure is invalid, and revocation
// reaches the credential.
func TestHolderCredentialAccepted(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{})
	c := w.Certs[0]
	cred, err := w.Iss.HolderCredential(w.Ctx, issuer.HolderActor(c.Number), c.Number)
	if err != nil {
		t.Fatal(err)
	}
	hidden, err := issuer.PresentCredential(cred) // nothing personal disclosed
	if err != nil {
		t.Fatal(err)
	}
	named, err := issuer.PresentCredential(cred, "name", "birthDate")
	if err != nil {
		t.Fatal(err)
	}
	jsonBody, _ := json.Marshal(map[string]string{"token": string(hidden)})
	for _, tc := range []struct {
		name, ctype, body string
		nameShown         bool
	}{
		{"JSON", "application/json", string(jsonBody), false},
		{"text", "text/plain", string(named), true},
		{"dc+sd-jwt", issuer.CredentialContentType, string(named) + "\n", true},
	} {
		resp, body := a.do(t, "POST", "/api/v1/verify", strings.NewReader(tc.body), "Content-Type", tc.ctype)
		var tr verify.TokenResult
		if err := json.Unmarshal([]byte(body), &tr); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
		if tr.Verdict != verify.Valid || tr.Credential == nil || tr.Number != c.Number || len(tr.Checks) != 7 {
			t.Errorf("%s: %+v", tc.name, tr)
		}
		if strings.Contains(body, c.Holder.Name) != tc.nameShown {
			t.Errorf("%s: name shown %v, want %v: %s", tc.name, !tc.nameShown, tc.nameShown, body)
		}
		if strings.Contains(body, c.Holder.DocNumber) || strings.Contains(body, c.Token) {
			t.Errorf("%s: the ID number or the record in the answer", tc.name)
		}
	}

	// The /bulk page: pasted and uploaded.
	form := url.Values{"credential": {string(hidden)}}.Encode()
	resp, page := a.do(t, "POST", "/bulk/credential", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 200 || !strings.Contains(page, `data-conclusion="valid"`) || !strings.Contains(page, "持证人未披露") || strings.Contains(page, c.Holder.Name) {
		t.Fatalf("pasted: %d %.2000s", resp.StatusCode, page)
	}
	var up bytes.Buffer
	mw := multipart.NewWriter(&up)
	fw, _ := mw.CreateFormFile("file", issuer.CredentialFile(c.Number))
	fw.Write(named)
	mw.Close()
	resp, page = a.do(t, "POST", "/bulk/credential?lang=en", &up, "Content-Type", mw.FormDataContentType())
	if resp.StatusCode != 200 || !strings.Contains(page, `data-conclusion="valid"`) || !strings.Contains(page, c.Holder.Name) || !strings.Contains(page, "Checks behind the verdict") {
		t.Fatalf("uploaded: %d %.2000s", resp.StatusCode, page)
	}
	resp, page = a.do(t, "POST", "/bulk/credential", strings.NewReader(""), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 400 || !strings.Contains(page, "请上传凭证文件或粘贴凭证内容") {
		t.Errorf("empty form: %d", resp.StatusCode)
	}

	// An altered disclosure: invalid, nothing of it shown.
	segs := strings.Split(string(named), "~")
	segs[1] = segs[1][:len(segs[1])-2] + "AA"
	_, body := a.do(t, "POST", "/api/v1/verify", strings.NewReader(strings.Join(segs, "~")), "Content-Type", "text/plain")
	if !strings.Contains(body, `"verdict":"invalid"`) || strings.Contains(body, c.Holder.Name) || strings.Contains(body, `"certificate"`) {
		t.Errorf("altered: %s", body)
	}

	// Revocation reaches the credential like the record.
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, c.Number, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, 10*time.Second, "the credential shows revoked", func() bool {
		_, body := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(hidden), "Content-Type", "text/plain")
		return strings.Contains(body, `"verdict":"revoked"`)
	})
}

// legacyStore issues as certd did before holder credentials: records only.
type legacyStore struct{ verifytest.Store }

func (s legacyStore) IssueBatch(ctx context.Context, b issuer.Batch, prefix string, certs []issuer.Certificate, seal func(*issuer.Certificate) (issuer.AuditEvent, error), job *issuer.PrintJob) error {
	return s.Store.IssueBatch(ctx, b, prefix, certs, func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		ev, err := seal(c)
		c.Credential = ""
		return ev, err
	}, job)
}

// TestLegacyCredentialReachesTheCache: a certificate issued before holder
// credentials, whose verdict is already cached, gets its credential on the
// holder's first request; the public service then accepts it (the
// register's change reaches the cache like a revocation), where before it
// would have said the credential is not the register's.
func TestLegacyCredentialReachesTheCache(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, legacyStore{st}, 0)
	c := w.Issue(1, 0)[0]
	if c.Credential != "" {
		t.Fatal("the legacy store kept a credential")
	}
	a := newApp(t, st, Deps{})
	if _, body := a.do(t, "GET", "/api/v1/certificates/"+c.Number, nil); !strings.Contains(body, `"verdict":"valid"`) {
		t.Fatalf("cached verdict: %s", body)
	}
	cred, err := w.Iss.HolderCredential(w.Ctx, issuer.HolderActor(c.Number), c.Number)
	if err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, 10*time.Second, "the backfilled credential verifies", func() bool {
		_, body := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(cred), "Content-Type", issuer.CredentialContentType)
		return strings.Contains(body, `"verdict":"valid"`)
	})
}
