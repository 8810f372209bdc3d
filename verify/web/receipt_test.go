package web

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/render"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

// upload posts one file to /bulk as the page's form does.
func upload(t testing.TB, a *testApp, target, filename string, data []byte, fields ...string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile("file", filename)
	_, _ = fw.Write(data)
	_ = mw.Close()
	resp, out := a.do(t, "POST", target, &body, "Content-Type", mw.FormDataContentType())
	return resp.StatusCode, out
}

var refPattern = regexp.MustCompile(`[A-HJ-NP-Z2-9]{4}(?:-[A-HJ-NP-Z2-9]{4}){4}`)

// receiptStore reads what a receipt keeps, straight from the store.
func storedReceipt(t testing.TB, st verify.Store, ref string) string {
	t.Helper()
	r, err := st.(ReceiptStore).Receipt(t.Context(), ref)
	if err != nil {
		t.Fatalf("receipt %s: %v", ref, err)
	}
	return string(r.Body)
}

// TestBulkAcceptsACertificatePDF: /bulk takes a certificate PDF in the same
// field as a sheet and shows its verdict on the page as a presented
// credential's is (the checks, the PDF's own among them), with the check
// time and a receipt; anything else gets a clear error in both languages.
// Before, a PDF sent to /bulk was read as a CSV ("cannot read the file").
func TestBulkAcceptsACertificatePDF(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	a := newApp(t, w.Store, Deps{})
	c := w.Certs[0]
	issued := verifytest.FakePDF(c.Token, "")
	if err := w.Store.PutPDF(w.Ctx, c.Number, issued); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		file       string
		data       []byte
		lang       string
		status     int
		conclusion verify.Conclusion
		want       []string
	}{
		{"the issued PDF", "cert.pdf", issued, "zh", 200, verify.ConclusionValid, []string{"证书 PDF 文件的核验结论", "与签发的PDF文件完全一致", "欧阳娜娜", "核验时间", "id=\"receipt-made\""}},
		{"the issued PDF, English", "cert.pdf", issued, "en", 200, verify.ConclusionValid, []string{"Verdict on a certificate PDF", "Checked at"}},
		{"edited pages", "cert.pdf", verifytest.FakePDF(c.Token, "% edited\n"), "zh", 200, verify.Conclusion(verify.Invalid), []string{"文件与签发的PDF不一致"}},
		{"a scan (no record)", "scan.pdf", []byte("%PDF-1.4\n1 0 obj << >> endobj\n%%EOF"), "zh", 400, "", []string{"该 PDF 中没有证书签名记录", "扫描件"}},
		{"a scan, English", "scan.pdf", []byte("%PDF-1.4\n1 0 obj << >> endobj\n%%EOF"), "en", 400, "", []string{"carries no signed certificate record"}},
		{"a photo", "cert.jpg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "zh", 400, "", []string{"图片无法核验"}},
		{"a photo, English", "cert.png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), "en", 400, "", []string{"a picture cannot be verified"}},
		{"old Excel", "list.xls", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00"), "zh", 400, "", []string{"旧版 Excel（.xls）"}},
		{"a Word file", "list.docx", []byte("PK\x03\x04\x14\x00garbage"), "zh", 400, "", []string{"无法读取文件", "证书 PDF"}},
		{"too large", "big.pdf", append([]byte("%PDF-1.4\n"), make([]byte, maxSheet)...), "zh", 413, "", []string{"最大 4 MB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, page := upload(t, a, "/bulk?lang="+tt.lang, tt.file, tt.data, "view", "page")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %.300s", status, tt.status, page)
			}
			if tt.conclusion != "" && !strings.Contains(page, `data-conclusion="`+string(tt.conclusion)+`" id="credential-result"`) {
				t.Errorf("the page does not show the conclusion %s", tt.conclusion)
			}
			for _, s := range tt.want {
				if !strings.Contains(page, s) {
					t.Errorf("the page lacks %q", s)
				}
			}
		})
	}
	// The download button with a PDF shows the page too: there is no
	// sheet to send.
	if status, page := upload(t, a, "/bulk?lang=zh", "cert.pdf", issued); status != 200 || !strings.Contains(page, `id="credential-result"`) {
		t.Errorf("a PDF with the download button: %d", status)
	}
	// The receipt of a PDF check records the masked name only.
	_, page := upload(t, a, "/bulk?lang=zh", "cert.pdf", issued, "view", "page")
	ref := refPattern.FindString(page)
	if ref == "" {
		t.Fatal("no receipt reference on the page")
	}
	body := storedReceipt(t, w.Store, ref)
	if strings.Contains(body, c.Holder.Name) || !strings.Contains(body, ident.MaskName(c.Holder.Name)) || !strings.Contains(body, `"kind":"pdf"`) {
		t.Errorf("the PDF's receipt: %s", body)
	}
}

