package statuslist

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"certd/issuer/credential"
)

var (
	keyA    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	keyB    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	issuerA = credential.InstitutionURN("jlvtc")
	issuerB = credential.InstitutionURN("demo")
	baseA   = "https://certd.example/status/jlvtc"
	listA   = baseA + "/revocation"
	t0      = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
)

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// registry knows each institution's key, as the trust bundle does, and
// counts lookups so a test can show a token was refused before any.
type registry struct{ calls int }

func (r *registry) lookup(issuer, kid string, _ time.Time) (ed25519.PublicKey, error) {
	r.calls++
	k, ok := map[string]ed25519.PrivateKey{issuerA: keyA, issuerB: keyB}[issuer]
	if !ok || credential.KID(pub(k)) != kid {
		return nil, fmt.Errorf("%w: %s is not a key of %s", ErrUnknownKey, kid, issuer)
	}
	return pub(k), nil
}

func sampleCredential(t testing.TB) *Credential {
	t.Helper()
	list, err := FromIndexes(MinBits, []int{0, 7, 8, 131071, 4242})
	if err != nil {
		t.Fatal(err)
	}
	return &Credential{ID: listA, Issuer: issuerA, ValidFrom: t0, TTL: time.Hour, List: list}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signed makes a token with any header and payload, for inputs Sign would
// refuse to make.
func signed(t testing.TB, header map[string]any, payload any, priv ed25519.PrivateKey) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	in := b64(h) + "." + b64(p)
	return in + "." + b64(ed25519.Sign(priv, []byte(in)))
}

func header(priv ed25519.PrivateKey) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "vc+jwt", "kid": credential.KID(pub(priv))}
}

// payload is the good credential's payload as a map, changed by edit.
func payload(t testing.TB, edit func(p, sub map[string]any)) map[string]any {
	t.Helper()
	tok, err := sampleCredential(t).Sign(keyA)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(p, p["credentialSubject"].(map[string]any))
	}
	return p
}

