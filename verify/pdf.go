package verify

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
)

// MaxPDFSize bounds an uploaded PDF; an issued certificate is well under 1 MB.
const MaxPDFSize = 8 << 20

// Bounds on the work one uploaded PDF may cause. An issued certificate has a
// dozen streams, the record's under 4 KB.
const (
	maxStreams   = 64
	maxStreamLen = 2 << 20
	maxInflate   = 4 << 20
)

var (
	streamRe = regexp.MustCompile(`(?s)<<(.{0,400}?)>>\s*stream\r?\n`)
	jwsRe    = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{40,100}`)
)

// ErrNoRecord means the file carries no certificate record.
var ErrNoRecord = errors.New("文件中没有证书签名记录 / the file carries no signed certificate record")

// ErrNotPDF means the upload is not a PDF.
var ErrNotPDF = errors.New("文件不是PDF / the file is not a PDF")

// TokenFromPDF finds the signed certificate record embedded in a certificate
// PDF (the certificate.jwt attachment). It reads the file as untrusted
// bytes: streams are inflated with a size cap, and the first compact JWS
// whose header says typ vc+jwt is returned. Whether that record is genuine
// is for VerifyToken to say.
func TokenFromPDF(pdf []byte) (string, error) {
	if len(pdf) > MaxPDFSize {
		return "", errors.New("PDF文件过大 / the PDF is too large")
	}
	if !bytes.HasPrefix(bytes.TrimLeft(pdf, "\x00\t\r\n "), []byte("%PDF-")) {
		return "", ErrNotPDF
	}
	if t := findJWS(pdf); t != "" {
		return t, nil
	}
	// An upload is untrusted: bound the streams looked at, the bytes
	// searched for each stream's end and the bytes inflated in all, so a
	// crafted file costs milliseconds, not minutes.
	budget := maxInflate
	for _, m := range streamRe.FindAllSubmatchIndex(pdf, maxStreams) {
		dict := pdf[m[2]:m[3]]
		if !bytes.Contains(dict, []byte("/FlateDecode")) {
			continue
		}
		body := pdf[m[1]:min(len(pdf), m[1]+maxStreamLen)]
		if end := bytes.Index(body, []byte("endstream")); end >= 0 {
			body = body[:end]
		}
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			continue
		}
		plain, _ := io.ReadAll(io.LimitReader(zr, int64(min(budget, 1<<20))))
		budget -= len(plain)
		if t := findJWS(plain); t != "" {
			return t, nil
		}
		if budget <= 0 {
			break
		}
	}
	return "", ErrNoRecord
}

func findJWS(b []byte) string {
	for _, m := range jwsRe.FindAll(b, -1) {
		s := string(m)
		head, _, _ := strings.Cut(s, ".")
		raw, err := base64.RawURLEncoding.DecodeString(head)
		if err != nil {
			continue
		}
		var h struct {
			Typ string `json:"typ"`
		}
		if json.Unmarshal(raw, &h) == nil && h.Typ == "vc+jwt" {
			return s
		}
	}
	return ""
}