// TestResultSheetEchoesColumnsAndTime: the result sheet (CSV and XLSX)
// carries the time of the check in China time with its zone and the
// receipt's reference on every row, and gives back the clerk's own columns
// (学号, 专业, 备注 ...) unchanged, in their order, formula-defused. Before,
// the extra columns were dropped and the sheet said neither when nor what.
func TestResultSheetEchoesColumnsAndTime(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	a := newApp(t, w.Store, Deps{})
	c0, c1 := w.Certs[0], w.Certs[1]
	rows := [][]string{
		{"学号", "证书编号", "专业", "姓名", "备注", "证件号码"},
		{"S001", c0.Number, "人工智能技术应用", c0.Holder.Name, "=HYPERLINK(\"http://x\")", ""},
		{"S002", c1.Number, " 软件技术 ", "错名字", "补考", ""},
	}
	var csvIn bytes.Buffer
	_ = csv.NewWriter(&csvIn).WriteAll(rows)
	before := time.Now()
	for _, tc := range []struct {
		file string
		data []byte
	}{{"list.csv", csvIn.Bytes()}, {"list.xlsx", xlsxOf(t, rows)}} {
		t.Run(tc.file, func(t *testing.T) {
			status, out := upload(t, a, "/bulk", tc.file, tc.data)
			if status != 200 {
				t.Fatalf("status %d: %.300s", status, out)
			}
			var got [][]string
			if strings.HasSuffix(tc.file, ".xlsx") {
				f, err := excelize.OpenReader(strings.NewReader(out))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if got, err = f.GetRows("Sheet1"); err != nil {
					t.Fatal(err)
				}
				// The filter covers the echoed columns too.
				zr, err := zip.NewReader(strings.NewReader(out), int64(len(out)))
				if err != nil {
					t.Fatal(err)
				}
				for _, zf := range zr.File {
					if zf.Name == "xl/workbook.xml" {
						rc, _ := zf.Open()
						x, _ := io.ReadAll(rc)
						rc.Close()
						last, _ := excelize.CoordinatesToCellName(len(resultHeader)+5, 3, true)
						if !strings.Contains(string(x), "!$A$1:"+last+"<") {
							t.Errorf("the filter does not cover %s: %s", last, x)
						}
					}
				}
			} else {
				r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\xef\xbb\xbf")))
				r.FieldsPerRecord = -1
				var err error
				if got, err = r.ReadAll(); err != nil {
					t.Fatal(err)
				}
			}
			hdr := got[0]
			n := len(resultHeader)
			if len(hdr) != n+5 || hdr[n] != sheetTimeHeader || hdr[n+1] != sheetRefHeader || strings.Join(hdr[n+2:], ",") != "学号,专业,备注" {
				t.Fatalf("header %q", hdr)
			}
			want := [][]string{{"S001", "人工智能技术应用", "'=HYPERLINK(\"http://x\")"}, {"S002", " 软件技术 ", "补考"}}
			ref := ""
			for i, row := range got[1:] {
				for len(row) < len(hdr) {
					row = append(row, "")
				}
				if strings.Join(row[n+2:], "|") != strings.Join(want[i], "|") {
					t.Errorf("row %d echoes %q, want %q", i+1, row[n+2:], want[i])
				}
				at, err := time.Parse("2006-01-02 15:04:05 -07:00 (Asia/Shanghai)", row[n])
				if err != nil || !strings.Contains(row[n], "+08:00") || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
					t.Errorf("row %d check time %q (%v)", i+1, row[n], err)
				}
				if !refPattern.MatchString(row[n+1]) || ref != "" && row[n+1] != ref {
					t.Errorf("row %d reference %q", i+1, row[n+1])
				}
				ref = row[n+1]
			}
			if got[1][2] != "有效" || got[2][2] != "姓名不符" {
				t.Errorf("conclusions %q %q", got[1][2], got[2][2])
			}
			// The reference is a receipt anyone can open.
			if resp, page := a.do(t, "GET", "/receipt/"+ref+"?lang=zh", nil); resp.StatusCode != 200 || !strings.Contains(page, c0.Number) {
				t.Errorf("the sheet's reference does not open: %d", resp.StatusCode)
			}
		})
	}
}

