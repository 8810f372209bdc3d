package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/roster"
)

// A job is one uploaded roster on its way through preview, confirmation
// and issuing: what the office confirmed is issued from exactly the bytes
// that were checked. Its files live on disk, in a directory of its own
// under the console's private upload directory (0700): the roster and the
// photo ZIP as uploaded, the problems found, and the print file once
// issued. In memory a job holds only what its page shows, bounded by
// previewBudget, so an upload costs disk, not memory, for as long as it
// lives. The roster and photos are removed as soon as issuing ends (certd
// keeps no personal data longer than needed); the whole directory when the
// job expires, jobTTL after its last change. (Several certd processes behind
// a load balancer need sticky sessions for this page; the records
// themselves are in the database.)
type job struct {
	ID            string
	InstitutionID string
	UserID        string
	Filename      string
	Created       time.Time
	dir           string
	photos        int

	mu        sync.Mutex
	state     string // "preview", "running", "done", "failed"
	phase     string
	started   time.Time
	touched   time.Time // the last change: the job expires jobTTL after it
	page      jobData   // what the page shows: bounded when the job is made
	problems  int
	batchID   string
	count     int
	printFile bool
	errZh     string
	errEn     string
	// unprinted certificates of the batch whose PDF printing did not make
	// (their print job stays pending), and why.
	unprinted   int
	unprintedZh string
	unprintedEn string
	// printed of total PDFs made while issuing, and when the first was
	// counted (the rate).
	printed, total int
	printStart     time.Time
	printFrom      int
}

const (
	// jobTTL: a job, and its files, are removed this long after the last
	// change (upload, or the end of issuing). Issuing itself is not cut
	// short: it has its own deadline, issueTimeout.
	jobTTL       = time.Hour
	issueTimeout = 30 * time.Minute
	// maxJobsPerOrg bounds what one college keeps on disk: each job holds
	// at most roster.MaxFileBytes and issuer.MaxPhotosArchive.
	maxJobsPerOrg = 5

	// What a job's page shows, and so what a job holds in memory: at most
	// maxPreviewRows rows, maxPreviewCols columns and maxShownProblems
	// problems, each cell and echoed value cut to maxPreviewCell
	// characters, and no more than previewBudget bytes of text in all.
	// The marked workbook has everything.
	maxPreviewRows   = 1000
	maxPreviewCols   = 64
	maxPreviewCell   = 100
	maxShownProblems = 500
	previewBudget    = 1 << 20
)

// Files of a job directory.
const (
	rosterFile   = "roster"
	photosFile   = "photos.zip"
	problemsFile = "problems.json"
	printFile    = "print.pdf"
)

type jobs struct {
	mu   sync.Mutex
	m    map[string]*job
	root string // the console's private upload directory
	now  func() time.Time
}

func newJobs(root string, now func() time.Time) *jobs {
	return &jobs{m: map[string]*job{}, root: root, now: now}
}

// uploadDir makes the console's private upload directory under base (the
// data directory, or os.TempDir()), and removes what a process that ended
// without cleaning up left there: an upload directory untouched for a day
// belongs to no live job (a job lives jobTTL after its last change, and
// issuing ends within issueTimeout).
func uploadDir(base string, now time.Time) (string, error) {
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", err
	}
	stale, _ := filepath.Glob(filepath.Join(base, "certd-uploads-*"))
	for _, d := range stale {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && now.Sub(fi.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(d) // best effort: a leftover of a dead process
		}
	}
	return os.MkdirTemp(base, "certd-uploads-") // 0700
}

func (j *job) expired(now time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state != "running" && now.Sub(j.touched) > jobTTL
}

// sweep removes expired jobs and their files.
func (js *jobs) sweep() {
	now := js.now()
	js.mu.Lock()
	var gone []*job
	for id, j := range js.m {
		if j.expired(now) {
			delete(js.m, id)
			gone = append(gone, j)
		}
	}
	js.mu.Unlock()
	for _, j := range gone {
		_ = os.RemoveAll(j.dir) // best effort; the next start removes leftovers
	}
}

// expireLater sweeps once the job could have expired, so that its files go
// even when nobody opens the console again.
func (js *jobs) expireLater() {
	time.AfterFunc(jobTTL+time.Minute, js.sweep)
}

func errTooManyJobs() error {
	return errf(issuer.ErrConflict, "too_many_uploads", "本院校待处理的名单过多（最多%d份），请先完成已上传的名单或等待其过期（%d分钟）",
		"too many rosters of your college are in progress (at most %d); finish them first or wait for them to expire (%d minutes)", maxJobsPerOrg, int(jobTTL.Minutes()))
}

