package credential

import (
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
)

func TestBatch(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	other := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1)).Public().(ed25519.PublicKey)
	tokens := make([]string, 20)
	for i := range tokens {
		c := sample()
		c.CredentialSubject.Achievement.Number = fmt.Sprintf("Y000022000001263%06d", i)
		tok, err := Sign(c, TypeCertificate, testKey)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	decode := func(tok string) *Unverified {
		var c CertificateClaims
		u, err := Decode(tok, TypeCertificate, &c)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	// Token 0's header and signature over token 1's payload.
	p0, p1 := strings.Split(tokens[0], "."), strings.Split(tokens[1], ".")
	swapped := p0[0] + "." + p1[1] + "." + p0[2]
	zeroSig := p0[0] + "." + p0[1] + "." + strings.Repeat("A", 86)

	cases := []struct {
		name  string
		extra func(b *Batch)
		want  bool
	}{
		{"all valid", func(*Batch) {}, true},
		{"one payload swapped", func(b *Batch) { b.Add(decode(swapped), pub) }, false},
		{"zero signature", func(b *Batch) { b.Add(decode(zeroSig), pub) }, false},
		{"key not the kid's", func(b *Batch) { b.Add(decode(tokens[2]), other) }, false},
		{"short key", func(b *Batch) { b.Add(decode(tokens[2]), pub[:16]) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBatch(len(tokens) + 1)
			for _, tok := range tokens {
				b.Add(decode(tok), pub)
			}
			tc.extra(b)
			if got := b.Verify(); got != tc.want {
				t.Errorf("batch of %d: Verify() = %v, want %v", b.Len(), got, tc.want)
			}
		})
	}
	// A single check agrees on the odd ones out.
	if err := decode(swapped).Verify(pub); err == nil {
		t.Error("swapped payload verified on its own")
	}
	if !NewBatch(0).Verify() {
		t.Error("an empty batch must verify")
	}
}
