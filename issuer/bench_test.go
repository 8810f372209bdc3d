package issuer_test

import (
	"os"
	"testing"

	"certd/issuer"
	"certd/issuer/render"
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

// BenchmarkPrint10k measures printing a 10,000-row batch end to end, as
// `certd issue` does after the commit and `certd render --pending` does for
// a job left pending: read the job's items and records, render each PDF,
// and store it with its hash, for each backend. The batch is issued
// without a printer first (untimed), so only the printing is measured.
func BenchmarkPrint10k(b *testing.B) {
	data := roster(10_000)
	p := benchPrinter(b)
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				f := newFixtureOn(b, be.open(b))
				rep, err := f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: data, Filename: "r.csv"})
				if err != nil || len(rep.Issued) != 10_000 {
					b.Fatalf("issued %v: %v", rep, err)
				}
				f.svc.Printer = p
				b.StartTimer()
				out, err := f.svc.FinishPrinting(f.ctx, clerk, rep.Batch.ID, nil)
				if err != nil || out.Err != nil || out.Made != 10_000 {
					b.Fatalf("printed %+v: %v", out, err)
				}
			}
			b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "pdfs/s")
		})
	}
}

func benchPrinter(b *testing.B) *issuer.Printer {
	b.Helper()
	if _, err := os.Stat(render.DefaultFontPath); err != nil {
		b.Skipf("certificate font not installed (%s)", render.DefaultFontPath)
	}
	p, err := issuer.NewPrinter(render.Config{}, "https://cert.example.edu.cn")
	if err != nil {
		b.Fatal(err)
	}
	return p
}
