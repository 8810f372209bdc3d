package issuer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"certd/issuer/render"
)

// Printing is a durable job. IssueBatch records, in the transaction that
// issues a batch, one print item per certificate holding the photo it is
// to be printed with, and the public address of its QR code; each PDF is
// stored with PutPrinted, which marks its item done. Whatever stops the
// printing (a kill, Ctrl-C, a lost database, a full disk), the job is
// still there and is finished with exactly the inputs it started with, by
// importing the same roster again, by starting the server, by certd render,
// or by opening the certificate in the console. A certificate of a job is
// never printed without the job's photo.

// Several processes may share one database (serve instances behind a
// load balancer, a command-line run beside them), and each finishes
// pending jobs: a job is printed only by the process holding its lease
// (Store.ClaimPrintJob), renewed after every chunk. A process that dies
// holding a lease keeps it until it runs out; then another takes the job
// over (TakeOverPrinting, which serve runs every DefaultPrintLease).

// DefaultPrintLease is how long a print job's lease lasts unless renewed:
// far longer than a chunk takes, even on a loaded machine, and short enough
// that a crashed instance's job is taken over within minutes.
const DefaultPrintLease = time.Minute

func (s *Service) printLease() time.Duration {
	if s.PrintLease > 0 {
		return s.PrintLease
	}
	return DefaultPrintLease
}

// instance names this process in print leases: host, process and a
// random part, so that two services in one process (tests) differ too.
func (s *Service) instance() string {
	s.instanceOnce.Do(func() {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		s.instanceID = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
	})
	return s.instanceID
}

func errPrintBusy(batchID string) error {
	return Errorf(ErrConflict, "print_job_busy", "批次%s正由另一个certd进程打印，完成后即可下载", "batch %s is being printed by another certd process; its PDFs will be there when it is done", batchID)
}

// printChunk is how many certificates are rendered at once: small enough
// that an interruption loses little work and progress moves, large enough
// to keep every core busy.
const printChunk = 64

// PrintProgress is told, after each stored chunk, how many certificates
// of the batch have their PDF and how many the batch has.
type PrintProgress func(batchID string, printed, total int)

// PrintOutcome is what a print run did to one batch.
type PrintOutcome struct {
	BatchID string `json:"batch"`
	Total   int    `json:"total"`   // certificates of the batch's job
	Printed int    `json:"printed"` // of which have their PDF now
	Pending int    `json:"pending"` // of which still do not
	Made    int    `json:"made"`    // PDFs made by this run
	// Err is why the run stopped before every PDF was made.
	Err error `json:"-"`
}

// PrintFailure is the bilingual reason printing stopped, for reports.
type PrintFailure struct {
	Code string `json:"code"`
	Zh   string `json:"zh"`
	En   string `json:"en"`
}

// PrintFailureOf words why printing stopped, for a report; nil for nil.
func PrintFailureOf(err error) *PrintFailure { return failureOf(err) }

// failureOf words err for a report.
func failureOf(err error) *PrintFailure {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &PrintFailure{Code: "print_interrupted", Zh: "打印被中断", En: "printing was interrupted"}
	}
	if e, ok := AsError(err); ok {
		return &PrintFailure{Code: e.Code, Zh: e.Zh, En: e.En}
	}
	return &PrintFailure{Code: "print_failed", Zh: "生成PDF失败：" + err.Error(), En: "making a PDF failed: " + err.Error()}
}

// institutionVersion returns version ver of institution id: a certificate
// is printed with the name, seal and print settings in force when it was
// issued, however late its PDF is made.
func (s *Service) institutionVersion(ctx context.Context, id string, ver int) (Institution, error) {
	all, err := s.store.InstitutionVersions(ctx, id)
	if err != nil {
		return Institution{}, err
	}
	for _, in := range all {
		if in.Version == ver {
			return in, nil
		}
	}
	if len(all) > 0 && ver == 0 {
		return all[len(all)-1], nil
	}
	return Institution{}, Errorf(ErrNotFound, "institution_version_unknown", "认定机构%s没有第%d版备案", "institution %s has no version %d", id, ver)
}

