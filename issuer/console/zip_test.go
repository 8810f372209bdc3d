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
	if r := w.do("GET", path, cookie, nil, nil); r.status < 400 || !strings.Contains(r.body, "尚未生成") || !strings.Contains(r.body, "Y0000") {
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
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	if !names[missing+".pdf"] || !names[w.certA+".pdf"] {
		t.Errorf("ZIP entries %v", names)
	}
}
