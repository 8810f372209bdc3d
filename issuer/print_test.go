package issuer_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"certd/issuer"
	"certd/issuer/render"
	"certd/verify"
)

func newPrinter(t *testing.T) *issuer.Printer {
	t.Helper()
	if _, err := os.Stat(render.DefaultFontPath); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("certificate font not installed (%s); apt-get install fonts-lxgw-wenkai", render.DefaultFontPath)
	}
	p, err := issuer.NewPrinter(render.Config{}, "https://cert.example.edu.cn")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Issuing renders each PDF once, stores it with its SHA-256, and the PDF
// carries a record that verifies.
func TestIssueRendersPDFs(t *testing.T) {
	p := newPrinter(t)
	each(t, func(t *testing.T, f *fixture) {
		f.svc.Printer = p
		rep := f.issue(clerk, roster(6))
		if len(rep.Problems) > 0 {
			t.Fatalf("problems: %+v", rep.Problems)
		}
		v := f.verifier(true)
		for _, c := range rep.Issued {
			pdf, err := f.store.PDF(f.ctx, c.Number)
			if err != nil {
				t.Fatalf("%s: no stored PDF: %v", c.Number, err)
			}
			sum := sha256.Sum256(pdf)
			stored, _ := f.store.Certificate(f.ctx, c.Number)
			if stored.PDFSHA256 != hex.EncodeToString(sum[:]) || c.PDFSHA256 != stored.PDFSHA256 {
				t.Errorf("%s: stored hash %q does not match the PDF", c.Number, stored.PDFSHA256)
			}
			tok, err := verify.TokenFromPDF(pdf)
			if err != nil || tok != c.Token {
				t.Fatalf("%s: embedded record: %v", c.Number, err)
			}
			if res := v.VerifyToken(f.ctx, tok); res.Verdict != verify.Valid {
				t.Errorf("%s: embedded record verdict %s", c.Number, res.Verdict)
			}
		}
	})
}

// missingGlyph is a character the certificate font lacks: U+2A6D6
// (Extension B) is outside LXGW WenKai's coverage.
const missingGlyph = "\U0002A6D6"

// printingFixture is a fixture that prints, with a font that lacks
// missingGlyph.
func printingFixture(t *testing.T) *fixture {
	p := newPrinter(t)
	if p.Check(missingGlyph) == nil {
		t.Skip("the installed font covers U+2A6D6; pick another test character")
	}
	f := newFixture(t)
	f.svc.Printer = p
	return f
}

// A character the font lacks is a row problem naming it, and nothing is issued.
func TestMissingGlyphIsARowProblem(t *testing.T) {
	f := printingFixture(t)
	rep := f.issue(clerk, []byte(header+rosterRow(1, "张三", "4-04-05-05", "", "3", "毕业年度学生")+rosterRow(2, "李"+missingGlyph, "4-04-05-05", "", "3", "毕业年度学生")))
	if len(rep.Problems) != 1 || rep.Problems[0].Code != "glyph_missing" || rep.Problems[0].Row != 3 || !strings.Contains(rep.Problems[0].Zh, missingGlyph) {
		t.Fatalf("problems = %+v", rep.Problems)
	}
	if certs, _ := f.store.Certificates(f.ctx, issuer.CertificateFilter{}); len(certs) != 0 {
		t.Fatal("issued despite a missing glyph")
	}
}

// A corrected name the font cannot print is refused like such a name in a
// roster, instead of being signed and then failing to print.
func TestReissueRefusesAMissingGlyph(t *testing.T) {
	f := printingFixture(t)
	old := f.issue(clerk, roster(1)).Issued[0]
	_, err := f.svc.Reissue(f.ctx, clerk, old.Number, issuer.Correction{Name: "李" + missingGlyph, Reason: "姓名有误"})
	if e, ok := issuer.AsError(err); !ok || e.Code != "glyph_missing" || !strings.Contains(e.Zh, missingGlyph) || !strings.Contains(e.Zh, "姓名") {
		t.Fatalf("reissue with a missing glyph: %v", err)
	}
	if certs, _ := f.store.Certificates(f.ctx, issuer.CertificateFilter{}); len(certs) != 1 || certs[0].Status != issuer.Valid {
		t.Fatalf("after the refused correction: %+v", certs)
	}
}

func TestBadPhotoIsARowProblem(t *testing.T) {
	p := newPrinter(t)
	f := newFixture(t)
	f.svc.Printer = p
	row := rosterRow(3, "张三", "4-04-05-05", "", "3", "毕业年度学生")
	doc := strings.Split(row, ",")[2]
	rep, err := f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: []byte(header + row), Filename: "r.csv",
		Photos: photosOf(t, map[string][]byte{doc + ".jpg": []byte("this is not an image")})})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Code != "photo_invalid" || strings.Contains(rep.Problems[0].Value, doc) {
		t.Fatalf("problems = %+v", rep.Problems)
	}
}

