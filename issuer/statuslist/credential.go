package statuslist

import (
	"crypto/ed25519"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"certd/issuer/credential"
)

// TokenType is the JOSE typ of a status list credential: vc+jwt, the type
// VC-JOSE-COSE gives any VC 2.0 credential secured as a JWS, and the one
// certd's certificate records carry (the Recommendation asks for the same
// securing mechanism and media type for a credential and its status list).
// No cty is written: the spec makes it optional ("vc" when present), and
// typ already says what the payload is. Parse accepts a cty of "vc" or none.
// A list and a record are told apart by their payload type, which each
// parser checks.
const TokenType = credential.TypeCertificate

// Limits on a status list credential.
const (
	// MaxTTL bounds ttl: a list that claims to stay fresh for longer than
	// this would hide a revocation for longer than any verifier should wait.
	MaxTTL = 31 * 24 * time.Hour
	// ClockSkew is how far a list's validFrom may be ahead of the
	// verifier's clock before Fresh calls it not yet valid.
	ClockSkew = 5 * time.Minute
	// MaxTokenLen bounds a token before it is parsed: a MaxEncodedLen list
	// in base64url once more, plus room for the rest of the payload and the
	// header.
	MaxTokenLen = ((MaxEncodedLen+4096)*8+5)/6 + 4096
)

// Fixed vocabulary of the Recommendation and VC 2.0.
const (
	vcContext      = "https://www.w3.org/ns/credentials/v2"
	typeVC         = "VerifiableCredential"
	typeCredential = "BitstringStatusListCredential"
	typeList       = "BitstringStatusList"
	typeEntry      = "BitstringStatusListEntry"
	// PurposeRevocation is the only status purpose certd publishes: a set
	// bit means revoked, for good (the Recommendation: "This status is not
	// reversible").
	PurposeRevocation = "revocation"
)

// timeLayout writes validFrom and validUntil in UTC to the millisecond,
// the unit of ttl, so two versions made within one second stay ordered.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Credential is one version of an institution's status list: the W3C
// BitstringStatusListCredential, signed as a compact JWS.
type Credential struct {
	// ID is the list's stable URL, the statusListCredential of every entry
	// that points into it. Versioned copies are the same signed bytes.
	ID string
	// Issuer is the institution's issuer identifier, as in its records
	// (credential.InstitutionURN).
	Issuer string
	// ValidFrom is when this version was made: the list tells the status
	// as of this time. Kept to the millisecond.
	ValidFrom time.Time
	// ValidUntil is an optional hard end of the list's validity; zero for
	// none. It does not replace TTL.
	ValidUntil time.Time
	// TTL is how long after ValidFrom the list counts as fresh; a whole
	// number of milliseconds in (0, MaxTTL]. Publish with Cache-Control
	// max-age no longer than this.
	TTL time.Duration
	// List holds the status bits: bit i set means the certificate at index
	// i is revoked.
	List *Bitstring
	// Kid is the key that signed the list; set by Parse, ignored by Sign.
	Kid string
}

// claims is the payload: the credential itself, as VC-JOSE-COSE has it,
// plus the JWT claims iss, jti and iat that repeat issuer, id and validFrom.
type claims struct {
	Context    []string `json:"@context"`
	ID         string   `json:"id"`
	Type       []string `json:"type"`
	Issuer     string   `json:"issuer"`
	ValidFrom  string   `json:"validFrom"`
	ValidUntil string   `json:"validUntil,omitempty"`
	Subject    subject  `json:"credentialSubject"`
	jwt.RegisteredClaims
}

type subject struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	StatusPurpose string `json:"statusPurpose"`
	EncodedList   string `json:"encodedList"`
	TTL           int64  `json:"ttl"` // milliseconds
}

