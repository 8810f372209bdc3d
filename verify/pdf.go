package verify

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"regexp"
	"strings"

	"certd/issuer"
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

// Errors of [TokenFromPDF], each an [issuer.Error] of kind
// [issuer.ErrInvalid]. ErrPDFTooLarge has the code "too_large".
var (
	ErrNoRecord    = issuer.Errorf(issuer.ErrInvalid, "no_record", "文件中没有证书签名记录", "the file carries no signed certificate record")
	ErrNotPDF      = issuer.Errorf(issuer.ErrInvalid, "not_pdf", "文件不是PDF", "the file is not a PDF")
	ErrPDFTooLarge = issuer.Errorf(issuer.ErrInvalid, "too_large", "PDF文件过大", "the PDF is too large")
)

// TokenFromPDF finds the signed certificate record embedded in a certificate
// PDF (the certificate.jwt attachment). It reads the file as untrusted
// bytes: streams are inflated with a size cap, and the first compact JWS
// whose header says typ vc+jwt is returned. Whether that record is genuine
// is for VerifyToken to say.
func TokenFromPDF(pdf []byte) (string, error) {
	if len(pdf) > MaxPDFSize {
		return "", ErrPDFTooLarge
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

// PDFCheck is the [CheckPDF] check of an uploaded certificate file: are its
// bytes exactly those of the PDF issued for the record it carries? The
// digest on record is read with issued, which must not answer from a
// cache: the digest is set after issuance and appends no audit event. The
// check can fail only on the bytes; a record without a number, a register
// that cannot be read or a certificate whose PDF has no digest on record
// leaves it "could not check".
func PDFCheck(ctx context.Context, token string, pdf []byte, issued func(ctx context.Context, number string) (issuer.Certificate, error)) Check {
	l := checkLabels[CheckPDF]
	chk := Check{ID: CheckPDF, Outcome: Unknown, Zh: l[0], En: l[1]}
	number := numberOf(token)
	if number == "" {
		chk.DetailZh, chk.DetailEn = "无法从记录中读出证书编号", "no certificate number in the record"
		return chk
	}
	c, err := issued(ctx, number)
	switch {
	case issuer.Is(err, issuer.ErrNotFound):
		chk.DetailZh, chk.DetailEn = "登记册中没有此证书", "the certificate is not in the register"
	case err != nil:
		chk.DetailZh, chk.DetailEn = "暂时无法查询登记册", "the register could not be reached"
	case c.PDFSHA256 == "":
		chk.DetailZh, chk.DetailEn = "发证机构未登记该证书PDF的摘要", "no digest of the issued PDF is on record"
	default:
		sum := sha256.Sum256(pdf)
		if strings.EqualFold(hex.EncodeToString(sum[:]), c.PDFSHA256) {
			chk.Outcome = Pass
		} else {
			chk.Outcome = Fail
			chk.DetailZh, chk.DetailEn = "文件与签发的PDF不一致：页面内容可能被修改", "the file differs from the issued PDF: its pages may have been edited"
		}
	}
	return chk
}

// numberOf reads the certificate number from a record without verifying
// it: it only says which digest to compare the file with.
func numberOf(token string) string {
	var cl struct {
		CS struct {
			A struct {
				Number string `json:"certificateNumber"`
			} `json:"achievement"`
		} `json:"credentialSubject"`
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &cl) != nil {
		return ""
	}
	n, err := NormalizeNumber(cl.CS.A.Number)
	if err != nil {
		return ""
	}
	return n
}
