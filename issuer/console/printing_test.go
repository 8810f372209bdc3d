package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"certd/issuer"
)

// TestBatchPrintingProgress: the batch page of a batch whose PDFs are being
// made shows how far it is (made n of N, rate, time left), refreshing
// itself every 2 s without the certificate list while a process prints
// it, whichever process that is; says why when the last run stopped; and
// lists the certificates once it is done. progress.json says the same
// (issue 13 point 8).
func TestBatchPrintingProgress(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.open)
			ctx := context.Background()
			cookie, _ := w.session("aop")
			page := "/console/batches/" + w.batchA
			certs, err := w.svc.Certificates(ctx, issuer.Actor{Name: "t", Authority: true}, issuer.CertificateFilter{BatchID: w.batchA})
			if err != nil || len(certs) != 3 {
				t.Fatalf("batch: %d, %v", len(certs), err)
			}
			// Issued without a printer: nothing made, nobody making them.
			r := w.do("GET", page, cookie, nil, nil)
			if r.status != 200 || !strings.Contains(r.body, "<strong>0</strong> / 3") || !strings.Contains(r.body, "没有进程正在生成") || !strings.Contains(r.body, certs[1].Number) {
				t.Fatalf("pending, idle: %d\n%s", r.status, r.body)
			}
			// Another process took the job 10 s ago and has made one PDF.
			now := w.svc.Now()
			if ok, err := w.st.ClaimPrintJob(ctx, w.batchA, "host/1/other", now.Add(-10*time.Second), now.Add(time.Minute)); err != nil || !ok {
				t.Fatal(ok, err)
			}
			if err := w.st.PutPrinted(ctx, certs[0].Number, []byte("%PDF-1.4 one")); err != nil {
				t.Fatal(err)
			}
			res, err := w.app.Test(authed(httptest.NewRequest("GET", page, nil), cookie), -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			for _, want := range []string{"<strong>1</strong> / 3", "33%", "正在生成证书PDF", "张/秒", "约 20s", "每2秒自动刷新"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("running: page lacks %q", want)
				}
			}
			if res.Header.Get("Refresh") != "2" || strings.Contains(string(body), certs[1].Number) {
				t.Errorf("running: Refresh %q, the list shown: %v", res.Header.Get("Refresh"), strings.Contains(string(body), certs[1].Number))
			}
			j := w.do("GET", page+"/progress.json", cookie, nil, nil)
			var got struct {
				Job            bool
				Total, Printed int
				Running        bool
				Rate           float64
				LeftSeconds    int `json:"left_seconds"`
			}
			if err := json.Unmarshal([]byte(j.body), &got); err != nil || !got.Job || got.Total != 3 || got.Printed != 1 || !got.Running || got.Rate != 0.1 || got.LeftSeconds != 20 {
				t.Fatalf("progress.json = %s (%+v, %v)", j.body, got, err)
			}
			// The run stops: why, and no refresh.
			if err := w.st.ReleasePrintJob(ctx, w.batchA, "host/1/other", now, `{"code":"disk_full","zh":"磁盘已满","en":"the disk is full"}`); err != nil {
				t.Fatal(err)
			}
			res, _ = w.app.Test(authed(httptest.NewRequest("GET", page, nil), cookie), -1)
			body, _ = io.ReadAll(res.Body)
			if res.Header.Get("Refresh") != "" || !strings.Contains(string(body), "磁盘已满") || !strings.Contains(string(body), "证书PDF生成已中断") {
				t.Fatalf("stopped: Refresh %q\n%s", res.Header.Get("Refresh"), body)
			}
			// Done: no progress, the list.
			for _, c := range certs[1:] {
				if err := w.st.PutPrinted(ctx, c.Number, []byte("%PDF-1.4")); err != nil {
					t.Fatal(err)
				}
			}
			r = w.do("GET", page, cookie, nil, nil)
			if strings.Contains(r.body, "<progress") || !strings.Contains(r.body, certs[1].Number) {
				t.Fatalf("done:\n%s", r.body)
			}
			// Another college's batch stays invisible.
			other, _ := w.session("bop")
			if r := w.do("GET", page+"/progress.json", other, nil, nil); r.status != 404 && r.status != 403 {
				t.Fatalf("beta's operator got alpha's progress: %d %s", r.status, r.body)
			}
		})
	}
}

func authed(r *http.Request, c *http.Cookie) *http.Request { r.AddCookie(c); return r }

// TestPrintingScreenshot takes the desktop screenshot of a batch page
// mid-print into $CERTD_SCREENSHOT_DIR (skipped without it, or without
// Chromium): 200 certificates, 120 made in 40 s by another process.
func TestPrintingScreenshot(t *testing.T) {
	dir := os.Getenv("CERTD_SCREENSHOT_DIR")
	bin, err := exec.LookPath("chromium")
	if dir == "" || err != nil {
		t.Skip("set CERTD_SCREENSHOT_DIR and install chromium")
	}
	w := newWorld(t, backends[0].open)
	ctx := context.Background()
	rep, err := w.svc.Issue(ctx, issuer.Actor{Name: "setup", InstitutionID: "alpha"}, issuer.IssueRequest{InstitutionID: "alpha", Roster: []byte(rosterCSV(200, 7, -1)), Filename: "2026届毕业生.csv"})
	if err != nil || len(rep.Problems) > 0 {
		t.Fatal(err, rep.Problems)
	}
	now := w.svc.Now()
	if ok, err := w.st.ClaimPrintJob(ctx, rep.Batch.ID, "host/1/other", now.Add(-40*time.Second), now.Add(time.Minute)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, n := range rep.Numbers[:120] {
		if err := w.st.PutPrinted(ctx, n, []byte("%PDF-1.4")); err != nil {
			t.Fatal(err)
		}
	}
	cookie, _ := w.session("aop")
	// The browser is handed the session by a proxy in front of the app.
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		req := httptest.NewRequest(r.Method, r.URL.String(), r.Body)
		req.AddCookie(cookie)
		res, err := w.app.Test(req, -1)
		if err != nil {
			http.Error(rw, err.Error(), 500)
			return
		}
		for k, v := range res.Header {
			rw.Header()[k] = v
		}
		rw.WriteHeader(res.StatusCode)
		_, _ = io.Copy(rw, res.Body)
	}))
	defer srv.Close()
	out := filepath.Join(dir, "print-batch-progress.png")
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--hide-scrollbars", "--window-size=1366,900", "--user-data-dir="+t.TempDir(), "--screenshot="+out, srv.URL+"/console/batches/"+rep.Batch.ID)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, b)
	}
	t.Logf("wrote %s", out)
}
