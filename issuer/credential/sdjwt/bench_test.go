package sdjwt

import "testing"

// BenchmarkIssue: one credential with six disclosable claims and three
// decoys, as certd issues next to each signed record.
func BenchmarkIssue(b *testing.B) {
	k := newKey(b)
	c := certdClaims()
	if len(c.Disclosable) != 6 {
		b.Fatalf("%d disclosable claims, want 6", len(c.Disclosable))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Issue(c, k.priv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify: the full credential, every disclosure presented.
func BenchmarkVerify(b *testing.B) {
	k := newKey(b)
	s, err := Issue(certdClaims(), k.priv)
	if err != nil {
		b.Fatal(err)
	}
	lookup := lookupOf(k)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(s, lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRejected: a presentation with an altered disclosure, the
// anonymous input that costs a verifier the most before it is refused
// (signature checked, every disclosure hashed).
func BenchmarkVerifyRejected(b *testing.B) {
	k := newKey(b)
	s, err := Issue(certdClaims(), k.priv)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := split(s)
	altered := appended(p, disc(b, "salt", "name", "李四"))
	lookup := lookupOf(k)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(altered, lookup); err == nil {
			b.Fatal("verified")
		}
	}
}
