package storetest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"certd/issuer"
)

// PDFDirStores are two stores on one database: Plain keeps PDFs in the
// database, Dir keeps them as files in PDFDir.
type PDFDirStores struct {
	Plain, Dir issuer.Store
	PDFDir     string
}

// RunPDFDir holds a backend's PDF directory to the same contract as PDFs in
// the database, and more: the bytes are in a file readable by the owner
// only and not in the database (removing the file loses the PDF), a file
// altered on disk is refused, and a PDF stored in the database before the
// directory was configured is still found.
func RunPDFDir(t *testing.T, open func(t *testing.T) PDFDirStores) {
	t.Run("RoundTrip", func(t *testing.T) { testPDF(t, open(t).Dir) })
	t.Run("FilesOnly", func(t *testing.T) {
		ctx := t.Context()
		st := open(t)
		setup(t, st.Dir)
		nums := issue(t, st.Dir, batch("b1", "alpha", "fp1"), prefixA,
			cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30), cert("alpha", 3, weld, 3, june30))
		old, inFile, altered := nums[0], nums[1], nums[2]

		// Stored before the directory was configured: found in the database.
		must(t, st.Plain.PutPDF(ctx, old, []byte("%PDF old")))
		got, err := st.Dir.PDF(ctx, old)
		must(t, err)
		equal(t, "pdf stored in the database", got, []byte("%PDF old"))

		for _, n := range []string{inFile, altered} {
			must(t, st.Dir.PutPDF(ctx, n, []byte("%PDF file "+n)))
		}
		var files []string
		_ = filepath.WalkDir(st.PDFDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
				if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, want 0600 (personal data)", p, fi.Mode().Perm())
				}
			}
			return nil
		})
		if len(files) != 2 {
			t.Fatalf("files in the PDF directory: %v", files)
		}
		// The bytes are only in the file: without it the PDF is gone.
		for _, f := range files {
			if bytes.Contains([]byte(f), []byte(inFile)) {
				must(t, os.Remove(f))
			} else {
				must(t, os.WriteFile(f, []byte("%PDF forged"), 0o600))
			}
		}
		_, err = st.Dir.PDF(ctx, inFile)
		wantErr(t, err, issuer.ErrNotFound, "")
		_, err = st.Dir.PDF(ctx, altered)
		wantErr(t, err, issuer.ErrUnavailable, "pdf_mismatch")
		// The record still says a PDF was issued, with its hash.
		c, err := st.Dir.Certificate(ctx, altered)
		must(t, err)
		if c.PDFSHA256 != hexSHA([]byte("%PDF file "+altered)) {
			t.Errorf("PDFSHA256 = %q", c.PDFSHA256)
		}
	})
}
