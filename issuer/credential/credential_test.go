package credential

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testKey = ed25519.NewKeyFromSeed(make([]byte, 32))

func sample() *CertificateClaims {
	return NewCertificateClaims(Issuer{ID: InstitutionURN("demo"), Name: "吉林演示职业技术学院", USCC: "12220000MB0123457W"},
		CredentialSubject{Name: "欧阳娜娜", DocType: "resident_id", DocHash: HashDoc("resident_id", "11010519491231002X"),
			Achievement: Achievement{Number: "Y000022000001263000001", OccupationCode: "4-04-05-05", OccupationName: "人工智能训练师",
				Specialty: "--", Level: 3, LevelName: "三级/高级工", IssuedOn: "2026-06-30"}},
		time.Date(2026, 6, 30, 2, 0, 0, 0, time.UTC))
}

func lookup(kid string, _ jwt.Claims) (ed25519.PublicKey, error) {
	pub := testKey.Public().(ed25519.PublicKey)
	if kid != KID(pub) {
		return nil, ErrUnknownKey
	}
	return pub, nil
}

func TestSignParse(t *testing.T) {
	tok, err := Sign(sample(), TypeCertificate, testKey)
	if err != nil {
		t.Fatal(err)
	}
	var got CertificateClaims
	h, err := Parse(tok, TypeCertificate, &got, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if h.Typ != "vc+jwt" || got.CredentialSubject.Name != "欧阳娜娜" || got.Issuer.ID != got.RegisteredClaims.Issuer {
		t.Fatalf("round trip: %+v %+v", h, got)
	}
	if strings.Contains(tok, "11010519491231002X") {
		t.Fatal("document number in clear")
	}
	// The wrong typ is refused even with a good signature.
	var reg RegistrationClaims
	if _, err := Parse(tok, TypeRegistration, &reg, lookup); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong typ: %v", err)
	}
	if _, err := Parse(strings.Repeat("a", maxTokenSize+1), TypeCertificate, &got, lookup); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized token: %v", err)
	}
}

// The KID is the RFC 7638 thumbprint. Vector: RFC 8037 appendix A.3.
func TestKIDVector(t *testing.T) {
	j := JWK{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	pub, err := j.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if got := KID(pub); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("KID = %s", got)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Sign(sample(), TypeCertificate, testKey)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, tok string) {
		var c CertificateClaims
		_, err := Parse(tok, TypeCertificate, &c, lookup)
		if err == nil && tok != good {
			// Only our own signature verifies; any other accepted input
			// would be a forgery.
			var again CertificateClaims
			if _, err := Decode(tok, TypeCertificate, &again); err != nil {
				t.Fatalf("accepted a token Decode rejects: %q", tok)
			}
			if again.CredentialSubject.Achievement.Number != "Y000022000001263000001" {
				t.Fatalf("accepted a token with other claims: %q", tok)
			}
		}
		var p CertificateClaims
		_, _ = Decode(tok, TypeCertificate, &p)
	})
}
