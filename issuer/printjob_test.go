package issuer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"sync"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/render"
)

// faultStore is the fault hook of these tests: it lets a number of PDFs be
// stored, then fails every PutPrinted with err, as a database that went
// away or a disk that filled up would, until heal is called.
type faultStore struct {
	issuer.Store
	mu    sync.Mutex
	left  int // PutPrinted calls still allowed; -1: no fault
	err   error
	calls int
}

func (s *faultStore) PutPrinted(ctx context.Context, number string, pdf []byte) error {
	s.mu.Lock()
	if s.left == 0 {
		s.mu.Unlock()
		return s.err
	}
	if s.left > 0 {
		s.left--
	}
	s.calls++
	s.mu.Unlock()
	return s.Store.PutPrinted(ctx, number, pdf)
}

func (s *faultStore) heal() { s.mu.Lock(); s.left = -1; s.mu.Unlock() }

// photo is a small PNG, different for each i.
func photo(t testing.TB, i int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 24, 32))
	for y := range 32 {
		for x := range 24 {
			img.Set(x, y, color.RGBA{uint8(i * 37), uint8(x * 10), uint8(y * 8), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// photoRoster is a roster of n rows where two rows in three have a photo
// (named by 学号), and the photos by 学号.
func photoRoster(t testing.TB, n int) ([]byte, map[string][]byte) {
	var b strings.Builder
	b.WriteString(header)
	photos := map[string][]byte{}
	for i := range n {
		b.WriteString(rosterRow(i, "欧阳娜娜", "4-04-05-05", "", "三级/高级工", "毕业年度学生"))
		if i%3 != 2 {
			photos[fmt.Sprintf("S%05d", i)] = photo(t, i)
		}
	}
	return []byte(b.String()), photos
}

// TestInterruptedPrintingResumes: a batch whose printing is interrupted
// (cancelled like Ctrl-C, the database lost, the disk full) is issued,
// reported as not fully printed, and keeps a print job holding its photos;
// finishing the job (importing the same roster again, starting the server,
// opening a certificate) gives every certificate the PDF an uninterrupted
// run would have made, byte for byte, with its photo, even when the
// server's public address and the college's print settings changed
// meanwhile; then the photos are gone.
func TestInterruptedPrintingResumes(t *testing.T) {
	p := newPrinter(t)
	const n = 140 // three chunks
	cases := []struct {
		name      string
		interrupt func(f *fixture, fs *faultStore, req *issuer.IssueRequest) context.Context
		code      string
		resume    func(t *testing.T, f *fixture, fs *faultStore, data []byte, numbers []string)
	}{
		{"cancel", func(f *fixture, _ *faultStore, req *issuer.IssueRequest) context.Context {
			ctx, cancel := context.WithCancel(f.ctx)
			req.Progress = func(_ string, printed, _ int) {
				if printed > 0 {
					cancel()
				}
			}
			return ctx
		}, "print_interrupted", func(t *testing.T, f *fixture, _ *faultStore, data []byte, _ []string) {
			// The same roster again, without its photos, on a server now
			// configured with another public address.
			other, err := issuer.NewPrinter(render.Config{}, "https://elsewhere.example.cn")
			if err != nil {
				t.Fatal(err)
			}
			f.svc.Printer = other
			rep, err := f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: data, Filename: "roster.csv"})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.AlreadyIssued || rep.Printing == nil || rep.Printing.Pending != 0 || rep.Printing.Total != n || rep.PrintError != nil {
				t.Fatalf("re-import: %+v printing %+v", rep, rep.Printing)
			}
		}},
		{"database lost", func(f *fixture, fs *faultStore, _ *issuer.IssueRequest) context.Context {
			fs.left, fs.err = 70, &issuer.Error{Kind: issuer.ErrUnavailable, Code: "database_unavailable",
				Zh: "数据库暂时无法访问", En: "the database is unavailable", Err: fmt.Errorf("connection reset by peer")}
			return f.ctx
		}, "database_unavailable", func(t *testing.T, f *fixture, fs *faultStore, _ []byte, _ []string) {
			fs.heal()
			// The college changes its print settings before the server
			// comes back: the batch still prints as it was issued.
			if _, err := f.svc.SetPrintSettings(f.ctx, clerk, "jlvtc", issuer.PrintSettings{English: true}); err != nil {
				t.Fatal(err)
			}
			outs, err := f.svc.ResumePrinting(f.ctx, authority, nil) // what serve does at start
			if err != nil || len(outs) != 1 || outs[0].Pending != 0 || outs[0].Err != nil || outs[0].Total != n {
				t.Fatalf("resume: %+v, %v", outs, err)
			}
		}},
		{"disk full", func(f *fixture, fs *faultStore, _ *issuer.IssueRequest) context.Context {
			fs.left, fs.err = 100, &issuer.Error{Kind: issuer.ErrUnavailable, Code: "disk_full",
				Zh: "磁盘已满，数据库无法写入", En: "the disk is full and the database cannot write", Err: fmt.Errorf("database or disk is full (13)")}
			return f.ctx
		}, "disk_full", func(t *testing.T, f *fixture, fs *faultStore, data []byte, numbers []string) {
			fs.heal()
			// An operator opens one certificate (certd render, the
			// console) before anything else: it gets its photo.
			last := numbers[len(numbers)-1]
			if _, err := f.svc.PDF(f.ctx, clerk, last); err != nil {
				t.Fatal(err)
			}
			out, err := f.svc.FinishPrinting(f.ctx, clerk, mustBatch(t, f, last), nil)
			if err != nil || out.Err != nil || out.Pending != 0 {
				t.Fatalf("finish: %+v, %v", out, err)
			}
		}},
	}
	for _, b := range backends {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				fs := &faultStore{Store: b.open(t), left: -1}
				f := newFixtureOn(t, fs)
				f.svc.Printer = p
				data, files := photoRoster(t, n)
				zipped := map[string][]byte{}
				for k, v := range files {
					zipped[k+".png"] = v
				}
				req := issuer.IssueRequest{InstitutionID: "jlvtc", Roster: data, Filename: "roster.csv", Photos: photosOf(t, zipped)}
				ctx := tc.interrupt(f, fs, &req)
				rep, err := f.svc.Issue(ctx, clerk, req)
				if err != nil || len(rep.Problems) > 0 {
					t.Fatalf("issue: %v %+v", err, rep.Problems)
				}
				// Issued, and honestly reported as not fully printed.
				pr := rep.Printing
				if len(rep.Numbers) != n || pr == nil || pr.Total != n || pr.Pending == 0 || pr.Printed+pr.Pending != n ||
					rep.PrintError == nil || rep.PrintError.Code != tc.code {
					t.Fatalf("report: numbers %d printing %+v error %+v", len(rep.Numbers), pr, rep.PrintError)
				}
				stored := 0
				for _, num := range rep.Numbers {
					if _, err := f.store.PDF(f.ctx, num); err == nil {
						stored++
					}
				}
				if stored != pr.Printed {
					t.Fatalf("%d PDFs stored, report says %d", stored, pr.Printed)
				}
				jobs, err := f.svc.PendingPrinting(f.ctx, clerk)
				if err != nil || len(jobs) != 1 || jobs[0].Pending != pr.Pending {
					t.Fatalf("pending jobs: %+v %v", jobs, err)
				}

				tc.resume(t, f, fs, data, rep.Numbers)

				versions, err := f.store.InstitutionVersions(f.ctx, "jlvtc")
				if err != nil {
					t.Fatal(err)
				}
				withPhoto := 0
				for i, num := range rep.Numbers {
					c, err := f.store.Certificate(f.ctx, num)
					if err != nil {
						t.Fatal(err)
					}
					got, err := f.store.PDF(f.ctx, num)
					if err != nil {
						t.Fatalf("%s has no PDF after resuming: %v", num, err)
					}
					// What an uninterrupted run makes: the institution as
					// it was at issue, the photo given, the address then.
					ph := files[c.Holder.StudentNo]
					want, err := p.Render(versions[c.InstitutionVer-1], c, ph)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("%s (row %d): the resumed PDF differs from an uninterrupted run's", num, i)
					}
					if ph != nil {
						withPhoto++
						if bare, _ := p.Render(versions[c.InstitutionVer-1], c, nil); bytes.Equal(got, bare) {
							t.Fatalf("%s: printed without its photo", num)
						}
					}
					sum := sha256.Sum256(got)
					if c.PDFSHA256 != hex.EncodeToString(sum[:]) {
						t.Fatalf("%s: stored hash does not match its PDF", num)
					}
				}
				if withPhoto < n/2 {
					t.Fatalf("only %d certificates with photos checked", withPhoto)
				}
				j, err := f.store.PrintJob(f.ctx, rep.Batch.ID)
				if err != nil || j.Pending != 0 || j.DoneAt.IsZero() {
					t.Fatalf("job after resuming: %+v %v", j, err)
				}
				if items, err := f.store.PendingPrints(f.ctx, rep.Batch.ID, "", 10); err != nil || len(items) != 0 {
					t.Fatalf("photos kept after every PDF exists: %d items, %v", len(items), err)
				}
			})
		}
	}
}

