package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/ident"
)

// cli runs certd in-process against one data directory.
type cli struct {
	t    *testing.T
	data string
	// bare runs commands as given; otherwise a --public-url (the
	// deployment's, recorded at the first print) is added unless given.
	bare bool
}

// markDemo makes the data directory a demo's, as serve --demo does: its
// QR codes may point to a loopback address, for a test's own server.
func (c *cli) markDemo() {
	c.t.Helper()
	cfg := &Config{Data: c.data, LogLevel: "error", PublicURL: testPublicURL, RateLimit: "-1", CacheMB: "16", FontPath: "/nonexistent.ttf"}
	e, err := cfg.open(c.t.Context())
	if err != nil {
		c.t.Fatal(err)
	}
	defer e.close()
	if _, err := e.store.SetDeploymentValue(c.t.Context(), demoKey, "true", time.Now(), nil); err != nil {
		c.t.Fatal(err)
	}
}

// testPublicURL is the public address the command-line tests print with.
const testPublicURL = "https://cert.example.edu.cn"

func (c *cli) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	if !c.bare && !slices.Contains(args, "--public-url") && os.Getenv("CERTD_PUBLIC_URL") == "" && len(args) > 0 && args[0] != "help" {
		args = append(args, "--public-url", testPublicURL)
	}
	code := run(context.Background(), append(args, "--data", c.data), &out, &errb)
	return code, out.String(), errb.String()
}