// Sign encodes the list and signs the credential with priv (EdDSA, kid the
// key's RFC 7638 thumbprint). It refuses a credential Parse would refuse.
func (c *Credential) Sign(priv ed25519.PrivateKey) (string, error) {
	if err := checkURL(c.ID); err != nil {
		return "", err
	}
	switch {
	case c.Issuer == "":
		return "", fail(ErrMalformed, "缺少签发机构", "no issuer")
	case c.List == nil:
		return "", fail(ErrMalformed, "缺少状态列表", "no list")
	case c.ValidFrom.IsZero():
		return "", fail(ErrMalformed, "缺少生效时间 validFrom", "no validFrom")
	case !c.ValidUntil.IsZero() && !c.ValidUntil.After(c.ValidFrom):
		return "", fail(ErrMalformed, "validUntil 不晚于 validFrom", "validUntil is not after validFrom")
	}
	if err := checkTTL(c.TTL.Milliseconds()); err != nil {
		return "", err
	}
	if c.TTL%time.Millisecond != 0 {
		return "", fail(ErrMalformed, "ttl 须为整毫秒", "ttl must be a whole number of milliseconds")
	}
	if err := checkLen(c.List.Len()); err != nil {
		return "", err
	}
	from := c.ValidFrom.UTC().Truncate(time.Millisecond)
	cl := &claims{
		Context: []string{vcContext}, ID: c.ID, Type: []string{typeVC, typeCredential},
		Issuer: c.Issuer, ValidFrom: from.Format(timeLayout),
		Subject: subject{
			ID: c.ID + "#list", Type: typeList, StatusPurpose: PurposeRevocation,
			EncodedList: c.List.Encode(), TTL: c.TTL.Milliseconds(),
		},
		RegisteredClaims: jwt.RegisteredClaims{Issuer: c.Issuer, ID: c.ID, IssuedAt: jwt.NewNumericDate(from)},
	}
	if !c.ValidUntil.IsZero() {
		cl.ValidUntil = c.ValidUntil.UTC().Truncate(time.Millisecond).Format(timeLayout)
	}
	return credential.Sign(cl, TokenType, priv)
}

// KeyLookup returns the public key kid names among the keys of issuer that
// could sign at signedAt (the list's validFrom, not yet verified). It must
// not return another institution's key: that is what makes a list signed
// by another institution fail, since the issuer named in a payload is only
// what the signer wrote. Checking the key's window against signedAt also
// stops a retired key from signing a fresh list: backdating validFrom into
// the key's window makes the list stale. Its error is returned as it is:
// wrap ErrUnknownKey for a kid that is not the issuer's, and leave a store
// failure as what it is ("cannot determine", not "invalid").
type KeyLookup func(issuer, kid string, signedAt time.Time) (ed25519.PublicKey, error)

// parser only holds options; strict base64url, as everywhere in certd.
var parser = jwt.NewParser(jwt.WithStrictDecoding())

// Parse verifies a status list credential that issuer must have signed,
// and decodes its list with Decode's bounds. Before any key is looked up it
// refuses a token over MaxTokenLen, an alg other than EdDSA (so never
// "none" or HMAC), a typ other than vc+jwt, a crit header, and a payload
// that is not a revocation BitstringStatusListCredential of issuer with a
// ttl; then the kid must name a key lookup returns for issuer and the
// signature must verify; only then is the list inflated.
//
// Parse does not judge freshness: call Fresh or Check.
func Parse(token, issuer string, lookup KeyLookup) (*Credential, error) {
	if len(token) > MaxTokenLen {
		return nil, fail(ErrTooLarge, "令牌长度 %d 超过上限 %d", "token length %d is above the limit of %d", len(token), MaxTokenLen)
	}
	var cl claims
	t, parts, err := parser.ParseUnverified(token, &cl)
	if err != nil {
		return nil, failCause(ErrMalformed, err, "不是有效的 JWS", "not a valid JWS")
	}
	kid, _ := t.Header["kid"].(string)
	typ, _ := t.Header["typ"].(string)
	alg, _ := t.Header["alg"].(string)
	cty, hasCty := t.Header["cty"]
	switch {
	case alg != "EdDSA" || t.Method != jwt.SigningMethodEdDSA:
		return nil, fail(ErrMalformed, "签名算法 %q，应为 EdDSA", "alg %q, want EdDSA", alg)
	case typ != TokenType:
		return nil, fail(ErrMalformed, "typ %q，应为 %q", "typ %q, want %q", typ, TokenType)
	case hasCty && cty != "vc":
		return nil, fail(ErrMalformed, "cty %v，应为 vc 或不出现", "cty %v, want vc or none", cty)
	case kid == "":
		return nil, fail(ErrMalformed, "缺少 kid", "no kid")
	case t.Header["crit"] != nil:
		return nil, fail(ErrMalformed, "不支持 crit 头", "unsupported crit header")
	case len(t.Signature) != ed25519.SignatureSize:
		return nil, fail(ErrMalformed, "签名长度 %d 字节", "signature has %d bytes", len(t.Signature))
	}
	c, err := cl.credential(issuer)
	if err != nil {
		return nil, err
	}
	key, err := lookup(issuer, kid, c.ValidFrom)
	if err != nil {
		return nil, err
	}
	if len(key) != ed25519.PublicKeySize || credential.KID(key) != kid {
		return nil, fail(ErrUnknownKey, "密钥与 kid %s 不符", "the key does not match kid %s", kid)
	}
	if !ed25519.Verify(key, []byte(token[:len(parts[0])+1+len(parts[1])]), t.Signature) {
		return nil, ErrBadSignature
	}
	c.Kid = kid
	if c.List, err = Decode(cl.Subject.EncodedList); err != nil {
		return nil, err
	}
	return c, nil
}

