package console

import (
	"archive/zip"
	"bytes"
	"context"
	"strings"
	"testing"

	"certd/issuer"
)

// TestBatchZipHasEveryCertificate: the batch ZIP never leaves a certificate
// out silently. While some PDFs were never made, a read-only user is told
// which, and an operator without a usable font is told why; once every PDF
// exists, all are in the archive.
func TestBatchZipHasEveryCertificate(t *testing.T) {
	w := newWorld(t, backends[0].open)
	path := "/console/batches/" + w.batchA + "/certificates.zip"
	certs, err := w.st.Certificates(context.Background(), issuer.CertificateFilter{BatchID: w.batchA})
	if err != nil || len(certs) != 3 {
		t.Fatalf("batch: %v, %d certificates", err, len(certs))
	}
	missing := certs[1].Number // the fixture stores a PDF for the first only
	if missing == w.certA {
		missing = certs[2].Number
	}

	cookie, _ := w.session("aaud")
	if r := w.do("GET", path, cookie, nil, nil); r.status < 400 || !strings.Contains(r.body, "尚未生成") || !strings.Contains(r.body, missing) {
		t.Errorf("auditor, PDFs missing: %d %.300s", r.status, r.body)
	}
	cookie, _ = w.session("aop")
	if r := w.do("GET", path, cookie, nil, nil); r.status < 400 || !strings.Contains(r.body, "字体") {
		t.Errorf("operator, no font, PDFs missing: %d %.300s", r.status, r.body)
	}
	for _, c := range certs {
		if err := w.st.PutPDF(context.Background(), c.Number, []byte("%PDF-1.4 "+c.Number)); err != nil {
			t.Fatal(err)
		}
	}
	r := w.do("GET", path, cookie, nil, nil)
	zr, err := zip.NewReader(bytes.NewReader([]byte(r.body)), int64(len(r.body)))
	if r.status != 200 || err != nil || len(zr.File) != len(certs) {
		t.Fatalf("ZIP with every PDF made: %d %v", r.status, err)
	}
	// Named for handing out: 学号_姓名_编号.pdf, flagged UTF-8 (general
	// purpose bit 11) so that Windows Explorer and macOS show the Chinese.
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
		if f.Flags&0x800 == 0 {
			t.Errorf("entry %q is not flagged UTF-8", f.Name)
		}
	}
	for _, c := range certs {
		want := c.Holder.StudentNo + "_" + c.Holder.Name + "_" + c.Number + ".pdf"
		if !names[want] {
			t.Errorf("no entry %q among %v", want, names)
		}
	}
}
