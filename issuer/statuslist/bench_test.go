package statuslist

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Regenerating a list: from the revoked indexes (as a store would hold
// them) to a signed token, for the list sizes certd plans, 1% revoked.
// encoded-B is the encodedList and token-B the whole JWS a verifier
// fetches.
func BenchmarkEncode131072(b *testing.B)  { benchmarkRegenerate(b, MinBits) }
func BenchmarkEncode1048576(b *testing.B) { benchmarkRegenerate(b, 1<<20) }

// Reading a list back: verify the signature and inflate (the verifier's
// side), for the same lists.
func BenchmarkParse131072(b *testing.B)  { benchmarkParse(b, MinBits) }
func BenchmarkParse1048576(b *testing.B) { benchmarkParse(b, 1<<20) }

func revoked(n int) []int {
	r := rand.New(rand.NewPCG(uint64(n), 1)) //nolint:gosec // benchmark data
	return r.Perm(n)[:n/100]
}

func sign(b *testing.B, n int, idx []int) (string, *Credential) {
	list, err := FromIndexes(n, idx)
	if err != nil {
		b.Fatal(err)
	}
	c := &Credential{ID: listA, Issuer: issuerA, ValidFrom: t0, TTL: 5 * time.Minute, List: list}
	tok, err := c.Sign(keyA)
	if err != nil {
		b.Fatal(err)
	}
	return tok, c
}

func benchmarkRegenerate(b *testing.B, n int) {
	idx := revoked(n)
	var tok string
	var c *Credential
	for b.Loop() {
		tok, c = sign(b, n, idx)
	}
	b.ReportMetric(float64(len(c.List.Encode())), "encoded-B")
	b.ReportMetric(float64(len(tok)), "token-B")
}

func benchmarkParse(b *testing.B, n int) {
	tok, _ := sign(b, n, revoked(n))
	var r registry
	for b.Loop() {
		if _, err := Parse(tok, issuerA, r.lookup); err != nil {
			b.Fatal(err)
		}
	}
}
