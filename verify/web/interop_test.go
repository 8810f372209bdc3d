package web

import (
	"certd/verify/internal/verifytest"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJOSEInterop: an independent implementation (the npm package jose under
// Node) verifies a record's JWS against the published JWKS, and rejects an
// altered one. It needs node and `npm install --prefix $CERTD_JOSE_DIR jose`
// (.ci/run does this); without them it skips and says so.
func TestJOSEInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; skipping the independent JOSE check")
	}
	dir := os.Getenv("CERTD_JOSE_DIR")
	if dir == "" {
		dir = "/tmp/certd-jose"
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose", "package.json")); err != nil {
		t.Skipf("jose is not installed in %s (run: npm install --prefix %s jose); skipping the independent JOSE check", dir, dir)
	}
	script, err := os.ReadFile("testdata/jose_verify.mjs")
	if err != nil {
		t.Fatal(err)
	}
	// Node resolves 'jose' from the script's own directory.
	run := filepath.Join(dir, "certd_jose_verify_"+verifytest.RandHex()+".mjs")
	if err := os.WriteFile(run, script, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(run)

	w := verifytest.NewWorld(t, openSQLite(t), 2)
	// Rotate the key so the JWKS holds a retired key too: an old record
	// must still verify.
	if _, err := w.Iss.RotateKey(w.Ctx, verifytest.Authority, "jlvtc"); err != nil {
		t.Fatal(err)
	}
	w.Issue(1, 50)
	a := newApp(t, w.Store, Deps{})
	base := a.listen(t)

	parts := strings.Split(w.Certs[0].Token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	altered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"level":3`, `"level":1`, 1))) + "." + parts[2]
	tests := []struct {
		name, token string
		ok          bool
		number      string
	}{
		{"record signed with the retired key", w.Certs[0].Token, true, w.Certs[0].Number},
		{"record signed with the current key", w.Certs[2].Token, true, w.Certs[2].Number},
		{"altered record", altered, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(node, run, base+"/.well-known/jwks.json", tt.token).CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			var r struct {
				OK     bool   `json:"ok"`
				Number string `json:"number"`
				Error  string `json:"error"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("node said %s", out)
			}
			if r.OK != tt.ok || r.Number != tt.number {
				t.Errorf("jose: %s, want ok=%v number=%s", out, tt.ok, tt.number)
			}
		})
	}
}
