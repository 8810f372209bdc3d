package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

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

// testPrintJobLease: of processes claiming one print job at once, exactly
// one holds it, and nobody else until it releases the job or its lease
// runs out; the holder renews its own lease, and loses the job once it ran
// out and another took it (a crashed instance's job is taken over). A
// release records why the run stopped; a finished job cannot be claimed.
func testPrintJobLease(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	job := &issuer.PrintJob{PublicURL: "https://verify.example.cn", Photo: func(issuer.Certificate) []byte { return nil }}
	certs := []issuer.Certificate{cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30)}
	must(t, s.IssueBatch(ctx, batch("b1", "alpha", "fp1"), prefixA, certs, seal, job))
	lease := time.Minute

	// Rounds of concurrent claimers: one wins each, the others see its lease.
	now := t0
	for round := range 3 {
		const claimers = 8
		won := make([]bool, claimers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range claimers {
			wg.Go(func() {
				<-start
				ok, err := s.ClaimPrintJob(ctx, "b1", fmt.Sprintf("r%d-p%d", round, i), now, now.Add(lease))
				if err != nil {
					t.Error(err)
				}
				won[i] = ok
			})
		}
		close(start)
		wg.Wait()
		holder := -1
		for i, ok := range won {
			if ok && holder >= 0 {
				t.Fatalf("round %d: claimers %d and %d both hold the job", round, holder, i)
			}
			if ok {
				holder = i
			}
		}
		if holder < 0 {
			t.Fatalf("round %d: nobody holds the job", round)
		}
		owner := fmt.Sprintf("r%d-p%d", round, holder)
		j, err := s.PrintJob(ctx, "b1")
		must(t, err)
		if j.LeaseOwner != owner || !j.LeaseUntil.Equal(now.Add(lease)) || !j.RunStarted.Equal(now) || j.RunFrom != 2 {
			t.Fatalf("round %d: job = %+v, want held by %s", round, j, owner)
		}
		// A late claimer, within the lease, does not get it.
		if ok, err := s.ClaimPrintJob(ctx, "b1", "late", now.Add(lease/2), now.Add(lease+lease/2)); err != nil || ok {
			t.Fatalf("round %d: a claim within the lease = %v, %v", round, ok, err)
		}
		// The holder renews, keeping its run's start.
		if ok, err := s.ClaimPrintJob(ctx, "b1", owner, now.Add(lease/2), now.Add(2*lease)); err != nil || !ok {
			t.Fatalf("round %d: renewal = %v, %v", round, ok, err)
		}
		if j, _ := s.PrintJob(ctx, "b1"); j.LeaseOwner != owner || !j.LeaseUntil.Equal(now.Add(2*lease)) || !j.RunStarted.Equal(now) {
			t.Fatalf("round %d: renewed job = %+v", round, j)
		}
		// Someone else's release does nothing; the holder's frees the job.
		must(t, s.ReleasePrintJob(ctx, "b1", "late", now, ""))
		if j, _ := s.PrintJob(ctx, "b1"); j.LeaseOwner != owner {
			t.Fatalf("round %d: released by another: %+v", round, j)
		}
		must(t, s.ReleasePrintJob(ctx, "b1", owner, now.Add(lease), `{"code":"print_interrupted"}`))
		j, err = s.PrintJob(ctx, "b1")
		must(t, err)
		if j.LeaseOwner != "" || !j.LeaseUntil.IsZero() || j.Failure != `{"code":"print_interrupted"}` || !j.FailedAt.Equal(now.Add(lease)) {
			t.Fatalf("round %d: released job = %+v", round, j)
		}
		now = now.Add(3 * lease)
	}

	// A holder that crashed: its lease runs out and another takes the job
	// over, starting a run of its own; the crashed one cannot renew.
	must(t, s.PutPrinted(ctx, certs[0].Number, []byte("%PDF one")))
	if ok, err := s.ClaimPrintJob(ctx, "b1", "crashed", now, now.Add(lease)); err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if ok, err := s.ClaimPrintJob(ctx, "b1", "other", now.Add(lease-time.Second), now.Add(2*lease)); err != nil || ok {
		t.Fatalf("a claim a second before the lease runs out = %v, %v", ok, err)
	}
	later := now.Add(lease + time.Second)
	if ok, err := s.ClaimPrintJob(ctx, "b1", "other", later, later.Add(lease)); err != nil || !ok {
		t.Fatalf("a claim after the lease ran out = %v, %v", ok, err)
	}
	jobs, err := s.PendingPrintJobs(ctx)
	must(t, err)
	if len(jobs) != 1 || jobs[0].LeaseOwner != "other" || !jobs[0].RunStarted.Equal(later) || jobs[0].RunFrom != 1 || !jobs[0].LeaseUntil.Equal(later.Add(lease)) {
		t.Fatalf("taken over: %+v", jobs)
	}
	if ok, err := s.ClaimPrintJob(ctx, "b1", "crashed", later, later.Add(lease)); err != nil || ok {
		t.Fatalf("the crashed holder renewing = %v, %v", ok, err)
	}
	// A release without a failure clears the last one.
	must(t, s.ReleasePrintJob(ctx, "b1", "other", later, ""))
	if j, _ := s.PrintJob(ctx, "b1"); j.Failure != "" || !j.FailedAt.IsZero() || j.LeaseOwner != "" {
		t.Fatalf("released without failure: %+v", j)
	}
	// A finished job, or none, cannot be claimed.
	must(t, s.PutPrinted(ctx, certs[1].Number, []byte("%PDF two")))
	if ok, err := s.ClaimPrintJob(ctx, "b1", "other", later, later.Add(lease)); err != nil || ok {
		t.Fatalf("claiming a finished job = %v, %v", ok, err)
	}
	if ok, err := s.ClaimPrintJob(ctx, "nope", "other", later, later.Add(lease)); err != nil || ok {
		t.Fatalf("claiming no job = %v, %v", ok, err)
	}
}
