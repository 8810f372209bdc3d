package sdjwt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzKey is fixed so that seeds signed with it stay valid across runs.
var fuzzKey = func() testKey {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	return testKey{pub, priv, thumbprint(pub)}
}()

// checkResult holds for every Verify: an error is one of the package's and
// comes alone; a result has every presented disclosure placed once and no
// reserved name left anywhere.
func checkResult(t *testing.T, presentation string, r *Result, err error) {
	t.Helper()
	if err != nil {
		if !isSentinel(err) {
			t.Fatalf("error outside the package's set: %v", err)
		}
		if r != nil {
			t.Fatalf("a result came with %v", err)
		}
		return
	}
	p, perr := split(presentation)
	if perr != nil {
		t.Fatalf("verified, but does not split: %v", perr)
	}
	if len(r.Disclosed) != len(p.disclosures) {
		t.Fatalf("%d disclosures presented, %d placed", len(p.disclosures), len(r.Disclosed))
	}
	for i := 1; i < len(r.Disclosed); i++ {
		if r.Disclosed[i] == r.Disclosed[i-1] {
			t.Fatalf("%s placed twice", r.Disclosed[i])
		}
	}
	if _, ok := r.Claims[keyAlg]; ok {
		t.Fatalf("_sd_alg left in the claims")
	}
	// The rule Issue applies to what it signs holds for what Verify returns.
	if err := checkReserved(r.Claims, 0); err != nil {
		t.Fatalf("claims: %v", err)
	}
}

// FuzzParse feeds Verify and Present what an anonymous caller could send.
// Seeds are valid credentials signed with fuzzKey, presentations of them,
// every rule case, and the RFC's examples.
func FuzzParse(f *testing.F) {
	issued, err := Issue(certdClaims(), fuzzKey.priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(issued)
	for _, names := range [][]string{nil, {"name"}, {"name", "documentHash", "photoDigest"}} {
		p, err := Present(issued, names...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	_, cases := ruleCases(f)
	for _, c := range cases {
		f.Add(c.presentation)
	}
	for _, name := range []string{"section6_issued.txt", "section6_presentation_kb.txt", "a4_presentation_kb.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", "rfc9901", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	lookup := lookupOf(fuzzKey)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Verify(s, lookup)
		checkResult(t, s, r, err)
		if p, err := Present(s, "name"); err == nil {
			if _, err := split(p); err != nil {
				t.Fatalf("Present made %q, which does not split: %v", p, err)
			}
		} else if !isSentinel(err) {
			t.Fatalf("Present: error outside the package's set: %v", err)
		}
	})
}

// FuzzRules reaches the disclosure rules, which FuzzParse can reach only
// through payloads it cannot sign: here the fuzzer writes the payload JSON
// and the disclosures' JSON (one per line), the harness base64url-encodes
// the disclosures, puts their digests where the payload or an earlier
// disclosure says "@0", "@1", ... and signs the result with fuzzKey.
func FuzzRules(f *testing.F) {
	seeds := []struct{ payload, disclosures string }{
		{`{"vct":"v","_sd":["@0"],"_sd_alg":"sha-256"}`, `["s","name","张三"]`},
		{`{"vct":"v","_sd":["@0","@0"]}`, `["s","name","x"]`},
		{`{"vct":"v","n":1,"_sd":["@0"]}`, `["s","n",2]`},
		{`{"vct":"v","a":[1,{"...":"@0"},{"...":"@1"}]}`, "[\"s\",2]\n[\"t\",{\"_sd\":[\"@2\"]}]\n[\"u\",\"k\",3]"},
		{`{"vct":"v","_sd":["@0"]}`, "[\"s\",\"o\",{\"_sd\":[\"@1\"],\"p\":[{\"...\":\"@2\"}]}]\n[\"t\",\"i\",2]\n[\"u\",null]"},
		{`{"vct":"v","_sd":["@0"],"exp":1}`, `["s","_sd",[]]`},
		{`{"vct":"v","_sd":["@0"],"a":{"_sd":["@0"]}}`, `["s","x",1]`},
		{`{"_sd":["@0"]}`, `["s","vct","v"]`},
	}
	for _, s := range seeds {
		f.Add([]byte(s.payload), s.disclosures)
	}
	hdr := b64JSON(f, header(fuzzKey))
	lookup := lookupOf(fuzzKey)
	f.Fuzz(func(t *testing.T, payload []byte, disclosures string) {
		var raws []string
		if disclosures != "" {
			raws = strings.Split(disclosures, "\n")
			if len(raws) > MaxDisclosures+2 {
				return
			}
		}
		// From the last to the first, so that a digest is computed only
		// after every digest inside its disclosure is in place.
		ds := make([]string, len(raws))
		for i := len(raws) - 1; i >= 0; i-- {
			raw := raws[i]
			for k := i + 1; k < len(raws); k++ {
				raw = strings.ReplaceAll(raw, placeholder(k), `"`+digest(ds[k])+`"`)
			}
			ds[i] = base64.RawURLEncoding.EncodeToString([]byte(raw))
		}
		for k := range ds {
			payload = bytes.ReplaceAll(payload, []byte(placeholder(k)), []byte(`"`+digest(ds[k])+`"`))
		}
		input := hdr + "." + base64.RawURLEncoding.EncodeToString(payload)
		sig := base64.RawURLEncoding.EncodeToString(ed25519.Sign(fuzzKey.priv, []byte(input)))
		pres := (&parts{jwt: input + "." + sig, disclosures: ds}).String()
		r, err := Verify(pres, lookup)
		checkResult(t, pres, r, err)
	})
}

func placeholder(i int) string { return fmt.Sprintf(`"@%d"`, i) }
