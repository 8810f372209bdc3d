package issuer_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify"
)

// TestHolderCredentialNodeCrossCheck: the holder credentials the service
// issues, and the presentations PresentCredential makes of them, verify
// with an independent implementation (@sd-jwt/sd-jwt-vc under Node, with
// Node's Ed25519) with the same claims certd reads; the altered and forged
// ones certd rejects, it rejects too. The npm packages are installed by
// .ci/run into $CERTD_SDJWT_DIR (see issuer/credential/sdjwt/node_test.go
// for the library's own cross-check).
func TestHolderCredentialNodeCrossCheck(t *testing.T) {
	dir := os.Getenv("CERTD_SDJWT_DIR")
	if dir == "" {
		t.Skip("CERTD_SDJWT_DIR is not set; skipping the cross-check with @sd-jwt/sd-jwt-vc (see .ci/run)")
	}
	broken := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf("CERTD_SDJWT_DIR=%s is set but "+format, append([]any{dir}, args...)...)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		broken("node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@sd-jwt", "sd-jwt-vc", "package.json")); err != nil {
		broken("@sd-jwt/sd-jwt-vc is not installed there")
	}

	f := newFixture(t)
	f.svc.StatusBase = statusBase // credentials carry the record's credentialStatus
	cs := f.issue(clerk, roster(3)).Issued
	if !strings.Contains(cs[0].Credential, ".") || parts1(t, cs[0].Credential)["credentialStatus"] == nil {
		t.Fatal("the credential carries no credentialStatus")
	}
	f.register("other", "Y000022000002")
	priv := f.institutionKey("jlvtc")
	jwk := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))}
	type nodeCase struct {
		Name  string         `json:"name"`
		JWK   map[string]any `json:"jwk"`
		SDJWT string         `json:"sdjwt"`
		valid bool
	}
	var cases []nodeCase
	for _, c := range cs {
		cases = append(cases, nodeCase{"credential " + c.Number, jwk, c.Credential, true})
		for _, names := range [][]string{nil, {"name"}, {"documentHash", "birthDate"}, {"name", "documentHash", "birthDate"}} {
			cases = append(cases, nodeCase{fmt.Sprintf("presentation %v of %s", names, c.Number), jwk, present(t, c.Credential, names...), true})
		}
	}
	cred := cs[0].Credential
	h, p, ds := parts(t, cred)
	nameD, _ := disclosure(t, "name", "李四")
	segs := strings.Split(present(t, cred, "name"), "~")
	b, _ := base64.RawURLEncoding.DecodeString(segs[1])
	altered := strings.Replace(string(b), cs[0].Holder.Name, "李四", 1)
	segs[1] = base64.RawURLEncoding.EncodeToString([]byte(altered))
	cases = append(cases,
		nodeCase{"altered disclosure", jwk, strings.Join(segs, "~"), false},
		nodeCase{"disclosure whose digest is absent", jwk, segs[0] + "~" + nameD + "~", false},
		nodeCase{"alg none", jwk, forge(t, nil, map[string]any{"alg": "none", "typ": "dc+sd-jwt", "kid": h["kid"]}, p, ds...), false},
		nodeCase{"another college's key", jwk, forge(t, f.institutionKey("other"), h, p, ds...), false},
	)

	v := f.verifier(true)
	for _, c := range cases {
		if got := v.VerifyCredential(f.ctx, c.SDJWT).Verdict == verify.Valid; got != c.valid {
			t.Fatalf("%s: certd says valid=%v", c.Name, got)
		}
	}

	script, err := os.ReadFile("credential/sdjwt/testdata/sdjwt_check.mjs")
	if err != nil {
		t.Fatal(err)
	}
	rb := make([]byte, 8)
	_, _ = rand.Read(rb)
	run := filepath.Join(dir, "certd_issuer_check_"+hex.EncodeToString(rb)+".mjs")
	if err := os.WriteFile(run, script, 0o600); err != nil {
		broken("not writable: %v", err)
	}
	defer os.Remove(run)
	in, _ := json.Marshal(map[string]any{"verify": cases})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, run)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		broken("the check script failed: %v\n%s", err, stderr.Bytes())
	}
	var res struct {
		Verified []struct {
			Name   string         `json:"name"`
			OK     bool           `json:"ok"`
			Claims map[string]any `json:"claims"`
			Error  string         `json:"error"`
		} `json:"verified"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Verified) != len(cases) {
		t.Fatalf("node said %s (%v)", out, err)
	}
	for i, c := range cases {
		n := res.Verified[i]
		if n.OK != c.valid {
			t.Errorf("%s: @sd-jwt/sd-jwt-vc ok=%v (%s), certd valid=%v", c.Name, n.OK, n.Error, c.valid)
			continue
		}
		if !c.valid {
			continue
		}
		// The claims node reads are the ones certd reads.
		r := v.VerifyCredential(f.ctx, c.SDJWT)
		a := r.Claims.CredentialSubject.Achievement
		if n.Claims["certificateNumber"] != a.Number || n.Claims["occupationCode"] != a.OccupationCode || n.Claims["iss"] != r.Claims.Issuer.ID ||
			n.Claims["vct"] != issuer.CredentialType || fmt.Sprint(n.Claims["level"]) != fmt.Sprint(a.Level) {
			t.Errorf("%s: node read %v", c.Name, n.Claims)
		}
		for _, name := range []string{"name", "birthDate", "documentHash", "documentType"} {
			_, inNode := n.Claims[name]
			if inNode != (r.Disclosed != nil && slices.Contains(r.Disclosed.Claims, name)) {
				t.Errorf("%s: %s disclosed to node %v, to certd %v", c.Name, name, inNode, r.Disclosed.Claims)
			}
		}
		if name, ok := n.Claims["name"]; ok && name != r.Disclosed.Name {
			t.Errorf("%s: node read the name %v, certd %q", c.Name, name, r.Disclosed.Name)
		}
	}
	t.Logf("@sd-jwt/sd-jwt-vc agreed on %d credentials and presentations", len(cases))
}

// parts1 is the payload of an issued credential.
func parts1(t *testing.T, cred string) map[string]any {
	_, p, _ := parts(t, cred)
	return p
}