func TestSignParse(t *testing.T) {
	c := sampleCredential(t)
	tok, err := c.Sign(keyA)
	if err != nil {
		t.Fatal(err)
	}
	var r registry
	got, err := Parse(tok, issuerA, r.lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != listA || got.Issuer != issuerA || !got.ValidFrom.Equal(t0) || got.TTL != time.Hour ||
		got.Kid != credential.KID(pub(keyA)) || !got.ValidUntil.IsZero() || !bytes.Equal(got.List.bits, c.List.bits) {
		t.Fatalf("round trip: %+v", got)
	}
	if !got.FreshUntil().Equal(t0.Add(time.Hour)) {
		t.Errorf("FreshUntil %v", got.FreshUntil())
	}

	// The payload is the VC 2.0 credential the task and the Recommendation
	// describe, member for member.
	p := payload(t, nil)
	sub := p["credentialSubject"].(map[string]any)
	for k, want := range map[string]any{
		"id": listA, "issuer": issuerA, "validFrom": "2026-12-02T08:00:00.000Z", "iss": issuerA, "jti": listA,
		"iat": float64(t0.Unix()),
	} {
		if p[k] != want {
			t.Errorf("%s = %v, want %v", k, p[k], want)
		}
	}
	if fmt.Sprint(p["@context"]) != "[https://www.w3.org/ns/credentials/v2]" ||
		fmt.Sprint(p["type"]) != "[VerifiableCredential BitstringStatusListCredential]" {
		t.Errorf("@context %v, type %v", p["@context"], p["type"])
	}
	for k, want := range map[string]any{
		"id": listA + "#list", "type": "BitstringStatusList", "statusPurpose": "revocation",
		"encodedList": c.List.Encode(), "ttl": float64(3600000),
	} {
		if sub[k] != want {
			t.Errorf("credentialSubject.%s = %v, want %v", k, sub[k], want)
		}
	}
	if _, ok := p["validUntil"]; ok {
		t.Error("validUntil written though not set")
	}
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var hdr map[string]any
	_ = json.Unmarshal(h, &hdr)
	if hdr["alg"] != "EdDSA" || hdr["typ"] != "vc+jwt" || hdr["kid"] != credential.KID(pub(keyA)) || len(hdr) != 3 {
		t.Errorf("header %v", hdr)
	}

	// validUntil round-trips, to the millisecond.
	c.ValidUntil = t0.Add(24*time.Hour + 1500*time.Microsecond)
	tok, err = c.Sign(keyA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Parse(tok, issuerA, r.lookup); err != nil || !got.ValidUntil.Equal(t0.Add(24*time.Hour+time.Millisecond)) {
		t.Errorf("validUntil: %v %v", got, err)
	}
	// cty "vc" is what VC-JOSE-COSE allows; it is accepted.
	hv := header(keyA)
	hv["cty"] = "vc"
	if _, err := Parse(signed(t, hv, payload(t, nil), keyA), issuerA, r.lookup); err != nil {
		t.Errorf("cty vc: %v", err)
	}
}

func TestSignRefuses(t *testing.T) {
	for name, edit := range map[string]func(*Credential){
		"no issuer":             func(c *Credential) { c.Issuer = "" },
		"no list":               func(c *Credential) { c.List = nil },
		"short list":            func(c *Credential) { c.List = &Bitstring{bits: make([]byte, 16)} },
		"no validFrom":          func(c *Credential) { c.ValidFrom = time.Time{} },
		"validUntil before":     func(c *Credential) { c.ValidUntil = t0.Add(-time.Second) },
		"no ttl":                func(c *Credential) { c.TTL = 0 },
		"ttl over MaxTTL":       func(c *Credential) { c.TTL = MaxTTL + time.Millisecond },
		"ttl not whole ms":      func(c *Credential) { c.TTL = time.Hour + time.Microsecond },
		"relative id":           func(c *Credential) { c.ID = "/status/jlvtc" },
		"id with query":         func(c *Credential) { c.ID = listA + "?v=2" },
		"id with dot segments":  func(c *Credential) { c.ID = baseA + "/../demo/revocation" },
		"id with percent":       func(c *Credential) { c.ID = baseA + "/%2e%2e/demo" },
		"id not http(s)":        func(c *Credential) { c.ID = "urn:certd:status:jlvtc" },
		"id with user":          func(c *Credential) { c.ID = "https://u@certd.example/status/jlvtc" },
		"id with fragment":      func(c *Credential) { c.ID = listA + "#list" },
		"id with backslash":     func(c *Credential) { c.ID = baseA + `\..\demo` },
		"id with space (ascii)": func(c *Credential) { c.ID = baseA + "/a b" },
	} {
		c := sampleCredential(t)
		edit(c)
		if _, err := c.Sign(keyA); err == nil {
			t.Errorf("%s: signed", name)
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLength) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseBad(t *testing.T) {
	good := payload(t, nil)
	edit := func(f func(p, sub map[string]any)) map[string]any { return payload(t, f) }
	withHeader := func(f func(h map[string]any)) string {
		h := header(keyA)
		f(h)
		return signed(t, h, good, keyA)
	}
	jwtToken := func(m jwt.SigningMethod, key any) string {
		tok := jwt.NewWithClaims(m, jwt.MapClaims(good))
		tok.Header["typ"] = "vc+jwt"
		tok.Header["kid"] = credential.KID(pub(keyA))
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	goodTok := signed(t, header(keyA), good, keyA)
	parts := strings.Split(goodTok, ".")
	tampered := parts[0] + "." + b64([]byte(strings.Replace(string(must(base64.RawURLEncoding.DecodeString(parts[1]))), `"ttl":3600000`, `"ttl":3600001`, 1))) + "." + parts[2]
	record, err := credential.Sign(credential.NewCertificateClaims(credential.Issuer{ID: issuerA}, credential.CredentialSubject{}, t0), credential.TypeCertificate, keyA)
	if err != nil {
		t.Fatal(err)
	}
	shortList := b64(gzipBytes(t, make([]byte, 16)))

	tests := []struct {
		name, token string
		want        error
		noLookup    bool // refused before any key was looked up
	}{
		// Keys.
		{"signed by another institution's key", signed(t, header(keyB), good, keyB), ErrUnknownKey, false},
		{"signed by an unknown key", signed(t, header(ed25519.NewKeyFromSeed(make([]byte, 32))), good, ed25519.NewKeyFromSeed(make([]byte, 32))), ErrUnknownKey, false},
		{"kid of the institution, signed by another key", signed(t, header(keyA), good, keyB), ErrBadSignature, false},
		{"payload changed after signing", tampered, ErrBadSignature, false},
		// Issuer and purpose.
		{"another institution's list", signed(t, header(keyB), edit(func(p, _ map[string]any) { p["issuer"], p["iss"] = issuerB, issuerB }), keyB), ErrWrongIssuer, true},
		{"jti differs from id", signed(t, header(keyA), edit(func(p, _ map[string]any) { p["jti"] = baseA + "/other" }), keyA), ErrMalformed, true},
		{"iss differs from issuer", signed(t, header(keyA), edit(func(p, _ map[string]any) { p["iss"] = issuerB }), keyA), ErrWrongIssuer, true},
		{"issuer as an object", signed(t, header(keyA), edit(func(p, _ map[string]any) { p["issuer"] = map[string]any{"id": issuerA} }), keyA), ErrMalformed, true},
		{"purpose suspension", signed(t, header(keyA), edit(func(_, s map[string]any) { s["statusPurpose"] = "suspension" }), keyA), ErrWrongPurpose, true},
		{"purpose as a list", signed(t, header(keyA), edit(func(_, s map[string]any) { s["statusPurpose"] = []string{"revocation"} }), keyA), ErrMalformed, true},
		// Algorithms and header, all before the key lookup.
		{"alg none", jwtToken(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), ErrMalformed, true},
		{"alg HS256 keyed with the public key", jwtToken(jwt.SigningMethodHS256, []byte(pub(keyA))), ErrMalformed, true},
		{"alg ES256", jwtToken(jwt.SigningMethodES256, ecKey), ErrMalformed, true},
		{"alg header says EdDSA in lower case", withHeader(func(h map[string]any) { h["alg"] = "eddsa" }), ErrMalformed, true},
		{"typ JWT", withHeader(func(h map[string]any) { h["typ"] = "JWT" }), ErrMalformed, true},
		{"typ missing", withHeader(func(h map[string]any) { delete(h, "typ") }), ErrMalformed, true},
		{"cty json", withHeader(func(h map[string]any) { h["cty"] = "json" }), ErrMalformed, true},
		{"crit header", withHeader(func(h map[string]any) { h["crit"] = []string{"exp"} }), ErrMalformed, true},
		{"no kid", withHeader(func(h map[string]any) { delete(h, "kid") }), ErrMalformed, true},
		{"not a JWS", "a.b.c", ErrMalformed, true},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed, true},
		{"short signature", parts[0] + "." + parts[1] + "." + b64([]byte("sig")), ErrMalformed, true},
		{"token too long", strings.Repeat("a", MaxTokenLen+1), ErrTooLarge, true},
		// Shape of the payload.
		{"a certificate record, not a list", record, ErrMalformed, true},
		{"no BitstringStatusListCredential type", signed(t, header(keyA), edit(func(p, _ map[string]any) { p["type"] = []string{"VerifiableCredential"} }), keyA), ErrMalformed, true},
		{"VC 1.1 context", signed(t, header(keyA), edit(func(p, _ map[string]any) { p["@context"] = []string{"https://www.w3.org/2018/credentials/v1"} }), keyA), ErrMalformed, true},
		{"subject type", signed(t, header(keyA), edit(func(_, s map[string]any) { s["type"] = "StatusList2021" }), keyA), ErrMalformed, true},
		{"subject id of another list", signed(t, header(keyA), edit(func(_, s map[string]any) { s["id"] = baseA + "/other#list" }), keyA), ErrMalformed, true},
		{"id with dot segments", signed(t, header(keyA), edit(func(p, s map[string]any) { p["id"] = baseA + "/../demo"; s["id"] = baseA + "/../demo#list" }), keyA), ErrMalformed, true},
		{"no ttl", signed(t, header(keyA), edit(func(_, s map[string]any) { delete(s, "ttl") }), keyA), ErrMalformed, true},
		{"ttl zero", signed(t, header(keyA), edit(func(_, s map[string]any) { s["ttl"] = 0 }), keyA), ErrMalformed, true},
		{"ttl negative", signed(t, header(keyA), edit(func(_, s map[string]any) { s["ttl"] = -1 }), keyA), ErrMalformed, true},
		{"ttl a century", signed(t, header(keyA), edit(func(_, s map[string]any) { s["ttl"] = int64(100 * 365 * 24 * 3600 * 1000) }), keyA), ErrMalformed, true},
		{"ttl in seconds as a string", signed(t, header(keyA), edit(func(_, s map[string]any) { s["ttl"] = "3600" }), keyA), ErrMalformed, true},
		{"ttl fractional", signed(t, header(keyA), edit(func(_, s map[string]any) { s["ttl"] = 1.5 }), keyA), ErrMalformed, true},
		{"no validFrom", signed(t, header(keyA), edit(func(p, _ map[string]any) { delete(p, "validFrom") }), keyA), ErrMalformed, true},
		{"validFrom without time zone", signed(t, header(keyA), edit(func(p, _ map[string]any) { p["validFrom"] = "2026-12-02T08:00:00" }), keyA), ErrMalformed, true},
		{"validUntil not a time", signed(t, header(keyA), edit(func(p, _ map[string]any) { p["validUntil"] = "tomorrow" }), keyA), ErrMalformed, true},
		// The list itself, checked after the signature.
		{"list truncated", signed(t, header(keyA), edit(func(_, s map[string]any) { e := s["encodedList"].(string); s["encodedList"] = e[:len(e)-8] }), keyA), ErrEncoding, false},
		{"list not gzip", signed(t, header(keyA), edit(func(_, s map[string]any) { s["encodedList"] = "u" + b64(make([]byte, 64)) }), keyA), ErrEncoding, false},
		{"list with prefix z", signed(t, header(keyA), edit(func(_, s map[string]any) { s["encodedList"] = "z" + s["encodedList"].(string)[1:] }), keyA), ErrEncoding, false},
		{"list below 16 KiB", signed(t, header(keyA), edit(func(_, s map[string]any) { s["encodedList"] = "u" + shortList }), keyA), ErrLength, false},
		{"no list", signed(t, header(keyA), edit(func(_, s map[string]any) { delete(s, "encodedList") }), keyA), ErrEncoding, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r registry
			c, err := Parse(tt.token, issuerA, r.lookup)
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("Parse: %v, want %v", err, tt.want)
			}
			if tt.noLookup && r.calls != 0 {
				t.Errorf("a key was looked up before the token was refused")
			}
		})
	}

	// The same good token passes with the same registry: the table's
	// failures are the edits, not the harness.
	var r registry
	if _, err := Parse(goodTok, issuerA, r.lookup); err != nil {
		t.Fatalf("good token: %v", err)
	}
	// A lookup whose key does not match the kid is an unknown key too.
	wrong := func(string, string, time.Time) (ed25519.PublicKey, error) { return pub(keyB), nil }
	if _, err := Parse(goodTok, issuerA, wrong); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("lookup returned another key: %v", err)
	}
	// A store failure in the lookup stays a store failure.
	down := errors.New("database unavailable")
	if _, err := Parse(goodTok, issuerA, func(string, string, time.Time) (ed25519.PublicKey, error) { return nil, down }); !errors.Is(err, down) || errors.Is(err, ErrUnknownKey) {
		t.Errorf("lookup failure: %v", err)
	}
	// The lookup is asked for the expected issuer and the list's time.
	var asked []any
	spy := func(iss, kid string, at time.Time) (ed25519.PublicKey, error) {
		asked = append(asked, iss, at)
		return r.lookup(iss, kid, at)
	}
	if _, err := Parse(goodTok, issuerA, spy); err != nil || len(asked) != 2 || asked[0] != issuerA || !asked[1].(time.Time).Equal(t0) {
		t.Errorf("lookup asked %v (%v)", asked, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestFresh(t *testing.T) {
	c := sampleCredential(t) // validFrom t0, ttl 1h
	withUntil := sampleCredential(t)
	withUntil.ValidUntil = t0.Add(30 * time.Minute)
	tests := []struct {
		name   string
		c      *Credential
		now    time.Time
		maxAge time.Duration
		want   error
	}{
		{"at validFrom", c, t0, 0, nil},
		{"within ttl", c, t0.Add(59 * time.Minute), 0, nil},
		{"ttl passed", c, t0.Add(time.Hour), 0, ErrStale},
		{"a day later", c, t0.Add(24 * time.Hour), 0, ErrStale},
		{"clock a little behind", c, t0.Add(-4 * time.Minute), 0, nil},
		{"list from the future", c, t0.Add(-6 * time.Minute), 0, ErrNotYetValid},
		{"validUntil before ttl ends", withUntil, t0.Add(31 * time.Minute), 0, ErrStale},
		{"verifier's max age longer than ttl", c, t0.Add(2 * time.Hour), 24 * time.Hour, nil},
		{"verifier's max age shorter than ttl", c, t0.Add(10 * time.Minute), 5 * time.Minute, ErrStale},
		{"max age does not lift validUntil", withUntil, t0.Add(2 * time.Hour), 24 * time.Hour, ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.FreshWithin(tt.now, tt.maxAge)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("FreshWithin: %v, want %v", err, tt.want)
			}
			if tt.maxAge == 0 {
				if err2 := tt.c.Fresh(tt.now); !errors.Is(err2, tt.want) || (err == nil) != (err2 == nil) {
					t.Errorf("Fresh disagrees: %v", err2)
				}
			}
			// A stale list names the time its status is as of.
			if errors.Is(err, ErrStale) && !strings.Contains(err.Error(), "status as of 2026-12-02T08:00:00Z") {
				t.Errorf("message %q does not say as of when", err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	c := sampleCredential(t) // bits 0, 7, 8, 131071, 4242 revoked
	tests := []struct {
		name   string
		e      Entry
		now    time.Time
		status Status
		want   error
	}{
		{"revoked, fresh", NewEntry(listA, 4242), t0, Revoked, nil},
		{"revoked, stale: still revoked", NewEntry(listA, 131071), t0.Add(48 * time.Hour), Revoked, nil},
		{"active, fresh", NewEntry(listA, 4243), t0.Add(time.Minute), Active, nil},
		{"active bit, stale list: cannot determine", NewEntry(listA, 4243), t0.Add(2 * time.Hour), Unknown, ErrStale},
		{"active bit, list from the future", NewEntry(listA, 1), t0.Add(-time.Hour), Unknown, ErrNotYetValid},
		{"index outside the list", NewEntry(listA, MinBits), t0, Unknown, ErrRange},
		{"entry for another list", NewEntry(baseA+"/other", 1), t0, Unknown, ErrForeignList},
		{"entry for another institution", NewEntry("https://certd.example/status/demo/revocation", 4242), t0, Unknown, ErrForeignList},
		{"suspension entry", func() Entry { e := NewEntry(listA, 4242); e.StatusPurpose = "suspension"; return e }(), t0, Unknown, ErrWrongPurpose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Check(tt.e, tt.now, 0)
			if s != tt.status || !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, %v; want %v, %v", s, err, tt.status, tt.want)
			}
		})
	}
	// With the verifier's longer max age, a day-old list still answers.
	if s, err := c.Check(NewEntry(listA, 4243), t0.Add(2*time.Hour), 24*time.Hour); s != Active || err != nil {
		t.Errorf("max age 24h: %v %v", s, err)
	}
}

func TestEntry(t *testing.T) {
	e := NewEntry(listA, 94567)
	b, _ := json.Marshal(e)
	want := `{"id":"` + listA + `#94567","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"94567","statusListCredential":"` + listA + `"}`
	if string(b) != want {
		t.Fatalf("entry JSON\n%s\nwant\n%s", b, want)
	}
	if got, err := ParseEntry(b, baseA); err != nil || got != e {
		t.Fatalf("ParseEntry: %v %v", got, err)
	}
	if i, err := e.Validate(baseA + "/"); err != nil || i != 94567 {
		t.Fatalf("Validate with a trailing slash: %d %v", i, err)
	}
	if _, err := NewEntry(baseA, 1).Validate(baseA); err != nil {
		t.Errorf("the base itself as list: %v", err)
	}

	mod := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	at := func(list, index string) []byte {
		return mod(func(m map[string]any) {
			m["statusListCredential"], m["statusListIndex"], m["id"] = list, index, list+"#"+index
		})
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"another institution's list", at("https://certd.example/status/demo/revocation", "5"), ErrForeignList},
		{"a list whose name extends the base", at(baseA+"2/revocation", "5"), ErrForeignList},
		{"another host", at("https://evil.example/status/jlvtc/revocation", "5"), ErrForeignList},
		{"http instead of https", at("http://certd.example/status/jlvtc/revocation", "5"), ErrForeignList},
		{"host in upper case", at("https://CERTD.example/status/jlvtc/revocation", "5"), ErrForeignList},
		{"dot segments out of the base", at(baseA+"/../demo/revocation", "5"), ErrMalformed},
		{"escaped dot segments", at(baseA+"/%2e%2e/demo/revocation", "5"), ErrMalformed},
		{"query", at(listA+"?inst=demo", "5"), ErrMalformed},
		{"relative URL", at("/status/jlvtc/revocation", "5"), ErrMalformed},
		{"index -1", at(listA, "-1"), ErrMalformed},
		{"index +1", at(listA, "+1"), ErrMalformed},
		{"index with leading zero", at(listA, "05"), ErrMalformed},
		{"index empty", at(listA, ""), ErrMalformed},
		{"index hex", at(listA, "0x10"), ErrMalformed},
		{"index fractional", at(listA, "1.0"), ErrMalformed},
		{"index with space", at(listA, " 1"), ErrMalformed},
		{"index at MaxBits", at(listA, "8388608"), ErrRange},
		{"index beyond int", at(listA, "99999999999999999999"), ErrMalformed},
		{"index as a number", mod(func(m map[string]any) { m["statusListIndex"] = 94567 }), ErrMalformed},
		{"id of another index", mod(func(m map[string]any) { m["id"] = listA + "#1" }), ErrMalformed},
		{"no id", mod(func(m map[string]any) { delete(m, "id") }), ErrMalformed},
		{"type StatusList2021Entry", mod(func(m map[string]any) { m["type"] = "StatusList2021Entry" }), ErrMalformed},
		{"purpose suspension", mod(func(m map[string]any) { m["statusPurpose"] = "suspension" }), ErrWrongPurpose},
		{"statusSize 2", mod(func(m map[string]any) { m["statusSize"] = 2 }), ErrMalformed},
		{"an array of entries", []byte("[" + string(b) + "]"), ErrMalformed},
		{"two objects", append(append([]byte{}, b...), b...), ErrMalformed},
		{"not JSON", []byte("revoked?"), ErrMalformed},
		{"too long", append(append([]byte{}, b...), bytes.Repeat([]byte(" "), maxEntryLen)...), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseEntry(tt.in, baseA); !errors.Is(err, tt.want) {
				t.Fatalf("ParseEntry(%s): %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	if _, err := e.Validate("not a url"); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad base: %v", err)
	}
}

func TestErrorsAreBilingual(t *testing.T) {
	for _, e := range []*Error{ErrEncoding, ErrTooLarge, ErrLength, ErrRange, ErrFull, ErrMalformed, ErrUnknownKey,
		ErrBadSignature, ErrWrongIssuer, ErrWrongPurpose, ErrForeignList, ErrStale, ErrNotYetValid} {
		if e.Code == "" || e.Zh == "" || e.En == "" || e.Zh[0] < 0x80 || e.En[0] >= 0x80 {
			t.Errorf("%+v", e)
		}
	}
	err := fail(ErrRange, "索引 %d", "index %d", 3)
	if err.Error() != "状态索引超出列表范围：索引 3 / status index is outside the list: index 3" {
		t.Errorf("%q", err)
	}
}