// receiptStores runs a test on both stores.
func receiptStores(t *testing.T, fn func(t *testing.T, st verifytest.Store)) {
	for _, s := range []struct {
		name string
		open func(testing.TB) verifytest.Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(s.name, func(t *testing.T) { fn(t, s.open(t)) })
	}
}

// TestReceiptOfOneCertificate: the verification page's button and the API
// keep a receipt of one certificate; its page shows what was recorded and,
// apart, the status now (a revocation after the check shows there, and the
// record does not change); the receipt shows the name as masked as the
// public page does, never the ID number, even when the viewer proved both.
// Both stores. Before, there were no receipts.
func TestReceiptOfOneCertificate(t *testing.T) {
	receiptStores(t, func(t *testing.T, st verifytest.Store) {
		w := verifytest.NewWorld(t, st, 2)
		a := newApp(t, w.Store, Deps{})
		c := w.Certs[0]
		form := "application/x-www-form-urlencoded"

		// The page offers it, and the button sends the page's code.
		_, page := a.do(t, "GET", "/v/"+c.Number+"?c="+c.VerifyCode+"&lang=zh", nil)
		if !strings.Contains(page, `action="/v/`+c.Number+`/receipt?lang=zh"`) || !strings.Contains(page, `name="c" value="`+c.VerifyCode+`"`) {
			t.Fatal("the verification page offers no receipt with its code")
		}
		resp, _ := a.do(t, "POST", "/v/"+c.Number+"/receipt?lang=zh", strings.NewReader("c="+c.VerifyCode), "Content-Type", form)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/receipt/") {
			t.Fatalf("receipt button: %d %q", resp.StatusCode, loc)
		}
		ref := refPattern.FindString(loc)
		_, recPage := a.do(t, "GET", loc, nil)
		for _, s := range []string{ref, `data-conclusion="valid"`, ident.MaskName(c.Holder.Name), "验证码", "与证书一致", "核验时记录的结果", "证书当前状态", `data-now="valid"`, "与核验时相同"} {
			if !strings.Contains(recPage, s) {
				t.Errorf("the receipt page lacks %q", s)
			}
		}
		if strings.Contains(recPage, c.Holder.Name) || strings.Contains(recPage, c.Holder.DocNumber) || strings.Contains(recPage, c.Holder.DocNumber[:6]+"********") {
			t.Error("the receipt page shows more than the public page")
		}

		// A confirmation with its receipt records whether the name and
		// the ID number matched, not what they were.
		resp, _ = a.do(t, "POST", "/v/"+c.Number, strings.NewReader("name="+url.QueryEscape(c.Holder.Name)+"&id_number="+c.Holder.DocNumber+"&receipt=1"), "Content-Type", form)
		if resp.StatusCode != 303 {
			t.Fatalf("confirmation with receipt: %d", resp.StatusCode)
		}
		ref2 := refPattern.FindString(resp.Header.Get("Location"))
		body := storedReceipt(t, w.Store, ref2)
		if !strings.Contains(body, `"holder_check":{"name_matches":true,"id_number_matches":true}`) || strings.Contains(body, c.Holder.Name) || strings.Contains(body, c.Holder.DocNumber) {
			t.Errorf("stored receipt of a confirmation: %s", body)
		}

		// The API: a receipt of a wrong name.
		resp, out := a.do(t, "POST", "/api/v1/receipts", strings.NewReader(`{"number":"`+c.Number+`","name":"错名字"}`), "Content-Type", "application/json")
		var made receiptAnswer
		if resp.StatusCode != 201 || json.Unmarshal([]byte(out), &made) != nil || !refPattern.MatchString(made.Reference) ||
			made.Recorded.Cert.Conclusion != verify.ConclusionNameMismatch || made.PDF != "http://verify.test/receipt/"+made.Reference+"/pdf" {
			t.Fatalf("API receipt: %d %s", resp.StatusCode, out)
		}

		// Revoked after the check: the record stands, the status now says so.
		if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, c.Number, issuer.ReasonError, ""); err != nil {
			t.Fatal(err)
		}
		verifytest.Eventually(t, 3*time.Second, "revocation visible", func() bool {
			_, p := a.do(t, "GET", "/receipt/"+ref+"?lang=zh", nil)
			return strings.Contains(p, `data-now="revoked"`)
		})
		_, recPage = a.do(t, "GET", "/receipt/"+ref+"?lang=zh", nil)
		if !strings.Contains(recPage, `data-conclusion="valid"`) || !strings.Contains(recPage, "与核验时不同") {
			t.Error("after revocation the receipt page does not keep the record apart from the status now")
		}
		resp, out = a.do(t, "GET", "/api/v1/receipts/"+strings.ToLower(strings.ReplaceAll(made.Reference, "-", "")), nil)
		var looked receiptAnswer
		if resp.StatusCode != 200 || json.Unmarshal([]byte(out), &looked) != nil || looked.Recorded.Cert.Conclusion != verify.ConclusionNameMismatch ||
			len(looked.Current) != 1 || looked.Current[0].Verdict != verify.Revoked || !looked.Current[0].Changed {
			t.Errorf("API lookup: %d %s", resp.StatusCode, out)
		}
	})
}

