package sdjwt_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"certd/issuer/credential"
	"certd/issuer/credential/sdjwt"

	"github.com/golang-jwt/jwt/v5"
)

// TestSameJWSRulesAsRecords: the issuer-signed JWT of an SD-JWT VC passes
// the checks certd applies to its signed records (alg EdDSA, the expected
// typ, kid = credential.KID of the key, no crit, a 64-byte signature), so
// the two kinds of token can share key lookups and key windows.
func TestSameJWSRulesAsRecords(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sdjwt.Issue(sdjwt.Claims{
		Visible:     map[string]any{"iss": "urn:certd:institution:x", "vct": "urn:certd:vct:test"},
		Disclosable: map[string]any{"name": "张三"},
	}, priv)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	u, err := credential.Decode(s[:strings.Index(s, "~")], sdjwt.Type, claims)
	if err != nil {
		t.Fatalf("credential.Decode: %v", err)
	}
	if u.Header.Kid != credential.KID(pub) {
		t.Errorf("kid %s, credential.KID %s", u.Header.Kid, credential.KID(pub))
	}
	if err := u.Verify(pub); err != nil {
		t.Errorf("credential's Verify: %v", err)
	}
	r, err := sdjwt.Verify(s, func(kid string) (ed25519.PublicKey, error) {
		if kid != credential.KID(pub) {
			t.Fatalf("lookup of kid %s", kid)
		}
		return pub, nil
	})
	if err != nil || r.Claims["name"] != "张三" {
		t.Errorf("Verify: %v %v", err, r)
	}
}
