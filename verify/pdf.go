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
	"strings"

	"certd/issuer"
)

// MaxPDFSize bounds an uploaded PDF; an issued certificate is well under 1 MB.
const MaxPDFSize = 8 << 20

// Bounds on the work one uploaded PDF may cause. An issued certificate has a
// dozen streams and its record is under 4 KB. Together they make the scan
// linear in the file's size: every byte is looked at a small, fixed number
// of times (TestTokenFromPDFWorkIsLinear counts them).
const (
	// maxStreams streams are looked at, at most: each costs a look-back
	// of at most maxDictLen bytes for its dictionary.
	maxStreams = 64
	// maxDictLen bounds a stream's dictionary (the embedded file's is
	// about 100 bytes).
	maxDictLen = 400
	// maxStreamLen bounds the compressed bytes one stream may feed the
	// inflater; the bytes it consumed are not scanned again, so streams
	// cannot overlap to make one region of the file inflate many times.
	maxStreamLen = 2 << 20
	// maxInflate bounds the bytes inflated in all, and maxStreamOut in one
	// stream.
	maxInflate   = 4 << 20
	maxStreamOut = 1 << 20
	// A record's header is under 100 characters and the whole record
	// under 4 KB; longer candidates are not records, and are not decoded.
	maxJWSHeader  = 1 << 10
	maxJWSPayload = 64 << 10
	// How often the scan of raw or inflated bytes looks at the deadline.
	ctxEvery = 256 << 10
)

// Errors of [TokenFromPDF], each an [issuer.Error] of kind
// [issuer.ErrInvalid]. ErrPDFTooLarge has the code "too_large".
var (
	ErrNoRecord    = issuer.Errorf(issuer.ErrInvalid, "no_record", "文件中没有证书签名记录", "the file carries no signed certificate record")
	ErrNotPDF      = issuer.Errorf(issuer.ErrInvalid, "not_pdf", "文件不是PDF", "the file is not a PDF")
	ErrPDFTooLarge = issuer.Errorf(issuer.ErrInvalid, "too_large", "PDF文件过大", "the PDF is too large")
)

// ErrDeadline is what a check that ran out of its time says: it is of kind
// [issuer.ErrUnavailable] (the same upload may pass on a less busy server),
// with the code "deadline".
var ErrDeadline = issuer.Errorf(issuer.ErrUnavailable, "deadline", "核验超时，请稍后再试", "the check took too long; try again later")

// TokenFromPDF finds the signed certificate record embedded in a certificate
// PDF (the certificate.jwt attachment). It reads the file as untrusted
// bytes, with work linear in its size: streams are found by their keyword
// and a bounded look-back for their dictionary, inflated with caps on what
// goes in and what comes out, and the first compact JWS whose header says
// typ vc+jwt is returned. Whether that record is genuine is for VerifyToken
// to say.
func TokenFromPDF(pdf []byte) (string, error) {
	return TokenFromPDFContext(context.Background(), pdf)
}

// TokenFromPDFContext is [TokenFromPDF] stopping with [ErrDeadline] once
// ctx is done.
func TokenFromPDFContext(ctx context.Context, pdf []byte) (string, error) {
	s := pdfScan{ctx: ctx}
	return s.token(pdf)
}

// pdfScan is one scan of an uploaded PDF. work counts the bytes each step
// looked at, so a test can hold the scan to linear work without timing it.
type pdfScan struct {
	ctx  context.Context
	work int64
	zr   io.ReadCloser // reused across streams: an inflater is 40 KB
	out  bytes.Buffer
}

func (s *pdfScan) token(pdf []byte) (string, error) {
	if len(pdf) > MaxPDFSize {
		return "", ErrPDFTooLarge
	}
	if !bytes.HasPrefix(bytes.TrimLeft(pdf, "\x00\t\r\n "), []byte("%PDF-")) {
		return "", ErrNotPDF
	}
	t, err := s.findJWS(pdf)
	if t != "" || err != nil {
		return t, err
	}
	budget := maxInflate
	streams := 0
	for pos := 0; pos < len(pdf) && streams < maxStreams && budget > 0; {
		i := bytes.Index(pdf[pos:], []byte("stream"))
		if i < 0 {
			s.work += int64(len(pdf) - pos)
			break
		}
		kw := pos + i
		s.work += int64(i + len("stream"))
		pos = kw + len("stream")
		body, ok := streamBody(pdf, pos)
		if !ok {
			continue
		}
		dictEnd, ok := s.dictEnd(pdf, kw)
		if !ok {
			continue
		}
		streams++
		if err := s.ctx.Err(); err != nil {
			return "", ErrDeadline
		}
		dict, ok := s.dictBefore(pdf, dictEnd)
		if !ok || !bytes.Contains(dict, []byte("/FlateDecode")) {
			continue
		}
		consumed, plain := s.inflate(pdf[body:min(len(pdf), body+maxStreamLen)], min(budget, maxStreamOut))
		budget -= len(plain)
		// The bytes the inflater consumed were this stream's: the search
		// goes on after them, so no byte is inflated twice.
		pos = body + consumed
		if t, err := s.findJWS(plain); t != "" || err != nil {
			return t, err
		}
	}
	return "", ErrNoRecord
}

// streamBody is where a stream's data starts after the keyword "stream"
// ending at pos: after CRLF or LF. ok is false for a "stream" that is not a
// keyword followed by an end of line.
func streamBody(pdf []byte, pos int) (int, bool) {
	switch {
	case pos < len(pdf) && pdf[pos] == '\n':
		return pos + 1, true
	case pos+1 < len(pdf) && pdf[pos] == '\r' && pdf[pos+1] == '\n':
		return pos + 2, true
	}
	return 0, false
}

