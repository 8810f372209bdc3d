package sdjwt

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

type testKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	kid  string
}

func newKey(t testing.TB) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{pub, priv, thumbprint(pub)}
}

func lookupOf(keys ...testKey) KeyLookup {
	m := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		m[k.kid] = k.pub
	}
	return func(kid string) (ed25519.PublicKey, error) {
		if pub, ok := m[kid]; ok {
			return pub, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, kid)
	}
}

// certdClaims has the shape certd issues: what the certificate shows is
// visible, the six personal claims are disclosable.
func certdClaims() Claims {
	return Claims{
		Visible: map[string]any{
			"iss": "urn:certd:institution:jlvtc", "iat": 1782000000, "vct": "urn:certd:vct:skill-level-certificate",
			"certificateNumber": "Y000122000001263000123", "occupationCode": "4-04-05-01",
			"occupationName": "计算机程序设计员", "specialty": "--", "level": 3, "levelName": "高级工",
			"issuedOn": "2026-06-30", "issuer": map[string]any{"name": "吉林某职业技术学院", "uscc": "12220000MB1234567X"},
		},
		Disclosable: map[string]any{
			"name":         "张三",
			"documentType": "居民身份证",
			"documentHash": map[string]any{"alg": "argon2id", "t": 1, "m": 512, "salt": "c2FsdHNhbHRzYWx0c2FsdA", "value": "Q8Zq1HqvG3p6k1l0b2Vt0aJ2c2h4b3d0b3Q0aGVoYXNo"},
			"birthDate":    "2004-03-15",
			"gender":       "男",
			"photoDigest":  "sha-256:3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		},
		Decoys: 3,
	}
}

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// signed makes a presentation from any header and payload, signed by k: the
// way to build what Issue refuses to make.
func signed(t testing.TB, k testKey, header map[string]any, payload any, disclosures ...string) string {
	t.Helper()
	input := b64JSON(t, header) + "." + b64JSON(t, payload)
	sig := base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.priv, []byte(input)))
	return (&parts{jwt: input + "." + sig, disclosures: disclosures}).String()
}

func disc(t testing.TB, elems ...any) string { return b64JSON(t, elems) }

func header(k testKey) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": Type, "kid": k.kid}
}

