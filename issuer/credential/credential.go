// Package credential defines certd's signed wire formats and nothing else:
// the certificate record (a W3C VC 2.0-shaped payload in a compact JWS,
// typ vc+jwt), the institution registration signed by the authority, the
// public keys as JWKs, and the trust bundle that lets anyone verify offline.
//
// All tokens are EdDSA (Ed25519) JWS made with golang-jwt/jwt/v5. Key IDs
// are RFC 7638 JWK thumbprints, so any JOSE library can recompute them.
// Parsing accepts exactly alg EdDSA and the expected typ: "none", HMAC and
// every other algorithm are rejected before any key is looked at.
//
// What is verified here is only cryptography and shape. Whether a key
// belonged to a registered institution on the issue date, and whether the
// certificate is still valid, is package verify's business.
package credential

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/argon2"
)

// Token types (the JOSE typ header).
const (
	TypeCertificate  = "vc+jwt"
	TypeRegistration = "certd-registration+jwt"
)

// JWK is an Ed25519 public key in JWK form (RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
}

// NewJWK returns the JWK of an Ed25519 public key, with its thumbprint as kid.
func NewJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: KID(pub), Use: "sig", Alg: "EdDSA"}
}

// PublicKey decodes the JWK.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, fmt.Errorf("unsupported key type %s/%s", j.Kty, j.Crv)
	}
	b, err := base64.RawURLEncoding.DecodeString(j.X)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("malformed Ed25519 JWK")
	}
	return ed25519.PublicKey(b), nil
}

// KID is the RFC 7638 thumbprint of an Ed25519 public key: base64url of the
// SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"..."}.
func KID(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Identifiers used in tokens.
const (
	AuthorityID = "urn:certd:authority"
)

// InstitutionURN is the issuer identifier of an institution.
func InstitutionURN(id string) string { return "urn:certd:institution:" + id }

// CertificateURN is the credential identifier of a certificate.
func CertificateURN(number string) string { return "urn:certd:certificate:" + number }

// DocHash is a salted, deliberately slow hash of the holder's document
// number. A verifier who knows the number can confirm it; a reader of the
// token learns nothing cheaply. A Chinese ID number has little entropy (area,
// birth date, sequence), so the hash only stops bulk harvesting, not a
// targeted guess: the token is still personal data. The parameters travel
// with the hash so they can be raised without breaking old tokens.
type DocHash struct {
	Alg    string `json:"alg"` // "argon2id"
	Time   uint32 `json:"t"`
	Memory uint32 `json:"m"` // KiB
	Salt   string `json:"salt"`
	Value  string `json:"value"`
}

// Argon2id cost for new hashes. 512 KiB and one pass keep a 10,000-row roster
// within its time budget on two cores (about 0.6 ms a hash) while costing a
// bulk guesser hundreds of CPU-days per certificate.
const (
	docHashTime   = 1
	docHashMemory = 512
)

// HashDoc hashes a normalised document number with a fresh random salt.
func HashDoc(docType, number string) DocHash {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return DocHash{
		Alg: "argon2id", Time: docHashTime, Memory: docHashMemory,
		Salt:  base64.RawURLEncoding.EncodeToString(salt),
		Value: base64.RawURLEncoding.EncodeToString(argon2.IDKey([]byte(docType+":"+number), salt, docHashTime, docHashMemory, 1, 32)),
	}
}

// Matches reports whether number (normalised) is the hashed document number.
func (h DocHash) Matches(docType, number string) bool {
	if h.Alg != "argon2id" || h.Time == 0 || h.Time > 10 || h.Memory == 0 || h.Memory > 1<<20 {
		return false
	}
	salt, err := base64.RawURLEncoding.DecodeString(h.Salt)
	if err != nil {
		return false
	}
	want, err := base64.RawURLEncoding.DecodeString(h.Value)
	if err != nil || len(want) != 32 {
		return false
	}
	got := argon2.IDKey([]byte(docType+":"+number), salt, h.Time, h.Memory, 1, 32)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// CertificateClaims is the payload of a certificate token: a VC 2.0-shaped
// credential (per VC-JOSE-COSE, the payload is the credential itself) plus
// the JWT claims iss (= issuer.id), jti (= id) and iat (when it was signed).
type CertificateClaims struct {
	Context           []string          `json:"@context"`
	ID                string            `json:"id"`
	Type              []string          `json:"type"`
	Issuer            Issuer            `json:"issuer"`
	ValidFrom         string            `json:"validFrom"`
	CredentialSubject CredentialSubject `json:"credentialSubject"`
	// CredentialStatus says where the certificate's revocation bit is: a
	// W3C BitstringStatusListEntry. Records signed before status lists
	// existed have none (their status is the register's).
	CredentialStatus *StatusEntry `json:"credentialStatus,omitempty"`
	jwt.RegisteredClaims
}

// StatusEntry is a credentialStatus entry of type BitstringStatusListEntry.
// Package statuslist validates it (statuslist.Entry has the same fields,
// so one converts to the other).
type StatusEntry struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

// Issuer names the issuing institution as registered.
type Issuer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	USCC string `json:"uscc"`
}

// CredentialSubject is the holder and what they achieved. Only what is
// printed on the certificate is here, and the document number only hashed.
type CredentialSubject struct {
	Name        string      `json:"name"`
	DocType     string      `json:"documentType"`
	DocHash     DocHash     `json:"documentHash"`
	Achievement Achievement `json:"achievement"`
}

// Achievement is the certified skill.
type Achievement struct {
	Number         string `json:"certificateNumber"`
	OccupationCode string `json:"occupationCode"`
	OccupationName string `json:"occupationName"`
	Specialty      string `json:"specialty"` // "--" when none, as printed
	Level          int    `json:"level"`
	LevelName      string `json:"levelName"`
	IssuedOn       string `json:"issuedOn"` // YYYY-MM-DD as printed
}

// VC contexts and types used in certificate tokens.
var (
	certContext = []string{"https://www.w3.org/ns/credentials/v2"}
	certType    = []string{"VerifiableCredential", "SkillLevelCertificate"}
)

// NewCertificateClaims fills the fixed VC fields.
func NewCertificateClaims(iss Issuer, sub CredentialSubject, signedAt time.Time) *CertificateClaims {
	id := CertificateURN(sub.Achievement.Number)
	return &CertificateClaims{
		Context: certContext, ID: id, Type: certType, Issuer: iss,
		ValidFrom:         sub.Achievement.IssuedOn + "T00:00:00+08:00",
		CredentialSubject: sub,
		RegisteredClaims:  jwt.RegisteredClaims{Issuer: iss.ID, ID: id, IssuedAt: jwt.NewNumericDate(signedAt)},
	}
}

// Sign makes a compact JWS of claims with typ and the key's thumbprint as kid.
func Sign(claims jwt.Claims, typ string, priv ed25519.PrivateKey) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["typ"] = typ
	tok.Header["kid"] = KID(priv.Public().(ed25519.PublicKey))
	return tok.SignedString(priv)
}