// maxGap bounds the white space looked at between a dictionary's ">>" and
// the stream keyword (writers put one end of line there).
const maxGap = 32

// dictEnd finds the ">>" that closes the dictionary before the keyword at
// kw, across at most maxGap bytes of white space, and returns the index
// just past it.
func (s *pdfScan) dictEnd(pdf []byte, kw int) (int, bool) {
	p := kw
	for p > 0 && kw-p < maxGap && isPDFSpace(pdf[p-1]) {
		p--
	}
	s.work += int64(kw - p + 2)
	if p >= 2 && pdf[p-1] == '>' && pdf[p-2] == '>' {
		return p, true
	}
	return 0, false
}

// dictBefore walks back from the ">>" ending at end to the "<<" that opens
// it, counting nested dictionaries, over at most maxDictLen bytes.
func (s *pdfScan) dictBefore(pdf []byte, end int) ([]byte, bool) {
	depth := 0
	lo := max(0, end-maxDictLen-2)
	for p := end; p-2 >= lo; {
		switch {
		case pdf[p-1] == '>' && pdf[p-2] == '>':
			depth++
			p -= 2
		case pdf[p-1] == '<' && pdf[p-2] == '<':
			depth--
			p -= 2
			if depth == 0 {
				s.work += int64(end - p)
				return pdf[p:end], true
			}
		default:
			p--
		}
	}
	s.work += int64(end - lo)
	return nil, false
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

// inflate decompresses a zlib stream from the start of in, returning how
// many bytes of in it consumed and at most limit bytes of output. A stream
// that is not zlib, or breaks off, gives what it gave so far.
func (s *pdfScan) inflate(in []byte, limit int) (consumed int, plain []byte) {
	r := bytes.NewReader(in)
	var err error
	if s.zr == nil {
		s.zr, err = zlib.NewReader(r)
	} else {
		err = s.zr.(zlib.Resetter).Reset(r, nil)
	}
	if err != nil {
		consumed = len(in) - r.Len()
		s.work += int64(consumed)
		return consumed, nil
	}
	s.out.Reset()
	// bytes.Reader is an io.ByteReader, so the inflater reads exactly the
	// bytes it needs and r's position says how many those were.
	_, _ = s.out.ReadFrom(io.LimitReader(s.zr, int64(limit)))
	consumed = len(in) - r.Len()
	s.work += int64(consumed + s.out.Len())
	return consumed, s.out.Bytes()
}

// isJWSChar reports whether c may appear in a compact JWS: the base64url
// alphabet and the dots between the parts.
func isJWSChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// findJWS returns the first compact JWS in b whose header says typ vc+jwt.
// It reads b once, in runs of JWS characters; within a run, each
// dot-separated segment is tried once as a header (from its first "eyJ",
// the base64url of `{"`), so no byte is decoded more than once whatever
// the run holds.
func (s *pdfScan) findJWS(b []byte) (string, error) {
	next := 0
	for i := 0; i < len(b); {
		if i >= next {
			if s.ctx.Err() != nil {
				return "", ErrDeadline
			}
			next = i + ctxEvery
		}
		if !isJWSChar(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && isJWSChar(b[j]) {
			j++
		}
		if t := s.jwsInRun(b[i:j]); t != "" {
			s.work += int64(j)
			return t, nil
		}
		i = j
	}
	s.work += int64(len(b))
	return "", nil
}

// jwsInRun looks for header.payload.signature in a run of JWS characters,
// with the shape a certificate record has: a header starting "eyJ" and of
// at least 13 characters, a payload of at least 10, a signature of 40 to
// 100 (an Ed25519 signature is 86).
func (s *pdfScan) jwsInRun(run []byte) string {
	// starts are the offsets of the last three segments seen.
	var starts [3]int
	n := 0
	for a := 0; a <= len(run); {
		e := a + bytes.IndexByte(run[a:], '.')
		if e < a {
			e = len(run)
		}
		starts[0], starts[1], starts[2] = starts[1], starts[2], a
		n++
		if n >= 3 {
			if t := s.candidate(run, starts, e); t != "" {
				return t
			}
		}
		a = e + 1
	}
	return ""
}

// candidate checks the three segments starting at starts[0..2], the last
// ending at end (exclusive), as a record.
func (s *pdfScan) candidate(run []byte, starts [3]int, end int) string {
	head := run[starts[0] : starts[1]-1]
	payload := run[starts[1] : starts[2]-1]
	sig := run[starts[2]:end]
	s.work += int64(len(head))
	if k := bytes.Index(head, []byte("eyJ")); k > 0 {
		head = head[k:]
	} else if k < 0 {
		return ""
	}
	if len(head) < 13 || len(head) > maxJWSHeader || len(payload) < 10 || len(payload) > maxJWSPayload || len(sig) < 40 {
		return ""
	}
	sig = sig[:min(len(sig), 100)]
	s.work += int64(len(head))
	raw, err := base64.RawURLEncoding.DecodeString(string(head))
	// The JSON decoder is the dearest step per byte: only a header that
	// names the type at all is worth it.
	if err != nil || !bytes.Contains(raw, []byte("vc+jwt")) {
		return ""
	}
	var h struct {
		Typ string `json:"typ"`
	}
	if json.Unmarshal(raw, &h) != nil || h.Typ != "vc+jwt" {
		return ""
	}
	// The payload is one segment of a run of JWS characters: base64url.
	return string(head) + "." + string(payload) + "." + string(sig)
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
