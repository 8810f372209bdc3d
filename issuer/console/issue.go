package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/roster"
)

// A job is one uploaded roster on its way through preview, confirmation
// and issuing. Jobs live in memory for jobTTL: the upload is checked,
// shown, and issued from exactly the bytes that were checked, so what the
// office confirmed is what gets issued. (Several certd processes behind a
// load balancer need sticky sessions for this page; the records themselves
// are in the database.)
type job struct {
	ID            string
	InstitutionID string
	UserID        string
	Filename      string
	Created       time.Time

	roster []byte
	photos issuer.Photos

	mu       sync.Mutex
	state    string // "preview", "running", "done", "failed"
	phase    string
	started  time.Time
	report   *issuer.IssueReport // the dry run, then the real one
	sheet    *roster.Sheet
	errZh    string
	errEn    string
	batchID  string
	printPDF []byte
}

const (
	jobTTL        = 2 * time.Hour
	maxJobsPerOrg = 20
)

type jobs struct {
	mu sync.Mutex
	m  map[string]*job
}

func newJobs() *jobs { return &jobs{m: map[string]*job{}} }

func (js *jobs) add(j *job, now time.Time) error {
	js.mu.Lock()
	defer js.mu.Unlock()
	n := 0
	for id, o := range js.m {
		if now.Sub(o.Created) > jobTTL {
			delete(js.m, id)
			continue
		}
		if o.InstitutionID == j.InstitutionID {
			n++
		}
	}
	if n >= maxJobsPerOrg {
		return errf(issuer.ErrConflict, "too_many_uploads", "本院校待处理的名单过多，请先完成或等待已上传的名单", "too many rosters of your college are in progress; finish them first")
	}
	js.m[j.ID] = j
	return nil
}

// get returns a job of the caller's institution; another college's job is
// reported exactly like one that does not exist.
func (js *jobs) get(id, inst string) (*job, error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j := js.m[id]
	if j == nil || j.InstitutionID != inst || inst == "" {
		return nil, notFound()
	}
	return j, nil
}

