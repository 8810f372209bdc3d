package sdjwt

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Type is the JOSE typ of certd's SD-JWT VC.
const Type = "dc+sd-jwt"

// HashAlg is the only digest algorithm certd issues and accepts (_sd_alg).
const HashAlg = "sha-256"

// Bounds on a presentation, checked before anything is decoded. A certd
// credential with six disclosable claims is about 2 KB; the bounds leave
// room for a larger visible part and for credentials of other issuers while
// keeping the cost of one bad input to one signature verification and the
// hashing and decoding of at most MaxSize bytes.
const (
	// MaxSize is the longest presentation accepted, in bytes.
	MaxSize = 32 << 10
	// MaxDisclosures is the largest number of disclosures accepted.
	MaxDisclosures = 32
	// MaxDisclosureSize is the longest single disclosure accepted, in bytes
	// of its base64url form.
	MaxDisclosureSize = 4 << 10
	// MaxDepth is the deepest nesting of JSON objects and arrays processed,
	// counted through disclosures.
	MaxDepth = 16
)

// maxDecoys bounds the decoy digests Issue adds; more hide nothing further.
const maxDecoys = 16

// Errors returned by Verify and Present, wrapped with detail; test with
// errors.Is. The text is for users: Chinese first, then English.
var (
	ErrTooLarge        = errors.New("凭证超出大小限制 / the credential exceeds the size limits")
	ErrMalformed       = errors.New("凭证格式不正确 / the credential is malformed")
	ErrKeyBinding      = errors.New("凭证附带了持有者密钥绑定（KB-JWT），本系统不支持 / the credential carries a key-binding JWT, which is not supported")
	ErrAlgorithm       = errors.New("凭证的签名算法不被接受（只接受EdDSA） / the credential's signature algorithm is not accepted (only EdDSA is)")
	ErrType            = errors.New("不是本系统的SD-JWT证书凭证 / not an SD-JWT certificate credential (typ dc+sd-jwt with a vct claim)")
	ErrUnknownKey      = errors.New("凭证的签名密钥未知 / the credential is signed with an unknown key")
	ErrBadSignature    = errors.New("凭证签名无效，内容可能被改动 / the credential's signature does not verify; it may have been altered")
	ErrHashAlg         = errors.New("凭证使用了不支持的摘要算法 / the credential uses an unsupported digest algorithm")
	ErrBadDisclosure   = errors.New("凭证中的披露项无效 / a disclosure in the credential is invalid")
	ErrUnreferenced    = errors.New("披露项不属于此凭证，可能被改动 / a disclosure does not belong to this credential; it may have been altered")
	ErrDuplicateDigest = errors.New("凭证中同一摘要出现了不止一次 / the same digest appears more than once in the credential")
	ErrOverwrite       = errors.New("披露项试图覆盖凭证中已有的字段 / a disclosure would overwrite a claim the credential already has")
	ErrExpired         = errors.New("凭证已过期或尚未生效 / the credential has expired or is not yet valid")
	ErrUnknownClaim    = errors.New("凭证中没有这一可选择披露的字段 / the credential has no such selectively disclosable claim")
)

// Reserved names (RFC 9901 section 4.2): _sd carries digests of object
// properties, "..." those of array elements, _sd_alg names the hash.
const (
	keySD    = "_sd"
	keyAlg   = "_sd_alg"
	keyDots  = "..."
	sep      = "~"
	saltSize = 16 // bytes: 128 bits, RFC 9901 section 9.3
)

// vcProtected are the claims SD-JWT VC forbids making selectively
// disclosable: they control validity, type and status of the credential.
var vcProtected = map[string]bool{
	"iss": true, "nbf": true, "exp": true, "cnf": true, "vct": true, "vct#integrity": true, "status": true,
}

var b64 = base64.RawURLEncoding.Strict()

// digest is base64url(SHA-256(ASCII of the disclosure as transmitted)): the
// hash covers the encoded string, never the JSON it decodes to.
func digest(disclosure string) string {
	sum := sha256.Sum256([]byte(disclosure))
	return b64.EncodeToString(sum[:])
}