// ErrMalformed means the token is not a well-formed certd token of the
// expected type and algorithm.
var ErrMalformed = errors.New("malformed token")

// ErrBadSignature means the signature does not verify with the named key.
var ErrBadSignature = errors.New("signature does not verify")

// ErrUnknownKey means the token's kid names no key the caller knows.
var ErrUnknownKey = errors.New("unknown signing key")

// Header is what a token says about itself before verification.
type Header struct {
	Kid string
	Typ string
}

// KeyLookup returns the public key for a kid, given the unverified claims
// (so that it can check the kid belongs to the claimed issuer).
type KeyLookup func(kid string, claims jwt.Claims) (ed25519.PublicKey, error)

// maxTokenSize bounds input before parsing: a certificate token is ~1.5 KB.
const maxTokenSize = 16 << 10

// Unverified is a decoded token whose signature has not been checked yet.
// Nothing in its claims may be trusted before Verify succeeds.
type Unverified struct {
	Header       Header
	signingInput []byte // header.payload, as signed
	sig          []byte
}

// parser only holds options, so one serves every call.
var parser = jwt.NewParser(jwt.WithStrictDecoding())

// Decode decodes a token of type typ into claims once, and checks its shape:
// alg exactly EdDSA (never "none", never HMAC), the expected typ, a kid, no
// crit header. It does not check the signature: call Verify with the key
// the kid names. Splitting the two lets a verifier find the issuer's key
// from the claims without decoding them twice.
func Decode(token, typ string, claims jwt.Claims) (*Unverified, error) {
	if len(token) > maxTokenSize {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrMalformed, maxTokenSize)
	}
	t, parts, err := parser.ParseUnverified(token, claims)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	u := &Unverified{signingInput: []byte(token[:len(parts[0])+1+len(parts[1])]), sig: t.Signature}
	u.Header.Kid, _ = t.Header["kid"].(string)
	u.Header.Typ, _ = t.Header["typ"].(string)
	alg, _ := t.Header["alg"].(string)
	switch {
	case alg != "EdDSA" || t.Method != jwt.SigningMethodEdDSA:
		return nil, fmt.Errorf("%w: alg %q, want EdDSA", ErrMalformed, alg)
	case u.Header.Typ != typ:
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrMalformed, u.Header.Typ, typ)
	case u.Header.Kid == "":
		return nil, fmt.Errorf("%w: no kid", ErrMalformed)
	case t.Header["crit"] != nil:
		return nil, fmt.Errorf("%w: unsupported crit header", ErrMalformed)
	case len(u.sig) != ed25519.SignatureSize:
		return nil, fmt.Errorf("%w: signature has %d bytes", ErrMalformed, len(u.sig))
	}
	return u, nil
}

