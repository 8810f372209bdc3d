package issuer_test

import (
	"testing"

	"certd/issuer"
)

// BenchmarkIssue10k measures issuing a 10,000-row roster end to end: parse,
// validate, hash the ID numbers, sign, and store in one transaction, on a
// fresh database each time, for each backend.
func BenchmarkIssue10k(b *testing.B) {
	data := roster(10_000)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				f := newFixtureOn(b, be.open(b))
				b.StartTimer()
				rep, err := f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: data, Filename: "r.csv"})
				if err != nil || len(rep.Issued) != 10_000 {
					b.Fatalf("issued %v: %v", rep, err)
				}
			}
			b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