// printJob makes every PDF a batch's job still lacks, chunk by chunk, and
// stores each with PutPrinted. It stops at the first failure or when ctx
// ends; what was stored stays stored, and the rest stays pending.
func (s *Service) printJob(ctx context.Context, batchID string, progress PrintProgress, stored func(number string, pdf []byte)) PrintOutcome {
	out := PrintOutcome{BatchID: batchID}
	j, err := s.store.PrintJob(ctx, batchID)
	if err != nil {
		out.Err = err
		return out
	}
	out.Total, out.Pending, out.Printed = j.Items, j.Pending, j.Items-j.Pending
	if j.Pending == 0 {
		return out
	}
	if s.Printer == nil {
		out.Err = errNoPrinter()
		return out
	}
	owner, lease := s.instance(), s.printLease()
	claim := func() (bool, error) {
		now := s.now()
		return s.store.ClaimPrintJob(ctx, batchID, owner, now, now.Add(lease))
	}
	ok, err := claim()
	if err == nil && !ok && j.LeaseOwner != "" && s.leaseHolderGone(j.LeaseOwner) {
		// Its holder was killed on this host: free the job now.
		if err = s.store.ReleasePrintJob(ctx, batchID, j.LeaseOwner, s.now(), j.Failure); err == nil {
			ok, err = claim()
		}
	}
	if err != nil || !ok {
		out.Err = err
		if err == nil {
			out.Err = errPrintBusy(batchID)
		}
		return out
	}
	defer func() {
		// Released even when ctx ended (Ctrl-C): the next run need not
		// wait for the lease to run out. Why the run stopped goes with
		// it, for the console.
		why := ""
		if f := failureOf(out.Err); f != nil {
			b, _ := json.Marshal(f)
			why = string(b)
		}
		if err := s.store.ReleasePrintJob(context.WithoutCancel(ctx), batchID, owner, s.now(), why); err != nil {
			s.log().Warn("print job lease not released; it runs out by itself", "batch", batchID, "error", err)
		}
	}()
	if progress != nil {
		progress(batchID, out.Printed, out.Total)
	}
	versions := map[int]Institution{}
	after := ""
	// The next chunk is rendered (on every core) while the last one is
	// stored (one transaction a PDF, waiting on the disk), so neither
	// waits for the other.
	var ready *renderedChunk
	storeReady := func() error {
		if ready == nil {
			return nil
		}
		n, err := s.storeChunk(ctx, ready, stored)
		ready = nil
		out.Printed += n
		out.Pending -= n
		out.Made += n
		if progress != nil && n > 0 {
			progress(batchID, out.Printed, out.Total)
		}
		return err
	}
	fail := func(err error) PrintOutcome {
		if serr := storeReady(); serr != nil {
			err = serr // what stopped the storing comes first
		}
		out.Err = err
		return out
	}
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			out.Err = err
			return out
		}
		if !first {
			// Renewed between chunks: a holder that lost its lease (it
			// was too slow, and another took the job over) stops.
			if ok, err := claim(); err != nil || !ok {
				if err == nil {
					if j, err := s.store.PrintJob(ctx, batchID); err == nil && !j.DoneAt.IsZero() {
						return out // the last chunk finished the job
					}
					err = errPrintBusy(batchID)
				}
				return fail(err)
			}
		}
		items, err := s.store.PendingPrints(ctx, batchID, after, printChunk)
		if err != nil {
			return fail(err)
		}
		if len(items) == 0 {
			if err := storeReady(); err != nil {
				out.Err = err
			}
			return out
		}
		after = items[len(items)-1].Number
		var storeErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			storeErr = storeReady()
		}()
		next, err := s.renderChunk(ctx, j, items, versions)
		<-done
		if storeErr != nil {
			out.Err = storeErr
			return out
		}
		if err != nil {
			out.Err = err
			return out
		}
		ready = next
	}
}

// renderedChunk is a chunk of a job's items with their PDFs, in order,
// not yet stored.
type renderedChunk struct {
	numbers []string
	pdfs    [][]byte
}