// Verify checks the signature with key, which must be the key the kid
// names (ErrUnknownKey otherwise). ErrBadSignature when it does not verify.
func (u *Unverified) Verify(key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize || KID(key) != u.Header.Kid {
		return fmt.Errorf("%w: key does not match kid", ErrUnknownKey)
	}
	if !ed25519.Verify(key, u.signingInput, u.sig) {
		return ErrBadSignature
	}
	return nil
}

// Parse verifies a token of type typ into claims. It returns ErrMalformed,
// ErrUnknownKey (from lookup) or ErrBadSignature, wrapped.
func Parse(token, typ string, claims jwt.Claims, lookup KeyLookup) (Header, error) {
	u, err := Decode(token, typ, claims)
	if err != nil {
		return Header{}, err
	}
	key, err := lookup(u.Header.Kid, claims)
	if err != nil {
		return u.Header, err
	}
	return u.Header, u.Verify(key)
}

// RegistrationClaims is the payload of a registration token: one version of
// an institution's registration as the authority signed it.
type RegistrationClaims struct {
	Registration Registration `json:"registration"`
	jwt.RegisteredClaims
}

// Registration is the public part of an institution version.
type Registration struct {
	InstitutionID string      `json:"id"`
	Version       int         `json:"version"`
	Name          string      `json:"name"`
	USCC          string      `json:"uscc"`
	Prefix        string      `json:"prefix"`
	FilingNo      string      `json:"filingNo"`
	ValidFrom     string      `json:"validFrom"`  // YYYY-MM-DD
	ValidUntil    string      `json:"validUntil"` // YYYY-MM-DD, inclusive
	Status        string      `json:"status"`
	EffectiveAt   int64       `json:"effectiveAt"` // unix seconds
	Scope         []Scope     `json:"scope"`
	Keys          []KeyWindow `json:"keys"`
}

// Scope is one registered (occupation, 工种, levels) line.
type Scope struct {
	Occupation string `json:"occupation"`
	Specialty  string `json:"specialty,omitempty"`
	Levels     []int  `json:"levels"`
}

// KeyWindow is an institution public key and the window in which it may
// sign, in unix seconds; NotAfter 0 means still current.
type KeyWindow struct {
	JWK       JWK   `json:"jwk"`
	NotBefore int64 `json:"notBefore"`
	NotAfter  int64 `json:"notAfter,omitempty"`
}

// Covers reports whether the key could sign at unix time t.
func (k KeyWindow) Covers(t int64) bool {
	return t >= k.NotBefore && (k.NotAfter == 0 || t < k.NotAfter)
}

// NewRegistrationClaims wraps a registration for signing by the authority.
func NewRegistrationClaims(r Registration, signedAt time.Time) *RegistrationClaims {
	return &RegistrationClaims{Registration: r, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: AuthorityID, Subject: InstitutionURN(r.InstitutionID), IssuedAt: jwt.NewNumericDate(signedAt),
	}}
}

// TrustBundle is everything a third party needs to verify certificates
// without reaching the server: the authority's key and every version of
// every institution's registration, each signed by the authority.
type TrustBundle struct {
	Format        string    `json:"format"` // "certd-trust/1"
	GeneratedAt   time.Time `json:"generatedAt"`
	Authority     Authority `json:"authority"`
	Registrations []string  `json:"registrations"`
	// LogPolicy is the public log's C2SP tlog-policy (docs/tlog.md): the
	// log key, the witnesses' keys and the quorum a checkpoint needs. A
	// verifier holding it checks a certificate's tlog-proof offline.
	LogPolicy string `json:"logPolicy,omitempty"`
	// StatusLists are the latest status list of each institution when the
	// bundle was made (certd trust export), so that an offline verifier
	// can tell revoked from not revoked as of their time. Verifiers check
	// each one with the institution's keys; a list past its ttl says
	// nothing about "not revoked".
	StatusLists []TrustStatusList `json:"statusLists,omitempty"`
}

// TrustStatusList is one institution's status list in a trust bundle: its
// time (validFrom, as signed inside the token) and the signed list itself.
type TrustStatusList struct {
	Institution string    `json:"institution"`
	Version     int       `json:"version"`
	ValidFrom   time.Time `json:"validFrom"`
	Token       string    `json:"token"`
}

// Authority is the authority's public identity.
type Authority struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	JWK  JWK    `json:"jwk"`
}

// TrustFormat is the current trust bundle format.
const TrustFormat = "certd-trust/1"

// ParseTrustBundle decodes a bundle; the registrations inside are verified by
// whoever uses them.
func ParseTrustBundle(b []byte) (*TrustBundle, error) {
	var tb TrustBundle
	if err := json.Unmarshal(b, &tb); err != nil {
		return nil, fmt.Errorf("trust bundle is not valid JSON: %w", err)
	}
	if tb.Format != TrustFormat {
		return nil, fmt.Errorf("trust bundle format %q, want %q", tb.Format, TrustFormat)
	}
	if _, err := tb.Authority.JWK.PublicKey(); err != nil {
		return nil, fmt.Errorf("trust bundle authority key: %w", err)
	}
	return &tb, nil
}