// with returns a copy of m with the pairs set; a nil value deletes.
func with(m map[string]any, kv ...any) map[string]any {
	out := maps.Clone(m)
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// findDisclosure returns the index of the disclosure of claim name.
func findDisclosure(t testing.TB, p *parts, name string) int {
	t.Helper()
	for i, s := range p.disclosures {
		d, err := decodeDisclosure(s)
		if err != nil {
			t.Fatal(err)
		}
		if d.name != nil && *d.name == name {
			return i
		}
	}
	t.Fatalf("no disclosure of %s", name)
	return -1
}

func replaced(p *parts, i int, d string) string {
	q := *p
	q.disclosures = slices.Clone(p.disclosures)
	q.disclosures[i] = d
	return q.String()
}

func appended(p *parts, ds ...string) string {
	q := *p
	q.disclosures = append(slices.Clone(p.disclosures), ds...)
	return q.String()
}

type ruleCase struct {
	name         string
	presentation string
	want         error // nil: verifies
}

// ruleCases are presentations signed by k (whose key is registered) and by
// another college's key (registered nowhere), each with one fault or none.
func ruleCases(t testing.TB) (k testKey, cases []ruleCase) {
	k, other := newKey(t), newKey(t)
	good, err := Issue(certdClaims(), k.priv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := split(good)
	if err != nil {
		t.Fatal(err)
	}
	iName := findDisclosure(t, p, "name")
	nameD, _ := decodeDisclosure(p.disclosures[iName])
	var nameArr []any
	raw, _ := base64.RawURLEncoding.DecodeString(p.disclosures[iName])
	_ = json.Unmarshal(raw, &nameArr)
	salt := nameArr[0].(string)

	otherCred, err := Issue(certdClaims(), k.priv)
	if err != nil {
		t.Fatal(err)
	}
	op, _ := split(otherCred)
	foreign := op.disclosures[findDisclosure(t, op, "name")]

	segs := strings.Split(p.jwt, ".")
	payloadJSON, _ := base64.RawURLEncoding.DecodeString(segs[1])
	forgedPayload := segs[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payloadJSON), `"level":3`, `"level":5`, 1))) + "." + segs[2]
	sig, _ := base64.RawURLEncoding.DecodeString(segs[2])
	sig[0] ^= 1
	// The last character of a 64-byte signature carries 4 unused bits that
	// must be zero; setting one keeps the bytes a lenient decoder sees.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, segs[2][len(segs[2])-1])
	nonCanonical := segs[0] + "." + segs[1] + "." + segs[2][:len(segs[2])-1] + string(alphabet[last|1])
	forgedSig := segs[0] + "." + segs[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	base := map[string]any{"iss": "urn:certd:institution:jlvtc", "vct": "urn:certd:vct:test", "certificateNumber": "N1", "_sd_alg": HashAlg}
	h := header(k)
	dName := disc(t, "salt-of-name-0000000000", "name", "张三")
	dElem := disc(t, "salt-of-elem-0000000000", "焊工")
	dInner := disc(t, "salt-of-inner-000000000", "birthDate", "2004-03-15")
	dOuter := disc(t, "salt-of-outer-000000000", "holder", map[string]any{"_sd": []string{digest(dInner)}})
	unsigned := func(hdr map[string]any) string { // header.payload. with an empty signature
		return b64JSON(t, hdr) + "." + b64JSON(t, base) + ".~"
	}
	hmacSigned := func() string { // the classic confusion: the public key as an HMAC secret
		input := b64JSON(t, with(h, "alg", "HS256")) + "." + b64JSON(t, base)
		m := hmac.New(sha256.New, k.pub)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)) + "~"
	}
	deep := map[string]any{"x": "bottom"}
	for range MaxDepth + 2 {
		deep = map[string]any{"x": deep}
	}
	soon, past := time.Now().Add(time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()

	return k, []ruleCase{
		{"issued, every disclosure", good, nil},
		{"issued, no disclosure", p.jwt + "~", nil},
		{"surrounding white space", " " + good + "\r\n", nil},
		{"one disclosed, one decoy", signed(t, k, h, with(base, "_sd", []string{digest(dName), digest("decoy")}), dName), nil},
		{"array element disclosed", signed(t, k, h, with(base, "skills", []any{"电工", map[string]any{"...": digest(dElem)}}), dElem), nil},
		{"recursive disclosure", signed(t, k, h, with(base, "_sd", []string{digest(dOuter)}), dOuter, dInner), nil},
		{"exp in the future", signed(t, k, h, with(base, "exp", soon)), nil},

		// Disclosures that do not match what the issuer signed.
		{"altered disclosure value", replaced(p, iName, disc(t, salt, "name", "李四")), ErrUnreferenced},
		{"altered disclosure spelling", replaced(p, iName, base64.RawURLEncoding.EncodeToString([]byte(`["`+salt+`", "name", "张三"]`))), ErrUnreferenced},
		{"disclosure whose digest is absent", appended(p, disc(t, "fresh-salt-000000000000", "name", *nameD.name)), ErrUnreferenced},
		{"disclosure from another credential", replaced(p, iName, foreign), ErrUnreferenced},
		{"nested disclosure without its parent", signed(t, k, h, with(base, "_sd", []string{digest(dOuter)}), dInner), ErrUnreferenced},

		// The same digest twice.
		{"same disclosure presented twice", appended(p, p.disclosures[iName]), ErrDuplicateDigest},
		{"digest twice in _sd, disclosed", signed(t, k, h, with(base, "_sd", []string{digest(dName), digest(dName)}), dName), ErrDuplicateDigest},
		{"digest twice in _sd, undisclosed", signed(t, k, h, with(base, "_sd", []string{digest(dName), digest(dName)})), ErrDuplicateDigest},
		{"digest in _sd and in a nested _sd", signed(t, k, h, with(base, "_sd", []string{digest(dName)}, "sub", map[string]any{"_sd": []string{digest(dName)}})), ErrDuplicateDigest},
		{"digest in _sd and in an array", signed(t, k, h, with(base, "_sd", []string{digest(dElem)}, "skills", []any{map[string]any{"...": digest(dElem)}})), ErrDuplicateDigest},

		// Overwrites.
		{"overwrite of an always-visible claim", signed(t, k, h, with(base, "_sd", []string{digest(disc(t, "s", "certificateNumber", "FAKE"))}), disc(t, "s", "certificateNumber", "FAKE")), ErrOverwrite},
		{"two disclosures of one name", signed(t, k, h, with(base, "_sd", []string{digest(dName), digest(disc(t, "t", "name", "李四"))}), dName, disc(t, "t", "name", "李四")), ErrOverwrite},
		{"overwrite in a nested object", signed(t, k, h, with(base, "sub", map[string]any{"a": 1, "_sd": []string{digest(disc(t, "s", "a", 2))}}), disc(t, "s", "a", 2)), ErrOverwrite},

		// Disclosures of the wrong kind or with forbidden names.
		{"disclosure named _sd", signed(t, k, h, with(base, "_sd", []string{digest(disc(t, "s", "_sd", []string{}))}), disc(t, "s", "_sd", []string{})), ErrBadDisclosure},
		{"disclosure named ...", signed(t, k, h, with(base, "_sd", []string{digest(disc(t, "s", "...", "x"))}), disc(t, "s", "...", "x")), ErrBadDisclosure},
		{"disclosure named _sd_alg", signed(t, k, h, with(base, "_sd_alg", nil, "_sd", []string{digest(disc(t, "s", "_sd_alg", HashAlg))}), disc(t, "s", "_sd_alg", HashAlg)), ErrBadDisclosure},
		{"disclosed vct", signed(t, k, h, with(base, "vct", nil, "_sd", []string{digest(disc(t, "s", "vct", "v"))}), disc(t, "s", "vct", "v")), ErrBadDisclosure},
		{"disclosed iss", signed(t, k, h, with(base, "iss", nil, "_sd", []string{digest(disc(t, "s", "iss", "i"))}), disc(t, "s", "iss", "i")), ErrBadDisclosure},
		{"array-element disclosure from _sd", signed(t, k, h, with(base, "_sd", []string{digest(dElem)}), dElem), ErrBadDisclosure},
		{"claim disclosure from an array", signed(t, k, h, with(base, "skills", []any{map[string]any{"...": digest(dName)}}), dName), ErrBadDisclosure},
		{"disclosure of four elements", appended(p, disc(t, "s", "name", "x", "y")), ErrBadDisclosure},
		{"disclosure of one element", appended(p, disc(t, "s")), ErrBadDisclosure},
		{"salt not a string", appended(p, disc(t, 7, "name", "x")), ErrBadDisclosure},
		{"claim name not a string", appended(p, disc(t, "s", 7, "x")), ErrBadDisclosure},

		// Malformed disclosures.
		{"disclosure an object", appended(p, b64JSON(t, map[string]any{"name": "x"})), ErrMalformed},
		{"disclosure padded", appended(p, p.disclosures[iName]+"="), ErrMalformed},
		{"disclosure in standard base64", appended(p, base64.StdEncoding.EncodeToString([]byte(`["s???>", "n", "x"]`))), ErrMalformed},
		{"disclosure not JSON", appended(p, base64.RawURLEncoding.EncodeToString([]byte(`["s", "name",`))), ErrMalformed},
		{"disclosure with trailing data", appended(p, base64.RawURLEncoding.EncodeToString([]byte(`["s", "name", "x"] []`))), ErrMalformed},
		{"disclosure not UTF-8", appended(p, base64.RawURLEncoding.EncodeToString([]byte("[\"s\", \"name\", \"\xff\"]"))), ErrMalformed},
		{"empty disclosure", appended(p, ""), ErrMalformed},

		// The payload.
		{"no vct", signed(t, k, h, with(base, "vct", nil)), ErrType},
		{"empty vct", signed(t, k, h, with(base, "vct", "")), ErrType},
		{"empty payload", signed(t, k, h, map[string]any{}), ErrType},
		{"payload an array", signed(t, k, h, []any{1}), ErrMalformed},
		{"_sd_alg sha-512", signed(t, k, h, with(base, "_sd_alg", "sha-512")), ErrHashAlg},
		{"_sd_alg a number", signed(t, k, h, with(base, "_sd_alg", 256)), ErrHashAlg},
		{"_sd not an array", signed(t, k, h, with(base, "_sd", digest(dName)), dName), ErrMalformed},
		{"_sd holding a number", signed(t, k, h, with(base, "_sd", []any{1})), ErrMalformed},
		{"... as a claim", signed(t, k, h, with(base, "...", "x")), ErrMalformed},
		{"... beside another key", signed(t, k, h, with(base, "skills", []any{map[string]any{"...": digest(dElem), "b": 1}})), ErrMalformed},
		{"... holding a number", signed(t, k, h, with(base, "skills", []any{map[string]any{"...": 1}})), ErrMalformed},
		{"nested too deep", signed(t, k, h, with(base, "deep", deep)), ErrTooLarge},
		{"exp passed", signed(t, k, h, with(base, "exp", past)), ErrExpired},
		{"nbf ahead", signed(t, k, h, with(base, "nbf", soon)), ErrExpired},
		{"exp a string", signed(t, k, h, with(base, "exp", "2030-01-01")), ErrMalformed},

		// The JWS.
		{"alg none", unsigned(with(h, "alg", "none")), ErrAlgorithm},
		{"alg none, upper case", unsigned(with(h, "alg", "NONE")), ErrAlgorithm},
		{"alg missing", unsigned(with(h, "alg", nil)), ErrAlgorithm},
		{"alg HS256 keyed with the public key", hmacSigned(), ErrAlgorithm},
		{"alg ES256", signed(t, k, with(h, "alg", "ES256"), base), ErrAlgorithm},
		{"alg Ed25519 (the fully specified name)", signed(t, k, with(h, "alg", "Ed25519"), base), ErrAlgorithm},
		{"typ vc+jwt", signed(t, k, with(h, "typ", "vc+jwt"), base), ErrType},
		{"typ missing", signed(t, k, with(h, "typ", nil), base), ErrType},
		{"typ of another profile", signed(t, k, with(h, "typ", "vc+sd-jwt"), base), ErrType},
		{"crit header", signed(t, k, with(h, "crit", []string{"exp"}), base), ErrMalformed},
		{"no kid", signed(t, k, with(h, "kid", nil), base), ErrMalformed},
		{"key of another college", signed(t, other, header(other), base), ErrUnknownKey},
		{"kid of this college, key of another", signed(t, other, h, base), ErrBadSignature},
		{"payload altered", forgedPayload + "~", ErrBadSignature},
		{"signature altered", forgedSig + "~", ErrBadSignature},
		{"signature truncated", p.jwt[:len(p.jwt)-2] + "~", ErrBadSignature},
		{"signature in non-canonical base64", nonCanonical + "~", ErrMalformed},

		// The serialisation.
		{"plain JWT", p.jwt, ErrMalformed},
		{"last tilde cut off", good[:len(good)-1], ErrMalformed},
		{"cut inside the payload", p.jwt[:len(p.jwt)/2] + "~", ErrMalformed},
		{"trailing garbage", good + "garbage", ErrMalformed},
		{"one tilde too many", good + "~", ErrMalformed},
		{"leading garbage", "." + good, ErrMalformed},
		{"key-binding JWT", good + "eyJhbGciOiJFZERTQSIsInR5cCI6ImtiK2p3dCJ9.e30.c2ln", ErrKeyBinding},
		{"empty", "", ErrMalformed},
		{"only tildes", "~~~", ErrMalformed},
		{"too long", good + strings.Repeat("A", MaxSize) + "~", ErrTooLarge},
		{"too many disclosures", p.jwt + strings.Repeat("~"+dName, MaxDisclosures+1) + "~", ErrTooLarge},
		{"disclosure too long", appended(p, strings.Repeat("A", MaxDisclosureSize+1)), ErrTooLarge},
	}
}

