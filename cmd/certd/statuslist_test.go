package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/statuslist"
)

// TestStatusListDoneWhen is issue 12's "done when": a running certd; a
// revocation made by another process (certd revoke) is in a new list
// version within one second; offline certd verify with a bundle exported
// after it says revoked, and with the bundle exported before it, once that
// bundle's list is past its ttl, cannot determine; the Node (jose) and
// Python (PyJWT) examples of docs/verifying.md agree with certd verify on
// valid, revoked, superseded and tampered records; and the npm package
// @digitalbazaar/vc-bitstring-status-list reads the served list the same.
func TestStatusListDoneWhen(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	// Records signed by the command line point at this server's lists.
	t.Setenv("CERTD_PUBLIC_URL", base)
	c := &cli{t: t, data: filepath.Join(dir, "data")}
	c.must("init")
	c.markDemo() // its QR and status addresses are this loopback server's
	c.must("institution", "add", "testdata/institution.yaml")
	var rep struct {
		Numbers []string `json:"numbers"`
	}
	if err := json.Unmarshal([]byte(c.must("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 4, 0), "--json")), &rep); err != nil || len(rep.Numbers) != 4 {
		t.Fatalf("issue: %v %v", rep.Numbers, err)
	}
	tokens := map[string]string{}
	for _, n := range rep.Numbers {
		var shown struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(c.must("show", n, "--json")), &shown); err != nil {
			t.Fatal(err)
		}
		tokens[n] = shown.Token
	}
	valid, revoked, superseded := rep.Numbers[0], rep.Numbers[1], rep.Numbers[2]

	// The server, with its status list publisher, as certd serve runs it.
	cfg := &Config{Data: c.data, Addr: ln.Addr().String(), PublicURL: base, LogLevel: "error", RateLimit: "-1", CacheMB: "16", FontPath: "/nonexistent.ttf"}
	e, err := cfg.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	app, err := newApp(e)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer app.ShutdownWithTimeout(5 * time.Second)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = (&issuer.StatusPublisher{Service: e.svc, TTL: e.cfg.statusTTL()}).Run(ctx) }()

	latest := func() (issuer.StatusList, string) {
		t.Helper()
		res, err := http.Get(base + "/status/jlvtc")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			return issuer.StatusList{}, ""
		}
		loc := res.Header.Get("Content-Location")
		v := 0
		for _, r := range loc[strings.LastIndexByte(loc, '/')+1:] {
			v = v*10 + int(r-'0')
		}
		return issuer.StatusList{Version: v}, string(b)
	}
	waitVersion := func(after int, within time.Duration) (int, string) {
		t.Helper()
		start := time.Now()
		for {
			l, tok := latest()
			if l.Version > after {
				return l.Version, tok
			}
			if time.Since(start) > within {
				t.Fatalf("no list version after %d within %v", after, within)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	v0, _ := waitVersion(0, 10*time.Second)
	// Lists cover records signed a full second before them.
	time.Sleep(1100 * time.Millisecond)
	oldBundle := filepath.Join(dir, "trust-before.json")
	writeTestFile(t, oldBundle, c.must("trust", "export"))
	v1, _ := waitVersion(v0, 10*time.Second)

	// A revocation by another process: the new version within 1 s.
	c.must("revoke", revoked, "--reason", "misconduct", "--note", "替考")
	revokedAt := time.Now()
	v2, tok := waitVersion(v1, time.Second)
	t.Logf("new list version %d served %v after certd revoke returned", v2, time.Since(revokedAt).Round(time.Millisecond))
	if !bitSet(t, tok, tokens[revoked]) {
		t.Fatal("the new version does not have the revoked certificate's bit set")
	}
	c.must("reissue", superseded, "--name", "学生乙", "--reason", "姓名录入错误")
	waitVersion(v2, time.Second)
	newBundle := filepath.Join(dir, "trust-after.json")
	writeTestFile(t, newBundle, c.must("trust", "export"))

	// The four cases and what certd verify says offline with the new bundle.
	tampered := editPayload(t, tokens[valid], "4-04-05-05", "4-04-05-06")
	cases := map[string]string{
		"valid": tokens[valid], "revoked": tokens[revoked], "superseded": tokens[superseded], "tampered": tampered,
	}
	want := map[string]string{"valid": "valid", "revoked": "revoked", "superseded": "revoked", "tampered": "invalid"}
	files := map[string]string{}
	for name, tok := range cases {
		files[name] = filepath.Join(dir, name+".jwt")
		writeTestFile(t, files[name], tok+"\n")
		code, out, _ := c.run("verify", files[name], "--trust", newBundle, "--json")
		var got struct {
			Verdict string `json:"verdict"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Verdict != want[name] || (code == 0) != (want[name] == "valid") {
			t.Errorf("certd verify %s with the new bundle: exit %d, %s", name, code, out)
		}
	}
	// The bundle exported before the revocation, past its list's ttl.
	var ob credential.TrustBundle
	if err := json.Unmarshal([]byte(readFile(t, oldBundle)), &ob); err != nil || len(ob.StatusLists) != 1 {
		t.Fatalf("old bundle: %v, %d lists", err, len(ob.StatusLists))
	}
	past := ob.StatusLists[0].ValidFrom.Add(e.cfg.statusTTL() + time.Second).Format(time.RFC3339)
	code, out, _ := c.run("verify", files["revoked"], "--trust", oldBundle, "--now", past)
	if code != 1 || !strings.Contains(out, "无法确认") || !strings.Contains(out, "status as of") {
		t.Errorf("certd verify with the old bundle past its ttl: exit %d\n%s", code, out)
	}

	// The old bundle with the latest list fetched since (--status-list):
	// revoked again, the list's time named.
	_, tok = latest()
	listFile := filepath.Join(dir, "jlvtc-status.jwt")
	writeTestFile(t, listFile, tok)
	code, out, _ = c.run("verify", files["revoked"], "--trust", oldBundle, "--status-list", listFile)
	if code != 1 || !strings.Contains(out, "已撤销") || !strings.Contains(out, "状态列表（"+listFile) {
		t.Errorf("certd verify with the old bundle and a newer list: exit %d\n%s", code, out)
	}
	// Bad command lines: exit 2 with both languages.
	for _, args := range [][]string{
		{"verify", files["valid"], "--max-age", "1h"},
		{"verify", files["valid"], "--trust", newBundle, "--now", "tomorrow"},
		{"verify", files["valid"], "--trust", newBundle, "--max-age", "-1h"},
		{"verify", files["valid"], "--trust", newBundle, "--status-list", files["valid"]},
	} {
		code, _, errs := c.run(args...)
		if code != 2 || !strings.Contains(errs, " / ") {
			t.Errorf("certd %s: exit %d, %s", strings.Join(args, " "), code, errs)
		}
	}

	// The examples of docs/verifying.md, against the running server.
	examples := map[string]func(file string) *exec.Cmd{}
	if dir := os.Getenv("CERTD_JOSE_DIR"); dir != "" && fileExists(filepath.Join(dir, "node_modules/jose/package.json")) {
		src := readFile(t, "../../docs/examples/verify.mjs")
		script := filepath.Join(dir, "certd-verify-example.mjs") // beside node_modules, where ESM finds jose
		writeTestFile(t, script, src)
		examples["node+jose"] = func(file string) *exec.Cmd { return exec.Command("node", script, base, file) }
	} else {
		missing(t, "node and jose (npm install --prefix $CERTD_JOSE_DIR jose)")
	}
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import jwt, cryptography").Run() == nil {
		examples["python+pyjwt"] = func(file string) *exec.Cmd { return exec.Command(py, "../../docs/examples/verify.py", base, file) }
	} else {
		missing(t, "python3-jwt and python3-cryptography")
	}
	for lang, cmd := range examples {
		for name, f := range files {
			out, err := cmd(f).Output()
			got := strings.TrimSpace(string(out))
			if got != want[name] || (err == nil) != (want[name] == "valid") {
				stderr := ""
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Errorf("%s says %q for %s, certd verify %q (%v %s)", lang, got, name, want[name], err, stderr)
			}
		}
	}

	// The npm package reads the served list as certd does.
	_, tok = latest()
	ldir := os.Getenv("CERTD_STATUSLIST_DIR")
	if ldir == "" || !fileExists(filepath.Join(ldir, "node_modules/@digitalbazaar/vc-bitstring-status-list/package.json")) {
		missing(t, "@digitalbazaar/vc-bitstring-status-list (see .ci/run)")
		return
	}
	var indexes []int
	for _, n := range rep.Numbers {
		indexes = append(indexes, indexOf(t, tokens[n]))
	}
	jobs, _ := json.Marshal([]map[string]any{{"op": "decode", "encodedList": encodedList(t, tok), "indexes": indexes}})
	cmd := exec.Command("node", "../../issuer/statuslist/testdata/crosscheck.mjs")
	cmd.Stdin = strings.NewReader(string(jobs))
	cmd.Env = append(os.Environ(), "CERTD_STATUSLIST_DIR="+ldir)
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("crosscheck.mjs: %v", err)
	}
	var got []struct {
		Length int   `json:"length"`
		Set    []int `json:"set"`
	}
	if err := json.Unmarshal(res, &got); err != nil || len(got) != 1 {
		t.Fatalf("crosscheck output %s: %v", res, err)
	}
	wantSet := []int{indexOf(t, tokens[revoked]), indexOf(t, tokens[superseded])}
	if got[0].Length != statuslist.MinBits || len(got[0].Set) != 2 || !sameInts(got[0].Set, wantSet) {
		t.Errorf("the npm package reads length %d, set %v; want %d, %v", got[0].Length, got[0].Set, statuslist.MinBits, wantSet)
	}
}

func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Errorf("%s is not installed; CI requires it (.ci/run installs it)", what)
		return
	}
	t.Logf("skipping the check that needs %s", what)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func writeTestFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p) // #nosec G304 -- test files
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// editPayload changes a record's payload without signing it again.
func editPayload(t *testing.T, tok, from, to string) string {
	t.Helper()
	p := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(p[1])
	if err != nil || !strings.Contains(string(b), from) {
		t.Fatalf("cannot edit the record: %v", err)
	}
	return p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(b), from, to, 1))) + "." + p[2]
}

func entryOf(t *testing.T, tok string) statuslist.Entry {
	t.Helper()
	var cl credential.CertificateClaims
	if _, err := credential.Decode(tok, credential.TypeCertificate, &cl); err != nil || cl.CredentialStatus == nil {
		t.Fatalf("record without a status entry: %v", err)
	}
	return statuslist.Entry(*cl.CredentialStatus)
}

func indexOf(t *testing.T, tok string) int {
	t.Helper()
	i, err := entryOf(t, tok).Validate(entryOf(t, tok).StatusListCredential)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// encodedList reads a list token's encodedList (unverified: the npm
// package is given the same bits certd signed).
func encodedList(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var p struct {
		Subject struct {
			EncodedList string `json:"encodedList"`
		} `json:"credentialSubject"`
	}
	if err != nil || json.Unmarshal(b, &p) != nil {
		t.Fatalf("list payload: %v", err)
	}
	return p.Subject.EncodedList
}

func bitSet(t *testing.T, listTok, recTok string) bool {
	t.Helper()
	l, err := statuslist.Decode(encodedList(t, listTok))
	if err != nil {
		t.Fatal(err)
	}
	set, err := l.Get(indexOf(t, recTok))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func sameInts(a, b []int) bool {
	m := map[int]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return len(a) == len(b)
}
