package storetest

import (
	"fmt"
	"testing"

	"certd/issuer"
)

// BenchmarkIssueBatch measures IssueBatch of n certificates on s, which
// must be empty. The seal is trivial, so the figure is store time: the
// batch insert, the holding check, serial reservation and n certificate and
// audit inserts in one transaction. Each iteration issues a new roster of
// new people, so the unique index grows as it would in production.
func BenchmarkIssueBatch(b *testing.B, s issuer.Store, n int) {
	setup(b, s)
	iter := 0
	certs := make([]issuer.Certificate, n)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range certs {
			// Spread over years and levels so that 999999 serials per
			// counter are never the limit of a long run.
			c := cert("alpha", i, weld, issuerLevel(3+iter%3), june30.AddDate(-(iter/3)%20, 0, 0))
			c.Holder.DocNumber = fmt.Sprintf("B%06d%08d", iter, i)
			certs[i] = c
		}
		bt := batch(fmt.Sprint("bench", iter), "alpha", fmt.Sprint("bench-fp", iter))
		iter++
		b.StartTimer()
		if err := s.IssueBatch(b.Context(), bt, prefixA, certs, seal, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/cert")
}

// BenchmarkNameSearch measures the ledger's name search (part of a name,
// spaces ignored) on s, which must be empty, once n certificates of one
// college are stored: a page (Limit 100) of holders whose name contains
// one character common to a tenth of them, and a search no holder matches,
// which reads the college's whole ledger.
func BenchmarkNameSearch(b *testing.B, s issuer.Store, n int) {
	setup(b, s)
	given := []rune("伟芳娜敏静丽强磊军洋")
	const chunk = 5000
	for start := 0; start < n; start += chunk {
		certs := make([]issuer.Certificate, 0, chunk)
		for i := start; i < min(start+chunk, n); i++ {
			c := cert("alpha", i, weld, issuerLevel(3), june30)
			c.Holder.DocNumber = fmt.Sprintf("N%014d", i)
			c.Holder.Name = fmt.Sprintf("张%c%c", given[i%10], given[(i/10)%10])
			certs = append(certs, c)
		}
		if err := s.IssueBatch(b.Context(), batch(fmt.Sprint("names", start), "alpha", fmt.Sprint("names-fp", start)), prefixA, certs, seal, nil); err != nil {
			b.Fatal(err)
		}
	}
	for _, q := range []struct{ name, q string }{{"page", "芳 娜"}, {"none", "欧阳"}} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.Certificates(b.Context(), issuer.CertificateFilter{InstitutionID: "alpha", Name: q.q, Limit: 100})
				if err != nil || (q.name == "page") != (len(got) > 0) {
					b.Fatalf("%d found: %v", len(got), err)
				}
			}
		})
	}
}
