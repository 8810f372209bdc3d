package issuer_test

import (
	"testing"

	"certd/issuer"
)

// BenchmarkIssue10k measures issuing a 10,000-row roster end to end: parse,
// validate, hash the ID numbers, sign, and store in one transaction, on a
// fresh SQLite database each time.
func BenchmarkIssue10k(b *testing.B) {
	data := roster(10_000)
	t := &testing.T{}
	for b.Loop() {
		b.StopTimer()
		f := newFixture(t)
		b.StartTimer()
		rep, err := f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: data, Filename: "r.csv"})
		if err != nil || len(rep.Issued) != 10_000 {
			b.Fatalf("issued %v: %v", rep, err)
		}
		b.StopTimer()
		f.store.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
