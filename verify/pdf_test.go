package verify

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"certd/issuer"
)

// testToken is shaped like a record: a vc+jwt header, a payload and an
// 86-character signature. Only its shape matters here.
var testToken = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"jlvtc-1","typ":"vc+jwt"}`)) + "." +
	base64.RawURLEncoding.EncodeToString([]byte(`{"credentialSubject":{"achievement":{"certificateNumber":"Y000022000001263000001"}}}`)) + "." +
	strings.Repeat("A", 86)

func deflate(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// TestTokenFromPDFFindsTheRecord: the record is found where certd's
// renderer (gofpdf) puts it, compressed, behind a dictionary with a nested
// one, and uncompressed.
func TestTokenFromPDFFindsTheRecord(t *testing.T) {
	z := deflate([]byte(testToken))
	gofpdf := "%PDF-1.4\n" + "3 0 obj\n<< /Filter /FlateDecode /Length 12 >>\nstream\n" + string(deflate([]byte("BT /F1 12 Tf ET"))) + "\nendstream\nendobj\n" +
		"7 0 obj\n<< /Type /EmbeddedFile /Length 99 /Filter /FlateDecode /Params << /CheckSum <0a1b2c> /Size 200 >> >>\nstream\n" + string(z) + "\nendstream\nendobj\n%%EOF\n"
	for _, tc := range []struct{ name, pdf string }{
		{"gofpdf attachment", gofpdf},
		{"CRLF after the keyword", strings.Replace(gofpdf, ">> >>\nstream\n", ">> >>\r\nstream\r\n", 1)},
		{"uncompressed", "%PDF-1.7\n1 0 obj << /Type /EmbeddedFile >> stream\n" + testToken + "\nendstream endobj\n%%EOF\n"},
		{"after other base64url text", "%PDF-1.7\nabc.def.ghi " + testToken + "\n"},
	} {
		got, err := TokenFromPDF([]byte(tc.pdf))
		if err != nil || got != testToken {
			t.Errorf("%s: got %q, %v", tc.name, got, err)
		}
	}
	for _, tc := range []struct {
		name string
		pdf  string
		err  error
	}{
		{"not a PDF", "PK\x03\x04", ErrNotPDF},
		{"no record", "%PDF-1.4\n<< /Filter /FlateDecode >>\nstream\n" + string(deflate([]byte("BT ET"))), ErrNoRecord},
		{"a JWS of another type", "%PDF-1.4\n" + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`)) + ".eyJhIjoxMjM0NTY3fQ." + strings.Repeat("B", 86), ErrNoRecord},
		{"too large", "%PDF-" + strings.Repeat(" ", MaxPDFSize), ErrPDFTooLarge},
	} {
		if _, err := TokenFromPDF([]byte(tc.pdf)); err != tc.err {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
		}
	}
}

// adversarial fills size bytes after a PDF header with repeats of unit.
func adversarial(unit string, size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, "%PDF-1.7\n"...)
	for len(b)+len(unit) <= size {
		b = append(b, unit...)
	}
	return b
}

