package sdjwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The RFC's examples are signed with ES256 by the key of its Appendix A.5.
// certd's Verify accepts EdDSA only; this profile exists in tests alone, to
// check that the processing rules give the RFC's results on the RFC's input.
func rfcProfile(t *testing.T) profile {
	t.Helper()
	coord := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	point := append([]byte{4}, coord("b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ")...)
	point = append(point, coord("Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8")...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatal(err)
	}
	return profile{alg: "ES256", typ: "example+sd-jwt",
		now: func() time.Time { return time.Date(2024, 5, 9, 12, 0, 0, 0, time.UTC) }, // between the examples' iat and exp
		key: func(string) (any, error) { return pub, nil }}
}

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc9901/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutKB drops the key-binding JWT that ends a presentation.
func withoutKB(s string) string { return s[:strings.LastIndex(s, sep)+1] }

// TestRFCDigests checks disclosure -> digest pairs printed in the spec, and
// that each disclosure decodes to the contents the spec prints beside it.
func TestRFCDigests(t *testing.T) {
	tests := []struct {
		where, disclosure, digest, contents string
	}{
		// RFC 9901 section 4.2.3 (final text; the same vector in other
		// implementations' tests).
		{"RFC 9901 4.2.3", "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0", "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0", `["_26bc4LT-ac6q2KI6cBW5es", "family_name", "Möbius"]`},
		// Hashing Disclosures, editor's copy.
		{"hashing, object", "WyI2cU1RdlJMNWhhaiIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0", "uutlBuYeMDyjLLTpf6Jxi7yNkEF35jdyWMn9U7b_RYY", `["6qMQvRL5haj", "family_name", "Möbius"]`},
		{"hashing, array element", "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0", "w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs", `["lklxF5jMYlGTPUovMNIvCA", "FR"]`},
		// Example SD-JWT, issuance.
		{"example given_name", "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImdpdmVuX25hbWUiLCAiSm9obiJd", "jsu9yVulwQQlhFlM_3JlzMaSFzglhQG0DpfayQwLUK4", `["2GLC42sKQveCfGfryNRN9w", "given_name", "John"]`},
		{"example family_name", "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImZhbWlseV9uYW1lIiwgIkRvZSJd", "TGf4oLbgwd5JQaHyKVQZU9UdGE0w5rtDsrZzfUaomLo", `["eluV5Og3gSNII8EYnsxA_A", "family_name", "Doe"]`},
		{"example email", "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgImVtYWlsIiwgImpvaG5kb2VAZXhhbXBsZS5jb20iXQ", "JzYjH4svliH0R3PyEMfeZu6Jt69u5qehZo7F7EPYlSE", `["6Ij7tM-a5iVPGboS5tmvVA", "email", "johndoe@example.com"]`},
		{"example phone_number", "WyJlSThaV205UW5LUHBOUGVOZW5IZGhRIiwgInBob25lX251bWJlciIsICIrMS0yMDItNTU1LTAxMDEiXQ", "PorFbpKuVu6xymJagvkFsFXAbRoc2JGlAUA2BA4o7cI", `["eI8ZWm9QnKPpNPeNenHdhQ", "phone_number", "+1-202-555-0101"]`},
		{"example phone_number_verified", "WyJRZ19PNjR6cUF4ZTQxMmExMDhpcm9BIiwgInBob25lX251bWJlcl92ZXJpZmllZCIsIHRydWVd", "XQ_3kPKt1XyX7KANkqVR6yZ2Va5NrPIvPYbyMvRKBMM", `["Qg_O64zqAxe412a108iroA", "phone_number_verified", true]`},
		{"example address", "WyJBSngtMDk1VlBycFR0TjRRTU9xUk9BIiwgImFkZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIjEyMyBNYWluIFN0IiwgImxvY2FsaXR5IjogIkFueXRvd24iLCAicmVnaW9uIjogIkFueXN0YXRlIiwgImNvdW50cnkiOiAiVVMifV0", "XzFrzwscM6Gn6CJDc6vVK8BkMnfG8vOSKfpPIZdAfdE", `["AJx-095VPrpTtN4QMOqROA", "address", {"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"}]`},
		{"example birthdate", "WyJQYzMzSk0yTGNoY1VfbEhnZ3ZfdWZRIiwgImJpcnRoZGF0ZSIsICIxOTQwLTAxLTAxIl0", "gbOsI4Edq2x2Kw-w5wPEzakob9hV1cRD0ATN3oQL9JM", `["Pc33JM2LchcU_lHggv_ufQ", "birthdate", "1940-01-01"]`},
		{"example updated_at", "WyJHMDJOU3JRZmpGWFE3SW8wOXN5YWpBIiwgInVwZGF0ZWRfYXQiLCAxNTcwMDAwMDAwXQ", "CrQe7S5kqBAHt-nMYXgc6bdt2SH5aTY1sU_M-PgkjPI", `["G02NSrQfjFXQ7Io09syajA", "updated_at", 1570000000]`},
		{"example nationality US", "WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIlVTIl0", "pFndjkZ_VCzmyTa6UjlZo3dh-ko8aIKQc9DlGzhaVYo", `["lklxF5jMYlGTPUovMNIvCA", "US"]`},
		{"example nationality DE", "WyJuUHVvUW5rUkZxM0JJZUFtN0FuWEZBIiwgIkRFIl0", "7Cf6JkPudry3lcbwHgeZ8khAv1U1OSlerP0VkBJrWZ0", `["nPuoQnkRFq3BIeAm7AnXFA", "DE"]`},
		// Nested data: flat, structured and recursive address.
		{"flat address", "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgImFkZHJlc3MiLCB7InN0cmVldF9hZGRyZXNzIjogIlNjaHVsc3RyLiAxMiIsICJsb2NhbGl0eSI6ICJTY2h1bHBmb3J0YSIsICJyZWdpb24iOiAiU2FjaHNlbi1BbmhhbHQiLCAiY291bnRyeSI6ICJERSJ9XQ", "fOBUSQvo46yQO-wRwXBcGqvnbKIueISEL961_Sjd4do", `["2GLC42sKQveCfGfryNRN9w", "address", {"street_address": "Schulstr. 12", "locality": "Schulpforta", "region": "Sachsen-Anhalt", "country": "DE"}]`},
		{"street_address", "WyIyR0xDNDJzS1F2ZUNmR2ZyeU5STjl3IiwgInN0cmVldF9hZGRyZXNzIiwgIlNjaHVsc3RyLiAxMiJd", "9gjVuXtdFROCgRrtNcGUXmF65rdezi_6Er_j76kmYyM", `["2GLC42sKQveCfGfryNRN9w", "street_address", "Schulstr. 12"]`},
		{"locality", "WyJlbHVWNU9nM2dTTklJOEVZbnN4QV9BIiwgImxvY2FsaXR5IiwgIlNjaHVscGZvcnRhIl0", "6vh9bq-zS4GKM_7GpggVbYzzu6oOGXrmNVGPHP75Ud0", `["eluV5Og3gSNII8EYnsxA_A", "locality", "Schulpforta"]`},
		{"region", "WyI2SWo3dE0tYTVpVlBHYm9TNXRtdlZBIiwgInJlZ2lvbiIsICJTYWNoc2VuLUFuaGFsdCJd", "KURDPh4ZC19-3tiz-Df39V8eidy1oV3a3H1Da2N0g88", `["6Ij7tM-a5iVPGboS5tmvVA", "region", "Sachsen-Anhalt"]`},
		{"country", "WyJlSThaV205UW5LUHBOUGVOZW5IZGhRIiwgImNvdW50cnkiLCAiREUiXQ", "WN9r9dCBJ8HTCsS2jKASxTjEyW5m5x65_Z_2ro2jfXM", `["eI8ZWm9QnKPpNPeNenHdhQ", "country", "DE"]`},
		{"recursive address", "WyJRZ19PNjR6cUF4ZTQxMmExMDhpcm9BIiwgImFkZHJlc3MiLCB7Il9zZCI6IFsiNnZoOWJxLXpTNEdLTV83R3BnZ1ZiWXp6dTZvT0dYcm1OVkdQSFA3NVVkMCIsICI5Z2pWdVh0ZEZST0NnUnJ0TmNHVVhtRjY1cmRlemlfNkVyX2o3NmttWXlNIiwgIktVUkRQaDRaQzE5LTN0aXotRGYzOVY4ZWlkeTFvVjNhM0gxRGEyTjBnODgiLCAiV045cjlkQ0JKOEhUQ3NTMmpLQVN4VGpFeVc1bTV4NjVfWl8ycm8yamZYTSJdfV0", "HvrKX6fPV0v9K_yCVFBiLFHsMaxcD_114Em6VT8x1lg", `["Qg_O64zqAxe412a108iroA", "address", {"_sd": ["6vh9bq-zS4GKM_7GpggVbYzzu6oOGXrmNVGPHP75Ud0", "9gjVuXtdFROCgRrtNcGUXmF65rdezi_6Er_j76kmYyM", "KURDPh4ZC19-3tiz-Df39V8eidy1oV3a3H1Da2N0g88", "WN9r9dCBJ8HTCsS2jKASxTjEyW5m5x65_Z_2ro2jfXM"]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			if got := digest(tt.disclosure); got != tt.digest {
				t.Errorf("digest = %s, want %s", got, tt.digest)
			}
			d, err := decodeDisclosure(tt.disclosure)
			if err != nil {
				t.Fatal(err)
			}
			var want []any
			if err := decodeJSON([]byte(tt.contents), &want); err != nil {
				t.Fatal(err)
			}
			got := []any{nil}
			if d.name != nil {
				got = append(got, *d.name)
			}
			got = append(got, d.value)
			got[0] = want[0] // the salt is checked by the digest
			if !reflect.DeepEqual(got, want) {
				t.Errorf("contents = %v, want %v", got, want)
			}
		})
	}
}

// TestRFCEncodingVariants: the spec's three other encodings of the Möbius
// claim decode to the same claim and have digests of their own, so a
// verifier must hash the string as sent, never a re-encoding.
func TestRFCEncodingVariants(t *testing.T) {
	variants := []string{
		"WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0",
		"WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNXHUwMGY2Yml1cyJd", // \u00f6
		"WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsImZhbWlseV9uYW1lIiwiTcO2Yml1cyJd",         // no white space
		"WwoiXzI2YmM0TFQtYWM2cTJLSTZjQlc1ZXMiLAoiZmFtaWx5X25hbWUiLAoiTcO2Yml1cyIKXQ",   // newlines
	}
	seen := map[string]bool{}
	for _, v := range variants {
		d, err := decodeDisclosure(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if *d.name != "family_name" || d.value != "Möbius" {
			t.Errorf("%s decodes to %s=%v", v, *d.name, d.value)
		}
		if seen[d.digest] {
			t.Errorf("%s: digest %s shared with another encoding", v, d.digest)
		}
		seen[d.digest] = true
	}
}

func wantJSON(t *testing.T, got any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	if err := json.Unmarshal(g, &gv); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &wv); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("claims = %s\nwant %s", g, want)
	}
}

const rfcPlain = `"iss": "https://issuer.example.com", "iat": 1683000000, "exp": 1883000000, "sub": "user_42",
	"cnf": {"jwk": {"kty": "EC", "crv": "P-256", "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc", "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"}}`

const rfcAddress = `{"street_address": "123 Main St", "locality": "Anytown", "region": "Anystate", "country": "US"}`

func TestRFCExampleIssued(t *testing.T) {
	r, err := rfcProfile(t).verify(readFixture(t, "section6_issued.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, r.Claims, `{`+rfcPlain+`, "given_name": "John", "family_name": "Doe", "email": "johndoe@example.com",
		"phone_number": "+1-202-555-0101", "phone_number_verified": true, "address": `+rfcAddress+`,
		"birthdate": "1940-01-01", "updated_at": 1570000000, "nationalities": ["US", "DE"]}`)
	want := []string{"/address", "/birthdate", "/email", "/family_name", "/given_name", "/nationalities/0",
		"/nationalities/1", "/phone_number", "/phone_number_verified", "/updated_at"}
	if !slices.Equal(r.Disclosed, want) {
		t.Errorf("disclosed %v, want %v", r.Disclosed, want)
	}
	if n, ok := r.Claims["updated_at"].(json.Number); !ok || n.String() != "1570000000" {
		t.Errorf("updated_at = %#v, want json.Number 1570000000", r.Claims["updated_at"])
	}
}

func TestRFCExamplePresentation(t *testing.T) {
	pf := rfcProfile(t)
	kb := readFixture(t, "section6_presentation_kb.txt")
	if _, err := pf.verify(kb); !errors.Is(err, ErrKeyBinding) {
		t.Errorf("with its key-binding JWT: %v, want ErrKeyBinding", err)
	}
	r, err := pf.verify(withoutKB(kb))
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, r.Claims, `{`+rfcPlain+`, "given_name": "John", "family_name": "Doe", "address": `+rfcAddress+`, "nationalities": ["US"]}`)
	if want := []string{"/address", "/family_name", "/given_name", "/nationalities/0"}; !slices.Equal(r.Disclosed, want) {
		t.Errorf("disclosed %v, want %v", r.Disclosed, want)
	}
	if !r.IsDisclosed("given_name") || r.IsDisclosed("sub") || r.IsDisclosed("email") {
		t.Errorf("IsDisclosed wrong for %v", r.Disclosed)
	}
}

// TestRFCNested: the W3C VC example hides claims two levels down; the result
// must be exactly what the spec says the verifier gets.
func TestRFCNested(t *testing.T) {
	r, err := rfcProfile(t).verify(withoutKB(readFixture(t, "a4_presentation_kb.txt")))
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, r.Claims, readFixture(t, "a4_verified.json"))
	want := []string{"/credentialSubject/dateOfVaccination", "/credentialSubject/order",
		"/credentialSubject/vaccine/atcCode", "/credentialSubject/vaccine/medicinalProductName"}
	if !slices.Equal(r.Disclosed, want) {
		t.Errorf("disclosed %v, want %v", r.Disclosed, want)
	}
}

// TestRFCPresent: Present keeps the chosen top-level claims of the RFC's
// SD-JWT, and the result verifies with exactly those.
func TestRFCPresent(t *testing.T) {
	p, err := Present(readFixture(t, "section6_issued.txt"), "address", "given_name")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rfcProfile(t).verify(p)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON(t, r.Claims, `{`+rfcPlain+`, "given_name": "John", "address": `+rfcAddress+`, "nationalities": []}`)
}

// TestRFCRefusedByCertd: certd's own verifier refuses the RFC's ES256
// examples however well formed, and the test profile still catches
// tampering with them.
func TestRFCRefusedByCertd(t *testing.T) {
	issued := readFixture(t, "section6_issued.txt")
	anyKey := func(string) (ed25519.PublicKey, error) { return make(ed25519.PublicKey, 32), nil }
	if _, err := Verify(issued, anyKey); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("certd's Verify on ES256: %v, want ErrAlgorithm", err)
	}

	pf := rfcProfile(t)
	p, _ := split(issued)
	segs := strings.Split(p.jwt, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(segs[1])
	forged := *p
	forged.jwt = segs[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "user_42", "user_43", 1))) + "." + segs[2]
	if _, err := pf.verify(forged.String()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("altered payload: %v, want ErrBadSignature", err)
	}
	// given_name's disclosure with another value but the same salt.
	altered := *p
	altered.disclosures = slices.Clone(p.disclosures)
	altered.disclosures[0] = base64.RawURLEncoding.EncodeToString([]byte(`["2GLC42sKQveCfGfryNRN9w", "given_name", "Jane"]`))
	if _, err := pf.verify(altered.String()); !errors.Is(err, ErrUnreferenced) {
		t.Errorf("altered disclosure: %v, want ErrUnreferenced", err)
	}
}