// credential checks the payload's shape and fills everything but the list.
func (cl *claims) credential(issuer string) (*Credential, error) {
	if len(cl.Context) == 0 || cl.Context[0] != vcContext {
		return nil, fail(ErrMalformed, "@context 首项应为 %s", "the first @context must be %s", vcContext)
	}
	if !slices.Contains(cl.Type, typeVC) || !slices.Contains(cl.Type, typeCredential) {
		return nil, fail(ErrMalformed, "type 应含 %s", "type must include %s", typeCredential)
	}
	if err := checkURL(cl.ID); err != nil {
		return nil, err
	}
	if cl.RegisteredClaims.ID != "" && cl.RegisteredClaims.ID != cl.ID {
		return nil, fail(ErrMalformed, "jti 与 id 不符", "jti differs from id")
	}
	if cl.Issuer != issuer || (cl.RegisteredClaims.Issuer != "" && cl.RegisteredClaims.Issuer != issuer) {
		return nil, fail(ErrWrongIssuer, "签发者为 %q，应为 %q", "issuer %q, want %q", cl.Issuer, issuer)
	}
	if cl.Subject.Type != typeList || cl.Subject.ID != cl.ID+"#list" {
		return nil, fail(ErrMalformed, "credentialSubject 应为 %s，id 为 %s#list", "credentialSubject must be a %s with id %s#list", typeList, cl.ID)
	}
	if cl.Subject.StatusPurpose != PurposeRevocation {
		return nil, fail(ErrWrongPurpose, "用途为 %q", "purpose %q", cl.Subject.StatusPurpose)
	}
	if err := checkTTL(cl.Subject.TTL); err != nil {
		return nil, err
	}
	c := &Credential{ID: cl.ID, Issuer: cl.Issuer, TTL: time.Duration(cl.Subject.TTL) * time.Millisecond}
	var err error
	if c.ValidFrom, err = time.Parse(time.RFC3339, cl.ValidFrom); err != nil {
		return nil, failCause(ErrMalformed, err, "validFrom 不是带时区的时间", "validFrom is not a date-time with a time zone")
	}
	if cl.ValidUntil != "" {
		if c.ValidUntil, err = time.Parse(time.RFC3339, cl.ValidUntil); err != nil {
			return nil, failCause(ErrMalformed, err, "validUntil 不是带时区的时间", "validUntil is not a date-time with a time zone")
		}
	}
	return c, nil
}

func checkTTL(ms int64) error {
	if ms <= 0 || ms > MaxTTL.Milliseconds() {
		return fail(ErrMalformed, "ttl %d 毫秒不在 1 到 %d 之间", "ttl %d ms is not between 1 and %d", ms, MaxTTL.Milliseconds())
	}
	return nil
}