// Names the national identity system holds, which an earlier rule refused
// (〇, Latin letters with diacritics, hyphen and apostrophe in foreign names),
// are issued and printed; full-width Latin letters are stored folded.
func TestRegisteredNamesAreIssued(t *testing.T) {
	f := newFixture(t)
	f.svc.Printer = newPrinter(t)
	names := []struct{ in, stored string }{
		{"李〇", "李〇"},
		{"José Müller-O'Neill", "José Müller-O'Neill"},
		{"Ｊｏｈｎ Ｓｍｉｔｈ", "John Smith"},
		{"Łukasz Nowak", "Łukasz Nowak"},
	}
	var rows strings.Builder
	rows.WriteString(header)
	for i, n := range names {
		rows.WriteString(rosterRow(i+1, n.in, "4-04-05-05", "", "3", "毕业年度学生"))
	}
	rep := f.issue(clerk, []byte(rows.String()))
	if len(rep.Problems) > 0 || len(rep.Issued) != len(names) {
		t.Fatalf("problems = %+v, issued %d", rep.Problems, len(rep.Issued))
	}
	for i, c := range rep.Issued {
		if c.Holder.Name != names[i].stored {
			t.Errorf("row %d: stored name %q, want %q", i+1, c.Holder.Name, names[i].stored)
		}
		if _, err := f.store.PDF(f.ctx, c.Number); err != nil {
			t.Errorf("%s (%s): no PDF: %v", c.Number, c.Holder.Name, err)
		}
	}
}

// pdfText is the text of a PDF, by pdftotext (poppler-utils).
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext is not installed; CI requires it (apt-get install poppler-utils)")
		}
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "c.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", path, "-").Output() // #nosec G204 -- a test's own temp file
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestVoidCopies: every PDF of a certificate made after it was revoked or
// superseded (its own PDF, the ZIP, the batch print file) carries the
// void mark, with the date or the new number; the stored original and its
// hash are untouched; a valid certificate prints clean. Before, a revoked
// certificate printed clean from the console and from certd render
// (issue 13 point 4).
func TestVoidCopies(t *testing.T) {
	p := newPrinter(t)
	each(t, func(t *testing.T, f *fixture) {
		f.svc.Printer = p
		rep := f.issue(clerk, roster(3))
		revoked, old, clean := rep.Issued[0], rep.Issued[1], rep.Issued[2]
		rc, err := f.svc.Revoke(f.ctx, clerk, revoked.Number, issuer.ReasonMisconduct, "")
		if err != nil {
			t.Fatal(err)
		}
		repl, err := f.svc.Reissue(f.ctx, clerk, old.Number, issuer.Correction{Name: "欧阳娜", Reason: "姓名录入错误"})
		if err != nil {
			t.Fatal(err)
		}
		text := func(number string) string {
			pdf, err := f.svc.PDF(f.ctx, clerk, number)
			if err != nil {
				t.Fatal(err)
			}
			if d := os.Getenv("CERTD_VOID_PDF_DIR"); d != "" {
				_ = os.WriteFile(filepath.Join(d, number+".pdf"), pdf, 0o600)
			}
			return pdfText(t, pdf)
		}
		on := rc.Revocation.At.In(issuer.ChinaTime).Format(issuer.DateLayout)
		if s := text(revoked.Number); !strings.Contains(s, "作废 REVOKED") || !strings.Contains(s, "本证书已于"+on+"撤销") {
			t.Errorf("the revoked certificate's PDF has no void mark:\n%.400s", s)
		}
		if s := text(old.Number); !strings.Contains(s, "已更正 SUPERSEDED") || !strings.Contains(s, repl.Number) {
			t.Errorf("the superseded certificate's PDF has no mark with the new number %s:\n%.400s", repl.Number, s)
		}
		for _, n := range []string{clean.Number, repl.Number} {
			if s := text(n); strings.Contains(s, "作废") || strings.Contains(s, "已更正") {
				t.Errorf("a valid certificate %s prints with a void mark", n)
			}
		}
		// The stored original is the issued file, clean, with its hash.
		orig, err := f.store.PDF(f.ctx, revoked.Number)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(orig); hex.EncodeToString(sum[:]) != revoked.PDFSHA256 || strings.Contains(pdfText(t, orig), "作废") {
			t.Error("the stored original was replaced")
		}
		var buf bytes.Buffer
		if err := f.svc.PrintBatch(f.ctx, clerk, rep.Batch.ID, nil, &buf); err != nil {
			t.Fatal(err)
		}
		if s := pdfText(t, buf.Bytes()); strings.Count(s, "作废 REVOKED") < 1 || !strings.Contains(s, "已更正 SUPERSEDED") {
			t.Errorf("the batch print file has no void marks")
		}
	})
}
