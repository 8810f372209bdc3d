package sqlite_test

import (
	"crypto/rand"
	"path/filepath"
	"testing"

	"certd/issuer"
	"certd/issuer/store/sqlite"
	"certd/issuer/store/storetest"
)

// BenchmarkPDFRead reads stored certificate PDFs (52 KB, the size certd
// renders) at random from 2,000, kept in the database or as files: the
// download latency of the two ways of keeping them (docs/operations.md).
func BenchmarkPDFRead(b *testing.B) {
	for _, where := range []string{"database", "directory"} {
		b.Run(where, func(b *testing.B) {
			dir := b.TempDir()
			s, err := sqlite.Open(b.Context(), filepath.Join(dir, "certd.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if where == "directory" {
				if err := s.KeepPDFsIn(filepath.Join(dir, "pdfs")); err != nil {
					b.Fatal(err)
				}
			}
			storetest.Seed(b, s)
			nums := storetest.IssueN(b, s, "b", 0, 2000)
			pdf := make([]byte, 52<<10)
			for _, n := range nums {
				_, _ = rand.Read(pdf[:1024])
				if err := s.PutPDF(b.Context(), n, pdf); err != nil {
					b.Fatal(err)
				}
			}
			var st issuer.Store = s
			b.ResetTimer()
			for i := range b.N {
				if _, err := st.PDF(b.Context(), nums[(i*7919)%len(nums)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/read")
		})
	}
}