// TestVerifyRules walks every rule: each case is one fault (or none) in an
// otherwise valid presentation.
func TestVerifyRules(t *testing.T) {
	k, tests := ruleCases(t)
	lookup := lookupOf(k)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Verify(tt.presentation, lookup)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if _, ok := r.Claims[keySD]; ok {
					t.Errorf("_sd left in the claims")
				}
				if _, ok := r.Claims[keyAlg]; ok {
					t.Errorf("_sd_alg left in the claims")
				}
				return
			}
			if testing.Verbose() {
				t.Logf("%v", err)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if r != nil {
				t.Errorf("a result came with the error")
			}
		})
	}
}

// TestVerifyResult: what a verifier gets from a full credential and from a
// presentation.
func TestVerifyResult(t *testing.T) {
	k := newKey(t)
	c := certdClaims()
	issued, err := Issue(c, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Verify(issued, lookupOf(k))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kid != k.kid {
		t.Errorf("kid %s, want %s", r.Kid, k.kid)
	}
	all := with(c.Visible)
	maps.Copy(all, c.Disclosable)
	wantClaims(t, r.Claims, all)
	want := []string{"/birthDate", "/documentHash", "/documentType", "/gender", "/name", "/photoDigest"}
	if !slices.Equal(r.Disclosed, want) {
		t.Errorf("disclosed %v, want %v", r.Disclosed, want)
	}

	pres, err := Present(issued, "name", "birthDate")
	if err != nil {
		t.Fatal(err)
	}
	r, err = Verify(pres, lookupOf(k))
	if err != nil {
		t.Fatal(err)
	}
	shown := with(c.Visible, "name", c.Disclosable["name"], "birthDate", c.Disclosable["birthDate"])
	wantClaims(t, r.Claims, shown)
	if !slices.Equal(r.Disclosed, []string{"/birthDate", "/name"}) || !r.IsDisclosed("name") || r.IsDisclosed("documentHash") || r.IsDisclosed("level") {
		t.Errorf("disclosed %v", r.Disclosed)
	}
}

func wantClaims(t *testing.T, got, want map[string]any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	var gv, wv any
	_ = json.Unmarshal(g, &gv)
	_ = json.Unmarshal(w, &wv)
	gj, _ := json.Marshal(gv)
	wj, _ := json.Marshal(wv)
	if string(gj) != string(wj) {
		t.Errorf("claims\n %s\nwant\n %s", gj, wj)
	}
}

// TestLookupKeyMismatch: a lookup that returns some other key for a kid
// (a bug, or a confused key store) is caught by the thumbprint.
func TestLookupKeyMismatch(t *testing.T) {
	k, other := newKey(t), newKey(t)
	issued, err := Issue(certdClaims(), k.priv)
	if err != nil {
		t.Fatal(err)
	}
	wrong := func(string) (ed25519.PublicKey, error) { return other.pub, nil }
	if _, err := Verify(issued, wrong); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify: %v, want ErrUnknownKey", err)
	}
	short := func(string) (ed25519.PublicKey, error) { return k.pub[:31], nil }
	if _, err := Verify(issued, short); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify with a short key: %v, want ErrUnknownKey", err)
	}
}