// disclosure is one decoded disclosure. name is nil for an array element.
type disclosure struct {
	encoded string
	digest  string
	name    *string
	value   any
	used    bool
}

// decodeDisclosure decodes and checks the shape of one disclosure:
// [salt, name, value] or [salt, value], salt and name strings, name neither
// _sd nor "...".
func decodeDisclosure(s string) (*disclosure, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty disclosure", ErrMalformed)
	}
	if len(s) > MaxDisclosureSize {
		return nil, fmt.Errorf("%w: a disclosure is longer than %d bytes", ErrTooLarge, MaxDisclosureSize)
	}
	raw, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: disclosure is not base64url: %v", ErrMalformed, err)
	}
	var arr []any
	if err := decodeJSON(raw, &arr); err != nil {
		return nil, fmt.Errorf("%w: disclosure is not a JSON array: %v", ErrMalformed, err)
	}
	d := &disclosure{encoded: s, digest: digest(s)}
	switch len(arr) {
	case 2:
		d.value = arr[1]
	case 3:
		name, ok := arr[1].(string)
		if !ok {
			return nil, fmt.Errorf("%w: claim name is not a string", ErrBadDisclosure)
		}
		if name == keySD || name == keyDots {
			return nil, fmt.Errorf("%w: claim name %q is reserved", ErrBadDisclosure, name)
		}
		d.name, d.value = &name, arr[2]
	default:
		return nil, fmt.Errorf("%w: disclosure has %d elements, want 2 or 3", ErrBadDisclosure, len(arr))
	}
	if _, ok := arr[0].(string); !ok {
		return nil, fmt.Errorf("%w: salt is not a string", ErrBadDisclosure)
	}
	return d, nil
}

// decodeJSON decodes exactly one JSON value, numbers kept as json.Number so
// that they survive unchanged, and rejects invalid UTF-8 (which
// encoding/json would silently replace) and trailing data.
func decodeJSON(b []byte, v any) error {
	if !utf8.Valid(b) {
		return errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// encodeJSON marshals without HTML escaping: disclosures stay readable and
// the same bytes as other libraries produce for ordinary text.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// parts is a presentation split at its tildes, bounds checked, nothing
// decoded yet.
type parts struct {
	jwt         string
	disclosures []string
}

// split checks the bounds and the serialisation <jwt>~<d>~...~ and rejects a
// key-binding JWT in the last position. Surrounding ASCII whitespace (a
// pasted or downloaded file's line end) is ignored.
func split(s string) (*parts, error) {
	s = strings.Trim(s, " \t\r\n")
	if len(s) > MaxSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrTooLarge, MaxSize)
	}
	n := strings.Count(s, sep)
	if n == 0 {
		return nil, fmt.Errorf("%w: no '~' separator: a plain JWT, not an SD-JWT", ErrMalformed)
	}
	if n-1 > MaxDisclosures {
		return nil, fmt.Errorf("%w: more than %d disclosures", ErrTooLarge, MaxDisclosures)
	}
	segs := strings.Split(s, sep)
	last := segs[len(segs)-1]
	if last != "" {
		if strings.Count(last, ".") == 2 {
			return nil, ErrKeyBinding
		}
		return nil, fmt.Errorf("%w: data after the last '~'", ErrMalformed)
	}
	p := &parts{jwt: segs[0], disclosures: segs[1 : len(segs)-1]}
	if p.jwt == "" {
		return nil, fmt.Errorf("%w: no issuer-signed JWT", ErrMalformed)
	}
	for _, d := range p.disclosures {
		if len(d) > MaxDisclosureSize {
			return nil, fmt.Errorf("%w: a disclosure is longer than %d bytes", ErrTooLarge, MaxDisclosureSize)
		}
	}
	return p, nil
}

func (p *parts) String() string {
	var b strings.Builder
	b.WriteString(p.jwt)
	b.WriteString(sep)
	for _, d := range p.disclosures {
		b.WriteString(d)
		b.WriteString(sep)
	}
	return b.String()
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 key, certd's kid.
// It equals credential.KID; it is repeated here so that this package does
// not depend on the one it will be wired into.
func thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}
