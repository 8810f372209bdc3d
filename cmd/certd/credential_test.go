package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCredentialCommand: certd credential writes a holder credential or a
// presentation with chosen disclosures; certd verify checks either online
// (every check) and offline with the trust bundle (status unknown), and
// shows only what was disclosed; an altered disclosure fails.
func TestCredentialCommand(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, data: filepath.Join(dir, "data")}
	c.must("init")
	c.must("institution", "add", "testdata/institution.yaml")
	var rep struct {
		Numbers []string `json:"numbers"`
	}
	if err := json.Unmarshal([]byte(c.must("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 2, 0), "--json")), &rep); err != nil || len(rep.Numbers) != 2 {
		t.Fatalf("issue: %v %v", err, rep)
	}
	n := rep.Numbers[0]
	full := filepath.Join(dir, "full.sd-jwt")
	if out := c.must("credential", n, "--out", full); !strings.Contains(out, "application/dc+sd-jwt") {
		t.Errorf("credential: %s", out)
	}
	pres := strings.TrimSpace(c.must("credential", n, "--disclose", "birthDate", "--out", "-"))
	if strings.Count(pres, "~") != 2 {
		t.Fatalf("presentation with one disclosure: %s", pres)
	}
	out := c.must("verify", full)
	if !strings.Contains(out, "有效 valid") || !strings.Contains(out, "姓名 / name: 学生甲") || !strings.Contains(out, "name") {
		t.Errorf("verify the whole credential:\n%s", out)
	}
	out = c.must("verify", pres, "--json")
	var res struct {
		Verdict   string `json:"verdict"`
		Number    string `json:"number"`
		Disclosed struct {
			Claims    []string `json:"claims"`
			Name      string   `json:"name"`
			BirthDate string   `json:"birth_date"`
		} `json:"disclosed"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Verdict != "valid" || res.Number != n ||
		res.Disclosed.Name != "" || res.Disclosed.BirthDate == "" || strings.Contains(out, "学生") {
		t.Errorf("verify the presentation: %v\n%s", err, out)
	}

	// A list speaks for a record only if it was made at least a second
	// after the record was signed (statuslists.go): wait, so that the
	// bundle's list is one that can.
	time.Sleep(1100 * time.Millisecond)
	trust := filepath.Join(dir, "trust.json")
	if err := os.WriteFile(trust, []byte(c.must("trust", "export")), 0o600); err != nil {
		t.Fatal(err)
	}
	// Offline, the bundle's signed status list answers for the credential's
	// credentialStatus while it is fresh; past its ttl the answer is
	// "cannot determine", never "not revoked".
	code, out, _ := c.run("verify", full, "--trust", trust)
	if code != 0 || !strings.Contains(out, "有效 valid") || !strings.Contains(out, "状态列表") {
		t.Errorf("offline with a fresh status list: exit %d\n%s", code, out)
	}
	later := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	code, out, _ = c.run("verify", full, "--trust", trust, "--now", later)
	if code != 1 || !strings.Contains(out, "无法确认") || !strings.Contains(out, "✓ 通过 pass") {
		t.Errorf("offline with a stale status list: exit %d\n%s", code, out)
	}

	segs := strings.Split(pres, "~")
	segs[1] = "A" + segs[1][1:]
	code, out, _ = c.run("verify", strings.Join(segs, "~"))
	if code != 1 || !strings.Contains(out, "无效") || !strings.Contains(out, "✗ 未通过 fail") {
		t.Errorf("altered: exit %d\n%s", code, out)
	}
	if code, _, errs := c.run("credential", n, "--disclose", "gender"); code != 1 || !strings.Contains(errs, "不是可选择披露的内容") {
		t.Errorf("unknown claim: exit %d %s", code, errs)
	}
	if code, _, errs := c.run("credential", "Y000022000001263999999"); code != 1 || !strings.Contains(errs, "不存在") {
		t.Errorf("unknown number: exit %d %s", code, errs)
	}
	c.must("revoke", n, "--reason", "error")
	code, out, _ = c.run("verify", full)
	if code != 1 || !strings.Contains(out, "已撤销") {
		t.Errorf("after revocation: exit %d\n%s", code, out)
	}
}