// TestTruncations: a prefix of a credential that ends at a tilde is a
// presentation with fewer disclosures and verifies; every other prefix is
// refused with one of the package's errors, and so is the credential with
// any one byte dropped.
func TestTruncations(t *testing.T) {
	k := newKey(t)
	good, err := Issue(certdClaims(), k.priv)
	if err != nil {
		t.Fatal(err)
	}
	lookup := lookupOf(k)
	for i := range len(good) - 1 {
		if strings.TrimSpace(good[:i]) != good[:i] {
			continue
		}
		_, err := Verify(good[:i], lookup)
		if strings.HasSuffix(good[:i], "~") {
			if err != nil {
				t.Fatalf("prefix of %d bytes, ending at a tilde: %v", i, err)
			}
		} else if !isSentinel(err) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
		if _, err := Verify(good[:i]+good[i+1:], lookup); !isSentinel(err) {
			t.Fatalf("byte %d (%q) dropped: %v", i, good[i], err)
		}
	}
}

var sentinels = []error{ErrTooLarge, ErrMalformed, ErrKeyBinding, ErrAlgorithm, ErrType, ErrUnknownKey, ErrBadSignature,
	ErrHashAlg, ErrBadDisclosure, ErrUnreferenced, ErrDuplicateDigest, ErrOverwrite, ErrExpired, ErrUnknownClaim}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// TestErrorText: every error a user may see reads Chinese first, then
