package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestoreCheck walks the operator's path: back up a serving data
// directory, restore into an empty one (refused over an existing database),
// check it with the published trust bundle, learn that the KEK is missing,
// restore the KEK and check again.
func TestBackupRestoreCheck(t *testing.T) {
	dir := t.TempDir()
	src := &cli{t: t, data: filepath.Join(dir, "data")}
	src.must("init")
	src.must("institution", "add", "testdata/institution.yaml")
	var rep struct{ Numbers []string }
	if err := json.Unmarshal([]byte(src.must("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 12, 0), "--json")), &rep); err != nil || len(rep.Numbers) != 12 {
		t.Fatalf("issue: %v %v", err, rep)
	}
	trust := filepath.Join(dir, "trust.json")
	if err := os.WriteFile(trust, []byte(src.must("trust", "export")), 0o600); err != nil {
		t.Fatal(err)
	}

	copy := filepath.Join(dir, "backup.db")
	out := src.must("backup", "--out", copy, "--trust", trust)
	if !strings.Contains(out, "12 certificates") || !strings.Contains(out, "12 PDFs match") || !strings.Contains(out, "check passed") {
		t.Errorf("backup: %s", out)
	}
	// The PDFs are files beside the database, and go with the backup.
	for _, d := range []string{filepath.Join(src.data, "pdfs"), copy + ".pdfs"} {
		if n := countFiles(t, d); n != 12 {
			t.Errorf("%s holds %d files, want 12 PDFs", d, n)
		}
	}
	if fi, err := os.Stat(copy); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the backup holds personal data: mode %v, want 0600 (%v)", fi.Mode().Perm(), err)
	}
	if code, _, errs := src.run("backup", "--out", copy); code != 2 || !strings.Contains(errs, "not overwritten") {
		t.Errorf("backup over an existing file: exit %d %s", code, errs)
	}
	if code, _, errs := src.run("restore", "--from", copy); code != 2 || !strings.Contains(errs, "already holds a database") {
		t.Errorf("restore over a database: exit %d %s", code, errs)
	}

	dst := &cli{t: t, data: filepath.Join(dir, "restored")}
	out = dst.must("restore", "--from", copy, "--trust", trust)
	if !strings.Contains(out, "check passed") || !strings.Contains(out, "key-encryption key at") {
		t.Errorf("restore: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dst.data, "kek")); err == nil {
		t.Fatal("restore created a KEK")
	}
	kek, err := os.ReadFile(filepath.Join(src.data, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst.data, "kek"), kek, 0o600); err != nil {
		t.Fatal(err)
	}
	out = dst.must("check", "--trust", trust)
	if !strings.Contains(out, "12 PDFs match") || !strings.Contains(out, "check passed") || !strings.Contains(out, "the KEK opens") {
		t.Errorf("check: %s", out)
	}
	// The restored deployment signs again.
	if out := dst.must("reissue", rep.Numbers[0], "--name", "学生乙", "--reason", "姓名有误"); !strings.Contains(out, "superseded") {
		t.Errorf("reissue after restore: %s", out)
	}

	// A KEK of another deployment: the check says the keys do not open.
	other := &cli{t: t, data: filepath.Join(dir, "other")}
	other.must("restore", "--from", copy)
	if err := os.WriteFile(filepath.Join(other.data, "kek"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := other.run("check"); code != 1 || !strings.Contains(out, "wrong key-encryption key") {
		t.Errorf("check with a foreign KEK: exit %d %s", code, out)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