// renderChunk renders one chunk of a job's items.
func (s *Service) renderChunk(ctx context.Context, j PrintJob, items []PrintItem, versions map[int]Institution) (*renderedChunk, error) {
	numbers := make([]string, len(items))
	for i, it := range items {
		numbers[i] = it.Number
	}
	certs, err := s.store.Certificates(ctx, CertificateFilter{Numbers: numbers})
	if err != nil {
		return nil, err
	}
	byNumber := make(map[string]Certificate, len(certs))
	for _, c := range certs {
		byNumber[c.Number] = c
	}
	// One renderer per institution version (a batch has one).
	type group struct {
		in    Institution
		items []PrintItem
		views []render.Certificate
	}
	groups := map[int]*group{}
	var order []int
	for _, it := range items {
		c, ok := byNumber[it.Number]
		if !ok {
			return nil, fmt.Errorf("print job %s: certificate %s not found", j.BatchID, it.Number)
		}
		g := groups[c.InstitutionVer]
		if g == nil {
			in, ok := versions[c.InstitutionVer]
			if !ok {
				if in, err = s.institutionVersion(ctx, c.InstitutionID, c.InstitutionVer); err != nil {
					return nil, err
				}
				versions[c.InstitutionVer] = in
			}
			g = &group{in: in}
			groups[c.InstitutionVer] = g
			order = append(order, c.InstitutionVer)
		}
		g.items = append(g.items, it)
		g.views = append(g.views, s.Printer.viewAt(j.PublicURL, g.in, asIssued(c), it.Photo))
	}
	out := &renderedChunk{}
	for _, v := range order {
		g := groups[v]
		r, err := s.Printer.renderer(g.in.Print)
		if err != nil {
			return nil, err
		}
		pdfs, err := r.RenderAll(g.views)
		if err != nil {
			return nil, err
		}
		for i, it := range g.items {
			out.numbers = append(out.numbers, it.Number)
			out.pdfs = append(out.pdfs, pdfs[i])
		}
	}
	return out, nil
}

// storeChunk stores a rendered chunk's PDFs, each with PutPrinted, and
// returns how many were stored.
func (s *Service) storeChunk(ctx context.Context, c *renderedChunk, stored func(string, []byte)) (int, error) {
	if err := stagePDFs(s.store, c.numbers, c.pdfs); err != nil {
		return 0, err
	}
	for i, number := range c.numbers {
		if err := s.store.PutPrinted(ctx, number, c.pdfs[i]); err != nil {
			return i, err
		}
		if stored != nil {
			stored(number, c.pdfs[i])
		}
	}
	return len(c.numbers), nil
}

// FinishPrinting makes the PDFs a batch's print job still lacks, with the
// job's own inputs. A batch without a job (issued before jobs existed)
// reports nothing to do.
func (s *Service) FinishPrinting(ctx context.Context, actor Actor, batchID string, progress PrintProgress) (PrintOutcome, error) {
	b, err := s.Batch(ctx, actor, batchID)
	if err != nil {
		return PrintOutcome{}, err
	}
	if err := actor.MayActFor(b.InstitutionID); err != nil {
		return PrintOutcome{}, err
	}
	out := s.printJob(ctx, b.ID, progress, nil)
	if Is(out.Err, ErrNotFound) && out.Total == 0 {
		out.Err = nil
	}
	return out, nil
}

// PendingPrinting lists the print jobs not yet finished that the actor may
// see.
func (s *Service) PendingPrinting(ctx context.Context, actor Actor) ([]PrintJob, error) {
	jobs, err := s.store.PendingPrintJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := jobs[:0]
	for _, j := range jobs {
		if actor.MayRead(j.InstitutionID) == nil {
			out = append(out, j)
		}
	}
	return out, nil
}

// ResumePrinting finishes every print job the actor may act for, oldest
// first, as a server does at start: it goes on to the next job when one
// fails, and returns what happened to each. A job another process holds
// the lease of is left to it (its outcome says print_job_busy).
func (s *Service) ResumePrinting(ctx context.Context, actor Actor, progress PrintProgress) ([]PrintOutcome, error) {
	return s.resume(ctx, actor, progress, func(PrintJob) bool { return true })
}

// TakeOverPrinting finishes, as ResumePrinting does, the jobs whose
// holder's lease ran out: the process printing them died. A server runs it
// every DefaultPrintLease, so that a crashed instance's batch is finished
// by another. Jobs nobody holds (left pending by --no-pdf, or stopped by a
// failure) are not its business: ResumePrinting takes them at start.
func (s *Service) TakeOverPrinting(ctx context.Context, actor Actor, progress PrintProgress) ([]PrintOutcome, error) {
	now := s.now()
	return s.resume(ctx, actor, progress, func(j PrintJob) bool {
		return j.LeaseOwner != "" && j.LeaseUntil.Before(now)
	})
}

func (s *Service) resume(ctx context.Context, actor Actor, progress PrintProgress, want func(PrintJob) bool) ([]PrintOutcome, error) {
	jobs, err := s.PendingPrinting(ctx, actor)
	if err != nil {
		return nil, err
	}
	var outs []PrintOutcome
	for _, j := range jobs {
		if actor.MayActFor(j.InstitutionID) != nil || !want(j) {
			continue
		}
		if j.LeaseOwner != "" {
			s.log().Info("taking over a print job whose holder stopped renewing its lease", "batch", j.BatchID, "holder", j.LeaseOwner, "until", j.LeaseUntil)
		}
		o := s.printJob(ctx, j.BatchID, progress, nil)
		if Is(o.Err, ErrConflict) {
			s.log().Info("print job left to the process printing it", "batch", j.BatchID)
		} else if o.Err != nil {
			s.log().Error("print job not finished", "batch", j.BatchID, "printed", o.Printed, "pending", o.Pending, "error", o.Err)
		} else {
			s.log().Info("print job finished", "batch", j.BatchID, "count", o.Total)
		}
		outs = append(outs, o)
		if ctx.Err() != nil {
			break
		}
	}
	return outs, nil
}