// English, and no two say the same.
func TestErrorText(t *testing.T) {
	shape := regexp.MustCompile(`^(.+) / ([ -~]+)$`)
	seen := map[string]bool{}
	for _, e := range sentinels {
		m := shape.FindStringSubmatch(e.Error())
		if m == nil || !strings.ContainsFunc(m[1], func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
			t.Errorf("%q is not \"中文 / English\"", e)
			continue
		}
		if seen[m[2]] {
			t.Errorf("%q repeats another error", e)
		}
		seen[m[2]] = true
	}
}

func TestIssue(t *testing.T) {
	k := newKey(t)
	c := certdClaims()
	issued, err := Issue(c, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(issued, "~") || strings.HasSuffix(issued, "~~") {
		t.Errorf("serialisation does not end with exactly one tilde")
	}
	p, err := split(issued)
	if err != nil {
		t.Fatal(err)
	}
	payload := jwt.MapClaims{}
	tok, _, err := parser.ParseUnverified(p.jwt, payload)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["alg"] != "EdDSA" || tok.Header["typ"] != Type || tok.Header["kid"] != k.kid || len(tok.Header) != 3 {
		t.Errorf("header %v", tok.Header)
	}
	if payload[keyAlg] != HashAlg {
		t.Errorf("_sd_alg %v", payload[keyAlg])
	}
	for name := range c.Disclosable {
		if _, ok := payload[name]; ok {
			t.Errorf("disclosable %s is in the clear", name)
		}
	}
	var sd []string
	for _, d := range payload[keySD].([]any) {
		sd = append(sd, d.(string))
	}
	if len(sd) != len(c.Disclosable)+c.Decoys || !slices.IsSorted(sd) {
		t.Errorf("_sd has %d digests (want %d), sorted %v", len(sd), len(c.Disclosable)+c.Decoys, slices.IsSorted(sd))
	}
	if len(p.disclosures) != len(c.Disclosable) {
		t.Fatalf("%d disclosures, want %d", len(p.disclosures), len(c.Disclosable))
	}
	salts := map[string]bool{}
	for _, s := range p.disclosures {
		d, err := decodeDisclosure(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, found := slices.BinarySearch(sd, d.digest); !found {
			t.Errorf("digest of %s not in _sd", *d.name)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(s)
		var arr []string
		_ = json.Unmarshal(raw, &arr) // the salt and name are strings
		salt, err := base64.RawURLEncoding.DecodeString(arr[0])
		if err != nil || len(salt) < 16 {
			t.Errorf("salt %q is not 128 random bits in base64url", arr[0])
		}
		if salts[arr[0]] {
			t.Errorf("salt %q used twice", arr[0])
		}
		salts[arr[0]] = true
	}

	// Two issues of the same claims share no salt and no digest.
	again, err := Issue(c, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := split(again)
	for _, s := range q.disclosures {
		if slices.Contains(p.disclosures, s) {
			t.Errorf("disclosure %s issued twice", s)
		}
	}

	// No disclosable claims and no decoys: no _sd at all.
	plain, err := Issue(Claims{Visible: c.Visible}, k.priv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(plain, "~") != 1 {
		t.Errorf("plain credential %s", plain)
	}
	r, err := Verify(plain, lookupOf(k))
	if err != nil || len(r.Disclosed) != 0 {
		t.Errorf("plain credential: %v, disclosed %v", err, r)
	}
}

func TestIssueRefuses(t *testing.T) {
	k := newKey(t)
	c := certdClaims()
	tests := []struct {
		name string
		edit func(*Claims)
	}{
		{"no vct", func(c *Claims) { delete(c.Visible, "vct") }},
		{"vct not a string", func(c *Claims) { c.Visible["vct"] = 1 }},
		{"claim both visible and disclosable", func(c *Claims) { c.Disclosable["level"] = 4 }},
		{"claim visible as null and disclosable", func(c *Claims) { c.Visible["name"] = nil }},
		{"disclosable vct", func(c *Claims) { c.Disclosable["vct"] = "x" }},
		{"disclosable iss", func(c *Claims) { delete(c.Visible, "iss"); c.Disclosable["iss"] = "x" }},
		{"disclosable cnf", func(c *Claims) { c.Disclosable["cnf"] = map[string]any{} }},
		{"disclosable exp", func(c *Claims) { c.Disclosable["exp"] = 1 }},
		{"disclosable status", func(c *Claims) { c.Disclosable["status"] = map[string]any{} }},
		{"visible _sd", func(c *Claims) { c.Visible["_sd"] = []string{} }},
		{"visible _sd_alg", func(c *Claims) { c.Visible["_sd_alg"] = HashAlg }},
		{"disclosable ...", func(c *Claims) { c.Disclosable["..."] = 1 }},
		{"_sd nested in a visible value", func(c *Claims) { c.Visible["x"] = map[string]any{"_sd": []string{}} }},
		{"... nested in a disclosable value", func(c *Claims) { c.Disclosable["x"] = []any{map[string]any{"...": "d"}} }},
		{"value JSON cannot carry", func(c *Claims) { c.Disclosable["x"] = make(chan int) }},
		{"negative decoys", func(c *Claims) { c.Decoys = -1 }},
		{"too many decoys", func(c *Claims) { c.Decoys = maxDecoys + 1 }},
		{"too many disclosable claims", func(c *Claims) {
			for i := range MaxDisclosures {
				c.Disclosable[fmt.Sprint("c", i)] = i
			}
		}},
		{"disclosure too large to verify", func(c *Claims) { c.Disclosable["photo"] = strings.Repeat("A", MaxDisclosureSize) }},
		{"credential too large to verify", func(c *Claims) { c.Visible["blob"] = strings.Repeat("A", MaxSize) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := Claims{Visible: maps.Clone(c.Visible), Disclosable: maps.Clone(c.Disclosable), Decoys: c.Decoys}
			tt.edit(&cc)
			if s, err := Issue(cc, k.priv); err == nil {
				t.Errorf("issued %.80s...", s)
			}
		})
	}
	if _, err := Issue(c, k.priv[:32]); err == nil {
		t.Errorf("issued with a truncated private key")
	}
}

func TestPresent(t *testing.T) {
	k := newKey(t)
	issued, err := Issue(certdClaims(), k.priv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		names []string
		want  []string // disclosed after Verify
		err   error
	}{
		{"nothing", nil, nil, nil},
		{"name only", []string{"name"}, []string{"/name"}, nil},
		{"three, any order, repeated", []string{"photoDigest", "name", "documentHash", "name"}, []string{"/documentHash", "/name", "/photoDigest"}, nil},
		{"a visible claim", []string{"level"}, nil, ErrUnknownClaim},
		{"an absent claim", []string{"name", "salary"}, nil, ErrUnknownClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pres, err := Present(issued, tt.names...)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Present: %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, err := Verify(pres, lookupOf(k))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Disclosed, tt.want) {
				t.Errorf("disclosed %v, want %v", r.Disclosed, tt.want)
			}
			if !strings.HasPrefix(issued, strings.TrimSuffix(pres[:strings.Index(pres, "~")], "~")) {
				t.Errorf("the issuer-signed JWT changed")
			}
		})
	}
	if _, err := Present(issued+"eyJhbGciOiJFZERTQSJ9.e30.c2ln", "name"); !errors.Is(err, ErrKeyBinding) {
		t.Errorf("Present of a key-bound SD-JWT: %v, want ErrKeyBinding", err)
	}
	if _, err := Present("garbage~", "name"); !errors.Is(err, ErrMalformed) {
		t.Errorf("Present of garbage: %v, want ErrMalformed", err)
	}
}