func (c *cli) must(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	if code != 0 {
		c.t.Fatalf("certd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func writeRoster(t *testing.T, dir string, n int, badRow int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("学号,姓名,证件号码,职业编码,等级,考生类别,考核日期,备注\n")
	day := time.Now().AddDate(0, 0, -3).Format("2006/1/2")
	for i := range n {
		id := ident.CompleteResidentID(fmt.Sprintf("2201022004%02d%02d%03d", 1+i%12, 1+i%28, i))
		if i+2 == badRow {
			id = id[:17] + map[bool]string{true: "1", false: "2"}[id[17] != '1']
		}
		fmt.Fprintf(&b, "S%04d,学生%s,%s,4-04-05-05,三级/高级工,毕业年度学生,%s,\n", i, strings.Repeat("甲", 1+i%3), id, day)
	}
	p := filepath.Join(dir, fmt.Sprintf("roster-%d-%d.csv", n, badRow))
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, data: filepath.Join(dir, "data")}
	c.must("init")
	if code, _, errs := c.run("init"); code != 1 || !strings.Contains(errs, "certd:") {
		t.Errorf("second init: exit %d, %s", code, errs)
	}
	c.must("institution", "add", "testdata/institution.yaml")
	if out := c.must("institution", "list"); !strings.Contains(out, "吉林测试职业技术学院") {
		t.Errorf("list: %s", out)
	}
	tmpl := filepath.Join(dir, "t.xlsx")
	c.must("template", "--out", tmpl)
	if fi, err := os.Stat(tmpl); err != nil || fi.Size() == 0 {
		t.Fatalf("template not written: %v", err)
	}

	// One bad row: exit 1, the row named, nothing issued.
	bad := writeRoster(t, dir, 100, 58)
	marked := filepath.Join(dir, "marked.xlsx")
	code, out, _ := c.run("issue", "--institution", "jlvtc", "--roster", bad, "--json", "--marked", marked)
	if code != 1 {
		t.Fatalf("bad roster: exit %d", code)
	}
	var rep struct {
		Problems []struct {
			Row   int    `json:"row"`
			Field string `json:"field"`
			Zh    string `json:"zh"`
		} `json:"problems"`
		Numbers []string `json:"numbers"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("issue --json output: %v\n%s", err, out)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Row != 58 || rep.Problems[0].Field != "doc_number" {
		t.Fatalf("problems = %+v", rep.Problems)
	}
	if _, err := os.Stat(marked); err != nil {
		t.Errorf("marked workbook not written: %v", err)
	}
	if out := c.must("export", "--format", "csv", "--out", "-"); strings.Count(out, "\n") != 1 {
		t.Fatalf("ledger not empty after a rejected roster:\n%s", out)
	}

	good := writeRoster(t, dir, 100, 0)
	if out := c.must("issue", "--institution", "jlvtc", "--roster", good, "--dry-run"); !strings.Contains(out, "dry run") {
		t.Errorf("dry run: %s", out)
	}
	out = c.must("issue", "--institution", "jlvtc", "--roster", good, "--json")
	rep.Numbers = nil
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Numbers) != 100 {
		t.Fatalf("issued %d (%v)", len(rep.Numbers), err)
	}
	if out := c.must("issue", "--institution", "jlvtc", "--roster", good); !strings.Contains(out, "already issued") {
		t.Errorf("second import: %s", out)
	}

	// Every record verifies against the data directory.
	for _, n := range rep.Numbers {
		var shown struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(c.must("show", n, "--json")), &shown); err != nil {
			t.Fatal(err)
		}
		if out := c.must("verify", shown.Token); !strings.Contains(out, "有效 valid") {
			t.Fatalf("verify %s: %s", n, out)
		}
	}

	// Offline with the trust bundle and its status lists: valid, as of the
	// list's time (a list covers records signed a second before it).
	time.Sleep(1100 * time.Millisecond)
	trust := filepath.Join(dir, "trust.json")
	if err := os.WriteFile(trust, []byte(c.must("trust", "export")), 0o600); err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal([]byte(c.must("show", rep.Numbers[0], "--json")), &shown)
	tokFile := filepath.Join(dir, "cert.jwt")
	_ = os.WriteFile(tokFile, []byte(shown.Token+"\n"), 0o600)
	code, out, _ = c.run("verify", tokFile, "--trust", trust)
	if code != 0 || !strings.Contains(out, "有效 valid") || !strings.Contains(out, "状态列表") || !strings.Contains(out, "信任包生成时间") {
		t.Errorf("offline verify: exit %d\n%s", code, out)
	}
	// With the certificate's public log proof, offline too: the check passes;
	// a proof of another certificate fails it (issue 11).
	proof := filepath.Join(dir, "proof.txt")
	_ = os.WriteFile(proof, []byte(c.must("log", "proof", rep.Numbers[0])), 0o600)
	code, out, _ = c.run("verify", tokFile, "--trust", trust, "--proof", proof)
	if code != 0 || !strings.Contains(out, "✓ 通过 pass                    已记入公开日志") {
		t.Errorf("offline verify with the log proof: exit %d\n%s", code, out)
	}
	other := filepath.Join(dir, "other.txt")
	_ = os.WriteFile(other, []byte(c.must("log", "proof", rep.Numbers[1])), 0o600)
	if code, out, _ := c.run("verify", tokFile, "--trust", trust, "--proof", other); code != 1 || !strings.Contains(out, "the inclusion proof does not verify") {
		t.Errorf("offline verify with another certificate's proof: exit %d\n%s", code, out)
	}
	if out := c.must("log", "audit"); !strings.Contains(out, "the database and the public log agree") {
		t.Errorf("log audit: %s", out)
	}
	// Past the list's ttl, the same bundle cannot tell.
	later := time.Now().Add(issuer.DefaultStatusTTL + time.Minute).Format(time.RFC3339)
	code, out, _ = c.run("verify", tokFile, "--trust", trust, "--now", later)
	if code != 1 || !strings.Contains(out, "无法确认") || !strings.Contains(out, "status as of") {
		t.Errorf("offline verify past the ttl: exit %d\n%s", code, out)
	}

	c.must("revoke", rep.Numbers[0], "--reason", "misconduct", "--note", "替考")
	code, out, _ = c.run("verify", shown.Token)
	if code != 1 || !strings.Contains(out, "已撤销") {
		t.Errorf("verify after revoke: exit %d\n%s", code, out)
	}
	if code, _, errs := c.run("revoke", rep.Numbers[0], "--reason", "misconduct"); code != 1 || !strings.Contains(errs, "不能撤销") {
		t.Errorf("second revoke: exit %d %s", code, errs)
	}
	// --dry-run lists what would change and changes nothing.
	out = c.must("reissue", rep.Numbers[1], "--name", "学生乙", "--reason", "姓名有误", "--dry-run")
	if !strings.Contains(out, "-> 学生乙") || !strings.Contains(out, "--dry-run") {
		t.Errorf("reissue --dry-run: %s", out)
	}
	if shown := c.must("show", rep.Numbers[1]); strings.Contains(shown, "certificate.reissue") || strings.Contains(shown, "superseded") {
		t.Errorf("reissue --dry-run reissued:\n%s", shown)
	}
	out = c.must("reissue", rep.Numbers[1], "--name", "学生乙", "--reason", "姓名有误")
	if !strings.Contains(out, "superseded") {
		t.Errorf("reissue: %s", out)
	}
	// A correction from the command line meets a roster row's limits.
	if code, _, errs := c.run("reissue", rep.Numbers[2], "--major", strings.Repeat("专", 101), "--reason", "专业有误"); code != 1 || !strings.Contains(errs, "过长") {
		t.Errorf("over-long major: exit %d %s", code, errs)
	}
	if out := c.must("show", rep.Numbers[0]); !strings.Contains(out, "certificate.revoke") || strings.Contains(out, "2201022004") {
		t.Errorf("show must list the audit trail and mask the ID number:\n%s", out)
	}
	xlsx := filepath.Join(dir, "ledger.xlsx")
	c.must("export", "--format", "xlsx", "--out", xlsx)
	csvOut := c.must("export", "--format", "csv", "--out", "-")
	if strings.Count(csvOut, "\n") != 102 || !strings.Contains(csvOut, "已撤销") || !strings.Contains(csvOut, "已更正") {
		t.Errorf("csv ledger has %d lines", strings.Count(csvOut, "\n"))
	}
	c.must("institution", "keys", "rotate", "jlvtc")
	c.must("institution", "suspend", "jlvtc", "--note", "抽查")
	code, _, errs := c.run("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 3, 0))
	if code != 1 || !strings.Contains(errs, "暂停") {
		t.Errorf("issue while suspended: exit %d %s", code, errs)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, data: dir}
	code, _, errs := c.run("init", "--public-url", "ftp://x", "--database-url", "mysql://x", "--log-level", "loud", "--cache-mb", "0", "--metrics-addr", "9090")
	if code != 2 || strings.Count(errs, "/") < 3 || !strings.Contains(errs, "--cache-mb") || !strings.Contains(errs, "--metrics-addr") {
		t.Errorf("bad config: exit %d\n%s", code, errs)
	}
	c.must("init")
	t.Setenv("CERTD_KEK", strings.Repeat("ab", 32))
	code, _, errs = c.run("institution", "add", "testdata/institution.yaml")
	if code != exitInternal || !strings.Contains(errs, "KEK") {
		t.Errorf("wrong KEK: exit %d\n%s", code, errs)
	}
	t.Setenv("CERTD_KEK", "")
	// A KEK file the operator named is never created: a mistyped or
	// unmounted path must not start a server with a fresh key.
	missing := filepath.Join(dir, "secrets", "kek")
	code, _, errs = c.run("audit", "--kek-file", missing)
	if code == 0 || !strings.Contains(errs, "不存在") || !strings.Contains(errs, "does not exist") {
		t.Errorf("missing --kek-file: exit %d\n%s", code, errs)
	}
	if err := os.MkdirAll(filepath.Dir(missing), 0o700); err != nil {
		t.Fatal(err)
	}
	if code, _, _ = c.run("audit", "--kek-file", missing); code == 0 {
		t.Errorf("missing --kek-file in an existing directory: exit 0")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("certd created the KEK file the operator named (%v)", err)
	}
	code, _, errs = c.run("issue", "--institution", "x", "--roster", "testdata/institution.yaml", "--font", "/nonexistent/font.ttf")
	if code != 1 || !strings.Contains(errs, "字体") {
		t.Errorf("missing font: exit %d\n%s", code, errs)
	}
	if code, _, _ := c.run("nonsense"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestPrintOutputs(t *testing.T) {
	if _, err := os.Stat("/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("fonts-lxgw-wenkai not installed")
	}
	dir := t.TempDir()
	c := &cli{t: t, data: filepath.Join(dir, "data")}
	c.must("init")
	c.must("institution", "add", "testdata/institution.yaml")
	outDir := filepath.Join(dir, "out")
	out := c.must("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 3, 0), "--out", outDir, "--json")
	var rep struct {
		Numbers []string `json:"numbers"`
		Batch   struct{ ID string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Numbers) != 3 {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	for _, name := range []string{rep.Batch.ID + "-print.pdf", rep.Batch.ID + ".zip", rep.Numbers[0] + ".pdf"} {
		if fi, err := os.Stat(filepath.Join(outDir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	// The PDF itself verifies: its embedded record, against the register.
	if out := c.must("verify", filepath.Join(outDir, rep.Numbers[0]+".pdf")); !strings.Contains(out, "有效 valid") || !strings.Contains(out, "byte-identical") {
		t.Errorf("verify PDF: %s", out)
	}
	rendered := filepath.Join(dir, "again.pdf")
	c.must("render", rep.Numbers[0], "--out", rendered)
	a, _ := os.ReadFile(rendered)
	b, _ := os.ReadFile(filepath.Join(outDir, rep.Numbers[0]+".pdf"))
	if !bytes.Equal(a, b) {
		t.Error("certd render does not return the PDF issued")
	}
	// After revocation certd render warns and the PDF says void.
	c.must("revoke", rep.Numbers[1], "--reason", "misconduct")
	voided := filepath.Join(dir, "void.pdf")
	if out := c.must("render", rep.Numbers[1], "--out", voided); !strings.Contains(out, "作废 REVOKED") {
		t.Errorf("certd render of a revoked certificate does not warn: %s", out)
	}
	if txt, err := exec.Command("pdftotext", voided, "-").Output(); err != nil || !strings.Contains(string(txt), "作废 REVOKED") { // #nosec G204 -- a test's own file
		t.Errorf("the revoked certificate's PDF has no void mark (%v)", err)
	}
	c.must("institution", "print", "jlvtc", "--layout", "preprinted", "--offset-x", "1.5")
	c.must("institution", "calibrate", "jlvtc", "--out", filepath.Join(dir, "cal.pdf"))
	if code, _, errs := c.run("institution", "seal", "jlvtc", "testdata/institution.yaml"); code != 1 || !strings.Contains(errs, "印章") {
		t.Errorf("a seal that is not an image: exit %d %s", code, errs)
	}
}

// TestPublicURLIsTheDeployments: the address in QR codes is recorded with
// the deployment at the first print and used after; a command whose
// --public-url differs, or that would print the built-in loopback default
// outside the demo, prints nothing and says why in both languages. Before,
// certd issue printed QR codes for 127.0.0.1:8080 silently (issue 13
// point 5).
func TestPublicURLIsTheDeployments(t *testing.T) {
	if _, err := os.Stat("/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("fonts-lxgw-wenkai not installed")
	}
	t.Setenv("CERTD_PUBLIC_URL", "")
	os.Unsetenv("CERTD_PUBLIC_URL")
	dir := t.TempDir()
	c := &cli{t: t, data: filepath.Join(dir, "data"), bare: true}
	c.must("init")
	c.must("institution", "add", "testdata/institution.yaml")
	roster := writeRoster(t, dir, 2, 0)
	code, _, errs := c.run("issue", "--institution", "jlvtc", "--roster", roster, "--out", filepath.Join(dir, "x"))
	if code == 0 || !strings.Contains(errs, "本机地址") || !strings.Contains(errs, "loopback") || !strings.Contains(errs, "--public-url") {
		t.Fatalf("issue with the loopback default: exit %d\n%s", code, errs)
	}
	if out := c.must("audit"); strings.Contains(out, "certificate.issue") {
		t.Fatalf("certificates were issued with a loopback address: %s", out)
	}
	const a, b = "https://a.example.edu.cn", "https://b.example.edu.cn"
	outDir := filepath.Join(dir, "out")
	out := c.must("issue", "--institution", "jlvtc", "--roster", roster, "--out", outDir, "--json", "--public-url", a)
	var rep struct{ Numbers []string }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Numbers) != 2 {
		t.Fatalf("issue: %v %s", err, out)
	}
	if txt := pdfToText(t, mustRead(t, filepath.Join(outDir, rep.Numbers[0]+".pdf"))); !strings.Contains(txt, a+"/v/"+rep.Numbers[0]) {
		t.Errorf("the QR address printed is not %s:\n%.300s", a, txt)
	}
	// Another address is refused, naming both; the default uses the recorded one.
	c.must("revoke", rep.Numbers[1], "--reason", "error")
	code, _, errs = c.run("render", rep.Numbers[1], "--out", filepath.Join(dir, "r.pdf"), "--public-url", b)
	if code == 0 || !strings.Contains(errs, a) || !strings.Contains(errs, b) || !strings.Contains(errs, "certd public-url") {
		t.Fatalf("render with another address: exit %d\n%s", code, errs)
	}
	c.must("render", rep.Numbers[1], "--out", filepath.Join(dir, "r.pdf"))
	if txt := pdfToText(t, mustRead(t, filepath.Join(dir, "r.pdf"))); !strings.Contains(txt, a+"/v/"+rep.Numbers[1]) {
		t.Errorf("render without --public-url did not use the recorded address:\n%.300s", txt)
	}
	// Moving the deployment is deliberate, audited, and refuses loopback.
	if out := c.must("public-url"); !strings.Contains(out, a) {
		t.Errorf("public-url shows %s", out)
	}
	if code, _, errs := c.run("public-url", "http://localhost:8080"); code == 0 || !strings.Contains(errs, "本机地址") {
		t.Errorf("public-url to loopback: exit %d %s", code, errs)
	}
	c.must("public-url", b)
	c.must("render", rep.Numbers[1], "--out", filepath.Join(dir, "r2.pdf"), "--public-url", b)
	if txt := pdfToText(t, mustRead(t, filepath.Join(dir, "r2.pdf"))); !strings.Contains(txt, b+"/v/"+rep.Numbers[1]) {
		t.Errorf("after the move the void copy does not point to %s", b)
	}
	if out := c.must("audit"); !strings.Contains(out, "deployment.public_url") {
		t.Errorf("the move is not in the audit log:\n%.500s", out)
	}
	// A server configured with another address does not start.
	cfg := &Config{Data: c.data, Addr: "127.0.0.1:0", PublicURL: a, LogLevel: "error", RateLimit: "-1", CacheMB: "16", FontPath: "/nonexistent.ttf"}
	e, err := cfg.open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	if _, err := newApp(e); err == nil || !strings.Contains(err.Error(), b) {
		t.Errorf("a server with another public address started: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path) // #nosec G304 -- a test's own file
	if err != nil {
		t.Fatal(err)
	}
	return b
}