func (js *jobs) byBatch(batchID string) *job {
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

func readUpload(fh *multipart.FileHeader, limit int64) ([]byte, error) {
	if fh.Size > limit {
		return nil, errf(issuer.ErrInvalid, "file_too_large", "文件%s过大（最大%d MB）", "file %s is too large (at most %d MB)", fh.Filename, limit>>20)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// readPhotos reads holders' photos from a ZIP, each named after the
// holder's document number or 学号.
func readPhotos(data []byte) (issuer.Photos, error) {
	return issuer.PhotosFromZip(bytes.NewReader(data), int64(len(data)))
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
	data, err := readUpload(fh, roster.MaxFileBytes)
	if err != nil {
		return bad(err)
	}
	var photos issuer.Photos
	if ph, err := fc.FormFile("photos"); err == nil && ph.Size > 0 {
		b, err := readUpload(ph, MaxUpload)
		if err != nil {
			return bad(err)
		}
		if photos, err = readPhotos(b); err != nil {
			return bad(err)
		}
	}
	name := filepath.Base(fh.Filename)
	if len([]rune(name)) > 100 {
		name = string([]rune(name)[:100])
	}
	rep, err := c.svc.Issue(fc.UserContext(), rc.actor, issuer.IssueRequest{InstitutionID: rc.user.InstitutionID, Roster: data, Filename: name, DryRun: true, Photos: photos})
	if err != nil {
		return bad(err)
	}
	sheet, err := roster.Cells(data, name)
	if err != nil {
		return bad(err)
	}
	j := &job{ID: randomHex(16), InstitutionID: rc.user.InstitutionID, UserID: rc.user.ID, Filename: name, Created: c.now(),
		roster: data, photos: photos, state: "preview", report: rep, sheet: sheet}
	if err := c.jobs.add(j, c.now()); err != nil {
		return bad(err)
	}
	c.audit(fc, rc, "roster.check", j.InstitutionID, name, map[string]any{"rows": rep.Rows, "problems": len(rep.Problems)})
	return fc.Redirect("/console/issue/"+j.ID, fiber.StatusSeeOther)
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
	Problems                   []roster.Problem
	ProblemRows                int
	Truncated                  bool
	AlreadyIssued              bool
	BatchID                    string
	Count                      int
	ErrZh, ErrEn               string
	Elapsed                    int
	Photos                     int
}

const maxPreviewRows = 2000

func (j *job) view() jobData {
	j.mu.Lock()
	defer j.mu.Unlock()
	d := jobData{ID: j.ID, Filename: j.Filename, State: j.state, Phase: j.phase, ErrZh: j.errZh, ErrEn: j.errEn, BatchID: j.batchID, Photos: len(j.photos)}
	if !j.started.IsZero() {
		d.Elapsed = int(time.Since(j.started).Seconds())
	}
	rep := j.report
	d.Rows, d.Problems, d.AlreadyIssued = rep.Rows, rep.Problems, rep.AlreadyIssued
	if rep.Batch != nil {
		d.BatchID, d.Count = rep.Batch.ID, rep.Batch.Count
	}
	byRow := map[int][]roster.Problem{}
	for _, p := range rep.Problems {
		byRow[p.Row] = append(byRow[p.Row], p)
	}
	d.ProblemRows = len(byRow)
	if j.sheet != nil && j.state == "preview" {
		d.Header = j.sheet.Header
		for _, r := range j.sheet.Rows {
			ps := byRow[r.Row]
			if len(d.Preview) >= maxPreviewRows && len(ps) == 0 {
				d.Truncated = true
				continue
			}
			pr := previewRow{Row: r.Row, Problems: ps}
			for i := range d.Header {
				cell := previewCell{}
				if i < len(r.Cells) {
					cell.Text = r.Cells[i]
				}
				for _, p := range ps {
					if p.Col == i {
						cell.Bad = true
						cell.Note = p.Zh
					}
				}
				pr.Cells = append(pr.Cells, cell)
			}
			d.Preview = append(d.Preview, pr)
		}
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
		// The page polls itself: no script needed.
		fc.Set("Refresh", "1")
	}
	return c.render(fc, rc, "job", d)
}

func (c *Console) issueMarked(fc *fiber.Ctx, rc *reqCtx) error {
	j, err := c.jobs.get(fc.Params("job"), rc.user.InstitutionID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	j.mu.Lock()
	probs := j.report.Problems
	j.mu.Unlock()
	b, err := roster.Mark(j.roster, j.Filename, probs)
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
	if j.state != "preview" || len(j.report.Problems) > 0 || j.report.AlreadyIssued {
		// A second click, or a roster with problems: nothing to start.
		j.mu.Unlock()
		return fc.Redirect("/console/issue/"+j.ID, fiber.StatusSeeOther)
	}
	j.state, j.phase, j.started = "running", "issuing", time.Now()
	j.mu.Unlock()
	actor := rc.actor
	go c.runJob(j, actor)
	return fc.Redirect("/console/issue/"+j.ID, fiber.StatusSeeOther)
}

// runJob issues a confirmed roster in the background. The roster is
// issued all or nothing by the service; the print file is made after.
func (c *Console) runJob(j *job, actor issuer.Actor) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	fail := func(err error) {
		zh, en, _ := c.userError(err)
		j.mu.Lock()
		j.state, j.errZh, j.errEn = "failed", zh, en
		j.mu.Unlock()
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("console: issuing job panicked", "job", j.ID, "panic", fmt.Sprint(r))
			fail(errors.New("panic"))
		}
	}()
	rep, err := c.svc.Issue(ctx, actor, issuer.IssueRequest{InstitutionID: j.InstitutionID, Roster: j.roster, Filename: j.Filename, Photos: j.photos})
	if err != nil {
		fail(err)
		return
	}
	j.mu.Lock()
	j.report = rep
	if len(rep.Problems) > 0 || rep.Batch == nil {
		j.state = "failed"
		j.errZh, j.errEn = "名单在确认期间发生变化（例如有人已持证），未发任何证书，请重新上传核对", "the roster changed meanwhile (e.g. someone now holds a certificate); nothing was issued; upload it again to check"
		if rep.AlreadyIssued && rep.Batch != nil {
			j.errZh, j.errEn = "该名单已经发证（批次"+rep.Batch.ID+"），未重复发证", "this roster was already issued (batch "+rep.Batch.ID+"); nothing was issued twice"
			j.batchID = rep.Batch.ID
		}
		j.mu.Unlock()
		return
	}
	j.batchID, j.phase = rep.Batch.ID, "printing"
	j.mu.Unlock()
	// The print file is made now, while the photos are at hand: certd
	// keeps none.
	var buf bytes.Buffer
	if c.svc.Printer != nil {
		if err := c.svc.PrintBatch(ctx, actor, rep.Batch.ID, j.photos, &buf); err != nil {
			c.log.Error("console: batch print file failed", "batch", rep.Batch.ID, "error", err)
			buf.Reset()
		}
	}
	j.mu.Lock()
	j.state, j.phase, j.printPDF = "done", "", buf.Bytes()
	j.roster, j.photos = nil, nil // issued: keep no personal data longer than needed
	j.mu.Unlock()
}
