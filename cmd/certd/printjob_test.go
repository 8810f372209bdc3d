package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/render"
	"certd/issuer/store/sqlite"
)

// TestMain lets a test run this very binary as certd in a child process
// (CERTD_TEST_AS_CERTD=1), so that a test can kill a real certd mid-work.
func TestMain(m *testing.M) {
	if os.Getenv("CERTD_TEST_AS_CERTD") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// child returns certd as a child process on c's data directory.
func (c *cli) child(args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], append(args, "--data", c.data)...) // #nosec G204 -- the test binary itself
	cmd.Env = append(os.Environ(), "CERTD_TEST_AS_CERTD=1", "CERTD_LOG_LEVEL=warn")
	if !c.bare {
		cmd.Env = append(cmd.Env, "CERTD_PUBLIC_URL="+testPublicURL) // as run adds --public-url
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	return cmd, &out
}

// count runs a COUNT query on the data directory's database, read-only,
// while a child may be writing it.
func (c *cli) count(q string) int {
	c.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(c.data, "certd.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// writePhotos writes a PNG named after the 学号 of each row of a roster
// written by writeRoster (S0000...), different for each.
func writePhotos(t *testing.T, dir string, n int) map[string][]byte {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 20, 28))
		for y := range 28 {
			for x := range 20 {
				img.Set(x, y, color.RGBA{uint8(i), uint8(i >> 8), uint8(x * y), 255})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		no := fmt.Sprintf("S%04d", i)
		out[no] = b.Bytes()
		if err := os.WriteFile(filepath.Join(dir, no+".png"), b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// otherRoster writes a roster of n people other than writeRoster's, with
// 学号 from S<start>.
func otherRoster(t *testing.T, dir string, start, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("学号,姓名,证件号码,职业编码,等级,考生类别,考核日期,备注\n")
	day := time.Now().AddDate(0, 0, -3).Format("2006/1/2")
	for i := range n {
		id := ident.CompleteResidentID(fmt.Sprintf("2201022005%02d%02d%03d", 1+i%12, 1+i%28, i))
		fmt.Fprintf(&b, "S%04d,学生乙%s,%s,4-04-05-05,三级/高级工,毕业年度学生,%s,\n", start+i, strings.Repeat("丙", 1+i%3), id, day)
	}
	p := filepath.Join(dir, fmt.Sprintf("other-%d-%d.csv", start, n))
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKilledPrintingFinishes runs certd issue with photos as a real
// process and kills it (SIGKILL) once its first PDFs are stored; then
// interrupts another one with SIGINT (Ctrl-C). Before print jobs, the
// first left certificates without PDFs for good (importing the roster
// again printed nothing) and the second exited 0 saying "issued N". Now the
// interrupted issue says what was and was not printed and exits 4;
// importing the same roster again (without its photos) and starting the
// server each finish their batch, and every certificate's PDF is the one
// an uninterrupted run would have made, with its photo.
func TestKilledPrintingFinishes(t *testing.T) {
	if _, err := os.Stat(render.DefaultFontPath); err != nil && os.Getenv("CI") != "true" {
		t.Skip("fonts-lxgw-wenkai not installed")
	}
	dir := t.TempDir()
	c := &cli{t: t, data: filepath.Join(dir, "data")}
	c.must("init")
	c.must("institution", "add", "testdata/institution.yaml")
	const n = 300
	photos := writePhotos(t, filepath.Join(dir, "photos"), 2*n)

	// 1. SIGKILL mid-print, then the same roster again.
	first := writeRoster(t, dir, n, 0)
	cmd, out := c.child("issue", "--institution", "jlvtc", "--roster", first, "--photos", filepath.Join(dir, "photos"))
	waitFor(t, "the first PDFs", time.Minute, func() bool { return c.count(`SELECT COUNT(*) FROM certificates WHERE pdf_sha256 IS NOT NULL`) > 0 })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	certs, pdfs := c.count(`SELECT COUNT(*) FROM certificates`), c.count(`SELECT COUNT(*) FROM certificates WHERE pdf_sha256 IS NOT NULL`)
	t.Logf("killed: %d certificates, %d PDFs (%s)", certs, pdfs, strings.TrimSpace(out.String()))
	if certs != n || pdfs >= n {
		t.Fatalf("after the kill: %d certificates, %d PDFs; want %d and fewer", certs, pdfs, n)
	}
	code, stdout, stderr := c.run("issue", "--institution", "jlvtc", "--roster", first)
	if code != 0 || !strings.Contains(stdout, "本次补齐") || !strings.Contains(stdout, fmt.Sprintf("%d PDFs made (with the photos given at issue); all %d PDFs", n-pdfs, n)) {
		t.Fatalf("the same roster again: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := c.count(`SELECT COUNT(*) FROM certificates WHERE pdf_sha256 IS NOT NULL`); got != n {
		t.Fatalf("%d PDFs after the re-import, want %d", got, n)
	}

	// 2. Ctrl-C mid-print: an honest report and exit 4; then serve.
	second := otherRoster(t, dir, n, n)
	cmd, out = c.child("issue", "--institution", "jlvtc", "--roster", second, "--photos", filepath.Join(dir, "photos"))
	waitFor(t, "the second batch's first PDFs", time.Minute, func() bool { return c.count(`SELECT COUNT(*) FROM certificates WHERE pdf_sha256 IS NOT NULL`) > n })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUnfinished {
		t.Fatalf("Ctrl-C during printing: %v, want exit %d\n%s", err, exitUnfinished, out)
	}
	for _, want := range []string{"已发证", "打印未完成", "尚未生成", "printing did not finish", "certd render --pending"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the interrupted issue does not say %q:\n%s", want, out)
		}
	}
	if c.count(`SELECT COUNT(*) FROM print_jobs WHERE done_at IS NULL`) != 1 {
		t.Fatalf("no pending print job after Ctrl-C:\n%s", out)
	}
	srv, sout := c.child("serve", "--addr", "127.0.0.1:0", "--metrics-addr", "")
	waitFor(t, "serve to finish the print job", 2*time.Minute, func() bool {
		return c.count(`SELECT COUNT(*) FROM print_jobs WHERE done_at IS NULL`) == 0
	})
	_ = srv.Process.Signal(syscall.SIGTERM)
	_ = srv.Wait()
	if certs, pdfs := c.count(`SELECT COUNT(*) FROM certificates`), c.count(`SELECT COUNT(*) FROM certificates WHERE pdf_sha256 IS NOT NULL`); certs != 2*n || pdfs != 2*n {
		t.Fatalf("after serve: %d certificates, %d PDFs, want %d of each\n%s", certs, pdfs, 2*n, sout)
	}
	if c.count(`SELECT COUNT(*) FROM print_items`) != 0 {
		t.Fatal("photos kept after every PDF exists")
	}

	// Every PDF is the one an uninterrupted run makes, with its photo.
	st, err := sqlite.Open(context.Background(), filepath.Join(c.data, "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.KeepPDFsIn(filepath.Join(c.data, "pdfs")); err != nil {
		t.Fatal(err)
	}
	p, err := issuer.NewPrinter(render.Config{}, testPublicURL)
	if err != nil {
		t.Fatal(err)
	}
	all, err := st.Certificates(context.Background(), issuer.CertificateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	versions, err := st.InstitutionVersions(context.Background(), "jlvtc")
	if err != nil {
		t.Fatal(err)
	}
	for _, cert := range all {
		got, err := st.PDF(context.Background(), cert.Number)
		if err != nil {
			t.Fatalf("%s has no PDF: %v", cert.Number, err)
		}
		ph := photos[cert.Holder.StudentNo]
		if ph == nil {
			t.Fatalf("%s: no photo for %s", cert.Number, cert.Holder.StudentNo)
		}
		want, err := p.Render(versions[cert.InstitutionVer-1], cert, ph)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: the PDF differs from an uninterrupted run's (with its photo)", cert.Number)
		}
	}
}
