package storetest

import (
	"testing"

	"certd/issuer"
)

// testPrintJob: a batch issued with a print job has one pending item per
// certificate, holding its photo; PutPrinted stores each PDF and marks it
// done; the last one closes the job and drops every photo. A batch whose
// issue fails leaves no job; a batch issued without one has none.
func testPrintJob(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	photos := map[int][]byte{1: []byte("\xff\xd8 photo of 1"), 3: []byte("\x89PNG photo of 3")}
	job := &issuer.PrintJob{PublicURL: "https://verify.example.cn", Photo: func(c issuer.Certificate) []byte {
		for i, p := range photos {
			if c.Holder.DocNumber == cert("alpha", i, weld, 3, june30).Holder.DocNumber {
				return p
			}
		}
		return nil
	}}
	certs := []issuer.Certificate{cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30), cert("alpha", 3, weld, 3, june30)}
	must(t, s.IssueBatch(ctx, batch("b1", "alpha", "fp1"), prefixA, certs, seal, job))
	n := []string{certs[0].Number, certs[1].Number, certs[2].Number}

	// Without a job, nothing to print is recorded.
	plain := issue(t, s, batch("b2", "alpha", "fp2"), prefixA, cert("alpha", 9, weld, 3, june30))
	_, err := s.PrintJob(ctx, "b2")
	wantErr(t, err, issuer.ErrNotFound, "")
	_, err = s.PendingPrint(ctx, plain[0])
	wantErr(t, err, issuer.ErrNotFound, "")

	// A failed issue records no job.
	_, err = s.PrintJob(ctx, "bad")
	wantErr(t, err, issuer.ErrNotFound, "")
	wantErr(t, s.IssueBatch(ctx, batch("bad", "alpha", "fp1"), prefixA, []issuer.Certificate{cert("alpha", 20, weld, 3, june30)}, seal, job), issuer.ErrConflict, "batch_exists")
	_, err = s.PrintJob(ctx, "bad")
	wantErr(t, err, issuer.ErrNotFound, "")

	j, err := s.PrintJob(ctx, "b1")
	must(t, err)
	if j.BatchID != "b1" || j.InstitutionID != "alpha" || j.PublicURL != job.PublicURL || j.Items != 3 || j.Pending != 3 || !j.DoneAt.IsZero() || !j.CreatedAt.Equal(t0) {
		t.Fatalf("job = %+v", j)
	}
	jobs, err := s.PendingPrintJobs(ctx)
	must(t, err)
	if len(jobs) != 1 || jobs[0].BatchID != "b1" {
		t.Fatalf("pending jobs = %+v", jobs)
	}
	items, err := s.PendingPrints(ctx, "b1", "", 2)
	must(t, err)
	if len(items) != 2 || items[0].Number != n[0] || items[1].Number != n[1] || string(items[0].Photo) != string(photos[1]) || items[1].Photo != nil {
		t.Fatalf("first page = %+v", items)
	}
	items, err = s.PendingPrints(ctx, "b1", items[1].Number, 2)
	must(t, err)
	if len(items) != 1 || items[0].Number != n[2] || string(items[0].Photo) != string(photos[3]) {
		t.Fatalf("second page = %+v", items)
	}

	must(t, s.PutPrinted(ctx, n[1], []byte("%PDF two")))
	it, err := s.PendingPrint(ctx, n[0])
	must(t, err)
	if it.BatchID != "b1" || string(it.Photo) != string(photos[1]) {
		t.Fatalf("pending item = %+v", it)
	}
	_, err = s.PendingPrint(ctx, n[1])
	wantErr(t, err, issuer.ErrNotFound, "")
	items, err = s.PendingPrints(ctx, "b1", "", 10)
	must(t, err)
	if len(items) != 2 || items[0].Number != n[0] || items[1].Number != n[2] {
		t.Fatalf("after one printed = %+v", items)
	}
	// Printing one again (two instances resuming the same job) is harmless.
	must(t, s.PutPrinted(ctx, n[1], []byte("%PDF two")))
	if j, _ := s.PrintJob(ctx, "b1"); j.Pending != 2 {
		t.Fatalf("pending after a repeat = %d, want 2", j.Pending)
	}
	must(t, s.PutPrinted(ctx, n[0], []byte("%PDF one")))
	must(t, s.PutPrinted(ctx, n[2], []byte("%PDF three")))
	j, err = s.PrintJob(ctx, "b1")
	must(t, err)
	if j.Pending != 0 || j.DoneAt.IsZero() || j.Items != 3 {
		t.Fatalf("finished job = %+v", j)
	}
	jobs, err = s.PendingPrintJobs(ctx)
	must(t, err)
	if len(jobs) != 0 {
		t.Fatalf("pending jobs after the last PDF = %+v", jobs)
	}
	for i, want := range []string{"%PDF one", "%PDF two", "%PDF three"} {
		got, err := s.PDF(ctx, n[i])
		must(t, err)
		equal(t, "pdf", string(got), want)
		_, err = s.PendingPrint(ctx, n[i])
		wantErr(t, err, issuer.ErrNotFound, "")
	}
	// The photos are gone with the items.
	items, err = s.PendingPrints(ctx, "b1", "", 10)
	must(t, err)
	if len(items) != 0 {
		t.Fatalf("items after the job = %+v", items)
	}
	// PutPrinted of a certificate outside any job is PutPDF; of an unknown
	// one, not found.
	must(t, s.PutPrinted(ctx, plain[0], []byte("%PDF plain")))
	wantErr(t, s.PutPrinted(ctx, "J220100000001263999999", []byte("%PDF")), issuer.ErrNotFound, "")
}