func mustBatch(t *testing.T, f *fixture, number string) string {
	c, err := f.store.Certificate(f.ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	return c.BatchID
}

// A certificate of an unfinished job is never rendered without the photo
// the job holds, whoever asks first; a roster issued with --no-pdf (no
// printer) keeps its photos for later.
func TestPendingCertificatePrintsWithItsPhoto(t *testing.T) {
	p := newPrinter(t)
	f := newFixture(t)
	data, files := photoRoster(t, 3)
	zipped := map[string][]byte{}
	for k, v := range files {
		zipped[k+".png"] = v
	}
	// No printer: the batch is issued, its job pending with the photos.
	rep, err := f.svc.Issue(f.ctx, clerk, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: data, Filename: "r.csv", Photos: photosOf(t, zipped)})
	if err != nil || rep.Printing == nil || rep.Printing.Pending != 3 || rep.PrintError != nil {
		t.Fatalf("issue without a printer: %v %+v", err, rep)
	}
	f.svc.Printer = p
	c, _ := f.store.Certificate(f.ctx, rep.Numbers[0])
	got, err := f.svc.PDF(f.ctx, clerk, c.Number)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := p.Render(f.inst, c, files[c.Holder.StudentNo])
	if !bytes.Equal(got, want) {
		t.Fatal("the PDF made later is not the one made with the job's photo")
	}
	if j, _ := f.store.PrintJob(f.ctx, rep.Batch.ID); j.Pending != 2 {
		t.Fatalf("pending after one PDF = %d, want 2", j.Pending)
	}
	// Another college's clerk cannot finish this college's job.
	other := issuer.Actor{Name: "x", InstitutionID: "other"}
	if _, err := f.svc.FinishPrinting(f.ctx, other, rep.Batch.ID, nil); err == nil {
		t.Fatal("another college finished this college's print job")
	}
}