// FreshUntil is when the list stops being fresh by its own ttl: ValidFrom
// plus TTL, or ValidUntil if that comes first.
func (c *Credential) FreshUntil() time.Time {
	return c.freshUntil(c.TTL)
}

func (c *Credential) freshUntil(age time.Duration) time.Time {
	end := c.ValidFrom.Add(age)
	if !c.ValidUntil.IsZero() && c.ValidUntil.Before(end) {
		end = c.ValidUntil
	}
	return end
}

// Fresh reports whether the list may still be used at now: nil while now
// is before FreshUntil, ErrStale after it, ErrNotYetValid when ValidFrom is
// more than ClockSkew ahead of now. A list that is not fresh can still show
// a revocation (that is final) but never that a certificate is not revoked.
func (c *Credential) Fresh(now time.Time) error {
	return c.FreshWithin(now, 0)
}

// FreshWithin is Fresh with the verifier's own maximum age in place of the
// list's ttl (maxAge 0 means the ttl), for a verifier that accepts older
// lists (an offline check with --max-age). ValidUntil still applies.
func (c *Credential) FreshWithin(now time.Time, maxAge time.Duration) error {
	if maxAge <= 0 {
		maxAge = c.TTL
	}
	asOf := c.ValidFrom.Format(time.RFC3339)
	if now.Add(ClockSkew).Before(c.ValidFrom) {
		return fail(ErrNotYetValid, "列表时间 %s 晚于本机时间 %s", "the list is dated %s, after this computer's %s", asOf, now.Format(time.RFC3339))
	}
	if end := c.freshUntil(maxAge); !now.Before(end) {
		return fail(ErrStale, "状态截至 %s，已于 %s 过时", "status as of %s, stale since %s", asOf, end.Format(time.RFC3339))
	}
	return nil
}

// Status is what a list says about one entry.
type Status int

const (
	// Unknown: the list cannot tell (it is stale or not yet valid); the
	// error says why and as of when.
	Unknown Status = iota
	// Active: not revoked, as of a fresh list.
	Active
	// Revoked: the bit is set. Revocation is final, so this holds even if
	// the list is no longer fresh.
	Revoked
)

func (s Status) String() string {
	switch s {
	case Active:
		return "active"
	case Revoked:
		return "revoked"
	}
	return "unknown"
}

// Check reads the status of entry e in this list at time now, with the
// verifier's maxAge (0: the list's ttl). e must point at this list (its
// statusListCredential equal to ID; ErrForeignList otherwise) at an index
// inside it (ErrRange). A set bit is Revoked; a clear bit is Active only
// while the list is fresh, and Unknown with ErrStale or ErrNotYetValid
// otherwise: a stale list never says "not revoked".
func (c *Credential) Check(e Entry, now time.Time, maxAge time.Duration) (Status, error) {
	i, err := e.index()
	if err != nil {
		return Unknown, err
	}
	if e.StatusListCredential != c.ID {
		return Unknown, fail(ErrForeignList, "条目指向 %s，此列表为 %s", "the entry points at %s, this list is %s", e.StatusListCredential, c.ID)
	}
	revoked, err := c.List.Get(i)
	if err != nil {
		return Unknown, err
	}
	if revoked {
		return Revoked, nil
	}
	if err := c.FreshWithin(now, maxAge); err != nil {
		return Unknown, err
	}
	return Active, nil
}

// checkURL accepts the plain http(s) URLs certd gives its lists: a host, a
// path of unreserved characters and slashes without dot segments, and no
// user, query or fragment. Anything a client might normalise into another
// path ("..", percent escapes, backslashes) is refused, so that comparing
// the string with an institution's base URL is enough.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" || u.RawPath != "" {
		return fail(ErrMalformed, "列表地址 %q 无效", "list URL %q is not valid", s)
	}
	for seg := range strings.SplitSeq(strings.TrimPrefix(u.Path, "/"), "/") {
		if seg == "." || seg == ".." || strings.IndexFunc(seg, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
		}) >= 0 {
			return fail(ErrMalformed, "列表地址 %q 的路径无效", "list URL %q has a path that is not allowed", s)
		}
	}
	return nil
}
