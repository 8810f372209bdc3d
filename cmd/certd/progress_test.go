package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressDisplays: on a terminal a bar redrawn in place with the
// count, the rate and the time left; elsewhere plain lines a log keeps;
// with no known total (an export) the count and the rate.
func TestProgressDisplays(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, label: "打印 printing", every: 0}
	p.set(0, 200)
	time.Sleep(20 * time.Millisecond)
	p.set(100, 200)
	p.set(200, 200)
	p.end()
	plain := b.String()
	if strings.Contains(plain, "\r") || !strings.Contains(plain, "打印 printing: 100/200 (50%)") || !strings.Contains(plain, "about") ||
		!strings.Contains(plain, "200/200 (100%)") || !strings.Contains(plain, "/s") {
		t.Errorf("plain lines:\n%s", plain)
	}

	b.Reset()
	p = &progress{w: &b, tty: true, label: "打印 printing", every: 0}
	p.set(0, 100)
	time.Sleep(20 * time.Millisecond)
	p.set(25, 100)
	p.end()
	term := b.String()
	if !strings.Contains(term, "\r\033[K") || !strings.Contains(term, "█") || !strings.Contains(term, "░") ||
		!strings.Contains(term, " 25%") || !strings.Contains(term, "25/100") || !strings.Contains(term, "剩余 left") || !strings.HasSuffix(term, "\n") {
		t.Errorf("terminal: %q", term)
	}
	if strings.Count(term, "\n") != 1 {
		t.Errorf("the terminal's bar is not drawn in place: %q", term)
	}

	b.Reset()
	p = &progress{w: &b, label: "导出 exporting", every: 0}
	p.set(5000, 0)
	p.end()
	if !strings.Contains(b.String(), "导出 exporting: 5000, ") {
		t.Errorf("unknown total: %q", b.String())
	}

	// Not every update draws: plain lines come every plainEvery.
	b.Reset()
	p = &progress{w: &b, label: "x", every: time.Hour}
	for i := range 100 {
		p.set(i, 1000)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Errorf("plain lines throttled: %q", b.String())
	}
}

// TestIssueAndExportShowProgress: certd issue and certd export report
// their progress on standard error (plain lines when it is not a
// terminal), and standard output stays the report, valid JSON with --json.
func TestIssueAndExportShowProgress(t *testing.T) {
	if _, err := os.Stat("/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("fonts-lxgw-wenkai not installed")
	}
	var b bytes.Buffer
	oldOut, oldEvery := progressOut, plainEvery
	progressOut, plainEvery = &b, 0
	t.Cleanup(func() { progressOut, plainEvery = oldOut, oldEvery })
	dir := t.TempDir()
	c := &cli{t: t, data: filepath.Join(dir, "data")}
	c.must("init")
	c.must("institution", "add", "testdata/institution.yaml")
	out := c.must("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 150, 0), "--json")
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	got := b.String()
	for _, want := range []string{"正在检查名单并签发 / checking the roster and signing", "打印证书PDF printing PDFs: 64/150", "打印证书PDF printing PDFs: 150/150 (100%)", "left"} {
		if !strings.Contains(got, want) {
			t.Errorf("issue progress lacks %q:\n%s", want, got)
		}
	}
	b.Reset()
	c.must("export", "--format", "csv", "--out", filepath.Join(dir, "l.csv"))
	if !strings.Contains(b.String(), "导出台账 exporting the ledger: 150") {
		t.Errorf("export progress: %q", b.String())
	}
}
