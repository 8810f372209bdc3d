package web

import (
	"bytes"
	"mime/multipart"
	"runtime"
	"strings"
	"testing"

	"certd/issuer/workbook/workbooktest"
	"certd/verify/internal/verifytest"
)

// allocatedBy is the bytes the process allocated while f ran. The app's
// background work (the audit tail, the limiters) allocates a few KB in
// that time; the bounds below are MBs.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBulkUploadOfAHugeCell: a workbook of tens of KB holding one 60 MB
// cell (inline in the sheet, or shared) is refused with 413 and a reason,
// and the whole request allocates under 8 MiB: the sizes are judged from
// the archive's directory before anything is inflated.
func TestBulkUploadOfAHugeCell(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{})
	for _, shared := range []bool{false, true} {
		x := workbooktest.XLSX([][]string{{"证书编号", "姓名"}, {w.Certs[0].Number}}, &workbooktest.Huge{Row: 2, Col: 2, Len: 60 << 20, Shared: shared})
		if len(x) > 200<<10 {
			t.Fatalf("the crafted file is %d KB", len(x)>>10)
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "list.xlsx")
		fw.Write(x)
		mw.Close()
		var status int
		var page string
		n := allocatedBy(func() {
			resp, p := a.do(t, "POST", "/bulk", &body, "Content-Type", mw.FormDataContentType())
			status, page = resp.StatusCode, p
		})
		if status != 413 || !strings.Contains(page, "MB") {
			t.Errorf("shared %v: status %d: %.300s", shared, status, page)
		}
		if n > 8<<20 {
			t.Errorf("shared %v: %d MB allocated for a %d KB upload", shared, n>>20, len(x)>>10)
		}
	}
}