// room reports whether inst may start another job.
func (js *jobs) room(inst string) error {
	js.sweep()
	js.mu.Lock()
	defer js.mu.Unlock()
	n := 0
	for _, o := range js.m {
		if o.InstitutionID == inst {
			n++
		}
	}
	if n >= maxJobsPerOrg {
		return errTooManyJobs()
	}
	return nil
}

func (js *jobs) add(j *job) error {
	if err := js.room(j.InstitutionID); err != nil {
		return err
	}
	js.mu.Lock()
	js.m[j.ID] = j
	js.mu.Unlock()
	js.expireLater()
	return nil
}

// get returns a job of the caller's institution; another college's job is
// reported exactly like one that does not exist (or expired).
func (js *jobs) get(id, inst string) (*job, error) {
	js.sweep()
	js.mu.Lock()
	defer js.mu.Unlock()
	j := js.m[id]
	if j == nil || j.InstitutionID != inst || inst == "" {
		return nil, notFound()
	}
	return j, nil
}

func (js *jobs) byBatch(batchID string) *job {
	js.sweep()
	js.mu.Lock()
	defer js.mu.Unlock()
	for _, j := range js.m {
		j.mu.Lock()
		b := j.batchID
		j.mu.Unlock()
		if b == batchID {
			return j
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Console) issueForm(fc *fiber.Ctx, rc *reqCtx) error {
	return c.render(fc, rc, "issue", issueData{})
}

func (c *Console) rosterTemplate(fc *fiber.Ctx, rc *reqCtx) error {
	b, err := roster.Template()
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fc.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="roster-template.xlsx"`)
	return fc.Send(b)
}

type issueData struct {
	Err *formErr
}

func errTooLarge(name string, limit int64) error {
	return errf(issuer.ErrInvalid, "file_too_large", "文件%s过大（最大%d MB）", "file %s is too large (at most %d MB)", name, limit>>20)
}

// readUpload reads a small upload (a seal image) into memory.
func readUpload(fh *multipart.FileHeader, limit int64) ([]byte, error) {
	if fh.Size > limit {
		return nil, errTooLarge(fh.Filename, limit)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		return nil, errTooLarge(fh.Filename, limit)
	}
	return b, err
}

// saveUpload writes an upload to dst (a new file, 0600), at most limit
// bytes of it.
func saveUpload(fh *multipart.FileHeader, limit int64, dst string) error {
	if fh.Size > limit {
		return errTooLarge(fh.Filename, limit)
	}
	in, err := fh.Open()
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a file of our own job directory
	if err != nil {
		return err
	}
	n, err := io.Copy(out, io.LimitReader(in, limit+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > limit {
		return errTooLarge(fh.Filename, limit)
	}
	return err
}

// readJobFile reads one file of a job's directory.
func readJobFile(dir, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(dir, name)) // #nosec G304 -- a fixed name in our own job directory
}

func (c *Console) issueUpload(fc *fiber.Ctx, rc *reqCtx) error {
	bad := func(err error) error {
		_, _, status := c.userError(err)
		return c.renderStatus(fc, rc, status, "issue", issueData{Err: c.formError(err)})
	}
	fh, err := fc.FormFile("roster")
	if err != nil {
		return bad(errf(issuer.ErrInvalid, "roster_missing", "请选择名单文件（.xlsx 或 .csv）", "choose the roster file (.xlsx or .csv)"))
	}
	if err := c.jobs.room(rc.user.InstitutionID); err != nil {
		return bad(err)
	}
	dir, err := os.MkdirTemp(c.jobs.root, "job-")
	if err != nil {
		return c.fail(fc, rc, err)
	}
	j, err := c.checkUpload(fc, rc, fh, dir)
	var detail map[string]any
	if err == nil {
		// Read before the job is shared: once added, it is the job's lock's.
		detail = map[string]any{"rows": j.page.Rows, "problems": j.problems}
		err = c.jobs.add(j)
	}
	if err != nil {
		_ = os.RemoveAll(dir) // nothing of a refused upload stays
		return bad(err)
	}
	c.audit(fc, rc, "roster.check", j.InstitutionID, j.Filename, detail)
	return fc.Redirect("/console/issue/"+j.ID, fiber.StatusSeeOther)
}

// checkUpload saves the upload into dir, checks it as a dry run and makes
// its job.
func (c *Console) checkUpload(fc *fiber.Ctx, rc *reqCtx, fh *multipart.FileHeader, dir string) (*job, error) {
	if err := saveUpload(fh, roster.MaxFileBytes, filepath.Join(dir, rosterFile)); err != nil {
		return nil, err
	}
	var photos *issuer.Photos
	if ph, err := fc.FormFile("photos"); err == nil && ph.Size > 0 {
		if err := saveUpload(ph, issuer.MaxPhotosArchive, filepath.Join(dir, photosFile)); err != nil {
			return nil, err
		}
		if photos, err = issuer.OpenPhotos(filepath.Join(dir, photosFile)); err != nil {
			return nil, err
		}
		defer photos.Close()
	}
	name := filepath.Base(fh.Filename)
	if len([]rune(name)) > 100 {
		name = string([]rune(name)[:100])
	}
	data, err := readJobFile(dir, rosterFile)
	if err != nil {
		return nil, err
	}
	rep, err := c.svc.Issue(fc.UserContext(), rc.actor, issuer.IssueRequest{InstitutionID: rc.user.InstitutionID, Roster: data, Filename: name, DryRun: true, Photos: photos})
	if err != nil {
		return nil, err
	}
	sheet, err := roster.Cells(data, name)
	if err != nil {
		return nil, err
	}
	probs, err := json.Marshal(rep.Problems)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, problemsFile), probs, 0o600); err != nil {
		return nil, err
	}
	now := c.now()
	j := &job{ID: randomHex(16), InstitutionID: rc.user.InstitutionID, UserID: rc.user.ID, Filename: name, Created: now, dir: dir,
		photos: photos.Len(), state: "preview", touched: now, problems: len(rep.Problems)}
	j.page = preview(sheet, rep)
	if rep.Batch != nil {
		j.batchID, j.count = rep.Batch.ID, rep.Batch.Count
	}
	return j, nil
}

// previewRow is one roster row as the page shows it.
type previewRow struct {
	Row      int
	Cells    []previewCell
	Problems []roster.Problem
}

type previewCell struct {
	Text string
	Bad  bool
	Note string
}

type jobData struct {
	ID, Filename, State, Phase string
	Rows                       int
	Header                     []string
	Preview                    []previewRow
	Problems                   []roster.Problem // the first maxShownProblems
	MoreProblems               int              // problems not listed
	ProblemRows                int
	Truncated                  bool
	AlreadyIssued              bool
	BatchID                    string
	Count                      int
	ErrZh, ErrEn               string
	Unprinted                  int
	UnprintedZh, UnprintedEn   string
	Elapsed                    int
	Photos                     int
	// Printed of PrintTotal PDFs made so far while issuing, at Rate a
	// second, with Left to go ("" until known).
	Printed, PrintTotal int
	Rate                float64
	Left                string
	// Issued lists the batch's new numbers on the done page (at most
	// maxDoneRows; the download has them all).
	Issued     []issuer.Certificate
	MoreIssued int
}

// maxDoneRows bounds the list of new numbers on a done page: the list to
// download has every one.
const maxDoneRows = 1000

// cut shortens s for the page and counts it against the budget.
func cut(s string, budget *int) string {
	if utf8.RuneCountInString(s) > maxPreviewCell {
		s = string([]rune(s)[:maxPreviewCell]) + "…"
	}
	*budget -= len(s)
	return s
}

// preview is what a job's page shows of a checked roster, within the
// bounds above. Rows with problems are what the office must see: they are
// shown as far as the bounds go, and clean rows fill the room they leave.
func preview(sheet *roster.Sheet, rep *issuer.IssueReport) jobData {
	budget := previewBudget
	d := jobData{Rows: rep.Rows, AlreadyIssued: rep.AlreadyIssued}
	byRow := map[int][]roster.Problem{}
	for i, p := range rep.Problems {
		p.Column, p.Value = cut(p.Column, &budget), cut(p.Value, &budget)
		budget -= len(p.Zh) + len(p.En) // certd's own words, bounded
		if i < maxShownProblems && budget > 0 {
			d.Problems = append(d.Problems, p)
		} else {
			d.MoreProblems++
		}
		if len(byRow[p.Row]) < maxPreviewCols {
			byRow[p.Row] = append(byRow[p.Row], p)
		}
	}
	d.ProblemRows = len(byRow)
	if sheet == nil || rep.AlreadyIssued {
		return d
	}
	cols := min(len(sheet.Header), maxPreviewCols)
	for _, h := range sheet.Header[:cols] {
		d.Header = append(d.Header, cut(h, &budget))
	}
	d.Truncated = len(sheet.Header) > cols
	clean := maxPreviewRows - min(d.ProblemRows, maxPreviewRows) // room for rows without problems
	for _, r := range sheet.Rows {
		ps := byRow[r.Row]
		if budget <= 0 || len(d.Preview) >= maxPreviewRows || (len(ps) == 0 && clean == 0) {
			d.Truncated = true
			continue
		}
		if len(ps) == 0 {
			clean--
		}
		pr := previewRow{Row: r.Row, Problems: ps}
		for i := range cols {
			cell := previewCell{}
			if i < len(r.Cells) {
				cell.Text = cut(r.Cells[i], &budget)
			}
			for _, p := range ps {
				if p.Col == i {
					cell.Bad, cell.Note = true, p.Zh
				}
			}
			pr.Cells = append(pr.Cells, cell)
		}
		d.Preview = append(d.Preview, pr)
	}
	return d
}

func (j *job) view() jobData {
	j.mu.Lock()
	defer j.mu.Unlock()
	d := j.page
	d.ID, d.Filename, d.State, d.Phase, d.ErrZh, d.ErrEn, d.Photos = j.ID, j.Filename, j.state, j.phase, j.errZh, j.errEn, j.photos
	d.BatchID, d.Count = j.batchID, j.count
	d.Unprinted, d.UnprintedZh, d.UnprintedEn = j.unprinted, j.unprintedZh, j.unprintedEn
	if !j.started.IsZero() {
		d.Elapsed = int(time.Since(j.started).Seconds())
	}
	d.Printed, d.PrintTotal = j.printed, j.total
	if secs := time.Since(j.printStart).Seconds(); !j.printStart.IsZero() && secs >= 1 && j.printed > j.printFrom {
		d.Rate = float64(j.printed-j.printFrom) / secs
		d.Left = (time.Duration(float64(j.total-j.printed)/d.Rate) * time.Second).Round(time.Second).String()
	}
	if j.state != "preview" {
		d.Preview, d.Header = nil, nil
	}
	return d
}

func (c *Console) issueJob(fc *fiber.Ctx, rc *reqCtx) error {
	j, err := c.jobs.get(fc.Params("job"), rc.user.InstitutionID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d := j.view()
	if d.State == "running" {
		// The page polls itself: no script needed (printRefresh).
		fc.Set("Refresh", printRefresh)
	}
	if d.State == "done" && d.BatchID != "" {
		certs, err := c.svc.Certificates(fc.UserContext(), rc.actor, issuer.CertificateFilter{InstitutionID: j.InstitutionID, BatchID: d.BatchID, Limit: maxDoneRows + 1})
		if err != nil {
			return c.fail(fc, rc, err)
		}
		if len(certs) > maxDoneRows {
			certs = certs[:maxDoneRows]
		}
		d.Issued, d.MoreIssued = certs, max(d.Count-len(certs), 0)
	}
	return c.render(fc, rc, "job", d)
}

func (c *Console) issueMarked(fc *fiber.Ctx, rc *reqCtx) error {
	j, err := c.jobs.get(fc.Params("job"), rc.user.InstitutionID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	data, err := readJobFile(j.dir, rosterFile)
	if errors.Is(err, fs.ErrNotExist) {
		return c.fail(fc, rc, notFound()) // issued: the roster is gone
	}
	if err != nil {
		return c.fail(fc, rc, err)
	}
	raw, err := readJobFile(j.dir, problemsFile)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var probs []roster.Problem
	if err := json.Unmarshal(raw, &probs); err != nil {
		return c.fail(fc, rc, err)
	}
	b, err := roster.Mark(data, j.Filename, probs)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fc.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="marked.xlsx"`)
	return fc.Send(b)
}

func (c *Console) issueConfirm(fc *fiber.Ctx, rc *reqCtx) error {
	j, err := c.jobs.get(fc.Params("job"), rc.user.InstitutionID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	j.mu.Lock()
	if j.state != "preview" || j.problems > 0 || j.page.AlreadyIssued {
		// A second click, or a roster with problems: nothing to start.
		j.mu.Unlock()
		return fc.Redirect("/console/issue/"+j.ID, fiber.StatusSeeOther)
	}
	j.state, j.phase, j.started, j.touched = "running", "issuing", time.Now(), c.now()
	j.mu.Unlock()
	actor := rc.actor
	go c.runJob(j, actor)
	return fc.Redirect("/console/issue/"+j.ID, fiber.StatusSeeOther)
}

// runJob issues a confirmed roster in the background. The roster is
// issued all or nothing by the service; the print file is made after,
// while the photos are at hand (certd keeps none), and written to the
// job's directory.
func (c *Console) runJob(j *job, actor issuer.Actor) {
	ctx, cancel := context.WithTimeout(context.Background(), issueTimeout)
	defer cancel()
	finish := func(update func()) {
		// Issued or not, the roster and the photos are no longer needed.
		_ = os.Remove(filepath.Join(j.dir, rosterFile))
		_ = os.Remove(filepath.Join(j.dir, photosFile))
		j.mu.Lock()
		update()
		j.touched, j.page.Preview, j.page.Header = c.now(), nil, nil
		j.mu.Unlock()
		c.jobs.expireLater()
	}
	fail := func(err error) {
		zh, en, _ := c.userError(err)
		finish(func() { j.state, j.errZh, j.errEn = "failed", zh, en })
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("console: issuing job panicked", "job", j.ID, "panic", fmt.Sprint(r))
			fail(errors.New("panic"))
		}
	}()
	data, err := readJobFile(j.dir, rosterFile)
	if err != nil {
		fail(err)
		return
	}
	var photos *issuer.Photos
	if j.photos > 0 {
		if photos, err = issuer.OpenPhotos(filepath.Join(j.dir, photosFile)); err != nil {
			fail(err)
			return
		}
		defer photos.Close()
	}
	progress := func(batchID string, printed, total int) {
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.printStart.IsZero() {
			j.printStart, j.printFrom = time.Now(), printed
		}
		j.batchID, j.printed, j.total = batchID, printed, total
	}
	rep, err := c.svc.Issue(ctx, actor, issuer.IssueRequest{InstitutionID: j.InstitutionID, Roster: data, Filename: j.Filename, Photos: photos, Progress: progress})
	data = nil
	if err != nil {
		fail(err)
		return
	}
	if len(rep.Problems) > 0 || rep.Batch == nil {
		finish(func() {
			j.state, j.problems = "failed", len(rep.Problems)
			j.errZh, j.errEn = "名单在确认期间发生变化（例如有人已持证），未发任何证书，请重新上传核对", "the roster changed meanwhile (e.g. someone now holds a certificate); nothing was issued; upload it again to check"
			if rep.AlreadyIssued && rep.Batch != nil {
				j.errZh, j.errEn = "该名单已经发证（批次"+rep.Batch.ID+"），未重复发证", "this roster was already issued (batch "+rep.Batch.ID+"); nothing was issued twice"
				j.batchID = rep.Batch.ID
			}
		})
		return
	}
	j.mu.Lock()
	j.batchID, j.count, j.phase = rep.Batch.ID, rep.Batch.Count, "printing"
	if rep.PrintError != nil && rep.Printing != nil && rep.Printing.Pending > 0 {
		j.unprinted, j.unprintedZh, j.unprintedEn = rep.Printing.Pending, rep.PrintError.Zh, rep.PrintError.En
	}
	j.mu.Unlock()
	printed := false
	if c.svc.Printer != nil {
		if err := c.writePrintFile(ctx, actor, rep.Batch.ID, photos, filepath.Join(j.dir, printFile)); err != nil {
			c.log.Error("console: batch print file failed", "batch", rep.Batch.ID, "error", err)
		} else {
			printed = true
		}
	}
	finish(func() { j.state, j.phase, j.printFile = "done", "", printed })
}

// writePrintFile writes a batch's print file to path (0600).
func (c *Console) writePrintFile(ctx context.Context, actor issuer.Actor, batchID string, photos *issuer.Photos, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a fixed name in our own job directory
	if err != nil {
		return err
	}
	err = c.svc.PrintBatch(ctx, actor, batchID, photos, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path) // a partial print file is no print file
	}
	return err
}

// printFileOf opens the print file made when a batch was issued, while its
// job lasts; nil when there is none.
func (c *Console) printFileOf(batchID string) (*os.File, int64) {
	j := c.jobs.byBatch(batchID)
	if j == nil {
		return nil, 0
	}
	j.mu.Lock()
	ok := j.printFile
	j.mu.Unlock()
	if !ok {
		return nil, 0
	}
	f, err := os.Open(filepath.Join(j.dir, printFile)) // #nosec G304 -- a fixed name in our own job directory
	if err != nil {
		return nil, 0
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0
	}
	return f, fi.Size()
}

// hasPrintFile reports whether the print file made at issuance is at hand.
func (c *Console) hasPrintFile(batchID string) bool {
	j := c.jobs.byBatch(batchID)
	if j == nil {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.printFile
}