// TestTokenFromPDFWorkIsLinear: a few MiB of repeated PDF delimiters, the
// inputs that cost the old pattern scan seconds of CPU per MiB, cost the
// scan no more than a small multiple of the bytes looked at for random
// bytes of the same size. The scan counts the bytes each of its steps
// looked at (pdfScan.work); nothing here is timed.
func TestTokenFromPDFWorkIsLinear(t *testing.T) {
	const size = 3 << 20
	random := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(random)
	copy(random, "%PDF-1.7\n")
	base := pdfWork(t, random)

	// A zlib stream of nothing but empty stored blocks: it consumes input
	// and produces no output, the most an inflater can be made to read.
	var empty bytes.Buffer
	empty.WriteString("x\x01")
	for empty.Len() < 1<<20 {
		empty.WriteString("\x00\x00\x00\xff\xff")
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"vc+jwt","x":"`)) // decodes, never parses
	for _, tc := range []struct{ name, unit string }{
		{"<< runs", "<<"},
		{"stream runs", "stream"},
		{"stream keywords", "stream\n"},
		{"streams behind dictionaries", ">>stream\n"},
		{"nested dictionaries", "<<<<>>>>"},
		{"nested dictionaries before streams", "<<<<<<>>>>>>\nstream\n"},
		{"flate streams", "<</Filter/FlateDecode>>\nstream\n"},
		{"flate streams that read much and give nothing", "<</Filter/FlateDecode>>\nstream\n" + empty.String()},
		{"eyJ runs", "eyJ"},
		{"eyJ segments", "eyJ."},
		{"short JWS shapes", "eyJhbGciOiJFZERTQSJ9.eyJhIjoxMjM0NTY3fQ." + strings.Repeat("A", 40) + "."},
		{"headers that decode", header + "." + header + "." + strings.Repeat("A", 86) + " "},
		{"dots", "."},
	} {
		w := pdfWork(t, adversarial(tc.unit, size))
		t.Logf("%s: %d bytes examined (%.2f per byte; random input %.2f)", tc.name, w, float64(w)/size, float64(base)/size)
		// Random bytes cost about two looks per byte (the JWS scan and
		// the stream keyword search); a crafted file may add the bytes it
		// makes the inflater read and write, bounded by its size and
		// maxInflate.
		if w > 3*base || w > 4*size+2*maxInflate {
			t.Errorf("%s: %d bytes examined for %d bytes of input; random input: %d", tc.name, w, size, base)
		}
	}
}

func pdfWork(t *testing.T, pdf []byte) int64 {
	t.Helper()
	s := pdfScan{ctx: context.Background()}
	if _, err := s.token(pdf); err != ErrNoRecord {
		t.Fatalf("err = %v", err)
	}
	if s.work < int64(len(pdf)) {
		t.Fatalf("work %d is less than the input (%d bytes): the counter misses a step", s.work, len(pdf))
	}
	return s.work
}

// A deflate bomb in many streams inflates no more than maxInflate in all.
func TestTokenFromPDFInflatesBoundedBytes(t *testing.T) {
	bomb := deflate(bytes.Repeat([]byte{0}, 8<<20))
	var pdf bytes.Buffer
	pdf.WriteString("%PDF-1.4\n")
	for pdf.Len() < MaxPDFSize-len(bomb)-64 {
		pdf.WriteString("<< /Filter /FlateDecode >>\nstream\n")
		pdf.Write(bomb)
	}
	s := pdfScan{ctx: context.Background()}
	if _, err := s.token(pdf.Bytes()); err != ErrNoRecord {
		t.Fatalf("err = %v", err)
	}
	if s.work > 3*int64(pdf.Len())+maxInflate {
		t.Errorf("%d bytes examined for a %d-byte file", s.work, pdf.Len())
	}
}

// The scan stops once its context is done: a server bounds each public
// request's time with a deadline.
func TestTokenFromPDFStopsAtDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, pdf := range [][]byte{
		adversarial("x", 2<<20),
		adversarial("<</Filter/FlateDecode>>\nstream\n", 1<<10),
	} {
		_, err := TokenFromPDFContext(ctx, pdf)
		if err != ErrDeadline {
			t.Errorf("err = %v, want ErrDeadline", err)
		}
		if e, _ := issuer.AsError(err); e == nil || e.Kind != issuer.ErrUnavailable {
			t.Errorf("ErrDeadline is not an issuer.Error of kind unavailable")
		}
	}
}

func FuzzTokenFromPDF(f *testing.F) {
	f.Add([]byte("%PDF-1.4\n1 0 obj << /Type /EmbeddedFile >> stream\neyJhbGciOiJFZERTQSIsInR5cCI6InZjK2p3dCJ9.eyJhIjoxfQ.sig\nendstream endobj\n%%EOF\n"))
	f.Add([]byte("%PDF-1.7\n<< /Filter /FlateDecode >> stream\nx\x9c\x03\x00endstream"))
	f.Add(append([]byte("%PDF-1.7\n<< /Type /EmbeddedFile /Filter /FlateDecode /Params << /Size 9 >> >>\nstream\n"), deflate([]byte(testToken))...))
	f.Add([]byte("%PDF-1.7\n<<<<>>>>stream\n>>\r\nstream\r\neyJ.eyJ.eyJ"))
	f.Add([]byte("not a pdf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := pdfScan{ctx: context.Background()}
		tok, err := s.token(b)
		if err == nil && strings.Count(tok, ".") != 2 {
			t.Fatalf("returned %q", tok)
		}
		if e, ok := issuer.AsError(err); err != nil && (!ok || e.Kind != issuer.ErrInvalid) {
			t.Fatalf("error %v is not an issuer.Error of kind invalid", err)
		}
		// Linear work, whatever the bytes: two looks per byte, plus what
		// the inflater reads (at most the file) and writes (at most
		// maxInflate), plus the look-backs of the streams looked at.
		if bound := 4*int64(len(b)) + 2*maxInflate + maxStreams*(maxDictLen+maxGap+8); s.work > bound {
			t.Fatalf("%d bytes examined for %d bytes of input (bound %d)", s.work, len(b), bound)
		}
	})
}