// TestReceiptOfABatch: every sheet check keeps a receipt with per row the
// number, the conclusion and whether the holder matched, and none of the
// names or ID numbers the clerk sent; the /bulk page links it. Both stores.
func TestReceiptOfABatch(t *testing.T) {
	receiptStores(t, func(t *testing.T, st verifytest.Store) {
		w := verifytest.NewWorld(t, st, 3)
		a := newApp(t, w.Store, Deps{})
		c0, c1, c2 := w.Certs[0], w.Certs[1], w.Certs[2]
		sheet := "证书编号,姓名,证件号码\n" + c0.Number + "," + c0.Holder.Name + "," + c0.Holder.DocNumber + "\n" +
			c1.Number + ",错名字,\n" + c2.Number + "," + c2.Holder.Name + ",\nnot-a-number,某人,\n"
		status, page := upload(t, a, "/bulk?lang=zh", "list.csv", []byte(sheet), "view", "page")
		if status != 200 || !strings.Contains(page, `id="receipt-made"`) {
			t.Fatalf("bulk page: %d", status)
		}
		ref := refPattern.FindString(page[strings.Index(page, `id="receipt-made"`):])
		body := storedReceipt(t, w.Store, ref)
		for _, secret := range []string{c0.Holder.Name, c0.Holder.DocNumber, "错名字", c2.Holder.Name, "某人", "not-a-number"} {
			if strings.Contains(body, secret) {
				t.Errorf("the batch receipt keeps %q", secret)
			}
		}
		var rec receiptRecord
		if err := json.Unmarshal([]byte(body), &rec); err != nil {
			t.Fatal(err)
		}
		want := []receiptRow{
			{Number: c0.Number, Conclusion: verify.ConclusionValid, Holder: "yes", IDChecked: true},
			{Number: c1.Number, Conclusion: verify.ConclusionNameMismatch, Holder: "no"},
			{Number: c2.Number, Conclusion: verify.ConclusionValid, Holder: "yes"},
		}
		if rec.Kind != "batch" || len(rec.Rows) != 4 || rec.Rows[3].Number != "" || rec.Rows[3].Error == "" {
			t.Fatalf("batch receipt: %s", body)
		}
		for i, r := range want {
			if rec.Rows[i] != r {
				t.Errorf("row %d: %+v, want %+v", i+1, rec.Rows[i], r)
			}
		}
		// The API keeps the same receipt when asked, and openapi.json says so.
		items, _ := json.Marshal(verifyRequest{Receipt: true, Items: []item{{Number: c0.Number, Name: c0.Holder.Name}, {Number: c1.Number, Name: "错名字"}}})
		resp, out := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(items), "Content-Type", "application/json")
		var got struct {
			Receipt struct{ Reference, URL, PDF string }
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(out), &got) != nil || !refPattern.MatchString(got.Receipt.Reference) {
			t.Fatalf("API batch receipt: %d %.300s", resp.StatusCode, out)
		}
		if b := storedReceipt(t, w.Store, got.Receipt.Reference); strings.Contains(b, "错名字") || strings.Contains(b, c0.Holder.Name) || !strings.Contains(b, `"conclusion":"name_mismatch","holder":"no"`) {
			t.Errorf("API batch receipt keeps: %s", b)
		}
		if _, doc := a.do(t, "GET", "/api/openapi.json", nil); !strings.Contains(doc, `"/api/v1/receipts/{ref}"`) || !strings.Contains(doc, `"ReceiptLink"`) {
			t.Error("openapi.json does not document receipts")
		}
		_, recPage := a.do(t, "GET", "/receipt/"+ref+"?lang=zh", nil)
		for _, s := range []string{"<b>4</b> 行", "<b>2</b> 行可以采信", "姓名不符", "所有证书的状态与核验时相同"} {
			if !strings.Contains(recPage, s) {
				t.Errorf("the batch receipt page lacks %q", s)
			}
		}
	})
}