// printPending makes the PDF of one certificate of a print job, with the
// job's photo and public address, and stores it as the one issued. ok is
// false when the certificate is in no pending job.
func (s *Service) printPending(ctx context.Context, c Certificate) ([]byte, bool, error) {
	it, err := s.store.PendingPrint(ctx, c.Number)
	if Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	if s.Printer == nil {
		return nil, true, errNoPrinter()
	}
	j, err := s.store.PrintJob(ctx, it.BatchID)
	if err != nil {
		return nil, true, err
	}
	in, err := s.institutionVersion(ctx, c.InstitutionID, c.InstitutionVer)
	if err != nil {
		return nil, true, err
	}
	r, err := s.Printer.renderer(in.Print)
	if err != nil {
		return nil, true, err
	}
	pdf, err := r.Render(s.Printer.viewAt(j.PublicURL, in, asIssued(c), it.Photo))
	if err != nil {
		return nil, true, err
	}
	if err := s.store.PutPrinted(ctx, c.Number, pdf); err != nil {
		return nil, true, err
	}
	return pdf, true, nil
}

// asIssued is c as it was issued: a print job stores the PDF of issue,
// clean, even when the certificate was revoked or corrected before its PDF
// was made (a copy asked for after that is marked void by pdfOf, fresh).
func asIssued(c Certificate) Certificate {
	c.Status, c.Revocation, c.SupersededBy = Valid, nil, ""
	return c
}

// stagePDFs lets a store that keeps PDFs as files write a batch of them in
// one go before they are recorded one by one (see storeutil.PDFDir.Stage).
func stagePDFs(st Store, numbers []string, pdfs [][]byte) error {
	if sp, ok := st.(interface {
		StagePDFs([]string, [][]byte) error
	}); ok {
		return sp.StagePDFs(numbers, pdfs)
	}
	return nil
}

// PrintStatus is how far a batch's printing is, whichever process prints
// it: what the console's batch page shows.
type PrintStatus struct {
	Total   int `json:"total"`
	Printed int `json:"printed"`
	Pending int `json:"pending"`
	// Running: a process holds the job's lease now.
	Running bool `json:"running"`
	// Rate is certificates a second in the run in progress, and Left the
	// time its remaining ones will take at that rate (0: not yet known).
	Rate float64       `json:"rate"`
	Left time.Duration `json:"-"`
	// Failure is why the last run stopped, at FailedAt (nil: it did not
	// fail, or none ran yet).
	Failure  *PrintFailure `json:"failure,omitempty"`
	FailedAt time.Time     `json:"failed_at,omitzero"`
	DoneAt   time.Time     `json:"done_at,omitzero"`
}

// BatchPrinting reports how far a batch's printing is; ok is false when
// the batch has no print job (issued before jobs existed). The actor must
// be allowed to see the batch.
func (s *Service) BatchPrinting(ctx context.Context, actor Actor, batchID string) (st PrintStatus, ok bool, err error) {
	if _, err := s.Batch(ctx, actor, batchID); err != nil {
		return st, false, err
	}
	j, err := s.store.PrintJob(ctx, batchID)
	if Is(err, ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	now := s.now()
	st = PrintStatus{Total: j.Items, Pending: j.Pending, Printed: j.Items - j.Pending, DoneAt: j.DoneAt, FailedAt: j.FailedAt}
	st.Running = j.DoneAt.IsZero() && j.LeaseOwner != "" && !j.LeaseUntil.Before(now)
	if j.Failure != "" {
		var f PrintFailure
		if json.Unmarshal([]byte(j.Failure), &f) == nil {
			st.Failure = &f
		}
	}
	if st.Running && !j.RunStarted.IsZero() {
		if secs := now.Sub(j.RunStarted).Seconds(); secs >= 1 && j.RunFrom > j.Pending {
			st.Rate = float64(j.RunFrom-j.Pending) / secs
			st.Left = time.Duration(float64(j.Pending) / st.Rate * float64(time.Second)).Round(time.Second)
		}
	}
	return st, true, nil
}
