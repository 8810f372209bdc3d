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