// TestReceiptBounds: receipt creation is limited per client (the check
// itself goes on and says no receipt was kept), references are random and
// unguessable, unknown, malformed and expired references answer nothing,
// and a receipt is kept 5 years.
func TestReceiptBounds(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{ReceiptLimit: 2})
	c := w.Certs[0]
	form := "application/x-www-form-urlencoded"
	var refs []string
	for i := 0; i < 2; i++ {
		resp, _ := a.do(t, "POST", "/v/"+c.Number+"/receipt", strings.NewReader(""), "Content-Type", form)
		if resp.StatusCode != 303 {
			t.Fatalf("receipt %d: %d", i, resp.StatusCode)
		}
		refs = append(refs, refPattern.FindString(resp.Header.Get("Location")))
	}
	if resp, page := a.do(t, "POST", "/v/"+c.Number+"/receipt?lang=zh", strings.NewReader(""), "Content-Type", form); resp.StatusCode != 429 || !strings.Contains(page, "核验回执生成过于频繁") {
		t.Errorf("the third receipt in an hour: %d", resp.StatusCode)
	}
	if resp, _ := a.do(t, "POST", "/api/v1/receipts", strings.NewReader(`{"number":"`+c.Number+`"}`), "Content-Type", "application/json"); resp.StatusCode != 429 {
		t.Errorf("the third receipt by API: %d", resp.StatusCode)
	}
	status, page := upload(t, a, "/bulk?lang=zh", "list.csv", []byte("证书编号,姓名\n"+c.Number+","+c.Holder.Name+"\n"), "view", "page")
	if status != 200 || !strings.Contains(page, `id="bulk-summary"`) || !strings.Contains(page, "本次核验未生成回执") {
		t.Errorf("a bulk check past the receipt limit: %d", status)
	}
	// The sheet says so in its receipt column, in both languages.
	if status, out := upload(t, a, "/bulk", "list.csv", []byte("证书编号,姓名\n"+c.Number+","+c.Holder.Name+"\n")); status != 200 ||
		!strings.Contains(out, "本次核验未生成回执：来自您网络的回执已达每小时上限 / no receipt was kept") {
		t.Errorf("the sheet past the receipt limit: %d %.400s", status, out)
	}

	// Random references: distinct, 100 bits, in the code alphabet.
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		r := newRef()
		if seen[r] || !refPattern.MatchString(r) || len(r) != 24 {
			t.Fatalf("reference %q", r)
		}
		seen[r] = true
	}
	if refs[0] == refs[1] {
		t.Error("two receipts share a reference")
	}

	for _, tc := range []struct {
		ref    string
		status int
	}{{newRef(), 404}, {"ABCD", 400}, {"ABCD-EFGH-JKLM-NPQR-STU0", 400}, {strings.Repeat("A", 100), 400}} {
		if resp, _ := a.do(t, "GET", "/receipt/"+tc.ref, nil); resp.StatusCode != tc.status {
			t.Errorf("GET /receipt/%s: %d, want %d", tc.ref, resp.StatusCode, tc.status)
		}
		if resp, _ := a.do(t, "GET", "/api/v1/receipts/"+tc.ref, nil); resp.StatusCode != tc.status {
			t.Errorf("GET /api/v1/receipts/%s: %d, want %d", tc.ref, resp.StatusCode, tc.status)
		}
	}
	// Kept 5 years, then nothing.
	got, err := w.Store.(ReceiptStore).Receipt(t.Context(), refs[0])
	if err != nil || got.ExpiresAt.Sub(got.CreatedAt) < 5*365*24*time.Hour {
		t.Errorf("receipt kept until %v (from %v): %v", got.ExpiresAt, got.CreatedAt, err)
	}
	old := issuer.Receipt{Ref: newRef(), Kind: "batch", CreatedAt: time.Now().AddDate(-5, 0, -2), ExpiresAt: time.Now().Add(-time.Hour), Body: []byte(`{"v":1,"kind":"batch"}`)}
	if err := w.Store.(ReceiptStore).PutReceipt(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if resp, _ := a.do(t, "GET", "/receipt/"+old.Ref, nil); resp.StatusCode != 404 {
		t.Errorf("an expired receipt: %d", resp.StatusCode)
	}
	// The receipt page is found by a typed reference too.
	if resp, _ := a.do(t, "GET", "/receipt/lookup?ref="+url.QueryEscape(strings.ToLower(refs[1])), nil); resp.StatusCode != 303 || resp.Header.Get("Location") != "/receipt/"+refs[1] {
		t.Errorf("lookup form: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestReceiptPDF: a receipt's PDF, in the certificate font, says the
// conclusion, the checks, the time and the reference, carries the lookup
// address as a QR code (decoded with zbarimg), and a batch runs over pages
// with no name in it. The PNGs go to $CERTD_SHOTS when set.
func TestReceiptPDF(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdftoppm", "zbarimg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing; CI requires poppler-utils and zbar-tools", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
	r, err := render.New(render.Config{})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the certificate font: %v", err)
		}
		t.Skipf("no certificate font: %v", err)
	}
	w := verifytest.NewWorld(t, openSQLite(t), 3)
	a := newApp(t, w.Store, Deps{ReceiptPDF: r.Receipt})
	c := w.Certs[0]
	resp, _ := a.do(t, "POST", "/v/"+c.Number+"/receipt", strings.NewReader("c="+c.VerifyCode), "Content-Type", "application/x-www-form-urlencoded")
	single := refPattern.FindString(resp.Header.Get("Location"))
	var sheet strings.Builder
	sheet.WriteString("证书编号,姓名\n")
	for i := 0; i < 70; i++ {
		x := w.Certs[i%3]
		name := x.Holder.Name
		if i%5 == 4 {
			name = "错名字"
		}
		sheet.WriteString(x.Number + "," + name + "\n")
	}
	_, page := upload(t, a, "/bulk", "list.csv", []byte(sheet.String()), "view", "page")
	batch := refPattern.FindString(page[strings.Index(page, `id="receipt-made"`):])
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ref string
		want      []string
		pages     int
	}{
		{"single", single, []string{"职业技能等级证书核验回执", "有效", "签名", "备案", "状态", "核验时间", "(Asia/Shanghai)", "+08:00", single, ident.MaskName(c.Holder.Name), "验证码"}, 1},
		{"batch", batch, []string{"70 行", "可以采信", "姓名不符", "持证人", batch, "registration of the institution"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := a.do(t, "GET", "/receipt/"+tc.ref+"/pdf", nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(out, "%PDF-") {
				t.Fatalf("receipt PDF: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			pdf := filepath.Join(dir, tc.name+".pdf")
			if err := os.WriteFile(pdf, []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
			text, err := exec.Command("pdftotext", "-layout", pdf, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			flat := strings.Join(strings.Fields(string(text)), " ")
			for _, s := range tc.want {
				if !strings.Contains(string(text), s) && !strings.Contains(flat, s) {
					t.Errorf("the PDF lacks %q", s)
				}
			}
			for _, secret := range []string{c.Holder.Name, c.Holder.DocNumber, "错名字"} {
				if strings.Contains(string(text), secret) {
					t.Errorf("the PDF carries %q", secret)
				}
			}
			if n := strings.Count(string(text), "\f"); n < tc.pages {
				t.Errorf("%d pages, want at least %d", n, tc.pages)
			}
			png := filepath.Join(dir, tc.name)
			if out, err := exec.Command("pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", pdf, png).CombinedOutput(); err != nil {
				t.Fatalf("pdftoppm: %v %s", err, out)
			}
			qr, err := exec.Command("zbarimg", "-q", "--raw", png+".png").Output()
			if err != nil || strings.TrimSpace(string(qr)) != "http://verify.test/receipt/"+tc.ref {
				t.Errorf("QR code reads %q (%v)", qr, err)
			}
			if d := os.Getenv("CERTD_SHOTS"); d != "" {
				b, _ := os.ReadFile(png + ".png")
				_ = os.WriteFile(filepath.Join(d, "bulk-receipt-"+tc.name+".png"), b, 0o600)
			}
		})
	}
	// Without the font the page still works and the PDF says why.
	b := newApp(t, w.Store, Deps{})
	if resp, out := b.do(t, "GET", "/receipt/"+single+"/pdf?lang=zh", nil); resp.StatusCode != 503 || !strings.Contains(out, "回执 PDF 暂不可用") {
		t.Errorf("receipt PDF without a font: %d", resp.StatusCode)
	}
}

// FuzzNormalizeRef: whatever is typed, a reference read is in the one
// shape (20 characters of the code alphabet in groups of four) and reads
// back as itself; nothing else is accepted.
func FuzzNormalizeRef(f *testing.F) {
	for _, s := range []string{"ABCD-EFGH-JKLM-NPQR-STUV", "abcd efgh jklm npqr stuv", "ABCDEFGHJKLMNPQRSTUV", "ABCD", "ÀBCD-EFGH-JKLM-NPQR-STUV", strings.Repeat("-", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := normalizeRef(s)
		if !ok {
			return
		}
		if !refPattern.MatchString(got) || len(got) != 24 {
			t.Fatalf("%q read as %q", s, got)
		}
		if again, ok := normalizeRef(got); !ok || again != got {
			t.Fatalf("%q does not read back (%q)", got, again)
		}
	})
}
