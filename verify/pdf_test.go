package verify

import (
	"bytes"
	"compress/zlib"
	"strings"
	"testing"
	"time"

	"certd/issuer"
)

// A crafted PDF must cost little: many deflate streams with no endstream,
// and streams that inflate enormously.
func TestTokenFromPDFBoundedWork(t *testing.T) {
	var bomb bytes.Buffer
	zw := zlib.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte{0}, 8<<20))
	zw.Close()
	var pdf bytes.Buffer
	pdf.WriteString("%PDF-1.4\n")
	for pdf.Len() < MaxPDFSize-bomb.Len()-64 {
		pdf.WriteString("<< /Filter /FlateDecode >>\nstream\n")
		if pdf.Len() < 1<<20 {
			pdf.Write(bomb.Bytes())
		} else {
			pdf.WriteString(strings.Repeat("x", 1000))
		}
	}
	start := time.Now()
	_, err := TokenFromPDF(pdf.Bytes())
	if err != ErrNoRecord {
		t.Fatalf("err = %v", err)
	}
	// Generous for a loaded 2-core machine under -race; the unbounded
	// scanner took minutes on this input.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func FuzzTokenFromPDF(f *testing.F) {
	f.Add([]byte("%PDF-1.4\n1 0 obj << /Type /EmbeddedFile >> stream\neyJhbGciOiJFZERTQSIsInR5cCI6InZjK2p3dCJ9.eyJhIjoxfQ.sig\nendstream endobj\n%%EOF\n"))
	f.Add([]byte("%PDF-1.7\n<< /Filter /FlateDecode >> stream\nx\x9c\x03\x00endstream"))
	f.Add([]byte("not a pdf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := TokenFromPDF(b)
		if err == nil && strings.Count(tok, ".") != 2 {
			t.Fatalf("returned %q", tok)
		}
		if e, ok := issuer.AsError(err); err != nil && (!ok || e.Kind != issuer.ErrInvalid) {
			t.Fatalf("error %v is not an issuer.Error of kind invalid", err)
		}
	})
}