// gateStore records which certificates PendingPrints handed to one
// process, and can hold that process's first PutPrinted until a gate
// opens: two processes are made to print the same job at the same time
// without any timing.
type gateStore struct {
	issuer.Store
	mu      sync.Mutex
	handed  map[string]bool
	asked   chan struct{} // closed at the first PendingPrints
	askOnce sync.Once
	gate    func() // called before the first PutPrinted
	putOnce sync.Once
}

func newGateStore(st issuer.Store) *gateStore {
	return &gateStore{Store: st, handed: map[string]bool{}, asked: make(chan struct{}), gate: func() {}}
}

func (s *gateStore) PendingPrints(ctx context.Context, batchID, after string, limit int) ([]issuer.PrintItem, error) {
	items, err := s.Store.PendingPrints(ctx, batchID, after, limit)
	s.mu.Lock()
	for _, it := range items {
		s.handed[it.Number] = true
	}
	s.mu.Unlock()
	s.askOnce.Do(func() { close(s.asked) })
	return items, err
}

func (s *gateStore) PutPrinted(ctx context.Context, number string, pdf []byte) error {
	s.putOnce.Do(s.gate)
	return s.Store.PutPrinted(ctx, number, pdf)
}

// TestOneProcessPrintsAJob: two certd processes sharing a database both
// finish the same pending print job at once (two serve instances resuming
// at start): only the one holding the job's lease prints it, the other
// says the job is busy, and no certificate is printed twice. A process
// that dies holding the lease keeps the job until its lease runs out; then
// another takes it over (issue 13 point 8, known defect).
func TestOneProcessPrintsAJob(t *testing.T) {
	p := newPrinter(t)
	each(t, func(t *testing.T, f *fixture) {
		const n = 140                    // three chunks
		rep := f.issue(clerk, roster(n)) // no printer: the job stays pending
		if rep.Printing == nil || rep.Printing.Pending != n {
			t.Fatalf("printing after issue = %+v", rep.Printing)
		}
		process := func(st issuer.Store) *issuer.Service {
			s := issuer.New(st, f.kek)
			s.Now, s.Log, s.Printer = f.svc.Now, f.svc.Log, p
			return s
		}
		a, b := newGateStore(f.store), newGateStore(f.store)
		bDone := make(chan struct{})
		// A holds its first chunk until B has asked for items, or B gave up.
		a.gate = func() {
			select {
			case <-b.asked:
			case <-bDone:
			}
		}
		var bOut issuer.PrintOutcome
		var bErr error
		go func() {
			defer close(bDone)
			<-a.asked
			bOut, bErr = process(b).FinishPrinting(f.ctx, clerk, rep.Batch.ID, nil)
		}()
		aOut, err := process(a).FinishPrinting(f.ctx, clerk, rep.Batch.ID, nil)
		<-bDone
		if err != nil || bErr != nil {
			t.Fatal(err, bErr)
		}
		var twice []string
		for num := range a.handed {
			if b.handed[num] {
				twice = append(twice, num)
			}
		}
		if len(twice) > 0 {
			t.Fatalf("%d certificates printed by both processes, e.g. %s", len(twice), twice[0])
		}
		if aOut.Err != nil || aOut.Made != n || aOut.Pending != 0 {
			t.Fatalf("holder's outcome = %+v", aOut)
		}
		if !issuer.Is(bOut.Err, issuer.ErrConflict) || bOut.Made != 0 || issuer.PrintFailureOf(bOut.Err).Code != "print_job_busy" {
			t.Fatalf("other's outcome = %+v (%v)", bOut, bOut.Err)
		}

		// A process dies holding a new job's lease: the job waits for the
		// lease to run out, then another process takes it over.
		f.now = f.now.Add(time.Hour)
		var next strings.Builder
		next.WriteString(header)
		for i := range n {
			next.WriteString(rosterRow(i, "张三", "4-04-05-05", "", "四级/中级工", "毕业年度学生"))
		}
		rep2 := f.issue(clerk, []byte(next.String()))
		if len(rep2.Problems) > 0 || rep2.Batch == nil {
			t.Fatalf("second roster: %+v", rep2.Problems)
		}
		if ok, err := f.store.ClaimPrintJob(f.ctx, rep2.Batch.ID, "dead", f.now, f.now.Add(issuer.DefaultPrintLease)); err != nil || !ok {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		other := process(f.store)
		outs, err := other.TakeOverPrinting(f.ctx, authority, nil)
		if err != nil || len(outs) != 0 {
			t.Fatalf("take-over within the lease = %+v, %v", outs, err)
		}
		outs, err = other.ResumePrinting(f.ctx, authority, nil)
		if err != nil || len(outs) != 1 || !issuer.Is(outs[0].Err, issuer.ErrConflict) || outs[0].Made != 0 {
			t.Fatalf("resume within the lease = %+v, %v", outs, err)
		}
		f.now = f.now.Add(issuer.DefaultPrintLease + time.Second)
		outs, err = other.TakeOverPrinting(f.ctx, authority, nil)
		if err != nil || len(outs) != 1 || outs[0].Err != nil || outs[0].Made != n || outs[0].Pending != 0 {
			t.Fatalf("take-over after the lease ran out = %+v, %v", outs, err)
		}
		if j, err := f.store.PrintJob(f.ctx, rep2.Batch.ID); err != nil || j.DoneAt.IsZero() || j.LeaseOwner != "" {
			t.Fatalf("job after take-over = %+v, %v", j, err)
		}
	})
}
